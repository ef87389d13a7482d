"""Mono role assignment on call openings written independently of the rules (data/roles/openings.jsonl:
each line a call's first turns, speaker agent/customer/ivr, text only).

    python bench/roles_openings.py [FILE] [--show N]

Each opening becomes diarized voices with neutral labels (SPEAKER_00…, shuffled with a fixed seed so
no label order favours the agent), one utterance per turn timed by its word count, then
`roles.assign_roles` runs with the default config. Reported: agent right, wrong but marked
uncertain, confidently wrong (the failure that matters), the share decided by a greeting or
introduction, and accuracy per confidence band (is the confidence calibrated?).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from audio_pipeline.config import load_config  # noqa: E402
from audio_pipeline.roles import assign_roles  # noqa: E402

BANDS = ((0.0, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


@dataclass(frozen=True)
class Said:
    start: float
    end: float
    text: str


def voices(opening: dict, rng: random.Random) -> tuple[dict[str, list[Said]], dict[str, str]]:
    """label → utterances, and role → label."""
    roles = list(dict.fromkeys(t["speaker"] for t in opening["turns"]))
    labels = [f"SPEAKER_{i:02d}" for i in range(len(roles))]
    rng.shuffle(labels)
    label_of = dict(zip(roles, labels))
    out: dict[str, list[Said]] = {lb: [] for lb in labels}
    t = 0.5
    for turn in opening["turns"]:
        length = 0.35 * len(turn["text"].split()) + 0.3
        out[label_of[turn["speaker"]]].append(Said(t, t + length, turn["text"]))
        t += length + 0.4
    return out, label_of


def evaluate(path: Path, show: int = 0) -> dict:
    cfg = load_config()
    rng = random.Random(11)
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        opening = json.loads(line)
        by_label, label_of = voices(opening, rng)
        d = assign_roles(by_label, cfg.diarization)
        agent_label = label_of.get("agent")
        right = agent_label is not None and d.mapping.get(agent_label) == "agent"
        rows.append({"id": opening.get("id"), "right": right, "uncertain": d.uncertain, "method": d.method,
                     "confidence": d.confidence, "evidence": d.evidence})
    n = len(rows)
    wrong = [r for r in rows if not r["right"]]
    result = {
        "openings": n,
        "agent_right": sum(r["right"] for r in rows) / n,
        "wrong_marked_uncertain": sum(r["uncertain"] for r in wrong),
        "confidently_wrong": sum(not r["uncertain"] for r in wrong),
        "uncertain": sum(r["uncertain"] for r in rows),
        "by_phrase": sum(r["method"] in ("greeting", "introduction") for r in rows) / n,
        "methods": {m: sum(r["method"] == m for r in rows) for m in sorted({r["method"] for r in rows})},
        "bands": {f"{lo:.1f}-{min(hi, 1.0):.1f}": (sum(lo <= r["confidence"] < hi for r in rows),
                                                   sum(lo <= r["confidence"] < hi and r["right"] for r in rows))
                  for lo, hi in BANDS},
        "wrong": [(r["id"], r["method"], round(r["confidence"], 2), r["uncertain"]) for r in wrong],
    }
    for r in wrong[:show]:
        print(f"  wrong {r['id']}: {r['method']} {r['confidence']:.2f}{' (uncertain)' if r['uncertain'] else ''}: "
              f"{r['evidence']}")
    return result


def report(r: dict) -> None:
    print(f"{r['openings']} openings: agent right {r['agent_right']:.1%}; wrong {len(r['wrong'])} "
          f"(marked uncertain {r['wrong_marked_uncertain']}, confidently wrong {r['confidently_wrong']}); "
          f"uncertain overall {r['uncertain']}; decided by a greeting/introduction {r['by_phrase']:.1%}")
    print("methods: " + ", ".join(f"{k} {v}" for k, v in r["methods"].items()))
    print("confidence band: calls, agent right → " + "; ".join(
        f"{band}: {n}, {right / n:.0%}" if n else f"{band}: 0" for band, (n, right) in r["bands"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=ROOT / "data/roles/openings.jsonl")
    ap.add_argument("--show", type=int, default=0, help="print the evidence of the first N wrong decisions")
    args = ap.parse_args()
    report(evaluate(args.file, args.show))


if __name__ == "__main__":
    main()
