"""How far a second careful reader agrees with the corpus authors: the ceiling a phrasing model can
be held to on labels like these.

    python bench/phrasing_agreement.py

data/phrasing/agreement/*.jsonl: dialogues of the corpus (same ids and turns) labelled again from
the labelling guide alone by readers who saw neither the authors' labels nor the model. Each row is
scored as the phrasing bench scores the model — the author's label as truth, per turn — and missed
empathy is derived from each side's labels by the same code (`phrasing/moments.py`). Reported for the
test batches and the dev batches apart. No model is run; this reads no figure of the model.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline.evaluation import Tally  # noqa: E402
from audio_pipeline.phrasing import corpus, moments  # noqa: E402
from audio_pipeline.phrasing.labels import heads, targets  # noqa: E402

DATA = ROOT / "data" / "phrasing"
ROWS = ("empathy", "dismissive", "sympathy", "distress", "wants_empathy")


def authors(root: Path) -> dict[str, dict]:
    return {d["id"]: d for d in corpus.read_dialogues(root)}


def score(readings: list[dict], truth: dict[str, dict], splits: dict[str, str]) -> dict[str, dict[str, Tally]]:
    out: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    for reading in readings:
        author = truth[reading["id"]]
        side = out[splits.get(reading["batch"], "dev")]
        pairs = list(zip(author["turns"], reading["turns"]))
        if [a["text"] for a, _ in pairs] != [b["text"] for _, b in pairs] or len(pairs) != len(author["turns"]):
            raise SystemExit(f"{reading['id']}: the reading's turns differ from the corpus")
        for a, b in pairs:
            ca, cb = ({lb for lb in t["labels"] if lb.startswith("empathy:")} for t in (a, b))
            if ca and cb:   # which kind of empathy, on turns both call empathy: a shared category is right
                side["category"].add(int(bool(ca & cb)), int(not ca & cb), 0)
            names = heads(a["speaker"])
            for name, t, p in zip(names, targets(a["speaker"], set(a["labels"])), targets(a["speaker"], set(b["labels"]))):
                if name in ROWS:
                    side[name].add(int(p and t), int(p and not t), int(t and not p))
        as_turns = lambda d: [(t["speaker"], t["text"], t["labels"]) for t in d]  # noqa: E731
        side["missed_empathy"].add(*moments.agreement(moments.unanswered(as_turns(author["turns"])),
                                                      moments.unanswered(as_turns(reading["turns"]))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=DATA)
    args = ap.parse_args()
    readings = [json.loads(line) for f in sorted((args.root / "agreement").glob("*.jsonl"))
                for line in f.read_text().splitlines() if line.strip()]
    splits = corpus.split_of(args.root)
    result = score(readings, authors(args.root), splits)
    for split, rows in sorted(result.items(), key=lambda kv: kv[0] != "test"):
        n = len({r["id"] for r in readings if splits.get(r["batch"], "dev") == split})
        print(f"{split} ({n} dialogues): second reader vs author, P / R / F1 (author's labels as truth)")
        for name in (*ROWS, "missed_empathy"):
            t = rows[name]
            print(f"  {name:15s} author {t.tp + t.fn:4d}  reader {t.tp + t.fp:4d}  "
                  f"{t.precision:.3f} / {t.recall:.3f} / {t.f1:.3f}")
        print(f"  empathy category shared on {rows['category'].tp} of {rows['category'].tp + rows['category'].fp} "
              f"turns both call empathy ({rows['category'].precision:.3f})")


if __name__ == "__main__":
    main()
