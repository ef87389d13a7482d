"""ASR-noisy copies of the phrasing corpus: each selected dialogue is rendered with TTS voices
(Piper Joe, espeak-ng, flite; telephone band for some), transcribed back with faster-whisper
tiny.en as the review does, and written with the same ids and labels and the ASR's text
(data/phrasing/asr/<batch>/part-<dialogue id>.jsonl, "variant": "asr"). Real tiny.en errors, not invented
ones: the phrasing model learns to read what the review will actually see.

A dialogue's turns are rendered into one track with 0.8 s between them and transcribed in one
pass (word timestamps); each word goes back to the turn whose audio holds its midpoint. Turns
that got no words keep an empty text (the model never sees them).

    python scripts/phrasing_asr.py --data data/phrasing --fraction 0.4
    python scripts/phrasing_asr.py --having sympathy,dismissive --fraction 0.5   # dev dialogues with those labels

The selection is by a hash of the dialogue id, so a larger fraction keeps every copy a smaller one
made, and the dialogues left without a copy stay the same for a bench to measure on
(`bench/phrasing_audio.py --uncopied`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from synth_calls import WORK_SR, Voice, band_limit, tts  # noqa: E402

GAP = 0.8
AGENT_VOICES = (Voice("piper", "joe"), Voice("piper", "joe", 1.1), Voice("flite", "slt"),
                Voice("espeak-ng", "en-us+steph", 1.0, 45), Voice("flite", "awb"))
CUSTOMER_VOICES = (Voice("flite", "rms"), Voice("espeak-ng", "en-gb", 1.0, 50), Voice("flite", "slt"),
                   Voice("espeak-ng", "en-us+f3", 0.95, 55), Voice("piper", "joe", 0.95),
                   Voice("flite", "kal16"), Voice("espeak-ng", "en-gb-x-rp+f5", 1.0, 48))


def _pick(dialogue_id: str, salt: str, n: int) -> int:
    return int(hashlib.sha256(f"{salt}:{dialogue_id}".encode()).hexdigest(), 16) % n


def selected(dialogue_id: str, fraction: float) -> bool:
    return _pick(dialogue_id, "select", 10_000) < fraction * 10_000


def render_turns(dialogue: dict) -> list[np.ndarray]:
    """Each turn as its speaker's voice says it (voices and band drawn from the dialogue id)."""
    did = dialogue["id"]
    voices = {"agent": AGENT_VOICES[_pick(did, "agent", len(AGENT_VOICES))],
              "customer": CUSTOMER_VOICES[_pick(did, "customer", len(CUSTOMER_VOICES))]}
    band = "telephone" if _pick(did, "band", 2) else "wide"
    return [band_limit(tts(voices.get(t["speaker"], voices["customer"]), t["text"].replace("\n", " ")), band)
            for t in dialogue["turns"]]


def render(dialogue: dict) -> tuple[np.ndarray, list[tuple[float, float]]]:
    pieces, spans, t = [], [], 0.0
    for x in render_turns(dialogue):
        spans.append((t, t + len(x) / WORK_SR))
        pieces += [x, np.zeros(int(GAP * WORK_SR), np.float32)]
        t += len(x) / WORK_SR + GAP
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return (audio / peak * 0.8 if peak > 0 else audio).astype(np.float32), spans


def transcribe(model, audio: np.ndarray, sr: int) -> list[tuple[float, float, str]]:
    import soxr

    x = soxr.resample(audio, sr, 16000) if sr != 16000 else audio
    segments, _ = model.transcribe(x, language="en", beam_size=1, temperature=0.0, word_timestamps=True,
                                   vad_filter=True, condition_on_previous_text=False)
    return [(w.start, w.end, w.word) for s in segments for w in (s.words or [])]


def noisy_copy(dialogue: dict, words: list[tuple[float, float, str]], spans: list[tuple[float, float]]) -> dict:
    texts: list[list[str]] = [[] for _ in spans]
    for start, end, word in words:
        mid = (start + end) / 2
        i = min(range(len(spans)), key=lambda k: 0 if spans[k][0] <= mid <= spans[k][1]
                else min(abs(mid - spans[k][0]), abs(mid - spans[k][1])))
        texts[i].append(word.strip())
    turns = [dict(turn, text=" ".join(t)) for turn, t in zip(dialogue["turns"], texts)]
    return dict(dialogue, turns=turns, variant="asr")


def dialogues(root: Path, having: str | None) -> list[dict]:
    from audio_pipeline.phrasing import corpus

    found = list(corpus.read_dialogues(root))
    if not having:
        return found
    wanted, split = set(having.split(",")), corpus.split_of(root)
    return [d for d in found if split.get(d["batch"]) == "dev" and corpus.has_label(d, wanted)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data/phrasing"))
    ap.add_argument("--fraction", type=float, default=0.4, help="share of dialogues to render")
    ap.add_argument("--having", metavar="LABELS", help="comma list: only dev dialogues with a line labelled "
                    "one of these (the labels the review misreads most through ASR)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from faster_whisper import WhisperModel

    from audio_pipeline.models import find_whisper

    model = WhisperModel(str(find_whisper("tiny.en")), device="cpu", compute_type="int8",
                         cpu_threads=args.threads)
    todo = [d for d in dialogues(args.data, args.having) if selected(d["id"], args.fraction)]
    # one file per dialogue, in an order that mixes the batches: resumable, and any prefix of the
    # run covers every batch
    todo.sort(key=lambda d: _pick(d["id"], "order", 2**31))
    for n, d in enumerate(todo, 1):
        out = args.data / "asr" / d["batch"] / f"part-{d['id']}.jsonl"
        if out.exists():
            continue
        audio, spans = render(d)
        row = noisy_copy(d, transcribe(model, audio, WORK_SR), spans)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(out)
        print(f"{n}/{len(todo)} {d['id']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
