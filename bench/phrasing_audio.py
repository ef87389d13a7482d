"""The phrasing analysis end to end on audio: dialogues of the corpus's test split are rendered
as stereo calls (agent on channel 0, customer on channel 1, TTS voices as in
scripts/phrasing_asr.py, wideband or telephone band), reviewed by the full pipeline (tiny.en,
turn-taking, the phrasing model), and the review's findings are scored per turn against the
labels, exactly as bench/phrasing_eval.py scores transcripts; missed empathy also against the
labelling guide's audio truth (`missed_in_window`: an acknowledgement within
`empathy.missed_window` answers a moment even after the customer's next turn).

    python bench/phrasing_audio.py --dialogues 30 [--split test|dev] [--method model|exemplar] [--errors]
    python bench/phrasing_audio.py --split dev --having sympathy --dialogues 30 --errors
    python bench/phrasing_audio.py --split dev --having sympathy --uncopied   # dialogues the model never read as ASR

Rendered calls are cached under bench/.data/phrasing_calls (with their turn times), so a second
run with another method reviews the same audio. A scoring of the test split is logged like
phrasing_eval's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from phrasing_eval import (  # noqa: E402
    DATA,
    add_set_option,
    log_test_scoring,
    match_missed,
    model_record,
    score_dialogue,
    scoring_config,
    true_moments,
)

from audio_pipeline.evaluation import Tally  # noqa: E402
from audio_pipeline.phrasing import corpus  # noqa: E402

CACHE = ROOT / "bench" / ".data" / "phrasing_calls"


def render_call(dialogue: dict, out: Path) -> list[dict]:
    """Stereo wav of the dialogue; returns its turns with start/end seconds."""
    import soundfile as sf
    from phrasing_asr import WORK_SR, _pick, render_turns

    clips = render_turns(dialogue)
    rng = np.random.default_rng(_pick(dialogue["id"], "gaps", 2**31))
    t, turns, placed = 0.5, [], []
    for turn, clip in zip(dialogue["turns"], clips):
        start = t
        placed.append((0 if turn["speaker"] == "agent" else 1, int(start * WORK_SR), clip))
        turns.append(dict(turn, start=start, end=start + len(clip) / WORK_SR))
        t = turns[-1]["end"] + float(rng.uniform(0.4, 1.2))
    audio = np.zeros((int((t + 0.5) * WORK_SR), 2), np.float32)
    for ch, at, clip in placed:
        audio[at:at + len(clip), ch] += clip
    sf.write(out, audio, WORK_SR, subtype="PCM_16")
    return turns


def explain(review, turns: list[dict], window: float) -> None:
    """Dev only: each labelled line the review got wrong (agent rows and customer distress), with
    what the review heard there: the utterances overlapping the line and the findings on it."""
    kinds = {"customer_distress": "distress"}  # the finding type under the row's name
    for turn in turns:
        here = {f.type for f in review.findings if turn["start"] - 0.01 <= (f.start + f.end) / 2 <= turn["end"] + 0.01}
        labels = {lb.split(":", 1)[0] for lb in turn["labels"]} - {""}
        want = {"empathy"} & labels | {k for k in ("dismissive", "sympathy") if k in labels}
        if turn["speaker"] == "customer":
            want = {"distress"} if labels else set()
        got = {kinds.get(t, t) for t in here} & {"empathy", "dismissive", "sympathy", "distress"}
        if want == got:
            continue
        heard = " | ".join(u.text for u in review.utterances
                           if u.speaker == turn["speaker"] and u.end > turn["start"] and u.start < turn["end"])
        print(f"  {turn['speaker']:8} want {sorted(want)} got {sorted(got)}\n    text : {turn['text']}\n"
              f"    heard: {heard}")
    explain_missed(review, turns, window)


def explain_missed(review, turns: list[dict], window: float) -> None:
    """Dev only: missed-empathy findings with no true moment at their cue (false), and true moments
    (the guide's audio truth) no finding points to (missed), each with the customer's line."""
    truth = true_moments(turns, window)
    findings = [f for f in review.findings if f.type == "missed_empathy"]
    matched = match_missed([{"type": f.type, **dict(f.extra)} for f in findings], turns, truth)
    for f, (cue, k) in zip(findings, matched):
        if k is None:
            line = turns[cue] if cue is not None else {"text": "(no turn)", "labels": []}
            print(f"  missed empathy, false: cue {line['labels']} {line['text']!r}\n    heard: {f.evidence}")
    found = {k for _, k in matched}
    for n, group in enumerate(truth):
        if n not in found:
            print(f"  missed empathy, not found: {turns[group[0]]['labels']} {turns[group[0]]['text']!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("dev", "test"), default="test")
    ap.add_argument("--dialogues", type=int, default=30)
    ap.add_argument("--method", choices=("model", "exemplar"), default="model")
    add_set_option(ap)
    ap.add_argument("--note", default="")
    ap.add_argument("--errors", action="store_true", help="dev only: print each line the review got wrong")
    ap.add_argument("--having", metavar="LABEL", help="dev only: just the dialogues with a line labelled so "
                    "(e.g. sympathy: a rare label's lines through audio, in numbers that say something)")
    ap.add_argument("--uncopied", action="store_true", help="dev only: leave out the dialogues whose ASR-noisy "
                    "copies (data/phrasing/asr) the model trained on: it has read tiny.en's text of them")
    args = ap.parse_args()
    cfg = scoring_config(ap, args)
    if args.errors and args.split == "test":
        ap.error("--errors reads the lines one by one: dev split only (the test split is scored, never read)")
    if (args.having or args.uncopied) and args.split == "test":
        ap.error("--having and --uncopied choose dialogues: dev split only (the test split is scored as drawn)")
    from audio_pipeline.pipeline import Reviewer

    split = corpus.split_of(DATA)
    copied = {d["id"] for d in corpus.read_dialogues(DATA, "asr/*/part-*.jsonl")} if args.uncopied else set()
    chosen = [d for d in corpus.read_dialogues(DATA) if split.get(d["batch"]) == args.split
              and d["id"] not in copied
              and (not args.having or corpus.has_label(d, {args.having}))]
    step = max(1, len(chosen) // args.dialogues)
    chosen = chosen[::step][:args.dialogues]          # spread over the batches and their parts
    CACHE.mkdir(parents=True, exist_ok=True)
    cfg = replace(cfg, empathy=replace(cfg.empathy, model="auto" if args.method == "model" else "none"))
    reviewer = Reviewer(cfg, device="cpu")
    tallies = {k: Tally() for k in ("empathy", "dismissive", "sympathy", "distress", "missed_empathy",
                                    "missed_in_window")}
    confusion: Counter = Counter()
    audio_s, started = 0.0, time.perf_counter()
    for n, d in enumerate(chosen, 1):
        wav, meta = CACHE / f"{d['id']}.wav", CACHE / f"{d['id']}.turns.json"
        if not wav.exists() or not meta.exists():
            meta.write_text(json.dumps(render_call(d, wav)))
        turns = json.loads(meta.read_text())
        review = reviewer.review(wav)
        audio_s += review.audio.duration
        spoken = [t for t in turns if t["speaker"] in ("agent", "customer")]
        score_dialogue(review.findings, spoken, tallies, confusion, cfg.empathy.missed_window)
        if args.errors:
            print(f"{d['id']}:")
            explain(review, spoken, cfg.empathy.missed_window)
        print(f"\r{n}/{len(chosen)} calls", end="", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    rows = {k: {"P": round(t.precision, 3), "R": round(t.recall, 3), "F1": round(t.f1, 3), "tp": t.tp, "fp": t.fp, "fn": t.fn}
            for k, t in tallies.items()}
    print(f"{args.split} split as stereo audio, method {args.method}: {len(chosen)} calls, {audio_s / 60:.1f} min, "
          f"{elapsed:.0f} s ({audio_s / elapsed:.1f}x real time)")
    print(f"{'':16}{'P':>7}{'R':>7}{'F1':>7}   tp/fp/fn")
    for k, t in tallies.items():
        print(f"{k:16}{t.precision:7.3f}{t.recall:7.3f}{t.f1:7.3f}   {t.tp}/{t.fp}/{t.fn}")
    if args.split == "test":
        model = reviewer.language().model if args.method == "model" else None
        log_test_scoring({"note": args.note, "model_meta": model_record(model), "split": "test",
                          "method": args.method, "variant": "stereo-audio",
                          "dialogues": len(chosen), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
