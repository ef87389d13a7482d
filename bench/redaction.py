"""PII redaction against a labelled set of call utterances written independently of the recognizers
(data/privacy/pii.jsonl: {"text", "entities": [{"type", "text"}]}, spoken-number forms included).

Per entity: recall (a labelled span overlapped by a prediction of the same type), precision (a
prediction overlapping a labelled span of its type), and "masked" recall (overlapped by any
prediction: what privacy needs, whatever the label). Rules alone and rules + presidio side by side,
then the cost against a full review of the demo call.

    .venv/bin/python bench/redaction.py [data/privacy/pii.jsonl] [--no-cost]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline.privacy.engine import PiiEngine, PresidioAnalyzer  # noqa: E402

# the labelled set's names for our entity types
LABEL = {"CREDIT_CARD": "CARD_NUMBER", "PHONE_NUMBER": "PHONE", "STREET_ADDRESS": "ADDRESS",
         "EMAIL_ADDRESS": "EMAIL", "CARD_EXPIRY": "EXPIRY"}


def gold_spans(row: dict) -> list[tuple[str, int, int]]:
    text, out, used = row["text"], [], set()
    for e in row["entities"]:
        start = text.find(e["text"])
        while start >= 0 and start in used:
            start = text.find(e["text"], start + 1)
        if start < 0:
            print(f"warning: {row['id']}: '{e['text']}' not in the text", file=sys.stderr)
            continue
        used.add(start)
        out.append((e["type"], start, start + len(e["text"])))
    return out


def score(rows: list[dict], engine: PiiEngine) -> tuple[dict, float]:
    tp_gold, gold_n, masked, tp_pred, pred_n = Counter(), Counter(), Counter(), Counter(), Counter()
    started = time.perf_counter()
    predictions = [[(LABEL.get(s.entity, s.entity), s.start, s.end) for s in engine.spans(r["text"])] for r in rows]
    seconds = time.perf_counter() - started
    for row, pred in zip(rows, predictions):
        gold = gold_spans(row)
        for kind, a, b in gold:
            gold_n[kind] += 1
            tp_gold[kind] += any(k == kind and s < b and a < e for k, s, e in pred)
            masked[kind] += any(s < b and a < e for _, s, e in pred)
        for kind, a, b in pred:
            pred_n[kind] += 1
            tp_pred[kind] += any(k == kind and s < b and a < e for k, s, e in gold)
    table = {}
    for kind in sorted(set(gold_n) | set(pred_n)):
        table[kind] = {"n": gold_n[kind], "recall": tp_gold[kind] / gold_n[kind] if gold_n[kind] else None,
                       "masked": masked[kind] / gold_n[kind] if gold_n[kind] else None,
                       "precision": tp_pred[kind] / pred_n[kind] if pred_n[kind] else None, "predicted": pred_n[kind]}
    total_gold, total_pred = sum(gold_n.values()), sum(pred_n.values())
    table["ALL"] = {"n": total_gold, "recall": sum(tp_gold.values()) / total_gold,
                    "masked": sum(masked.values()) / total_gold,
                    "precision": sum(tp_pred.values()) / total_pred if total_pred else None, "predicted": total_pred}
    return table, seconds


def show_errors(rows: list[dict], engine: PiiEngine) -> None:
    for row in rows:
        pred = [(LABEL.get(s.entity, s.entity), s.start, s.end) for s in engine.spans(row["text"])]
        gold = gold_spans(row)
        text = row["text"]
        for kind, a, b in gold:
            if not any(k == kind and s < b and a < e for k, s, e in pred):
                print(f"MISS {kind:13} {text[a:b]!r:45} | {text}")
        for kind, a, b in pred:
            if not any(k == kind and s < b and a < e for k, s, e in gold):
                print(f"FA   {kind:13} {text[a:b]!r:45} | {text}")


def fmt(x: float | None) -> str:
    return "  —  " if x is None else f"{x:.3f}"


def cost(engine: PiiEngine) -> None:
    from audio_pipeline.config import load_config
    from audio_pipeline.pipeline import Reviewer
    from audio_pipeline.privacy.redact import redact_review

    reviewer = Reviewer(load_config(), device="cpu")
    call = ROOT / "samples" / "demo_call.wav"
    reviewer.review(call)  # warm-up (lazy models)
    started = time.perf_counter()
    review = reviewer.review(call)
    review_s = time.perf_counter() - started
    started = time.perf_counter()
    redact_review(review, engine)
    redact_s = time.perf_counter() - started
    print(f"\ncost on {call.name} ({review.audio.duration:.0f} s, {len(review.utterances)} utterances): review "
          f"{review_s:.2f} s, redaction {redact_s:.3f} s = {redact_s / review_s:.1%} of the review")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=str(ROOT / "data" / "privacy" / "pii.jsonl"))
    ap.add_argument("--no-cost", action="store_true")
    ap.add_argument("--split", choices=("all", "dev", "test"), default="all",
                    help="dev = the first 200 rows (read to improve the rules after the first run), test = the rest")
    ap.add_argument("--errors", action="store_true", help="print the misses and false alarms (dev split only)")
    args = ap.parse_args()
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    if args.split != "all":
        rows = rows[:200] if args.split == "dev" else rows[200:]
    started = time.perf_counter()
    presidio = PresidioAnalyzer()
    load_s = time.perf_counter() - started
    results = {"rules": score(rows, PiiEngine(None)), "rules+presidio": score(rows, PiiEngine(presidio))}
    print(f"{len(rows)} utterances, {sum(len(r['entities']) for r in rows)} labelled entities; presidio+spaCy load "
          f"{load_s:.1f} s")
    for name, (table, seconds) in results.items():
        print(f"\n{name}: {seconds / len(rows) * 1000:.1f} ms per utterance")
        print(f"{'entity':14} {'n':>4} {'recall':>7} {'masked':>7} {'precision':>9} {'predicted':>9}")
        for kind, m in table.items():
            print(f"{kind:14} {m['n']:4d} {fmt(m['recall']):>7} {fmt(m['masked']):>7} {fmt(m['precision']):>9} "
                  f"{m['predicted']:9d}")
    if args.errors and args.split == "dev":
        show_errors(rows, PiiEngine(presidio))
    if not args.no_cost:
        cost(PiiEngine(presidio))


if __name__ == "__main__":
    main()
