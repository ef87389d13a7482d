"""Speech to words: faster-whisper behind a small Protocol (tests inject a fake), plus the guards
that keep invented words out of a review: hallucinated segments over silence/noise, and the echo
of one party on the other's channel.
"""
from __future__ import annotations

import bisect
import logging
import os
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

import numpy as np

from .analysis import timeline
from .config import AsrOptions
from .evaluation import normalise_text
from .types import UNHEARD, Utterance, Word

log = logging.getLogger(__name__)
FRAME = 0.01  # seconds per energy frame for the crosstalk check
MASK_HOLE = 10  # frames: shorter breaks in a party's own-speech energy are not pauses
MIN_SEGMENT_SPEECH = 0.1  # seconds of words a segment needs to count as speech


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

    def transcribe(self, samples: np.ndarray, sample_rate: int, own_speech: np.ndarray | None = None,
                   regions: Sequence[tuple[int, int]] | None = None, recover: bool = True,
                   context: Sequence[tuple[int, int]] = (), loops: bool = True) -> list[AsrSegment]:
        """Mono float32 audio → segments with word timestamps (`regions`: its speech, in samples,
        when the caller has already found it; `recover`: decode again what `own_speech` says was
        said and got no words or a stretched one; `context`: spans heard only to help what
        follows, never decoded again; `loops=False`: speech whose decode fell into a repetition
        loop is not decoded again now but returned as wordless segments, for the caller to
        decode later)."""
        ...

    def transcribe_many(self, tracks: Sequence[np.ndarray], sample_rate: int,
                        own_speech: Sequence[np.ndarray | None] | None = None) -> list[list[AsrSegment]]:
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


@dataclass(frozen=True, slots=True)
class SpeechLayout:
    """Where each speech region of a track sits in the gap-joined audio Whisper decodes."""

    regions: tuple[tuple[int, int], ...]   # (start, end) samples in the track
    joined_starts: tuple[int, ...]          # start sample of each region in the joined audio

    def word_to_track(self, start: float, end: float, sample_rate: int) -> tuple[float, float]:
        """Both ends of a word through the region holding its middle, clamped to that region: a
        word Whisper stretches over a joining gap must not span the silence between regions."""
        i = max(0, bisect.bisect_right(self.joined_starts, (start + end) / 2 * sample_rate) - 1)
        offset = (self.regions[i][0] - self.joined_starts[i]) / sample_rate
        lo, hi = self.regions[i][0] / sample_rate, self.regions[i][1] / sample_rate
        s = min(max(start + offset, lo), hi)
        return s, min(max(end + offset, s), hi)


def join_speech(samples: np.ndarray, regions: Sequence[tuple[int, int]], gap: int) -> tuple[np.ndarray, SpeechLayout]:
    """Speech regions back to back with `gap` samples of silence between them.

    faster-whisper's own VAD path joins regions with no gap at all; at those abrupt joins Whisper's
    timestamps drift and words land in the wrong region, sometimes 30 s away. A short real pause
    keeps the joins audible to the model, for ~15 % more audio to decode."""
    parts, starts, pos = [], [], 0
    silence = np.zeros(gap, dtype=np.float32)
    for start, end in regions:
        starts.append(pos)
        parts += [samples[start:end].astype(np.float32, copy=False), silence]
        pos += end - start + gap
    joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return joined, SpeechLayout(tuple(regions), tuple(starts))


def speech_windows(regions: Sequence[tuple[int, int]], longest: int) -> list[list[tuple[int, int]]]:
    """Consecutive regions grouped so that each group holds at most `longest` samples of speech
    (a single longer region is its own group)."""
    windows: list[list[tuple[int, int]]] = []
    size = 0
    for a, b in regions:
        if not windows or size + (b - a) > longest:
            windows.append([])
            size = 0
        windows[-1].append((a, b))
        size += b - a
    return windows


class WhisperTranscriber:
    """faster-whisper with Silero VAD and word timestamps; greedy decoding at temperature 0, so the
    same audio gives the same words every run."""

    JOIN_GAP = 0.2  # seconds of silence between joined speech regions

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

    def speech_regions(self, samples: np.ndarray) -> list[tuple[int, int]]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        from . import blocks

        o = self.opts
        vad = VadOptions(threshold=o.vad_threshold, min_silence_duration_ms=o.vad_min_silence_ms,
                         speech_pad_ms=o.vad_speech_pad_ms)
        sr = 16000  # faster-whisper's VAD rate; transcribe() has checked the input's
        found = blocks.spans(samples, sr, lambda x: [(c["start"] / sr, c["end"] / sr)
                                                     for c in get_speech_timestamps(x, vad)])
        return [(round(s * sr), round(e * sr)) for s, e in found]

    def _decode(self, audio: np.ndarray, retry: bool = False) -> list:
        # a retry forbids repeated 3-grams: deterministic, unlike Whisper's own temperature fallback,
        # and far cheaper than beam search
        extra = {"repetition_penalty": 1.2, "no_repeat_ngram_size": 3} if retry else {}
        kwargs = dict(language=self.opts.language, beam_size=self.opts.beam_size, temperature=0.0,
                      word_timestamps=True, condition_on_previous_text=False, vad_filter=False, **extra)
        # one code path on CPU and GPU: BatchedInferencePipeline re-runs its own VAD joining, whose
        # word-time drift the gap-joined regions exist to avoid
        segments, _ = self.model.transcribe(audio, **kwargs)
        return list(segments)

    def _transcribe(self, samples: np.ndarray, sample_rate: int, regions: Sequence[tuple[int, int]],
                    retry: bool = False) -> list[AsrSegment]:
        # faster-whisper computes the whole input's spectrogram up front (about 1 GB per hour of
        # speech): a long call is decoded a window of regions at a time, cut only between regions
        out: list[AsrSegment] = []
        for window in speech_windows(regions, int(self.opts.window_seconds * sample_rate)):
            out += self._transcribe_window(samples, sample_rate, window, retry)
        return out

    def _transcribe_window(self, samples: np.ndarray, sample_rate: int, regions: Sequence[tuple[int, int]],
                           retry: bool) -> list[AsrSegment]:
        joined, layout = join_speech(samples, regions, int(self.JOIN_GAP * sample_rate))
        out = []
        for s in self._decode(joined, retry):
            words = tuple(Word(a, b, w.word.strip(), w.probability)
                          for w in s.words or () for a, b in [layout.word_to_track(w.start, w.end, sample_rate)])
            start, end = (words[0].start, words[-1].end) if words else (s.start, s.end)
            out.append(AsrSegment(start, end, s.text.strip(), words, s.no_speech_prob, s.avg_logprob,
                                  s.compression_ratio))
        return out

    def transcribe(self, samples: np.ndarray, sample_rate: int, own_speech: np.ndarray | None = None,
                   regions: Sequence[tuple[int, int]] | None = None, recover: bool = True,
                   context: Sequence[tuple[int, int]] = (), loops: bool = True) -> list[AsrSegment]:
        """`own_speech` (10 ms frames where this track's party is audibly talking) lets stretches of
        clear speech that got no words at all, and words stretched over skipped ones, be decoded
        again (each recovery is one more Whisper pass; `recover=False` skips them, the looping
        retry stays). `regions` (samples) skips the VAD. `context` (samples): speech heard only to
        help what follows, whose words the caller drops; it is never decoded again."""
        if sample_rate != 16000:
            raise ValueError(f"faster-whisper expects 16 kHz audio, got {sample_rate} Hz (audio.sample_rate)")
        if regions is None:
            regions = self.speech_regions(samples) if self.opts.vad_filter else [(0, len(samples))]
        ctx = [(a / sample_rate, b / sample_rate) for a, b in context]
        if own_speech is not None:
            regions = own_regions(regions, own_speech, sample_rate)
            own_speech = without_spans(own_speech, ctx)  # context's words are dropped: none to recover
        first = self._transcribe(samples, sample_rate, regions)
        looping = [s for s in first if s.compression_ratio > self.opts.compression_ratio_max and s.words]
        kept = [s for s in first if s not in looping]
        # a looping window is decoded again over its own speech regions (not the whole stretch, whose
        # silences would let word times drift), unheard speech over its energy span
        again = [(a / sample_rate, b / sample_rate) for a, b in regions
                 if any(s.start - 0.2 < b / sample_rate and a / sample_rate < s.end + 0.2 for s in looping)]
        later: list[AsrSegment] = []
        if not loops:
            spans = _outside(again, ctx)
            later = [AsrSegment(a, b, "", (), compression_ratio=max(s.compression_ratio for s in looping))
                     for a, b in spans]
            own_speech = without_spans(own_speech, spans) if own_speech is not None else None
            again = []
        if own_speech is not None and recover:
            again += unheard_speech(kept, own_speech)
            kept = self._rewrite_stretched(samples, sample_rate, kept, regions, own_speech)
        # decoded again with the context in front, a stretch fails as it did the first time (measured:
        # a party's speech after the other party's context looped, and its retry got no words again)
        return sorted(kept + self._retry(samples, sample_rate, _outside(again, ctx)) + later, key=lambda s: s.start)

    def _rewrite_stretched(self, samples: np.ndarray, sample_rate: int, segments: list[AsrSegment],
                           regions: Sequence[tuple[int, int]], own_speech: np.ndarray) -> list[AsrSegment]:
        """Each stretched word's span decoded again, in one pass, after `retry_context` seconds of
        the speech before it (alone, a short stretch is heard worse); the words found inside the
        span replace the stretched one when they are more than one word."""
        o = self.opts
        found = stretched_words(segments, own_speech, o.stretched_word_min, o.stretched_word_per_letter)
        if not found:
            return segments
        spans = timeline.merge((w.start - o.retry_context, w.end + 0.3) for w in found)
        speech = [(a / sample_rate, b / sample_rate) for a, b in regions]
        again = [(int(a * sample_rate), int(b * sample_rate)) for a, b in timeline.intersect(speech, spans)]
        heard = [w for seg in self._transcribe(samples, sample_rate, again) for w in seg.words]
        swaps = {id(w): inside for w in found
                 if len(inside := [v for v in heard if w.start <= (v.start + v.end) / 2 <= w.end]) > 1}
        log.debug("stretched words: %d, rewritten: %d", len(found), len(swaps))
        return [replace_words(seg, swaps) for seg in segments]

    def _retry(self, samples: np.ndarray, sample_rate: int, spans: Sequence[tuple[float, float]]
               ) -> list[AsrSegment]:
        """Decode again, all in one pass: speech where decoding fell into a repetition loop
        ("-t -t -t …") and clear speech that got no words (Whisper sometimes skips a sentence at
        the end of a 30 s window)."""
        regions = [(max(0, int(a * sample_rate)), min(len(samples), int(b * sample_rate))) for a, b in spans]
        regions = [(a, b) for a, b in regions if b > a]
        if regions:
            log.debug("re-decoding %d stretches (%.1f s)", len(regions),
                      sum(b - a for a, b in regions) / sample_rate)
        return self._transcribe(samples, sample_rate, regions, retry=True)

    def transcribe_many(self, tracks: Sequence[np.ndarray], sample_rate: int,
                        own_speech: Sequence[np.ndarray | None] | None = None) -> list[list[AsrSegment]]:
        masks = list(own_speech) if own_speech is not None else [None] * len(tracks)
        if self.workers == 1 or len(tracks) == 1:
            return [self.transcribe(t, sample_rate, m) for t, m in zip(tracks, masks)]
        from concurrent.futures import ThreadPoolExecutor

        # ctranslate2 releases the GIL: on few cores, one single-threaded decoder per channel beats
        # one multi-threaded decoder doing the channels in turn (tiny matrices scale poorly)
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(lambda tm: self.transcribe(tm[0], sample_rate, tm[1]), zip(tracks, masks)))


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


@dataclass(frozen=True, slots=True)
class ChannelEnergy:
    """Frame energies of one channel and of the other party's channel, how loud the other party's
    echo is on this one (`coupling_db`, negative) and how late it arrives (`delay` frames), and the
    level that echo has on this channel frame by frame (`echo_db`)."""

    own_db: np.ndarray
    other_db: np.ndarray
    coupling_db: float
    delay: int = 0
    echo_db: np.ndarray | None = None
    other_talking: np.ndarray | None = None
    measured: bool = True   # False: the echo path is assumed (see UNMEASURED_COUPLING)

    def expected_echo(self) -> np.ndarray:
        return self.echo_db if self.echo_db is not None else self.other_db + self.coupling_db

    def echo_for(self, other_db: np.ndarray) -> np.ndarray:
        """The echo this channel's measured (or assumed) path makes of other levels `other_db`
        (the first `delay`/MAX_ECHO_DELAY frames lack their history: callers drop them)."""
        if self.echo_db is None:
            return other_db + self.coupling_db
        if not self.measured:
            return _recent_max(other_db, MAX_ECHO_DELAY) + self.coupling_db
        return _delayed(other_db, self.delay, float(np.min(other_db))) + self.coupling_db


MAX_ECHO_DELAY = 30  # frames (0.3 s): a line echo or acoustic coupling arrives within this
MIN_COUPLING = -10.0  # dB: an "echo" louder than this is a party's own speech, not leakage
# Until the other party has talked clearly for this many frames (1.5 s), the echo path is not
# measured yet (a live call's first seconds, a party who barely speaks): the echo is then assumed
# as loud as UNMEASURED_COUPLING and as arriving at any delay up to MAX_ECHO_DELAY, so an early
# echo is not committed as words on the wrong channel.
MIN_REFERENCE = 150
TAIL_HISTORY = MAX_ECHO_DELAY + MASK_HOLE + 1  # frames speech_mask_tail needs before the new ones
UNMEASURED_COUPLING = -20.0


def _speech_threshold(db: np.ndarray) -> float:
    floor, peak = float(np.percentile(db, 10)), float(np.percentile(db, 95))
    return floor + max(6.0, 0.35 * (peak - floor))


def channel_energies(a: np.ndarray, b: np.ndarray, sample_rate: int) -> tuple[ChannelEnergy, ChannelEnergy]:
    """Both channels' view of each other, from one energy pass per channel (pass them band-limited
    to the speech band: mains hum and rumble are not anyone's voice)."""
    return energies_from_db(frame_db(a, sample_rate), frame_db(b, sample_rate))


def energies_from_db(a_db: np.ndarray, b_db: np.ndarray) -> tuple[ChannelEnergy, ChannelEnergy]:
    """channel_energies from the two channels' 10 ms frame levels."""
    n = min(len(a_db), len(b_db))
    return _energy(a_db[:n], b_db[:n]), _energy(b_db[:n], a_db[:n])


def channel_energy(own: np.ndarray, other: np.ndarray, sample_rate: int) -> ChannelEnergy:
    return channel_energies(own, other, sample_rate)[0]


def _delayed(x: np.ndarray, d: int, fill: float) -> np.ndarray:
    return x if d == 0 else np.concatenate((np.full(d, fill), x[:-d]))


def echo_delay(own_db: np.ndarray, other_db: np.ndarray, talking: np.ndarray) -> int:
    """The lag (frames) at which the other channel's loudness best explains this one's while the
    other party talks: the echo's travel time. Cross-correlation of the dB envelopes."""
    best, best_r = 0, -np.inf
    for d in range(0, min(MAX_ECHO_DELAY, len(own_db) // 4) + 1):
        m = talking[: len(talking) - d] if d else talking
        if m.sum() < 50:
            break
        r = _pearson(own_db[d:][m], other_db[: len(other_db) - d][m])
        if r is not None and r > best_r + 1e-3:
            best, best_r = d, r
    return best


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Correlation of x and y; None when either is constant. (np.corrcoef costs ~10x more: it
    builds a covariance matrix, and a live call asks for this 31 times every 0.25 s.)"""
    x, y = x - x.mean(), y - y.mean()
    xx, yy = float(x @ x), float(y @ y)
    if xx < len(x) * 1e-12 or yy < len(y) * 1e-12:
        return None
    return float(x @ y) / float(np.sqrt(xx * yy))


def _energy(own_db: np.ndarray, other_db: np.ndarray) -> ChannelEnergy:
    """Echo coupling = median level difference to the delay-compensated other channel while the
    other party talks clearly (robust to the few frames where both talk at once; low, ≈ noise −
    speech, on a channel with no echo), measured on the power above the channel's noise floor, so
    a noisy line's hiss is never taken for the other party's echo."""
    thr = _speech_threshold(other_db)
    talking = other_db > thr
    if not talking.any():
        return ChannelEnergy(own_db, other_db, -60.0, 0, None, talking)
    d = echo_delay(own_db, other_db, talking)
    other = _delayed(other_db, d, float(np.min(other_db)))
    clear = _delayed(other_db > thr + 6.0, d, False)
    ref = clear if clear.sum() >= 50 else _delayed(talking, d, False)
    # the line's noise floor: where neither party talks (a channel without such frames has none to
    # subtract; its quietest frames may be the echo itself)
    quiet = ~talking & (own_db <= _speech_threshold(own_db))
    floor = float(np.median(own_db[quiet])) if quiet.sum() >= 50 else -120.0
    # the echo's own power: what the channel carries above its noise floor (hiss must not count as echo)
    above = 10.0 * np.log10(np.maximum(10.0 ** (own_db / 10.0) - 10.0 ** (floor / 10.0), 1e-12))
    coupling = min(float(np.median(above[ref] - other[ref])) if ref.any() else -60.0, MIN_COUPLING)
    if ref.sum() < MIN_REFERENCE:
        coupling = max(coupling, UNMEASURED_COUPLING)
        loudest, heard = _recent_max(other_db, MAX_ECHO_DELAY), _recent_max(talking, MAX_ECHO_DELAY)
        return ChannelEnergy(own_db, other_db, coupling, 0, loudest + coupling, heard.astype(bool), False)
    # the noise floor is left out of the expected echo: the margin guards against echo, and the
    # speech threshold already guards against hiss (both at once left no speech on a 10 dB line)
    return ChannelEnergy(own_db, other_db, coupling, d, other + coupling, _delayed(talking, d, False))


def _recent_max(x: np.ndarray, frames: int) -> np.ndarray:
    """Each frame's maximum over itself and the `frames` before it."""
    out = x.copy()
    for d in range(1, min(frames, len(x)) + 1):
        np.maximum(out[d:], x[:-d], out=out[d:])
    return out


def is_crosstalk(word: Word, energy: ChannelEnergy, margin_db: float) -> bool:
    """A word no louder on its own channel than the other party's echo would be is that echo.
    Only while the other party talks: a faint word in silence is not anyone's echo (kept)."""
    if energy.other_talking is not None:
        a, b = int(word.start / FRAME), max(int(word.end / FRAME), int(word.start / FRAME) + 1)
        if not energy.other_talking[a:b].any():
            return False
    own = _span_db(energy.own_db, word.start, word.end)
    return own < _span_db(energy.expected_echo(), word.start, word.end) + margin_db


def clean_segments(segments: Sequence[AsrSegment], opts: AsrOptions,
                   energy: ChannelEnergy | None = None) -> list[AsrSegment]:
    """Drop hallucinated segments, low-probability words and crosstalk words; re-derive text."""
    out = []
    for seg in segments:
        if is_hallucination(seg, opts):
            log.debug("dropped hallucinated segment %.2f-%.2f %r", seg.start, seg.end, seg.text)
            continue
        words = [w for w in seg.words if w.probability >= opts.word_probability_min and w.text]
        if energy is not None:
            words = [w for w in words if not is_crosstalk(w, energy, opts.crosstalk_margin_db)]
        # a segment with less than ~0.1 s of words is not an utterance: Whisper squeezes a stray echo
        # or noise word into a few frames
        if words and sum(w.end - w.start for w in words) >= MIN_SEGMENT_SPEECH:
            out.append(AsrSegment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words),
                                  seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio))
    return out


def speech_mask(energy: ChannelEnergy, margin_db: float) -> np.ndarray:
    """Frames where this channel carries its own speech: well above its noise floor and louder than
    the other party's echo."""
    own = energy.own_db
    mask = (own > _speech_threshold(own)) & (own > energy.expected_echo() + margin_db)
    return close_gaps(mask, MASK_HOLE)


def speech_threshold(energy: ChannelEnergy) -> float:
    return _speech_threshold(energy.own_db)


def speech_mask_tail(energy: ChannelEnergy, threshold: float, own_db: np.ndarray, other_db: np.ndarray,
                     margin_db: float, new: int) -> np.ndarray:
    """speech_mask's decision for the last `new` frames of `own_db`/`other_db` (which reach back at
    least TAIL_HISTORY frames before them), with the echo path `energy` and speech `threshold`
    measured on an earlier window: a live call's newest frames without re-measuring its history."""
    mask = (own_db > threshold) & (own_db > energy.echo_for(other_db) + margin_db)
    return close_gaps(mask, MASK_HOLE)[len(mask) - new:]


def close_gaps(mask: np.ndarray, longest: int) -> np.ndarray:
    """Fill runs of up to `longest` off frames between on frames: stop closures, and the frames
    where the other party's echo is loudest in overlapped speech, are not pauses."""
    starts, stops = _on_runs(mask)
    out = mask.copy()
    for stop, start in zip(stops[:-1], starts[1:]):
        if start - stop <= longest:
            out[stop:start] = True
    return out


def _on_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First frame and one-past-last frame of every run of on frames."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return edges[::2], edges[1::2]


def speech_spans(mask: np.ndarray, max_gap: float = 0.0) -> list[tuple[float, float]]:
    """The mask's runs of on frames in seconds, runs at most `max_gap` apart joined."""
    return timeline.merge(((a * FRAME, b * FRAME) for a, b in zip(*_on_runs(mask))), max_gap)


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


def _first_on(mask: np.ndarray, start: int, stop: int, step: int) -> int | None:
    for i in range(start, stop, step):
        if 0 <= i < len(mask) and mask[i]:
            return i
    return None


def _snap_start(word: Word, mask: np.ndarray, limit: int) -> Word:
    a = min(max(int(word.start / FRAME), 0), len(mask) - 1)
    if mask[a] or mask[min(a + 1, len(mask) - 1)]:  # speech already: walk back to its onset
        return Word(min(word.start, _edge(mask, a, -1, limit) * FRAME), word.end, word.text, word.probability)
    onset = _first_on(mask, a, min(a + limit, int(word.end / FRAME)), +1)  # started early: move to the onset
    return word if onset is None else Word(onset * FRAME, word.end, word.text, word.probability)


def _snap_end(word: Word, mask: np.ndarray, limit: int) -> Word:
    b = min(max(int(word.end / FRAME), 0), len(mask) - 1)
    if mask[b] or mask[max(b - 1, 0)]:  # still speech: walk on to its offset
        return Word(word.start, max(word.end, (_edge(mask, b, +1, limit) + 1) * FRAME), word.text, word.probability)
    offset = _first_on(mask, b, max(b - limit, int(word.start / FRAME)), -1)  # ended late: back to the offset
    return word if offset is None else Word(word.start, (offset + 1) * FRAME, word.text, word.probability)


def snap_to_energy(segments: Sequence[AsrSegment], mask: np.ndarray, max_shift: float = 0.8,
                   pause: float = 0.5) -> list[AsrSegment]:
    """Whisper's word timestamps drift by a few hundred ms at the edges of speech, most of all in
    overlapped speech; the channel's own energy says when the voice really starts and stops.
    Each stretch of words (segments split where the words pause for `pause` or more: one
    segment can span several joined speech regions) starts at the speech onset nearest it and
    ends at the nearest offset (within `max_shift`), never reaching into its neighbours' words."""
    limit = int(max_shift / FRAME)
    pieces = [(seg, words) for seg in sorted(segments, key=lambda s: s.start)
              for words in _stretches(seg.words, pause)]
    out = []
    for i, (seg, words) in enumerate(pieces):
        if len(mask):
            floor = out[-1].end if out else 0.0
            ceiling = pieces[i + 1][1][0].start if i + 1 < len(pieces) else float("inf")
            first = _snap_start(words[0], mask, limit)
            words[0] = Word(min(max(floor, first.start), first.end), first.end, first.text, first.probability)
            last = _snap_end(words[-1], mask, limit)
            words[-1] = Word(last.start, max(min(ceiling, last.end), last.start), last.text, last.probability)
        out.append(AsrSegment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words),
                              seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio))
    return out


def _stretches(words: Sequence[Word], pause: float) -> list[list[Word]]:
    out: list[list[Word]] = []
    for w in words:
        if out and w.start - out[-1][-1].end < pause:
            out[-1].append(w)
        else:
            out.append([w])
    return out


OWN_PAD = 0.3  # seconds of a VAD region kept either side of the party's own voice


def own_regions(regions: Sequence[tuple[int, int]], own_speech: np.ndarray, sample_rate: int,
                pad: float = OWN_PAD, max_gap: float = 0.5) -> list[tuple[int, int]]:
    """VAD regions cut down to where the party itself talks (with `pad` either side). The other
    party's echo is speech to the VAD; given to Whisper, a window of echo sends it into a
    repetition loop that can swallow the party's own words in the same window."""
    own = [(max(0.0, a - pad), b + pad) for a, b in speech_spans(own_speech, max_gap)]
    vad = [(a / sample_rate, b / sample_rate) for a, b in regions]
    return [(int(a * sample_rate), int(b * sample_rate)) for a, b in timeline.intersect(vad, own)]


def stretched_words(segments: Sequence[AsrSegment], own_speech: np.ndarray, shortest: float,
                    per_letter: float, voiced: float = 0.5) -> list[Word]:
    """Words far longer than their letters allow (over `shortest` s and `per_letter` s a letter),
    with the party's own voice under at least `voiced` of them: tiny.en skips a fast phrase and
    stretches the next word's timestamps over it ("I heard[1.1 s] a beep" for "okay then I thought
    you know, I heard a beep"). 0 for `shortest` finds none."""
    if shortest <= 0:
        return []
    out = []
    for seg in segments:
        for w in seg.words:
            letters = sum(c.isalnum() for c in w.text)
            if w.end - w.start > max(shortest, per_letter * letters):
                frames = own_speech[int(w.start / FRAME):max(int(w.end / FRAME), int(w.start / FRAME) + 1)]
                if frames.size and frames.mean() >= voiced:
                    out.append(w)
    return out


def replace_words(seg: AsrSegment, swaps: Mapping[int, Sequence[Word]]) -> AsrSegment:
    """`seg` with each word whose id is in `swaps` replaced by the words given for it, less a first
    or last one that repeats the word kept beside it (the new decode heard its neighbour too)."""
    if not any(id(w) in swaps for w in seg.words):
        return seg
    words: list[Word] = []
    for i, w in enumerate(seg.words):
        new = list(swaps.get(id(w), (w,)))
        if id(w) in swaps:
            nxt = seg.words[i + 1] if i + 1 < len(seg.words) else None
            if new and words and _same_word(new[0], words[-1]):
                new = new[1:]
            if new and nxt is not None and id(nxt) not in swaps and _same_word(new[-1], nxt):
                new = new[:-1]
        words += new
    return AsrSegment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words),
                      seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio)


def _same_word(a: Word, b: Word) -> bool:
    """As local agreement compares words: normalised text, punctuation aside."""
    return normalise_text(a.text) == normalise_text(b.text)


def _outside(spans: Sequence[tuple[float, float]], context: Sequence[tuple[float, float]]
             ) -> list[tuple[float, float]]:
    """`spans` merged, less the context spans (seconds)."""
    return [g for a, b in timeline.merge(spans) for g in timeline.gaps(context, a, b)]


def without_spans(own_speech: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """`own_speech` (FRAME-long frames) with the frames of `spans` (seconds) cleared."""
    if not spans:
        return own_speech
    out = own_speech.copy()
    for a, b in spans:
        out[int(a / FRAME):int(np.ceil(b / FRAME))] = False
    return out


def unheard_speech(segments: Sequence[AsrSegment], own_speech: np.ndarray, min_len: float = 0.8,
                   max_gap: float = 0.3) -> list[tuple[float, float]]:
    """Stretches of at least `min_len` of the party's own speech with no word in or near them:
    Whisper sometimes skips a sentence at the end of a 30 s window, or in overlapped speech."""
    spans = speech_spans(own_speech, max_gap)
    heard = timeline.merge(((w.start - max_gap, w.end + max_gap) for s in segments for w in s.words))
    return [(x, y) for a, b in spans for x, y in timeline.gaps(heard, a, b) if y - x >= min_len]


def unheard_acknowledgements(own_speech: np.ndarray, own: Sequence[Utterance], other: Sequence[Utterance],
                             speaker: str, reach: float, shortest: float = 0.25, longest: float = 1.2,
                             inside: float = 1.0) -> list[Utterance]:
    """Short bursts of the party's own speech while the other party talks on both sides of them
    (pauses < `inside`), with none of the party's own words within `reach` (the turn-joining gap:
    a burst that would join the party's next turn could turn it into a false cut-in): the
    "mm hmm"s tiny.en writes no words for. Kept as placeholder utterances, so they count as
    backchannels and as talk time."""
    bursts = speech_spans(own_speech, 0.05)
    heard = timeline.merge((w.start - reach, w.end + reach) for u in own for w in u.words)
    talk = timeline.merge(((w.start, w.end) for u in other for w in u.words), inside)
    return [Utterance(speaker=speaker, start=a, end=b, text=UNHEARD, words=(Word(a, b, UNHEARD, 0.0),))  # type: ignore[arg-type]
            for a, b in bursts
            if shortest <= b - a <= longest and not timeline.clip(heard, a, b)
            and any(s < a and b < e for s, e in talk)]


def to_utterances(segments: Sequence[AsrSegment], speaker: str, max_gap: float,
                  carry_gap: float = 0.5) -> list[Utterance]:
    """One utterance per segment, split where the words pause for `max_gap` or more; a segment
    that follows an unfinished one (no closing punctuation, under `carry_gap` later) continues it:
    Whisper sometimes breaks a sentence across segments ("there's nothing" / "I can do…"), which
    would hide the phrase from the empathy rules."""
    runs: list[list[Word]] = []
    for seg in sorted(segments, key=lambda s: s.start):
        continues = bool(runs) and seg.words[0].start - runs[-1][-1].end < carry_gap \
            and not runs[-1][-1].text.endswith((".", "?", "!"))
        if continues:
            runs[-1].extend(seg.words)
        else:
            runs.append(list(seg.words))
    return [_utterance(speaker, words) for run in runs for words in _stretches(run, max_gap)]


def _utterance(speaker: str, words: Sequence[Word]) -> Utterance:
    return Utterance(speaker=speaker, start=words[0].start, end=words[-1].end,  # type: ignore[arg-type]
                     text=" ".join(w.text for w in words), words=tuple(words))
