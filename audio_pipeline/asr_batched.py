"""Batched Whisper decoding over the pipeline's own speech regions (the GPU path; runs on CPU too).

The sequential path (transcribe.WhisperTranscriber) joins a track's speech regions with 0.2 s of
silence between them and lets Whisper walk through the result 30 s at a time. faster-whisper's
`BatchedInferencePipeline` decodes many 30 s windows at once, which is what makes a GPU fast, but
with its own VAD it re-joins speech with no gap and word times drift. Given `clip_timestamps`, it
decodes each clip as a chunk of its own and skips that joining. So here the same gap-joined audio
is cut into clips of at most 30 s, filled like Whisper's own windows but cut at region starts (in a
region longer than a window, at its quietest moment), the clips go through the batched pipeline,
and the words come back through the same SpeechLayout as in the sequential path. Where Whisper
stops decoding a window early, the sequential loop goes on from its last timestamp; a batch does
not, so such clips are decoded again from there in a further round. The regions, the retries of
looping or unheard speech and every guard after decoding are the sequential transcriber's own
(this is a subclass that changes only how regions are decoded).

Clips from several tracks — the two channels of a call, or many calls — can share batches: a
`SharedClipDecoder` collects the clips that concurrent reviews ask for and decodes them together
on one thread (cross-call batching, see batch_shared.py).
"""
from __future__ import annotations

import bisect
import functools
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .config import AsrOptions, ConfigError
from .transcribe import AsrSegment, SpeechLayout, WhisperTranscriber, join_speech, resolve_device
from .types import Word

log = logging.getLogger(__name__)
CLIP_MAX = 30.0  # seconds: Whisper's window; a longer clip would be cut short by the model
TIMESTAMP_SECONDS = 0.02  # one Whisper timestamp token
MAX_ROUNDS = 4  # decoding passes over what a clip's earlier passes left undecoded
MIN_REST = 0.3  # seconds: a shorter rest of a clip is not decoded again
CUT_SEARCH = 8.0  # seconds before the window's end searched for a quiet place to cut a long region
FRAME_SAMPLES = 160  # faster-whisper places a clip's words from its offset in 10 ms frames
SENTENCE_END = (".", "?", "!")
DECODERS = ("auto", "sequential", "batched")


# ------------------------------------------------------------------------------ clips and jobs

def pack_clips(layout: SpeechLayout, sample_rate: int, audio: np.ndarray | None = None,
               max_seconds: float = CLIP_MAX) -> list[tuple[int, int]]:
    """The gap-joined audio cut into clips of at most `max_seconds`, (start, end) samples, filled
    as Whisper's own 30 s windows are (speech before a sentence helps decode it): each cut goes at
    the last region start within `CUT_SEARCH` seconds of the window's end, else, inside a long
    region, at its quietest 50 ms there when `audio` is given (a cut through a word loses it)."""
    if not layout.regions:
        return []
    limit, search = int(max_seconds * sample_rate), int(CUT_SEARCH * sample_rate)
    a, b = layout.regions[-1]
    total = layout.joined_starts[-1] + (b - a)
    clips, pos = [], 0
    while total - pos > limit:
        starts = [s for s in layout.joined_starts if pos + limit - search <= s <= pos + limit]
        cut = starts[-1] if starts else _quiet_cut(audio, pos + limit, search, sample_rate)
        clips.append((pos, cut))
        pos = cut
    clips.append((pos, total))
    return clips


def _quiet_cut(audio: np.ndarray | None, latest: int, search: int, sample_rate: int) -> int:
    """The middle of the quietest 50 ms frame in [latest - search, latest); `latest` without audio."""
    if audio is None:
        return latest
    hop = sample_rate // 20
    lo = max(0, latest - search)
    frames = audio[lo:lo + (latest - lo) // hop * hop].reshape(-1, hop).astype(np.float64)
    if not len(frames):
        return latest
    return lo + int(np.argmin((frames ** 2).mean(axis=1))) * hop + hop // 2


@dataclass(frozen=True, slots=True)
class ClipJob:
    """Clips (samples) of one audio array to decode; `retry` asks for the anti-repetition options."""

    audio: np.ndarray
    clips: tuple[tuple[int, int], ...]
    retry: bool = False


@dataclass(frozen=True, slots=True)
class ClipText:
    """What Whisper heard in one clip, word times in seconds of the job's audio."""

    text: str
    words: tuple[Word, ...]
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float


class ClipDecoder:
    """One BatchedInferencePipeline; `decode` runs any number of jobs' clips in shared batches."""

    def __init__(self, model: Any, opts: AsrOptions, batch_size: int, sample_rate: int = 16000):
        self.pipeline = _pipeline_class()(model)
        self.opts, self.batch_size, self.sample_rate = opts, max(1, batch_size), sample_rate
        self._lock = threading.Lock()  # the pipeline keeps per-call state (last_speech_timestamp)

    def decode(self, jobs: Sequence[ClipJob]) -> list[list[ClipText]]:
        out: list[list[ClipText]] = [[] for _ in jobs]
        for retry in (False, True):  # the decoding options differ, so retries get batches of their own
            chosen = [i for i, job in enumerate(jobs) if job.retry == retry and job.clips]
            if chosen:
                for i, texts in zip(chosen, self._decode_same_options([jobs[i] for i in chosen], retry)):
                    out[i] = texts
        return out

    def _decode_same_options(self, jobs: Sequence[ClipJob], retry: bool) -> list[list[ClipText]]:
        """Every clip of every job in shared batches, then, as Whisper's own loop does, each clip
        whose decoding stopped at a closed timestamp before its end decoded again from there (the
        unfinished words after that timestamp are dropped and heard again), until none is left."""
        out: list[list[ClipText]] = [[] for _ in jobs]
        todo = [(j, a, b) for j, job in enumerate(jobs) for a, b in job.clips]
        for _ in range(MAX_ROUNDS):
            if not todo:
                break
            texts, resume = self._round([(jobs[j].audio, a, b) for j, a, b in todo], retry)
            rest = []
            for (j, a, b), clip_texts, again in zip(todo, texts, resume):
                out[j] += clip_texts
                if again is not None and b - (a + again) >= MIN_REST * self.sample_rate:
                    rest.append((j, a + again, b))
            todo = rest
        return out

    def _round(self, clips: Sequence[tuple[np.ndarray, int, int]], retry: bool
               ) -> tuple[list[list[ClipText]], list[int | None]]:
        """One batched transcribe over clips laid end to end (each on a 10 ms boundary, so word times
        need no rounding): per clip its texts (times in its own audio) and the sample offset from
        its start to decode again from, None when it was finished."""
        sr = self.sample_rate
        parts, starts = [], []
        pos = 0
        for audio, a, b in clips:
            starts.append(pos)
            pad = -(b - a) % FRAME_SAMPLES
            parts += [audio[a:b], np.zeros(pad, dtype=np.float32)]
            pos += b - a + pad
        clip_ts = [{"start": s / sr, "end": (s + b - a) / sr} for s, (_, a, b) in zip(starts, clips)]
        extra = {"repetition_penalty": 1.2, "no_repeat_ngram_size": 3} if retry else {}
        with self._lock:
            self.pipeline.resume_at = []
            segments, _ = self.pipeline.transcribe(
                np.concatenate(parts).astype(np.float32, copy=False), language=self.opts.language,
                beam_size=self.opts.beam_size, temperature=0.0, word_timestamps=True, without_timestamps=False,
                clip_timestamps=clip_ts, batch_size=self.batch_size, **extra)
            segments = list(segments)
            resume = [None if t is None else int(round(t * sr)) for t in self.pipeline.resume_at]
        texts: list[list[ClipText]] = [[] for _ in clips]
        starts_s = [s / sr for s in starts]
        for seg in segments:
            k = max(0, bisect.bisect_right(starts_s, seg.start + 1e-3) - 1)
            shift = (clips[k][1] - starts[k]) / sr
            words = tuple(Word(w.start + shift, w.end + shift, w.word, w.probability) for w in seg.words or ())
            texts[k].append(ClipText(seg.text, words, seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio))
        return texts, resume


@functools.cache
def _pipeline_class() -> type:
    from faster_whisper import BatchedInferencePipeline

    class ResumablePipeline(BatchedInferencePipeline):
        """Records, per clip, where Whisper's sequential loop would go on decoding: at the last
        closed timestamp when the output ends without closing its last segment (faster-whisper
        drops those unfinished words, and in a batch nothing decodes them again), None when the
        clip is done. The list (`resume_at`, seconds from each clip's start) follows clip order."""

        resume_at: list[float | None]

        def generate_segment_batched(self, features, tokenizer, options):
            encoder_output, outputs = super().generate_segment_batched(features, tokenizer, options)
            self.resume_at += [_resume_at(out["tokens"], tokenizer.timestamp_begin) for out in outputs]
            return encoder_output, outputs

    return ResumablePipeline


def _resume_at(tokens: Sequence[int], first: int) -> float | None:
    """faster-whisper's own rule (WhisperModel._split_segments_by_timestamps): ending in one
    timestamp means done; otherwise go on from the last of a pair of consecutive timestamps."""
    if len(tokens) >= 2 and tokens[-2] < first <= tokens[-1]:
        return None
    pairs = [i for i in range(1, len(tokens)) if tokens[i] >= first and tokens[i - 1] >= first]
    if not pairs:
        return None
    seconds = (tokens[pairs[-1] - 1] - first) * TIMESTAMP_SECONDS
    return seconds if seconds > 0 else None


class SharedClipDecoder:
    """A ClipDecoder fed by many threads: each `decode` call waits while a single decoder thread
    gathers the clips of every waiting caller (up to `batch_size` clips, or whatever arrived within
    `linger` seconds) and decodes them in shared batches. Several calls in flight keep the model's
    batches full while their CPU work (audio decoding, VAD, analysis) runs on other threads."""

    def __init__(self, inner: ClipDecoder, linger: float = 0.02):
        self.inner, self.linger = inner, linger
        self._pending: list[tuple[ClipJob, Future]] = []
        self._cond = threading.Condition()
        self._closed = False
        self.batches = 0  # decoder calls made (each may hold several callers' clips)
        self.jobs = 0
        self._thread = threading.Thread(target=self._run, name="clip-decoder", daemon=True)
        self._thread.start()

    def decode(self, jobs: Sequence[ClipJob]) -> list[list[ClipText]]:
        futures = []
        with self._cond:
            if self._closed:
                raise RuntimeError("the shared decoder is closed")
            for job in jobs:
                futures.append(Future())
                self._pending.append((job, futures[-1]))
            self._cond.notify()
        return [f.result() for f in futures]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _take(self) -> list[tuple[ClipJob, Future]]:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            deadline = time.monotonic() + self.linger
            while sum(len(j.clips) for j, _ in self._pending) < self.inner.batch_size and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    break
            taken, self._pending = self._pending, []
            return taken

    def _run(self) -> None:
        while True:
            taken = self._take()
            if not taken:
                return
            try:
                results = self.inner.decode([job for job, _ in taken])
                self.batches += 1
                self.jobs += len(taken)
                for (_, future), result in zip(taken, results):
                    future.set_result(result)
            except Exception as exc:  # every waiting caller gets the failure, the thread goes on
                for _, future in taken:
                    future.set_exception(exc)


# ------------------------------------------------------------------------------ the transcriber

class BatchedWhisperTranscriber(WhisperTranscriber):
    """WhisperTranscriber whose regions are decoded as clips in batches (see the module docstring)."""

    def __init__(self, opts: AsrOptions, device: str = "auto", compute_type: str | None = None,
                 decoder: ClipDecoder | SharedClipDecoder | None = None):
        super().__init__(opts, device, compute_type)
        self.decoder = decoder or ClipDecoder(self.model, opts, opts.batch_size)

    def _transcribe(self, samples: np.ndarray, sample_rate: int, regions: Sequence[tuple[int, int]],
                    retry: bool = False) -> list[AsrSegment]:
        if not regions:
            return []
        joined, layout = join_speech(samples, regions, int(self.JOIN_GAP * sample_rate))
        job = ClipJob(joined, tuple(pack_clips(layout, sample_rate, joined)), retry)
        out = []
        for clip in self.decoder.decode([job])[0]:
            words = [Word(a, b, w.text.strip(), w.probability)
                     for w in clip.words for a, b in [layout.word_to_track(w.start, w.end, sample_rate)]]
            # one clip is one segment; split it at sentence ends as Whisper's own segments are, so
            # utterances break where they break on the sequential path
            for sentence in _sentences(words):
                out.append(AsrSegment(sentence[0].start, sentence[-1].end, " ".join(w.text for w in sentence),
                                      tuple(sentence), clip.no_speech_prob, clip.avg_logprob,
                                      clip.compression_ratio))
        return sorted(out, key=lambda seg: seg.start)  # a clip's later rounds come after the others


def _sentences(words: Sequence[Word]) -> list[list[Word]]:
    out: list[list[Word]] = [[]]
    for w in words:
        out[-1].append(w)
        if w.text.endswith(SENTENCE_END):
            out.append([])
    return [s for s in out if s]


def uses_batched(opts: AsrOptions, device: str) -> bool:
    """asr.decoder: batched, sequential, or auto (batched on a GPU, sequential on CPU, where the
    gap-joined sequential decoding is as fast and one decoder per channel uses the cores better)."""
    if opts.decoder == "auto":
        return resolve_device(device).startswith("cuda")
    return opts.decoder == "batched"


def make_transcriber(opts: AsrOptions, device: str = "auto", compute_type: str | None = None) -> WhisperTranscriber:
    if opts.decoder not in DECODERS:
        raise ConfigError(f"asr.decoder must be one of {', '.join(DECODERS)}, got '{opts.decoder}'")
    cls = BatchedWhisperTranscriber if uses_batched(opts, device) else WhisperTranscriber
    return cls(opts, device, compute_type)
