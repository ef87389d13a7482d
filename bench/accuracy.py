"""Accuracy of full reviews against labelled synthetic calls: precision/recall/F1 per finding type,
backchannels mistaken for interruptions, and WER per speaker.

    python bench/accuracy.py [DIR] [--mono] [--json OUT.json]

DIR holds NAME.wav/.flac + NAME.truth.json pairs (default bench/.data/calls, made by
`make bench-data`; samples/ works too). --mono mixes each call to one channel first, so the
diarization path is measured on the same calls. After the set, pyannote's real sample call
(bench/real_call.py): WER per speaker against bare faster-whisper, and the mono RTTM's DER.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from audio_pipeline.evaluation import Tally, normalise_text, overlap, score  # noqa: E402
from audio_pipeline.types import UNHEARD  # noqa: E402

# (finding type, speaker or None for any): the rows of the report
ROWS = [("interruption", "agent"), ("interruption", "customer"), ("backchannel", None), ("dead_air", None),
        ("slow_response", None), ("long_monologue", None), ("missed_empathy", None)]


def mono_copy(path: Path, tmp: Path) -> Path:
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    out = tmp / (path.stem + ".mono.wav")
    sf.write(out, data.mean(axis=1), sr, subtype="PCM_16")
    return out


def evaluate(calls: list[Path], mono: bool, overrides: dict | None = None) -> dict:
    import jiwer

    from audio_pipeline.config import load_config
    from audio_pipeline.export import review_to_dict
    from audio_pipeline.pipeline import Reviewer

    reviewer = Reviewer(load_config(overrides=overrides), device="cpu")
    tallies = {row: Tally() for row in ROWS}
    bc_as_interruption, refs, hyps = 0, {"agent": [], "customer": []}, {"agent": [], "customer": []}
    audio_s = wall_s = 0.0
    coverage, unheard, invented = [0, 0], [], []
    tmp = Path(tempfile.mkdtemp())
    for n, truth_path in enumerate(calls, 1):
        truth = json.loads(truth_path.read_text())
        audio = truth_path.parent / truth["audio"]
        t0 = time.perf_counter()
        review = review_to_dict(reviewer.review(mono_copy(audio, tmp) if mono else audio))
        wall_s += time.perf_counter() - t0
        audio_s += truth["duration"]
        for row in ROWS:
            score(review["findings"], truth["events"], *row, tally=tallies[row], name=audio.name)
        for bc in (e for e in truth["events"] if e["type"] == "backchannel"):
            bc_as_interruption += any(f["type"] == "interruption" and f["speaker"] == bc["speaker"]
                                      and overlap((f["start"], f["end"]), (bc["start"], bc["end"]), 0) > 0
                                      for f in review["findings"])
        for t in (t for t in truth["turns"] if t["kind"] != "backchannel" and t["end"] - t["start"] >= 1.0):
            heard = any(u["speaker"] == t["speaker"] and w["end"] > t["start"] and w["start"] < t["end"]
                        for u in review["utterances"] for w in u["words"])
            coverage[0] += heard
            coverage[1] += 1
            if not heard:
                unheard.append((audio.name, t["speaker"], t["start"], t["end"]))
        invented += invented_words(review["utterances"], truth["turns"], audio.name)
        for role in refs:
            refs[role].append(normalise_text(" ".join(t["text"] for t in truth["turns"] if t["speaker"] == role)))
            hyps[role].append(normalise_text(" ".join(u["text"] for u in review["utterances"] if u["speaker"] == role)))
        print(f"[{n}/{len(calls)}] {audio.name}: {truth['duration']:.0f} s reviewed in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    wer = {role: jiwer.wer(refs[role], hyps[role]) for role in refs}
    return {"tallies": tallies, "backchannels_as_interruptions": bc_as_interruption, "wer": wer,
            "turns_heard": coverage[0] / max(coverage[1], 1), "unheard": unheard, "invented": invented,
            "words": sum(len(h.split()) for hs in hyps.values() for h in hs),
            "calls": len(calls), "audio_s": audio_s, "wall_s": wall_s}


INVENTED_REACH = 0.5   # seconds: a word this far from every turn of its party was not said by them


def invented_words(utterances: list[dict], turns: list[dict], name: str) -> list[tuple[str, str, float, str]]:
    """Words put in a party's mouth where the truth has that party silent (hiss, hum, a hold, the other
    party's echo): the "no invented words" bar. Placeholders for wordless speech are not words."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for t in turns:
        spans.setdefault(t["speaker"], []).append((t["start"] - INVENTED_REACH, t["end"] + INVENTED_REACH))
    out = []
    for u in utterances:
        for w in u["words"]:
            if w["text"] != UNHEARD and not any(a <= (w["start"] + w["end"]) / 2 <= b for a, b in spans.get(u["speaker"], ())):
                out.append((name, u["speaker"], w["start"], w["text"]))
    return out


def report(result: dict, mono: bool) -> None:
    print(f"\n{result['calls']} calls, {result['audio_s'] / 60:.1f} min of audio, "
          f"{'mono (diarized)' if mono else 'stereo'}; {result['audio_s'] / result['wall_s']:.1f}× real time")
    print(f"{'finding':<26}{'truth':>6}{'found':>7}{'P':>7}{'R':>7}{'F1':>7}")
    for (kind, speaker), t in result["tallies"].items():
        name = kind + (f" ({speaker})" if speaker else "")
        print(f"{name:<26}{t.tp + t.fn:>6}{t.tp + t.fp:>7}{t.precision:>7.3f}{t.recall:>7.3f}{t.f1:>7.3f}")
    print(f"backchannels reported as interruptions: {result['backchannels_as_interruptions']}")
    print(f"WER agent {result['wer']['agent']:.3f}, customer {result['wer']['customer']:.3f}; "
          f"turns with at least one word transcribed: {result['turns_heard']:.1%}")
    print(f"invented words (said where that party was silent): {len(result['invented'])} of {result['words']}")
    for name, speaker, start, word in result["invented"][:8]:
        print(f"  invented {speaker} {name} {start:.2f} {word!r}")
    for name, speaker, start, end in result["unheard"][:8]:
        print(f"  unheard {speaker} turn {name} {start:.2f}-{end:.2f}")
    for (kind, speaker), t in result["tallies"].items():
        for name, what, span in t.misses[:8]:
            print(f"  {what} {kind}{'/' + speaker if speaker else ''} {name} {span[0]:.2f}-{span[1]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", type=Path, default=ROOT / "bench/.data/calls")
    ap.add_argument("--mono", action="store_true", help="mix each call to mono and diarize")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--no-real", action="store_true", help="skip pyannote's real sample call")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a configuration override, e.g. asr.stretched_word_min=0 (repeatable)")
    args = ap.parse_args()
    from audio_pipeline.config import parse_overrides

    overrides = parse_overrides(args.set)
    calls = sorted(args.dir.glob("*.truth.json"))
    if not calls:
        sys.exit(f"no *.truth.json in {args.dir}: run `make bench-data` first")
    result = evaluate(calls, args.mono, overrides)
    report(result, args.mono)
    if not args.no_real:
        # real voices beside the synthetic ones (DESIGN §6): pyannote's sample call, one speaker per
        # channel and mixed, against bare faster-whisper on the same channels
        import real_call

        print()
        from audio_pipeline.config import load_config
        from audio_pipeline.pipeline import Reviewer

        result["real"] = real_call.evaluate(reviewer=Reviewer(load_config(overrides=overrides), device="cpu"))
        real_call.report(result["real"])
    if args.json:
        flat = {f"{k}{'/' + s if s else ''}": {"tp": t.tp, "fp": t.fp, "fn": t.fn, "f1": round(t.f1, 4)}
                for (k, s), t in result["tallies"].items()}
        args.json.write_text(json.dumps({"findings": flat, "wer": result["wer"], "turns_heard": result["turns_heard"],
                                         "backchannels_as_interruptions": result["backchannels_as_interruptions"],
                                         "real": result.get("real")},
                                        indent=2))


if __name__ == "__main__":
    main()
