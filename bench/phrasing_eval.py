"""Score the phrasing analysis on the labelled dialogue corpus (data/phrasing), through the real
analysis path: each dialogue becomes a Conversation (turns laid out in time by their word
counts), `analyze_empathy` reviews it as it would a call's transcript, and its findings are
scored per turn against the labels.

    python bench/phrasing_eval.py --split dev --method exemplar      # the lexicon + exemplar matcher
    python bench/phrasing_eval.py --split test --method model        # the trained model (logged!)
    python bench/phrasing_eval.py --split test --variant asr         # the ASR-noisy copies

Rows: empathy (any category; turn level), category accuracy over true-positive turns and the
category confusion matrix, dismissive, sympathy, customer distress (any kind), missed empathy
(derived from the labels: a distress moment of frustration, worry, anger or disappointment with no
empathy or sympathy label in the agent's turns before the customer's next substantive turn).
The trained model is fitted on dev: its dev figure is in the model card (cross-validated), not
here. Every scoring of the test split is appended to data/phrasing/test-scorings.jsonl.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline.analysis.empathy import analyze_empathy, embedder_for, load_lexicon  # noqa: E402
from audio_pipeline.config import load_config, parse_overrides  # noqa: E402
from audio_pipeline.evaluation import Tally  # noqa: E402
from audio_pipeline.language import load_phrasing_model  # noqa: E402
from audio_pipeline.phrasing import corpus, moments as missed_moments  # noqa: E402
from audio_pipeline.phrasing.labels import EMPATHY_CATEGORIES  # noqa: E402
from audio_pipeline.types import Conversation, Utterance  # noqa: E402

DATA = ROOT / "data" / "phrasing"
SECONDS_PER_WORD, TURN_GAP = 0.32, 0.6


def conversation(dialogue: dict) -> tuple[Conversation, list[dict]]:
    t, utts, turns = 0.0, [], []
    for turn in dialogue["turns"]:
        text = turn["text"].strip()
        if not text or turn["speaker"] not in ("agent", "customer"):
            continue
        end = t + 0.3 + SECONDS_PER_WORD * len(text.split())
        utts.append(Utterance(turn["speaker"], t, end, text))
        turns.append(dict(turn, start=t, end=end))
        t = end + TURN_GAP
    return Conversation(tuple(utts), t), turns


def inside(f: dict, turn: dict) -> bool:
    mid = (f["start"] + f["end"]) / 2
    return turn["start"] - 0.01 <= mid <= turn["end"] + 0.01


def score_dialogue(findings, turns, tallies: dict[str, Tally], confusion: Counter, window: float | None = None) -> None:
    """Per turn, as the review's findings fall on it. With `window` (audio: turns carry start and
    end), also `missed_in_window`: missed empathy against the guide's audio truth, where an
    acknowledgement within that many seconds answers a moment after the customer's next turn too."""
    fs = [{"type": f.type, "start": f.start, "end": f.end, "category": f.category, **dict(f.extra)} for f in findings]
    for turn in turns:
        here = [f for f in fs if inside(f, turn)]
        labels = set(turn["labels"])
        if turn["speaker"] == "agent":
            truth_cats = [lb.split(":", 1)[1] for lb in turn["labels"] if lb.startswith("empathy:")]
            emp = [f for f in here if f["type"] == "empathy"]
            tallies["empathy"].add(int(bool(emp and truth_cats)), int(bool(emp and not truth_cats)), int(bool(truth_cats and not emp)))
            if emp and truth_cats:
                pred = emp[0]["category"]
                confusion[(truth_cats[0] if pred not in truth_cats else pred, pred)] += 1
            for kind in ("dismissive", "sympathy"):
                hit, want = any(f["type"] == kind for f in here), kind in labels
                tallies[kind].add(int(hit and want), int(hit and not want), int(want and not hit))
        else:
            hit = any(f["type"] == "customer_distress" for f in here)
            want = bool(labels - {""})
            tallies["distress"].add(int(hit and want), int(hit and not want), int(want and not hit))
    score_missed(fs, turns, true_moments(turns), tallies["missed_empathy"])
    if window is not None:
        score_missed(fs, turns, true_moments(turns, window), tallies["missed_in_window"])


def true_moments(turns, window: float | None = None) -> list[list[int]]:
    """The labelled unanswered moments: by turns, or with `window` by the guide's audio truth."""
    said = [(t["speaker"], t["text"], t["labels"]) for t in turns]
    if window is None:
        return missed_moments.unanswered(said)
    return missed_moments.unanswered(said, [(t["start"], t["end"]) for t in turns], window)


def match_missed(findings, turns, moments: list[list[int]]) -> list[tuple[int | None, int | None]]:
    """(the customer turn its cue starts on, the true moment it finds) per missed-empathy finding:
    the moment is None where none lies at the cue, or where an earlier finding already took it."""
    spans = [(t["speaker"], t["start"], t["end"]) for t in turns]
    taken: set[int] = set()
    out = []
    for cue_start in (f["cue_start"] for f in findings if f["type"] == "missed_empathy"):
        cue = missed_moments.cue_turn(cue_start, spans)
        k = next((n for n, group in enumerate(moments) if cue in group), None)  # moments never share a turn
        if k in taken:
            k = None
        elif k is not None:
            taken.add(k)
        out.append((cue, k))
    return out


def score_missed(fs: list[dict], turns, moments: list[list[int]], tally: Tally) -> None:
    """A missed-empathy finding is right when its cue lies in a true moment not matched yet."""
    found = [k for _, k in match_missed(fs, turns, moments)]
    hits = sum(k is not None for k in found)
    tally.add(hits, len(found) - hits, len(moments) - hits)


def add_set_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a configuration override for a dev comparison (a test scoring uses the shipped settings)")


def scoring_config(ap: argparse.ArgumentParser, args: argparse.Namespace):
    """The configuration a scoring runs with: the shipped one, `--set` overrides on dev only."""
    if args.set and args.split == "test":
        ap.error("--set is for dev comparisons: the test split is scored with the shipped settings only")
    return load_config(overrides=parse_overrides(args.set))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--method", choices=("model", "exemplar", "lexicon"), default="model")
    ap.add_argument("--variant", choices=("text", "asr"), default="text")
    ap.add_argument("--every", type=int, default=1, help="dev only: every Nth dialogue (a quicker comparison)")
    add_set_option(ap)
    ap.add_argument("--note", default="", help="why this scoring (logged with a test scoring)")
    args = ap.parse_args()
    cfg = scoring_config(ap, args).empathy
    opts = replace(cfg, semantic=args.method != "lexicon", model="auto" if args.method == "model" else "none")
    lexicon = load_lexicon(opts.lexicon_path)
    embedder = embedder_for(opts)
    model = load_phrasing_model(opts, embedder)
    split = corpus.split_of(DATA)
    pattern = "batches/*/part-*.jsonl" if args.variant == "text" else "asr/*/part-*.jsonl"
    dialogues = [d for d in corpus.read_dialogues(DATA, pattern)
                 if split.get(d.get("batch", d["id"].split("-")[0])) == args.split]
    dialogues = dialogues[::args.every if args.split == "dev" else 1]
    tallies = {k: Tally() for k in ("empathy", "dismissive", "sympathy", "distress", "missed_empathy")}
    confusion: Counter = Counter()
    started, n_utts = time.perf_counter(), 0
    for d in dialogues:
        conv, turns = conversation(d)
        n_utts += len(turns)
        score_dialogue(analyze_empathy(conv, lexicon, embedder, opts, model), turns, tallies, confusion)
    elapsed = time.perf_counter() - started
    correct = sum(v for (t, p), v in confusion.items() if t == p)
    result = {"split": args.split, "method": args.method, "variant": args.variant, "dialogues": len(dialogues),
              "utterances": n_utts, "seconds": round(elapsed, 1),
              "rows": {k: {"P": round(t.precision, 3), "R": round(t.recall, 3), "F1": round(t.f1, 3),
                           "tp": t.tp, "fp": t.fp, "fn": t.fn} for k, t in tallies.items()},
              "category_accuracy": round(correct / max(1, sum(confusion.values())), 3),
              "confusion": {f"{t}->{p}": v for (t, p), v in sorted(confusion.items())}}
    print(f"{args.split} split, {args.variant}, method {args.method}: {len(dialogues)} dialogues, {n_utts} turns, {elapsed:.1f} s")
    print(f"{'':16}{'P':>7}{'R':>7}{'F1':>7}   tp/fp/fn")
    for k, t in tallies.items():
        print(f"{k:16}{t.precision:7.3f}{t.recall:7.3f}{t.f1:7.3f}   {t.tp}/{t.fp}/{t.fn}")
    print(f"category accuracy {result['category_accuracy']:.3f} over {sum(confusion.values())} true-positive turns")
    print("confusion (truth rows, predicted columns):")
    print(" " * 16 + "".join(f"{c[:6]:>7}" for c in EMPATHY_CATEGORIES))
    for t in EMPATHY_CATEGORIES:
        print(f"{t:16}" + "".join(f"{confusion.get((t, p), 0):7d}" for p in EMPATHY_CATEGORIES))
    if args.split == "test":
        meta = model_record(model)
        log_test_scoring({"note": args.note, "model_meta": meta, **result})
    return 0


def model_record(model) -> dict | None:
    """What a test scoring logs about the model: its training metadata and the pair models' digests."""
    if model is None:
        return None
    meta = {k: v for k, v in model.meta.items() if k != "cv"}
    return meta | {"pairs": {s: ref["digest"] for s, ref in (model.pair_refs or {}).items()}}


def log_test_scoring(entry: dict) -> None:
    """Append one scoring of the test split, dated, to its log (every scoring is kept)."""
    stamped = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **entry}
    with open(DATA / "test-scorings.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(stamped) + "\n")
    print(f"logged in {DATA / 'test-scorings.jsonl'}")


if __name__ == "__main__":
    raise SystemExit(main())
