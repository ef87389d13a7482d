"""Speech to words: faster-whisper behind a small Protocol (tests inject a fake), plus the guards
that keep invented words out of a review: hallucinated segments over silence/noise, and the echo
of one party on the other's channel.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from .config import AsrOptions
from .types import Utterance, Word

log = logging.getLogger(__name__)
FRAME = 0.01  # seconds per energy frame for the crosstalk check


@dataclass(frozen=True, slots=True)
class AsrSegment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 1.0


class Transcriber(Protocol):
    name: str
    device: str

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> list[AsrSegment]:
        """Mono float32 audio → segments with word timestamps."""
        ...

    def transcribe_many(self, tracks: Sequence[np.ndarray], sample_rate: int) -> list[list[AsrSegment]]:
        """Several tracks (the channels of one call); may run them concurrently."""
        ...


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # a broken CUDA runtime must not stop a CPU review
        return "cpu"


def resolve_compute_type(compute_type: str, device: str) -> str:
    if compute_type != "default":
        return compute_type
    return "float16" if device == "cuda" else "int8"


class WhisperTranscriber:
    """faster-whisper with VAD and word timestamps; greedy decoding at temperature 0, so the same
    audio gives the same words every run."""

    def __init__(self, opts: AsrOptions, device: str = "auto", compute_type: str | None = None):
        from faster_whisper import WhisperModel

        from .models import find_whisper

        self.opts = opts
        self.device = resolve_device(device)
        self.compute_type = resolve_compute_type(compute_type or opts.compute_type, self.device)
        self.name = opts.model
        path = find_whisper(opts.model)
        self.workers = max(1, opts.channel_workers)
        self.model = WhisperModel(str(path), device=self.device, compute_type=self.compute_type,
                                  cpu_threads=_cpu_threads(opts, self.workers), num_workers=self.workers)
        self._batched = None
        if self.device == "cuda" and opts.batch_size > 1:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(self.model)

    def _kwargs(self) -> dict:
        o = self.opts
        return dict(language=o.language, beam_size=o.beam_size, temperature=0.0, word_timestamps=True,
                    condition_on_previous_text=False, vad_filter=o.vad_filter,
                    vad_parameters={"min_silence_duration_ms": o.vad_min_silence_ms,
                                    "speech_pad_ms": o.vad_speech_pad_ms, "threshold": o.vad_threshold})

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> list[AsrSegment]:
        assert sample_rate == 16000, "faster-whisper expects 16 kHz"
        if self._batched is not None:
            segments, _ = self._batched.transcribe(samples, batch_size=self.opts.batch_size, **self._kwargs())
        else:
            segments, _ = self.model.transcribe(samples, **self._kwargs())
        return [AsrSegment(start=s.start, end=s.end, text=s.text.strip(),
                           words=tuple(Word(w.start, w.end, w.word.strip(), w.probability) for w in s.words or ()),
                           no_speech_prob=s.no_speech_prob, avg_logprob=s.avg_logprob,
                           compression_ratio=s.compression_ratio)
                for s in segments]


    def transcribe_many(self, tracks: Sequence[np.ndarray], sample_rate: int) -> list[list[AsrSegment]]:
        if self.workers == 1 or len(tracks) == 1:
            return [self.transcribe(t, sample_rate) for t in tracks]
        from concurrent.futures import ThreadPoolExecutor

        # ctranslate2 releases the GIL: on few cores, one single-threaded decoder per channel beats
        # one multi-threaded decoder doing the channels in turn (tiny matrices scale poorly)
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(lambda t: self.transcribe(t, sample_rate), tracks))


def _cpu_threads(opts: AsrOptions, workers: int) -> int:
    if opts.cpu_threads > 0:
        return opts.cpu_threads
    return max(1, (os.cpu_count() or 2) // workers)


def is_hallucination(seg: AsrSegment, opts: AsrOptions) -> bool:
    """Whisper's own rule (likely silence and low confidence) plus repetition loops."""
    silent = seg.no_speech_prob > opts.no_speech_prob_max and seg.avg_logprob < opts.avg_logprob_min
    return silent or seg.compression_ratio > opts.compression_ratio_max or not seg.words


def frame_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Energy in dBFS per 10 ms frame."""
    hop = int(sample_rate * FRAME)
    n = len(samples) // hop
    frames = samples[: n * hop].reshape(n, hop).astype(np.float64)
    return 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def _span_db(db: np.ndarray, start: float, end: float) -> float:
    """Loudness of a span: the mean of its louder half of frames (robust to word-edge errors)."""
    a, b = int(start / FRAME), max(int(end / FRAME), int(start / FRAME) + 1)
    seg = db[a:b]
    if seg.size == 0:
        return -120.0
    top = np.sort(seg)[seg.size // 2:]
    return float(10.0 * np.log10(np.mean(10.0 ** (top / 10.0))))


def is_crosstalk(word: Word, own_db: np.ndarray, other_db: np.ndarray, margin_db: float) -> bool:
    """A word much quieter on its own channel than on the other one is the other party's echo."""
    return _span_db(own_db, word.start, word.end) < _span_db(other_db, word.start, word.end) - margin_db


def clean_segments(segments: Sequence[AsrSegment], opts: AsrOptions, own_db: np.ndarray | None = None,
                   other_db: np.ndarray | None = None) -> list[AsrSegment]:
    """Drop hallucinated segments, low-probability words and crosstalk words; re-derive text."""
    out = []
    for seg in segments:
        if is_hallucination(seg, opts):
            log.debug("dropped hallucinated segment %.2f-%.2f %r", seg.start, seg.end, seg.text)
            continue
        words = [w for w in seg.words if w.probability >= opts.word_probability_min and w.text]
        if own_db is not None and other_db is not None:
            words = [w for w in words if not is_crosstalk(w, own_db, other_db, opts.crosstalk_margin_db)]
        if words:
            out.append(AsrSegment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words),
                                  seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio))
    return out


def speech_mask(own_db: np.ndarray, other_db: np.ndarray, margin_db: float) -> np.ndarray:
    """Frames where this channel carries its own speech: well above its noise floor and not merely
    the other party's echo."""
    floor = float(np.percentile(own_db, 10))
    peak = float(np.percentile(own_db, 95))
    threshold = floor + max(6.0, 0.35 * (peak - floor))
    return (own_db > threshold) & (own_db > other_db - margin_db)


def _edge(mask: np.ndarray, frame: int, step: int, limit: int) -> int:
    """Walk from `frame` in direction `step` while the mask stays on (gaps of a few frames allowed)."""
    best, gap, i = frame, 0, frame
    for _ in range(limit):
        i += step
        if i < 0 or i >= len(mask):
            break
        if mask[i]:
            best, gap = i, 0
        else:
            gap += 1
            if gap > 5:
                break
    return best


def snap_to_energy(segments: Sequence[AsrSegment], mask: np.ndarray, max_shift: float = 0.8) -> list[AsrSegment]:
    """Whisper's word timestamps drift by a few hundred ms at segment edges, most of all in
    overlapped speech; the channel's own energy says when the voice really starts and stops."""
    limit = int(max_shift / FRAME)
    out = []
    for seg in segments:
        words = list(seg.words)
        first, last = words[0], words[-1]
        a = int(first.start / FRAME)
        if 0 <= a < len(mask) and (mask[a] or mask[min(a + 1, len(mask) - 1)]):
            words[0] = Word(min(first.start, _edge(mask, a, -1, limit) * FRAME), first.end, first.text, first.probability)
        b = min(int(last.end / FRAME), len(mask) - 1)
        if b >= 0 and (mask[b] or mask[max(b - 1, 0)]):
            end = max(last.end, (_edge(mask, b, +1, limit) + 1) * FRAME)
            words[-1] = Word(words[-1].start, end, last.text, last.probability)
        out.append(AsrSegment(words[0].start, words[-1].end, seg.text, tuple(words), seg.no_speech_prob,
                              seg.avg_logprob, seg.compression_ratio))
    return out


def to_utterances(segments: Sequence[AsrSegment], speaker: str, max_gap: float) -> list[Utterance]:
    """One utterance per segment, split where the words pause for `max_gap` or more."""
    utterances = []
    for seg in segments:
        group: list[Word] = []
        for w in seg.words:
            if group and w.start - group[-1].end >= max_gap:
                utterances.append(_utterance(speaker, group))
                group = []
            group.append(w)
        if group:
            utterances.append(_utterance(speaker, group))
    return utterances


def _utterance(speaker: str, words: Sequence[Word]) -> Utterance:
    return Utterance(speaker=speaker, start=words[0].start, end=words[-1].end,  # type: ignore[arg-type]
                     text=" ".join(w.text for w in words), words=tuple(words))
