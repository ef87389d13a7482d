"""Score the empathy analysis on the labelled text set (data/empathy/{dev,test}.jsonl).

    python bench/empathy_eval.py [--split dev|test] [--no-semantic] [--asr-style] [--errors] [--timing]

Prints precision / recall / F1 per type (empathy of any category, dismissive, sympathy, customer
distress), per empathy category, and the category accuracy over true-positive empathy items.
--errors lists the misclassified items (use it on dev only: the test split is for the final
figure). --asr-style scores the same items as Whisper often writes them: lowercase, no
punctuation, no apostrophes. --timing measures model load and the cost of one ~80-utterance call.

An item's predicted empathy category is that of its first empathy cue (by position); the labelled
category is the first one spoken, so the two are compared like for like.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline.analysis.empathy import (  # noqa: E402
    EMPATHY_CATEGORIES,
    Embedder,
    PhraseMatch,
    analyze_empathy,
    classify_many,
    embedder_for,
    load_lexicon,
)
from audio_pipeline.config import EmpathyOptions, load_config  # noqa: E402
from audio_pipeline.evaluation import Tally  # noqa: E402

DATA = ROOT / "data" / "empathy"
BARS = {"empathy_f1": 0.90, "category_accuracy": 0.80, "dismissive_f1": 0.90, "sympathy_f1": 0.85,
        "distress_f1": 0.85}


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    speaker: str
    text: str
    empathy: str | None
    dismissive: bool
    sympathy: bool
    distress: str | None


@dataclass(frozen=True, slots=True)
class Prediction:
    empathy: str | None
    dismissive: bool
    sympathy: bool
    distress: str | None


def load_items(split: str) -> list[Item]:
    items = []
    for line in (DATA / f"{split}.jsonl").read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            lb = d["labels"]
            items.append(Item(d["id"], d["speaker"], d["text"], lb["empathy"], bool(lb["dismissive"]),
                              bool(lb["sympathy"]), lb["distress"]))
    return items


def asr_style(item: Item) -> Item:
    """The item as unpunctuated lowercase ASR output ("I'm sorry, that's awful." -> "im sorry thats awful")."""
    text = re.sub(r"[^\w\s]", "", item.text.lower().replace("\u2019", "'"))
    return replace(item, text=" ".join(text.split()))


def to_prediction(matches: Sequence[PhraseMatch]) -> Prediction:
    def first(kind: str) -> str | None:
        return next((m.category for m in matches if m.kind == kind), None)

    return Prediction(first("empathy"), any(m.kind == "dismissive" for m in matches),
                      any(m.kind == "sympathy" for m in matches), first("distress"))


def predict(items: Sequence[Item], opts: EmpathyOptions, embedder: Embedder | None) -> list[Prediction]:
    lexicon = load_lexicon(opts.lexicon_path)
    found = classify_many([(it.text, it.speaker) for it in items], lexicon, embedder, opts)
    return [to_prediction(m) for m in found]


def binary(items: Sequence[Item], preds: Sequence[Prediction], gold: Callable[[Item], bool],
           pred: Callable[[Prediction], bool]) -> Tally:
    pairs = [(gold(i), pred(p)) for i, p in zip(items, preds)]
    return Tally(sum(g and q for g, q in pairs), sum(q and not g for g, q in pairs), sum(g and not q for g, q in pairs))


def evaluate(items: Sequence[Item], preds: Sequence[Prediction]) -> dict:
    """All figures of one run, as plain numbers."""
    types = {
        "empathy": binary(items, preds, lambda i: i.empathy is not None, lambda p: p.empathy is not None),
        "dismissive": binary(items, preds, lambda i: i.dismissive, lambda p: p.dismissive),
        "sympathy": binary(items, preds, lambda i: i.sympathy, lambda p: p.sympathy),
        "distress": binary(items, preds, lambda i: i.distress is not None, lambda p: p.distress is not None),
    }
    categories = {c: binary(items, preds, lambda i, c=c: i.empathy == c, lambda p, c=c: p.empathy == c)
                  for c in EMPATHY_CATEGORIES}
    both = [(i.empathy, p.empathy) for i, p in zip(items, preds) if i.empathy and p.empathy]
    dboth = [(i.distress, p.distress) for i, p in zip(items, preds) if i.distress and p.distress]
    return {
        "types": types,
        "categories": categories,
        "category_accuracy": sum(g == q for g, q in both) / len(both) if both else 0.0,
        "distress_category_accuracy": sum(g == q for g, q in dboth) / len(dboth) if dboth else 0.0,
    }


def bars_met(report: dict) -> dict[str, tuple[float, float, bool]]:
    got = {"empathy_f1": report["types"]["empathy"].f1, "category_accuracy": report["category_accuracy"],
           "dismissive_f1": report["types"]["dismissive"].f1, "sympathy_f1": report["types"]["sympathy"].f1,
           "distress_f1": report["types"]["distress"].f1}
    return {k: (got[k], bar, got[k] >= bar) for k, bar in BARS.items()}


def print_report(report: dict, title: str) -> None:
    print(f"\n== {title}")
    print(f"{'type':<18}{'P':>7}{'R':>7}{'F1':>7}{'tp':>5}{'fp':>5}{'fn':>5}")
    for name, s in report["types"].items():
        print(f"{name:<18}{s.precision:7.3f}{s.recall:7.3f}{s.f1:7.3f}{s.tp:5d}{s.fp:5d}{s.fn:5d}")
    print(f"{'empathy category':<18}{'P':>7}{'R':>7}{'F1':>7}{'tp':>5}{'fp':>5}{'fn':>5}")
    for name, s in report["categories"].items():
        print(f"  {name:<16}{s.precision:7.3f}{s.recall:7.3f}{s.f1:7.3f}{s.tp:5d}{s.fp:5d}{s.fn:5d}")
    print(f"category accuracy (true-positive empathy items): {report['category_accuracy']:.3f}")
    print(f"distress category accuracy (true-positive distress items): {report['distress_category_accuracy']:.3f}")
    for name, (got, bar, ok) in bars_met(report).items():
        print(f"  bar {name:<18} {got:.3f} >= {bar:.2f}  {'ok' if ok else 'MISSED'}")


def print_errors(items: Sequence[Item], preds: Sequence[Prediction]) -> None:
    print("\n== errors")
    for it, p in zip(items, preds):
        gold = (it.empathy, it.dismissive, it.sympathy, it.distress)
        got = (p.empathy, p.dismissive, p.sympathy, p.distress)
        if gold != got:
            print(f"{it.id} {it.speaker[0]} gold={_fmt(gold)} pred={_fmt(got)} | {it.text}")


def _fmt(labels: tuple) -> str:
    emp, dis, sym, dst = labels
    parts = [emp or "", "DISMISSIVE" if dis else "", "SYMPATHY" if sym else "", f"distress:{dst}" if dst else ""]
    return ",".join(x for x in parts if x) or "-"


def timing(opts: EmpathyOptions, n_utterances: int = 80) -> None:
    """Model load and per-call cost on a synthetic call built from dev lines."""
    from audio_pipeline.types import Conversation, Utterance, Word

    t0 = time.perf_counter()
    embedder = embedder_for(opts)
    t1 = time.perf_counter()
    lexicon = load_lexicon(opts.lexicon_path)
    t2 = time.perf_counter()
    items = load_items("dev")
    utts, t = [], 0.0
    for k in range(n_utterances):
        it = items[k % len(items)]
        words = []
        for w in it.text.split():
            words.append(Word(t, t + 0.3, w))
            t += 0.32
        utts.append(Utterance(it.speaker, words[0].start, words[-1].end, it.text, tuple(words)))  # type: ignore[arg-type]
        t += 0.8
    conv = Conversation(tuple(utts), t)
    first = time.perf_counter()
    analyze_empathy(conv, lexicon, embedder, opts)               # includes the exemplar vectors
    second = time.perf_counter()
    runs = 5
    for _ in range(runs):
        analyze_empathy(conv, lexicon, embedder, opts)
    third = time.perf_counter()
    lex_only = time.perf_counter()
    analyze_empathy(conv, lexicon, None, opts)
    lex_only = time.perf_counter() - lex_only
    print(f"\n== timing ({n_utterances} utterances, {conv.duration:.0f} s of speech)")
    print(f"embedder load          {t1 - t0:6.3f} s")
    print(f"lexicon load           {t2 - t1:6.3f} s")
    print(f"first call (+exemplars){second - first:6.3f} s")
    print(f"per call, warm         {(third - second) / runs:6.3f} s")
    print(f"per call, lexicon only {lex_only:6.3f} s")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--no-semantic", action="store_true", help="lexicon only")
    ap.add_argument("--asr-style", action="store_true", help="lowercase, strip punctuation and apostrophes")
    ap.add_argument("--errors", action="store_true", help="list misclassified items")
    ap.add_argument("--timing", action="store_true", help="measure load and per-call cost")
    args = ap.parse_args(argv)
    opts = load_config().empathy
    if args.no_semantic:
        opts = replace(opts, semantic=False)
    if args.timing:
        timing(opts)
        return 0
    items = load_items(args.split)
    if args.asr_style:
        items = [asr_style(it) for it in items]
    preds = predict(items, opts, embedder_for(opts))
    report = evaluate(items, preds)
    style = ", ASR-style text" if args.asr_style else ""
    print_report(report, f"{args.split} ({len(items)} items, semantic {'off' if args.no_semantic else 'on'}{style})")
    if args.errors:
        print_errors(items, preds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
