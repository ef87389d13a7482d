"""One live stereo call: audio in as it arrives, committed words and final live findings out, and at
hang-up the same call-review/1 Review the offline path builds.

Per channel (`Track`): a buffer of the audio not yet committed to words. Every `decode_interval`
its speech (Silero VAD, cut to the party's own-speech energy as offline) is decoded again with the
offline transcriber and guards (hallucination, echo, energy snapping). Words of speech regions
the VAD has closed are committed; inside a region still open, words two successive decodes agree
on are committed (local agreement, as whisper_streaming). Committed audio leaves the buffer (an
open region longer than `trim_after` is cut at a pause after its committed words), so a call holds
at most `max_buffer` of undecided audio per channel plus `energy_history` of 10 ms frame energies,
whatever its length.

Findings: the OFFLINE rules (analysis.turns, analysis.empathy) run on the committed conversation of
the last `analysis_window` seconds; a finding is reported once both channels are committed far
enough past it that more words cannot change it (`settle_*`). Dead air in progress comes from the
frame energies alone, so it is reported the moment the silence crosses the threshold.
Interruptions and slow responses need only who talks when: the same rules also run on what lies
past the committed words (the latest decode's words, and own-speech runs no decode has worded
yet), before each Whisper pass as well as after it; those alerts say `confirmed: false`.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..analysis import timeline
from ..analysis.empathy import Embedder, analyze_empathy, empathy_metrics
from ..analysis.lexicon import Lexicon

if TYPE_CHECKING:
    from pathlib import Path

    from ..phrasing.model import PhrasingModel
from ..analysis.turns import announced_hold, analyze_turns, build_turns
from ..config import Config
from ..echo import LiveCanceller
from ..review import build_review
from ..transcribe import (FRAME, OWN_PAD, TAIL_HISTORY, AsrSegment, ChannelEnergy, Transcriber, clean_segments,
                          energies_from_db, own_regions, snap_to_energy, speech_mask, speech_mask_tail, speech_spans,
                          speech_threshold, to_utterances, unheard_acknowledgements)
from ..types import UNHEARD, AudioInfo, Conversation, Finding, ModelInfo, Review, Utterance, Word
from .agreement import after, agreed_prefix, pause_after
from .protocol import StartMessage

log = logging.getLogger(__name__)
SR = 16000
HOP = int(SR * FRAME)
ROLES = ("agent", "customer")
LIVE_TYPES = ("interruption", "dead_air", "slow_response", "long_monologue", "empathy", "dismissive",
              "sympathy", "customer_distress", "missed_empathy")
PHRASING = ("empathy", "dismissive", "sympathy", "customer_distress", "missed_empathy")
OWN_LINE = ("empathy", "dismissive", "sympathy", "customer_distress")   # decided on one party's line
_CLOSED_MARGIN = 0.25     # a VAD region ending this far before the buffer end has been closed by silence
_KEEP_SILENCE = 1.0       # seconds of a wordless buffer kept: speech may be starting in it
_HELD = "held"             # a plan: the channel's only speech is an open region left for when it closes
_UNHEARD_ONSET = 0.4      # speech this fresh may not be a VAD region yet (Silero's minimum is 0.25 s)
_SPEECH_RUN = 5           # frames (50 ms) of own speech that end a silence
_TRIM_PAUSE = 0.12        # a pause between words this long is a safe place to cut a buffer
_SHORTEST_SPEECH = 0.25   # Silero's minimum speech: a shorter voiced tail is not yet a word's worth
EARLY = ("interruption", "slow_response")  # sent on unconfirmed words and voiced tails too
REMEASURE = 100           # frames (1 s): how often a live call's echo path and thresholds are measured again
CONTEXT_GAP = 0.2         # seconds of silence between stretches of context, as offline between regions


@dataclass(frozen=True, slots=True)
class Alert:
    """A live event: a final finding (`phase` "final"), or dead air "started"/"ended"."""

    kind: str
    phase: str
    at: float                 # point of the call (audio seconds heard) when it was decided
    start: float
    end: float
    speaker: str | None = None
    severity: str = "info"
    message: str = ""
    evidence: str = ""
    category: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def of(cls, f: Finding, at: float, **extra: object) -> "Alert":
        return cls(f.type, "final", at, f.start, f.end, f.speaker, f.severity, f.message, f.evidence,
                   f.category, {**{k: v for k, v in f.extra.items()}, **extra})

    def to_json(self) -> dict:
        d = {"kind": self.kind, "phase": self.phase, "time": round(self.at, 2), "start": round(self.start, 2),
             "end": round(self.end, 2), "speaker": self.speaker, "severity": self.severity,
             "message": self.message, "evidence": self.evidence, "category": self.category}
        d.update({k: (round(v, 2) if isinstance(v, float) else v) for k, v in self.extra.items()})
        return d


@dataclass
class StreamStats:
    received: float = 0.0            # audio seconds received
    decoded: float = 0.0             # audio seconds covered by the last decode of every channel
    lag_max: float = 0.0
    decodes: int = 0
    forced_commits: int = 0          # words committed without agreement: the buffer was full, or the party stopped
    undecodable_seconds: float = 0.0 # VAD speech that gave no words before the buffer limit
    deferred_loops: int = 0          # looping stretches left for the channel's next decode (others waited)
    coarse_steps: int = 0
    decoded_audio: float = 0.0       # audio seconds sent to Whisper by the first pass, re-decodes included
    heard: float = 0.0               # of it, what Whisper heard (speech regions and context; see Part.heard)
    revised_speech: float = 0.0      # speech (VAD regions) the second pass decoded again

    @property
    def lag(self) -> float:
        return max(0.0, self.received - self.decoded)


class Track:
    """One party's channel: undecided audio, committed words, the local-agreement hypothesis.

    `audio` is the (call time of its first sample, samples) pair, replaced as a whole, so the
    decoding thread reads a consistent snapshot while the receiving thread appends."""

    def __init__(self, role: str, lock: threading.Lock, revise_max: float = 0.0):
        self.role = role
        self.audio: tuple[float, np.ndarray] = (0.0, np.zeros(0, dtype=np.float32))
        self._lock = lock
        self.pieces: list[AsrSegment] = []          # committed words, by Whisper segment, in time order
        self.hypothesis: list[Word] = []            # the last decode's uncommitted words
        self.committed_until = 0.0
        self.settled = 0.0                          # no word before this can still be committed
        self.decoded_to = 0.0                       # buffer end at this channel's last decode
        self.edges: list[tuple[float, float]] = []  # own speech past the words no decode has worded yet
        self.context = np.zeros(0, dtype=np.float32)  # the party's latest committed speech (see `trim`)
        self.regions: tuple[tuple[int, int], ...] = ()  # speech regions (samples) of the buffer at its last plan
        self.looped = False                         # its last decode looped and was left for this one
        self.held_from: float | None = None         # call time of an open region its next decode leaves out
        # second pass: committed audio not yet decoded again as one stretch, and the speech before it
        self.revise_max = revise_max
        self.unrevised: tuple[float, np.ndarray] = (0.0, np.zeros(0, dtype=np.float32))
        self.revise_context = np.zeros(0, dtype=np.float32)

    @property
    def reach(self) -> float:
        """All of the party's speech before this is in its words, hypothesis or `edges`: the audio
        of its last decode, less speech too fresh to be a VAD region yet."""
        return max(self.settled, self.decoded_to - _UNHEARD_ONSET)

    @property
    def buf_start(self) -> float:
        return self.audio[0]

    @property
    def end(self) -> float:
        start, buf = self.audio
        return start + len(buf) / SR

    def append(self, samples: np.ndarray) -> None:
        with self._lock:
            start, buf = self.audio
            self.audio = (start, np.concatenate([buf, samples.astype(np.float32)]))

    def trim(self, t: float, keep_context: float = 0.0) -> None:
        """Drop buffered audio before call time `t`; up to `keep_context` seconds of the party's
        committed words in it are kept as `context`."""
        with self._lock:
            start, buf = self.audio
            cut = int(round((min(t, start + len(buf) / SR) - start) * SR))
            if cut > 0:
                self.audio = (start + cut / SR, buf[cut:].copy())
        if cut > 0 and keep_context > 0:
            spoken = [(w.start, w.end) for p in self.recent_pieces(start) for w in p.words]
            self.context = _speech_context(self.context, buf[:cut], start, spoken, keep_context)
        if cut > 0 and self.revise_max > 0:
            self._keep_for_revision(start, buf[:cut])

    def _keep_for_revision(self, start: float, audio: np.ndarray) -> None:
        """Committed audio joins the second pass's stretch; past `revise_max` its oldest part leaves
        unrevised (its first-pass words stand), so memory stays bounded however far behind."""
        at, kept = self.unrevised
        if not len(kept) or abs(at + len(kept) / SR - start) > 1 / SR:
            at, kept = start, np.zeros(0, dtype=np.float32)
        joined = np.concatenate([kept, audio])
        drop = max(0, len(joined) - int(self.revise_max * SR))
        self.unrevised = (at + drop / SR, joined[drop:].copy())

    def speech_in(self, a: float, b: float) -> float:
        """Seconds of committed words between call times a and b."""
        return sum(min(w.end, b) - max(w.start, a) for p in self.recent_pieces(a) for w in p.words
                   if w.end > a and w.start < b)

    def revised(self, a: float, b: float, segments: Sequence[AsrSegment], keep_context: float) -> None:
        """The second pass's words for call times [a, b) replace the committed ones there."""
        at, kept = self.unrevised
        cut = int(round((b - at) * SR))
        if keep_context > 0:
            spoken = [(w.start, w.end) for p in self.recent_pieces(a) for w in p.words if w.start < b]
            self.revise_context = _speech_context(self.revise_context, kept[:cut], at, spoken, keep_context)
        self.unrevised = (at + cut / SR, kept[cut:].copy())
        inside = lambda w: a <= (w.start + w.end) / 2 < b  # noqa: E731
        kept_pieces = []
        for p in self.pieces:
            if p.end < a or p.start >= b:
                kept_pieces.append(p)
                continue
            words = [w for w in p.words if not inside(w)]
            kept_pieces += _pieces_of(p, words)
        new = [q for seg in segments for q in _pieces_of(seg, [w for w in seg.words if inside(w)])]
        self.pieces = sorted(kept_pieces + new, key=lambda p: (p.end, p.start))

    def commit(self, segments: Sequence[AsrSegment], words: Sequence[Word]) -> None:
        chosen = set(id(w) for w in words)
        for seg in segments:
            for piece in _pieces_of(seg, [w for w in seg.words if id(w) in chosen]):
                self.pieces.append(piece)
                self.committed_until = max(self.committed_until, piece.end)

    def recent_pieces(self, since: float) -> list[AsrSegment]:
        i = len(self.pieces)
        while i > 0 and self.pieces[i - 1].end >= since:
            i -= 1
        return self.pieces[i:]


class Energy:
    """10 ms frame energies of both channels over the last `history` seconds, and the full-call
    own-speech mask (one byte per 10 ms per channel) the final review's wordless backchannels need."""

    def __init__(self, history: float, lock: threading.Lock):
        self._lock = lock
        self.history_frames = int(history / FRAME)
        self.first = 0                                          # call frame index of db[...][0]
        self.db = {r: np.zeros(0, dtype=np.float32) for r in ROLES}
        self.mask = {r: bytearray() for r in ROLES}
        self.pending = {r: np.zeros(0, dtype=np.float32) for r in ROLES}
        self._measured: dict[str, tuple[ChannelEnergy, float]] | None = None
        self._measured_at = 0

    @property
    def frames(self) -> int:
        return self.first + len(self.db[ROLES[0]])

    def add(self, chunks: Mapping[str, np.ndarray], margin_db: float) -> tuple[int, int]:
        """Frame the new samples; returns the call frames [a, b) they completed."""
        with self._lock:
            a = self.frames
            for r in ROLES:
                x = np.concatenate([self.pending[r], chunks[r]])
                n = len(x) // HOP
                frames = x[: n * HOP].reshape(n, HOP).astype(np.float64)
                db = (10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)).astype(np.float32)
                self.db[r] = np.concatenate([self.db[r], db])
                self.pending[r] = x[n * HOP:]
            b = self.frames
            if b == a:
                return a, b
            own = self._newest(a, b, margin_db)
            for r in ROLES:
                self.mask[r].extend(own[r].astype(np.uint8).tobytes())
        return a, b

    def _newest(self, a: int, b: int, margin_db: float) -> dict[str, np.ndarray]:
        """Own speech in call frames [a, b): thresholds and echo paths measured on the whole window
        at most every REMEASURE frames (a full measure costs ~30 correlations over the window, and
        a tick comes every 0.25 s), in between applied to the new frames only."""
        if self._measured is None or b - self._measured_at >= REMEASURE or a - TAIL_HISTORY < self.first:
            energies = _energies(self.db)
            self._measured = {r: (e, speech_threshold(e)) for r, e in energies.items()} if len(self.db[ROLES[0]]) else None
            self._measured_at = b
            own = _own_speech(energies, margin_db)
            return {r: own[r][a - self.first:b - self.first] for r in ROLES}
        lo = a - TAIL_HISTORY - self.first
        n = min(len(self.db[r]) for r in ROLES) - lo
        out = {}
        for r, other in zip(ROLES, reversed(ROLES)):
            energy, threshold = self._measured[r]
            out[r] = speech_mask_tail(energy, threshold, self.db[r][lo:lo + n], self.db[other][lo:lo + n],
                                      margin_db, b - a)
        return out

    def snapshot(self, margin_db: float) -> tuple[float, dict[str, ChannelEnergy], dict[str, np.ndarray]]:
        """(call time of the first frame, energies, own-speech masks) of the window, consistently."""
        with self._lock:
            first, db = self.first, dict(self.db)
        energies = _energies(db)
        return first * FRAME, energies, _own_speech(energies, margin_db)

    def forget_before(self, t: float) -> None:
        with self._lock:
            keep_from = min(int(t / FRAME), self.frames - self.history_frames)
            drop = keep_from - self.first
            if drop > 0:
                for r in ROLES:
                    self.db[r] = self.db[r][drop:].copy()
                self.first += drop

    def full_mask(self, role: str) -> np.ndarray:
        return np.frombuffer(bytes(self.mask[role]), dtype=np.uint8).astype(bool)


def _energies(db: Mapping[str, np.ndarray]) -> dict[str, ChannelEnergy]:
    agent, customer = db["agent"], db["customer"]
    if len(agent) == 0:
        return {r: ChannelEnergy(agent, customer, -60.0) for r in ROLES}
    return dict(zip(ROLES, energies_from_db(agent, customer)))


def _own_speech(energies: Mapping[str, ChannelEnergy], margin_db: float) -> dict[str, np.ndarray]:
    """speech_mask of transcribe.py over the window (the window's thresholds, not the call's)."""
    out = {}
    for r, e in energies.items():
        out[r] = speech_mask(e, margin_db) if len(e.own_db) else np.zeros(0, dtype=bool)
    return out


def _pieces_of(seg: AsrSegment, words: Sequence[Word]) -> list[AsrSegment]:
    """`seg` cut down to `words` (none: nothing)."""
    if not words:
        return []
    return [AsrSegment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words),
                       seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio)]


def _stretches(regions: Sequence[tuple[int, int]], n: int, most: int) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """[x, y) sample spans covering [0, n) in order, each holding speech regions of at most `most`
    samples in all (a region is never split; a span ends halfway into the pause after its last
    region), with those regions."""
    out, x, taken, speech = [], 0, [], 0
    for i, (p, q) in enumerate(regions):
        if taken and speech + (q - p) > most:
            y = (taken[-1][1] + p) // 2 // HOP * HOP
            out.append((x, y, taken))
            x, taken, speech = y, [], 0
        taken.append((p, q))
        speech += q - p
    if n > x:
        out.append((x, n, taken))
    return out


def _speech_context(context: np.ndarray, audio: np.ndarray, start: float, words: Sequence[tuple[float, float]],
                    seconds: float) -> np.ndarray:
    """`context` followed by the stretches of `audio` (starting at call time `start`) that hold
    words (joined over pauses up to 0.5 s, 0.1 s of margin), CONTEXT_GAP of silence between
    stretches; the last `seconds` of that."""
    gap = np.zeros(int(CONTEXT_GAP * SR), dtype=np.float32)
    parts = [context]
    for a, b in timeline.merge(words, 0.5):
        lo, hi = max(0, round((a - 0.1 - start) * SR)), min(len(audio), round((b + 0.1 - start) * SR))
        if hi > lo:
            parts += [gap, audio[lo:hi]] if len(parts) > 1 or len(context) else [audio[lo:hi]]
    joined = np.concatenate(parts)
    return joined[-int(seconds * SR):].copy()


@dataclass(frozen=True, slots=True)
class Part:
    """A channel's undecided audio and own-speech mask, to go into a Whisper pass, after `context`:
    the party's latest committed speech, decoded again only to be heard (its words are not kept).
    Whisper writes a short stretch of speech markedly worse without the speaker's preceding words."""

    samples: np.ndarray
    own: np.ndarray
    context: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    regions: tuple[tuple[int, int], ...] | None = None   # its speech regions (samples), when already found
    # decode again what got no words (one more Whisper pass): only while its call keeps up — behind,
    # the pass's own cost is what matters, and the second pass decodes the audio again for the record
    recover: bool = True
    # decode again in this pass what fell into a repetition loop; else it is left undecided, for the
    # channel's next decode (packed with other audio, it seldom loops again): a retry is a second
    # Whisper pass, the slowest passes of a loaded server, which every waiting call waited for
    loops: bool = True

    @property
    def heard(self) -> float:
        """Seconds Whisper hears of this part: context and speech regions, with their joining gaps."""
        speech = len(self.samples) / SR if self.regions is None else _speech_seconds(self)
        gaps = CONTEXT_GAP * (1 + len(self.regions or ()))
        return len(self.context) / SR + speech + gaps


@dataclass(frozen=True, slots=True)
class Job:
    """One call's share of a Whisper pass: what `CallMonitor.complete` needs to commit its words."""

    final: bool
    now: float
    first: float
    energies: Mapping[str, ChannelEnergy]
    masks: Mapping[str, np.ndarray]
    snaps: Mapping[str, tuple[float, np.ndarray]]
    plans: Mapping[str, tuple[float | None, float | None] | None]
    due: tuple[str, ...]
    parts: tuple[Part, ...]
    alerts: tuple["Alert", ...] = ()   # decided before the pass, from voice activity: send them now
    revisions: tuple["Revision", ...] = ()  # second-pass stretches: the last parts, in this order

    @property
    def revision_parts(self) -> tuple[Part, ...]:
        return self.parts[len(self.parts) - len(self.revisions):]

    @property
    def first_parts(self) -> tuple[Part, ...]:
        return self.parts[:len(self.parts) - len(self.revisions)]

    @property
    def seconds(self) -> float:
        """Audio this job adds to a pass: what Whisper hears, its context and speech regions (the
        silence between regions is skipped). Counted as whole buffers, nearly every job filled a
        window alone and calls seldom shared a pass's encoder."""
        return sum(p.heard for p in self.parts)

    @property
    def first_pass_seconds(self) -> float:
        return sum(len(p.samples) for p in self.first_parts) / SR


@dataclass(frozen=True, slots=True)
class Revision:
    """A second-pass stretch of one party's committed audio, call times [start, end)."""

    role: str
    start: float
    end: float


def _speech_seconds(part: Part) -> float:
    return sum(b - a for a, b in part.regions or ()) / SR


def _buffer_mask(snap: tuple[float, np.ndarray], mask: np.ndarray, first: float) -> np.ndarray:
    """The channel's own-speech frames under its buffer (`mask` starts at call time `first`)."""
    buf_start, buffer = snap
    a = int(round((buf_start - first) / FRAME))
    n = len(buffer) // HOP
    m = mask[a:a + n] if a >= 0 else np.zeros(0, dtype=bool)
    return np.pad(m, (0, n - len(m)))


def _part(snap: tuple[float, np.ndarray], mask: np.ndarray, first: float, track: Track, context: bool,
          loops: bool = True) -> Part:
    buf_start, buffer = snap
    n = len(buffer) // HOP
    regions = tuple((lo, min(hi, n * HOP)) for lo, hi in track.regions if lo < n * HOP)
    own = _buffer_mask(snap, mask, first)
    if track.held_from is not None:  # left out: no speech there for the pass to find unheard
        own[max(0, int(round((track.held_from - buf_start) / FRAME))):] = False
    # context helps the party's own new speech only; in front of a part with none (the other
    # party's bleed), it led the next part in the pass into a loop (measured: a customer's first
    # 8 s got no words in four decodes running, behind the agent's context)
    speaks = context and bool(own_regions(regions, own, SR))
    heard = track.context[: len(track.context) // HOP * HOP] if speaks else np.zeros(0, dtype=np.float32)
    return Part(buffer[: n * HOP], own, heard, regions, recover=context, loops=loops or track.looped)


def transcribe_parts(transcriber: Transcriber, parts: Sequence[Part]) -> list[list[AsrSegment]]:
    """Several channels' (of one call or of many) audio back to back, a second of silence between
    them, in ONE pass of the offline transcriber (each pass costs a full 30 s encoder window
    whatever its length, so short parts share one); its segments split back per part, in each
    part's own time."""
    gap = np.zeros(SR, dtype=np.float32)
    between = np.zeros(int(CONTEXT_GAP * SR), dtype=np.float32)
    audio, own, offsets, regions, context, pos = [], [], [], [], [], 0
    for part in parts:
        if len(part.context):
            audio += [part.context, between]
            own += [np.ones(len(part.context) // HOP, dtype=bool), np.zeros(len(between) // HOP, dtype=bool)]
            regions.append((pos, pos + len(part.context)))
            context.append(regions[-1])
            pos += len(part.context) + len(between)
        audio += [part.samples, gap]
        own += [part.own, np.zeros(len(gap) // HOP, dtype=bool)]
        offsets.append((pos / SR, (pos + len(part.samples)) / SR))
        regions += [(pos + a, pos + b) for a, b in part.regions or ()]
        pos += len(part.samples) + len(gap)
    known = all(p.regions is not None for p in parts)
    segments = transcriber.transcribe(np.concatenate(audio), SR, np.concatenate(own), regions if known else None,
                                      recover=any(p.recover for p in parts), context=context,
                                      loops=any(p.loops for p in parts))
    out: list[list[AsrSegment]] = [[] for _ in parts]
    for seg in segments:
        for i, (lo, hi) in enumerate(offsets):
            if not seg.words and seg.start < hi and seg.end > lo:  # a loop left for a later decode
                out[i].append(replace(seg, start=max(seg.start, lo) - lo, end=min(seg.end, hi) - lo))
                continue
            # the VAD's padding may reach into the joining silence: clamp to the part's audio
            words = tuple(Word(min(w.start, hi) - lo, min(w.end, hi) - lo, w.text, w.probability)
                          for w in seg.words if lo <= (w.start + w.end) / 2 < hi)
            if words:
                out[i].append(AsrSegment(words[0].start, words[-1].end, " ".join(w.text for w in words),
                                         words, seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio))
    return out


def _shift(segments: Sequence[AsrSegment], dt: float) -> list[AsrSegment]:
    return [AsrSegment(s.start + dt, s.end + dt, s.text,
                       tuple(Word(w.start + dt, w.end + dt, w.text, w.probability) for w in s.words),
                       s.no_speech_prob, s.avg_logprob, s.compression_ratio) for s in segments]


class CallMonitor:
    """Incremental state of one stereo call. Not thread-safe: one `step` at a time (the server runs
    a call's steps one after another); `feed` may be called from another thread."""

    def __init__(self, start: StartMessage, cfg: Config, transcriber: Transcriber, lexicon: Lexicon | None,
                 embedder: Embedder | None, phrasing: "PhrasingModel | None" = None):
        if start.channels != 2:
            raise ValueError("CallMonitor takes two-channel calls")
        self.start, self.cfg, self.opts = start, cfg, cfg.stream
        self.transcriber, self.lexicon, self.embedder = transcriber, lexicon, embedder
        self.phrasing = phrasing        # the trained phrasing head, as the offline review uses it
        self.spare = True               # the decoders have room for the second pass (the server says; alone: yes)
        self._state = threading.Lock()
        revise_max = self.opts.revise_max if self.opts.revise_speech > 0 else 0.0
        self.tracks = {r: Track(r, self._state, revise_max) for r in ROLES}
        self.order = [start.layout.index(r) for r in ROLES]
        self.energy = Energy(self.opts.energy_history, self._state)
        self.stats = StreamStats()
        self.decode_interval = self.opts.decode_interval
        self._sha = hashlib.sha256()
        self._lock = threading.Lock()
        self._pending: list[np.ndarray] = []
        self._resampler = None
        if start.sample_rate != SR:
            import soxr

            self._resampler = soxr.ResampleStream(start.sample_rate, SR, 2, dtype="float32", quality="HQ")
        self._last_decode = 0.0
        self._heard_speech = False
        self._last_speech = 0.0                   # end of the latest own-speech frame of either party
        self._silence_open: float | None = None   # start of a dead air reported as started
        self._emitted: list[Alert] = []
        self._withdrawn: list[Alert] = []
        self._revised_span: tuple[float, float] | None = None  # call times the latest second pass rewrote
        self._lag_at_pass = 0.0   # how far behind the audio the latest pass finished
        self._frontier = 0.0
        band = (cfg.activity.band_low, cfg.activity.band_high)
        self.echo = LiveCanceller(SR, band, ROLES) if cfg.channels.echo_cancel else None

    # -- input ----------------------------------------------------------------------------
    def feed(self, raw: bytes, samples: np.ndarray) -> None:
        """One decoded frame (n, 2) in the client's layout; cheap, called on the socket's thread."""
        self._sha.update(raw)
        with self._lock:
            self._pending.append(samples)
            self.stats.received += len(samples) / self.start.sample_rate

    def pending_seconds(self) -> float:
        with self._lock:
            return sum(len(p) for p in self._pending) / self.start.sample_rate

    def _drain(self, last: bool) -> dict[str, np.ndarray] | None:
        with self._lock:
            chunks, self._pending = self._pending, []
        if not chunks and not last:
            return None
        x = np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=np.float32)
        x = x[:, self.order]
        if self._resampler is not None:
            x = self._resampler.resample_chunk(np.ascontiguousarray(x), last=last)
        return {r: np.ascontiguousarray(x[:, i]) for i, r in enumerate(ROLES)}

    # -- steps ----------------------------------------------------------------------------
    def listen(self, final: bool = False) -> list[Alert]:
        """Cheap: the audio received so far into the buffers and frame energies; dead air in
        progress. Runs whenever audio arrives, however far behind transcription is."""
        chunks = self._drain(final)
        if chunks is not None and self.echo is not None:
            chunks = self.echo.process(chunks, last=final)
        if chunks is None or not len(chunks["agent"]):
            return []
        for r in ROLES:
            self.tracks[r].append(chunks[r])
        a, b = self.energy.add(chunks, self.cfg.asr.crosstalk_margin_db)
        return self._dead_air_progress(a, b)

    def decode_due(self) -> bool:
        return self.tracks["agent"].end - self._last_decode >= self.decode_interval

    def decode(self, final: bool = False) -> list[Alert]:
        """Heavy: decode what is undecided, commit, run the rules; one at a time per call. (The
        server shares Whisper passes between calls instead: `prepare`, `transcribe_parts`, `complete`.)"""
        job = self.prepare(final)
        return list(job.alerts) + self.complete(job, transcribe_parts(self.transcriber, job.parts) if job.parts else [])

    def prepare(self, final: bool = False) -> "Job":
        """Snapshot what a pass needs: each channel's undecided audio, its plan, the energies."""
        first, energies, masks = self.energy.snapshot(self.cfg.asr.crosstalk_margin_db)
        snaps = {r: self.tracks[r].audio for r in ROLES}
        # while other calls wait for a decoder, an open region is decoded once, when it closes
        hold = not final and not self.spare and self.opts.hold_open > 0
        plans = {r: self._plan(self.tracks[r], snaps[r], final, hold) for r in ROLES}
        due = tuple(r for r in ROLES if plans[r] not in (None, _HELD))
        # context costs decoding time (its words are decoded again): only while keeping up (measured:
        # kept until the coarsest decoding, 4 calls no longer held and turn-taking alerts came later)
        context = self.decode_interval <= self.opts.decode_interval
        # a looping stretch is decoded again in the same pass only while no other call waits for it
        loops = final or self.spare
        parts = tuple(_part(snaps[r], masks[r], first, self.tracks[r], context, loops) for r in due)
        now = self.tracks["agent"].end
        for r in (r for r in ROLES if plans[r] is not None):  # the speech about to be decoded, or held,
            # already tells who talks when
            self._voiced_edges(self.tracks[r], masks[r], first, snaps[r][0] + len(snaps[r][1]) / SR)
        for r in (r for r in ROLES if plans[r] is _HELD):
            _settle_held(self.tracks[r], masks[r], first, snaps[r][0] + len(snaps[r][1]) / SR)
        early = [] if final else self._early(now)
        # the second pass also costs decoding time: only while well ahead and the decoders have room
        # (measured: with 4 live calls on 2 cores, revising whenever decoding ran at its finest
        # interval let lag grow; a call well ahead still made a pass of 60 s of speech while the
        # others waited); what it could not do waits for hang-up
        keeping_up = context and self._lag_at_pass < self.opts.lag_low and self.spare
        revisions = self._revisions(first, masks, False) if keeping_up and not final else []
        return Job(final, now, first, energies, masks, snaps, plans, due, parts + tuple(p for _, p in revisions),
                   tuple(early), tuple(r for r, _ in revisions))

    def _revisions(self, first: float, masks: Mapping[str, np.ndarray], rest: bool) -> list[tuple[Revision, Part]]:
        """Each party's committed audio that is due a second pass (all of it when `rest`): decoded
        again after the party's speech before it, as the offline review hears it, in stretches of at
        most one encoder window of speech (a live pass must not grow past its window for it)."""
        # live, one stretch per job, the oldest: both parties' in one pass made it two encoder
        # windows (measured: 56 s heard, 5.2 s, the slowest pass of a 4-call run; every call whose
        # job came meanwhile waited for it)
        oldest_first = sorted(ROLES, key=lambda r: max(self.tracks[r].unrevised[0], first))
        out = []
        for role in (ROLES if rest else oldest_first) if self.opts.revise_speech > 0 else ():
            track = self.tracks[role]
            at, audio = track.unrevised
            a = max(at, first)
            skip = int(round((a - at) / FRAME)) * HOP
            n = (len(audio) - skip) // HOP * HOP
            if n <= 0 or not (rest or track.speech_in(a, a + n / SR) >= self.opts.revise_speech):
                continue
            samples = audio[skip:skip + n]
            regions = self._speech_regions(samples)
            own = _buffer_mask((a, samples), masks[role], first)
            context = track.revise_context[: len(track.revise_context) // HOP * HOP]
            for x, y, taken in _stretches(regions, n, int(self.opts.pass_seconds * SR)):
                out.append((Revision(role, a + x / SR, a + y / SR),
                            Part(samples[x:y], own[x // HOP:y // HOP], context, tuple((p - x, q - x) for p, q in taken))))
                if not rest:
                    return out  # the other party's speech is not searched for a stretch left unused
        return out

    def _apply_revisions(self, revisions: Sequence[Revision], parts: Sequence[Part],
                         segments: Sequence[list[AsrSegment]], energies: Mapping[str, ChannelEnergy],
                         masks: Mapping[str, np.ndarray], first: float) -> None:
        """The second pass's words (one segment list per revision part) into their tracks."""
        if revisions:
            self._revised_span = (min(r.start for r in revisions), max(r.end for r in revisions))
        for rev, part, segs in zip(revisions, parts, segments):
            words = self._to_call_time(segs, rev.start, energies[rev.role], masks[rev.role], first)
            self.tracks[rev.role].revised(rev.start, rev.end, words, self.opts.context_seconds)
            self.stats.revised_speech += _speech_seconds(part)

    def _to_call_time(self, segments: Sequence[AsrSegment], start: float, energy: ChannelEnergy, mask: np.ndarray,
                      first: float) -> list[AsrSegment]:
        """A part's worded segments (its own time, 0 = call time `start`) through the offline guards
        (echo, snapping to the channel's own speech) into call time; a loop left for later has none."""
        worded = [s for s in segments if s.words]
        segments = clean_segments(_shift(worded, start - first), self.cfg.asr, energy)
        return _shift(snap_to_energy(segments, mask), first)

    def complete(self, job: "Job", segments: Sequence[list[AsrSegment]]) -> list[Alert]:
        """Commit a pass's words (one segment list per part of the job), then run the rules."""
        n = len(job.revisions)
        self._apply_revisions(job.revisions, job.revision_parts, segments[len(segments) - n:], job.energies,
                              job.masks, job.first)
        for r, segs in zip(job.due, segments):
            self._commit(self.tracks[r], job.snaps[r], segs, job.plans[r], job.energies[r], job.masks[r],
                         job.first, job.final)
        if job.due:
            self.stats.decodes += 1
            self.stats.decoded_audio += job.first_pass_seconds
            self.stats.heard += sum(p.heard for p in job.first_parts)
        self.stats.decoded = max(start + len(buf) / SR for start, buf in job.snaps.values())
        self.energy.forget_before(min(min(t.buf_start, t.unrevised[0]) for t in self.tracks.values()))
        self._frontier = min(t.settled for t in self.tracks.values())
        self._last_decode = job.now
        alerts = self._findings(job.final)
        self._adapt()
        return alerts

    def step(self, final: bool = False) -> list[Alert]:
        alerts = self.listen(final)
        return alerts + (self.decode(final) if final or self.decode_due() else [])

    def _adapt(self) -> None:
        """Coarser decoding while behind (each decode costs about the same whatever its length, so
        fewer, longer decodes catch up); finer again once caught up. Nothing is dropped."""
        lag = self._lag_at_pass = self.stats.lag
        self.stats.lag_max = max(self.stats.lag_max, lag)
        if lag > self.opts.lag_high and self.decode_interval < self.opts.decode_interval_max:
            self.decode_interval = min(self.opts.decode_interval_max, self.decode_interval * 2)
            self.stats.coarse_steps += 1
            log.info("%s: %.1f s behind; decoding every %.1f s", self.start.call_id, lag, self.decode_interval)
        elif lag < self.opts.lag_low and self.decode_interval > self.opts.decode_interval:
            self.decode_interval = max(self.opts.decode_interval, self.decode_interval / 2)

    # -- dead air in progress -------------------------------------------------------------
    def _dead_air_progress(self, a: int, b: int) -> list[Alert]:
        """Silence on both channels' own-speech energy: "started" the moment it reaches
        turns.dead_air_min, "ended" when either party speaks again (≥ 50 ms of speech)."""
        lo = max(0, a - _SPEECH_RUN)  # a run of speech may have begun in the previous chunk
        own = [np.frombuffer(bytes(self.energy.mask[r][lo:b]), np.uint8) for r in ROLES]
        either = (own[0] | own[1]).astype(bool)
        alerts: list[Alert] = []
        for start, stop in _runs(either, _SPEECH_RUN):
            if lo + stop <= a:
                continue
            t0, t1 = (lo + start) * FRAME, (lo + stop) * FRAME
            alerts += self._silence_check(t0)  # a whole silence inside one chunk is still reported
            if self._silence_open is not None and t0 > self._silence_open:
                began = self._silence_open
                alerts.append(Alert("dead_air", "ended", t0, began, t0, None, "info",
                                    f"Silence ended after {t0 - began:.1f} s", "", None,
                                    {"duration": round(t0 - began, 2)}))
                self._silence_open = None
            self._heard_speech = True
            self._last_speech = max(self._last_speech, t1)
        return alerts + self._silence_check(b * FRAME)

    def _silence_check(self, now: float) -> list[Alert]:
        opts = self.cfg.turns
        silent_from = max(self._last_speech, max(t.committed_until for t in self.tracks.values()))
        if not self._heard_speech or self._silence_open is not None or now - silent_from < opts.dead_air_min:
            return []
        turns = build_turns(self._recent_conversation(silent_from - opts.hold_announce_window - 5), "agent",
                            opts.segment_join_gap)
        phrase = announced_hold(silent_from, turns, opts)
        self._silence_open = silent_from
        return [Alert(
            "dead_air", "started", silent_from + opts.dead_air_min, silent_from, now, None,
            self.cfg.severity.dead_air_announced if phrase else self.cfg.severity.dead_air,
            f"Nobody has spoken for {opts.dead_air_min:g} s" + (f" (after \"{phrase}\")" if phrase else ""),
            f"agent said \"{phrase}\" before" if phrase else "no hold announced", None,
            {"announced": phrase is not None})]

    # -- transcription --------------------------------------------------------------------
    def _speech_regions(self, samples: np.ndarray) -> list[tuple[int, int]]:
        """Speech regions (samples) Whisper will decode: all of it when the VAD is off."""
        return self.transcriber.speech_regions(samples) if self.cfg.asr.vad_filter else [(0, len(samples))]

    def _plan(self, track: Track, snap: tuple[float, np.ndarray], final: bool, hold: bool = False
              ) -> tuple[float | None, float | None] | str | None:
        """(end of the last closed speech region, start of the open one) in call time, or None when
        this channel needs no decode now (silence, or nothing new since its last decode). With
        `hold`, an open region younger than `stream.hold_open` is left out of the decode (_HELD when
        it is all the channel has): its own-speech runs stand for it until it closes."""
        buf_start, buffer = snap
        end = buf_start + len(buffer) / SR
        if len(buffer) < int(0.1 * SR):
            track.settled = max(track.settled, end if final else track.settled)
            return None
        regions = self._speech_regions(buffer)
        track.regions = tuple(regions)  # the pass decodes these: its VAD need not run again
        if not regions:
            if track.hypothesis:  # words decoded while their region was open: keep them, never drop
                track.commit([AsrSegment(track.hypothesis[0].start, track.hypothesis[-1].end,
                                         " ".join(w.text for w in track.hypothesis), tuple(track.hypothesis))],
                             track.hypothesis)
            track.hypothesis, track.edges = [], []
            if not final:
                track.trim(end - _KEEP_SILENCE, self.opts.context_seconds)
            track.settled = max(track.committed_until, end - _UNHEARD_ONSET)
            track.decoded_to = end
            return None
        closed = [r for r in regions if final or r[1] <= len(buffer) - _CLOSED_MARGIN * SR]
        closed_end = buf_start + closed[-1][1] / SR if closed else None
        open_start = None if len(closed) == len(regions) else buf_start + regions[len(closed)][0] / SR
        if not final and not closed and buf_start + regions[-1][1] / SR <= track.decoded_to + 0.05:
            return None
        track.decoded_to = end
        track.held_from = None
        if hold and open_start is not None and end - open_start < self.opts.hold_open:
            track.regions, track.held_from = tuple(closed), open_start
            return (closed_end, open_start) if closed else _HELD
        return closed_end, open_start

    def _commit(self, track: Track, snap: tuple[float, np.ndarray], segments: list[AsrSegment],
                plan: tuple[float | None, float | None], energy: ChannelEnergy, mask: np.ndarray, first: float,
                final: bool) -> None:
        asr = self.cfg.asr
        buf_start, buffer = snap
        end = buf_start + len(buffer) / SR
        closed_end, open_start = plan
        # a stretch whose decode looped stays undecided, with all after it: decoded again next time
        hold = min((buf_start + s.start for s in segments if not s.words), default=None)
        track.looped = hold is not None and not final
        self.stats.deferred_loops += track.looped
        # into the energy window's time base for the echo and snapping guards, then into call time
        segments = self._to_call_time(segments, buf_start, energy, mask, first)
        words = after([w for s in segments for w in s.words], track.committed_until - 0.01)
        if track.looped:
            words = [w for w in words if (w.start + w.end) / 2 < hold]
        # every word of a closed region is final, wherever snapping moved its edges: its audio is
        # about to leave the buffer, so a word left behind here would be lost
        done = [w for w in words if final or (closed_end is not None
                                              and (open_start is None or (w.start + w.end) / 2 < open_start))]
        rest = [w for w in words if w not in done]
        agreed = agreed_prefix(track.hypothesis, rest)
        if not final and end - buf_start > self.opts.max_buffer:
            # a long unbroken stretch: commit what is old enough even without agreement
            forced = [w for w in rest if w.end <= end - 2.0]
            if len(forced) > len(agreed):
                self.stats.forced_commits += len(forced) - len(agreed)
                agreed = forced
        spoken = self._voice_done(mask, first, open_start, end)
        if spoken is not None:
            # the party has stopped and the region is held open by the other's voice: its words will
            # not get better by waiting (a voice decoded differently every time never agrees)
            said = [w for w in rest if (w.start + w.end) / 2 < spoken + OWN_PAD]
            if len(said) > len(agreed):
                self.stats.forced_commits += len(said) - len(agreed)
                agreed = said
        track.commit(segments, done + agreed)
        track.hypothesis = [w for w in rest if w not in agreed]
        if final:
            track.trim(end)
            track.settled = end
            track.edges = []
            return
        cut = closed_end
        if end - buf_start > self.opts.trim_after:
            pause = pause_after(agreed, track.hypothesis, _TRIM_PAUSE)
            if pause is not None:
                cut = max(cut or buf_start, pause)
        if end - buf_start > self.opts.max_buffer:
            if agreed:
                cut = max(cut or 0.0, track.committed_until)
            else:
                # speech the VAD hears but Whisper writes no words for (music on hold, noise): let
                # the oldest part go, counted, rather than let the buffer grow without bound
                keep = min([w.start - 0.5 for w in rest] + [end - self.opts.max_buffer / 2])
                if keep > (cut or buf_start):
                    self.stats.undecodable_seconds += keep - (cut or buf_start)
                    cut = keep
        if spoken is not None and agreed and not track.hypothesis:
            cut = max(cut or buf_start, min(spoken + OWN_PAD, end))
        if cut is not None and track.looped:
            cut = min(cut, hold)
        if cut is not None:
            track.trim(cut, self.opts.context_seconds)
        pending = [w.start for w in track.hypothesis] + ([hold] if track.looped else [])
        if open_start is not None:
            pending.append(_own_onset(mask, first, max(open_start, track.committed_until), end))
        track.settled = max(track.committed_until, min(pending, default=end - _CLOSED_MARGIN))
        self._voiced_edges(track, mask, first, end if open_start is not None else None)

    def _voice_done(self, mask: np.ndarray, first: float, open_start: float | None, end: float) -> float | None:
        """Where the party's own voice stopped in the open region, when that was `stream.voice_done`
        ago or more (None: no open region, no own voice in it, or the party may still be talking)."""
        runs = _own_runs(mask, first, open_start, end) if open_start is not None else []
        return runs[-1][1] if runs and end - runs[-1][1] >= self.opts.voice_done else None

    def _voiced_edges(self, track: Track, mask: np.ndarray, first: float, end: float | None) -> None:
        """What the channel holds past its words: own-speech runs (joined over pauses under
        `turns.activity_join`, each ≥ Silero's shortest speech) up to `end`, the buffer end where
        the VAD hears speech there (None: it hears none, so there is none to add)."""
        if end is None:
            track.edges = []
            return
        worded = max([track.committed_until] + [w.end for w in track.hypothesis])
        lo = max(0, int(round((worded - first) / FRAME)))
        runs = speech_spans(mask[lo:int(round((end - first) / FRAME))], self.cfg.turns.activity_join)
        offset = first + lo * FRAME
        track.edges = [(a + offset, b + offset) for a, b in runs if b - a >= _SHORTEST_SPEECH]

    # -- findings -------------------------------------------------------------------------
    def _utterances(self, since: float) -> list[Utterance]:
        gap = self.cfg.turns.segment_join_gap
        out: list[Utterance] = []
        for r in ROLES:
            out += to_utterances(self.tracks[r].recent_pieces(since), r, gap)
        return sorted(out, key=lambda u: (u.start, u.end))

    def _recent_conversation(self, since: float) -> Conversation:
        return Conversation(tuple(self._utterances(since)), self._frontier)

    def _analyse(self, conv: Conversation) -> list[Finding]:
        cfg = self.cfg
        ta = analyze_turns(conv, cfg.turns, cfg.severity)
        language = (analyze_empathy(conv, self.lexicon, self.embedder, cfg.empathy, self.phrasing)
                    if cfg.empathy.enabled and self.lexicon is not None and conv.utterances else [])
        return list(ta.findings) + language

    def _settle(self, f: Finding) -> float:
        """Call time after which `f` can no longer change."""
        o = self.opts
        if f.type == "missed_empathy":
            closes = float(f.extra.get("cue_end", f.start)) + self.cfg.empathy.missed_window  # type: ignore[arg-type]
            return max(f.end, closes) + o.settle_phrasing
        if f.type == "long_monologue":
            return f.end + self.cfg.turns.monologue_pause_max
        return f.end + (o.settle_phrasing if f.type in PHRASING else o.settle_turns)

    def _findings(self, final: bool) -> list[Alert]:
        if final:
            return []
        window = self._frontier - self.opts.analysis_window
        conv = self._recent_conversation(window - 5.0)
        findings = self._analyse(conv)
        withdrawn = self._withdraw(findings, window, self.stats.decoded)
        return withdrawn + self._decide(findings, window, self._frontier, self.stats.decoded) + self._early(self.stats.decoded)

    def _withdraw(self, findings: Sequence[Finding], window: float, at: float) -> list[Alert]:
        """Alerts sent on first-pass words that the second pass's words no longer support: sent again
        with phase "withdrawn", so a live view matches the record (a finding the new words hold in
        their place is sent as a new alert)."""
        span, self._revised_span = self._revised_span, None
        if span is None:
            return []
        out = []
        for e in list(self._emitted):
            if (e.phase == "final" and e.start >= window + 20.0 and e.start < span[1] and e.end > span[0] - 15.0
                    and not any(_same(e, f) for f in findings)):
                self._emitted.remove(e)
                self._withdrawn.append(e)
                out.append(replace(e, phase="withdrawn", at=at))
        return out

    def _early(self, at: float) -> list[Alert]:
        """Turn-taking decided again on what the channels hold past their committed words: the
        latest decode's words and the voiced speech no decode has worded yet (the rules need only
        who talks when). Sent with `confirmed: false`; the words confirm them at hang-up, where
        one they do not hold counts as retracted."""
        reach = min(t.reach for t in self.tracks.values())
        if reach <= self._frontier:
            return []
        window = reach - self.opts.analysis_window
        turns = analyze_turns(self._provisional_conversation(window - 5.0, reach), self.cfg.turns, self.cfg.severity)
        return self._decide([f for f in turns.findings if f.type in EARLY], window, reach, at, confirmed=False)

    def _provisional_conversation(self, since: float, reach: float) -> Conversation:
        gap = self.cfg.turns.segment_join_gap
        out = self._utterances(since)
        for r, track in self.tracks.items():
            words = list(track.hypothesis) + [Word(a, b, UNHEARD, 0.0) for a, b in track.edges]
            if words:
                out += to_utterances([AsrSegment(words[0].start, words[-1].end, " ".join(w.text for w in words),
                                                 tuple(words))], r, gap)
        return Conversation(tuple(sorted(out, key=lambda u: (u.start, u.end))), reach)

    def _decide(self, findings: Sequence[Finding], window: float, frontier: float, at: float,
                **extra: object) -> list[Alert]:
        """Alerts for the findings no later words can change (settled before `frontier`), once each."""
        fresh = []
        for f in findings:
            # near the window's start a turn may be cut: those findings were decided earlier
            if f.type not in LIVE_TYPES or (window > 0 and f.start < window + 20.0):
                continue
            if self._ready(f, frontier) and not self._seen(f):
                alert = Alert.of(f, at, **extra)  # decided once this much of the call was heard
                self._emitted.append(alert)
                fresh.append(alert)
        return fresh

    def _ready(self, f: Finding, frontier: float) -> bool:
        """Whether no later words can change `f`. A phrasing finding on one party's own line (the line
        read after the turns before it) waits for that party's words past its settling time and for
        the other's only up to the line's end: what the other says next does not change it, and
        waiting for the other's open turn to close made distress alerts seconds late."""
        if f.type in OWN_LINE and f.speaker in self.tracks:
            other = min(t.settled for r, t in self.tracks.items() if r != f.speaker)
            return self._settle(f) <= self.tracks[f.speaker].settled and f.end <= other
        return self._settle(f) <= frontier

    def rest_jobs(self) -> list[Job]:
        """At hang-up, after the final decode: the second pass over what is left of each party's
        committed audio, one job per stretch. A server queues them behind the live calls' jobs:
        decoded as one pass of up to four encoder windows, a call hanging up held a decoder for
        seconds while live calls' jobs waited (hang-ups come all day in a contact centre)."""
        first, energies, masks = self.energy.snapshot(self.cfg.asr.crosstalk_margin_db)
        now = self.tracks["agent"].end
        return [Job(True, now, first, energies, masks, {}, {}, (), (part,), (), (rev,))
                for rev, part in self._revisions(first, masks, True)]

    def revise(self, jobs: Sequence[Job], segments: Sequence[Sequence[list[AsrSegment]]]) -> None:
        """The rest jobs' words (one segment list per part of each job), in the jobs' order."""
        for job, segs in zip(jobs, segments):
            self._apply_revisions(job.revisions, job.revision_parts, segs, job.energies, job.masks, job.first)

    def _seen(self, f: Finding) -> bool:
        return any(_same(e, f) for e in self._emitted)

    # -- hang-up --------------------------------------------------------------------------
    def finish(self, complete: bool, reason: str = "", recording: "Path | None" = None) -> tuple[Review, list[Alert], dict]:
        """Decode what is left, build the call's Review with the offline rules over the whole
        committed conversation; the alerts the live analysis had not yet sent come back too.
        `recording`: where the server wrote the call's audio (the review points there)."""
        alerts = self.listen(final=True) + self.decode(final=True)
        jobs = self.rest_jobs()
        words = transcribe_parts(self.transcriber, [j.parts[0] for j in jobs]) if jobs else []
        self.revise(jobs, [[w] for w in words])
        review, more, summary = self.review(complete, reason, recording)
        return review, alerts + more, summary

    def review(self, complete: bool, reason: str = "", recording: "Path | None" = None
               ) -> tuple[Review, list[Alert], dict]:
        """After the last decode and second pass: the offline rules over the whole committed
        conversation, and the alerts the live analysis had not sent."""
        cfg = self.cfg
        gap = cfg.turns.segment_join_gap
        heard = {r: to_utterances(self.tracks[r].pieces, r, gap) for r in ROLES}
        unheard = [u for r, o in (("agent", "customer"), ("customer", "agent"))
                   for u in unheard_acknowledgements(self.energy.full_mask(r), heard[r], heard[o], r, gap)]
        duration = self.stats.received
        conv = Conversation(tuple(sorted(heard["agent"] + heard["customer"] + unheard,
                                         key=lambda u: (u.start, u.end))), duration)
        ta = analyze_turns(conv, cfg.turns, cfg.severity)
        language, metrics = [], None
        if cfg.empathy.enabled and self.lexicon is not None and conv.utterances:
            language = analyze_empathy(conv, self.lexicon, self.embedder, cfg.empathy, self.phrasing)
            metrics = empathy_metrics(language)
        info = AudioInfo(path=str(recording) if recording else f"stream:{self.start.call_id}", sha256=self._sha.hexdigest(), duration=duration,
                         sample_rate=self.start.sample_rate, channels=2, mode="stereo")
        models = ModelInfo(asr=self.transcriber.name, diarization=None, device=self.transcriber.device)
        review = build_review(info, models, conv, ta, cfg, language, metrics)
        late = [Alert.of(f, duration, late=True) for f in review.findings
                if f.type in LIVE_TYPES and not self._seen(f)]
        retracted = [e for e in self._emitted if e.phase == "final" and not any(_same(e, f) for f in review.findings)]
        summary = {"complete": complete, "reason": reason, "received_seconds": round(duration, 2),
                   "live_alerts": len([e for e in self._emitted if e.phase == "final"]),
                   "late_alerts": len(late), "retracted_alerts": len(retracted),
                   "withdrawn_alerts": len(self._withdrawn),
                   "retracted_kinds": sorted({e.kind for e in retracted}),
                   "lag_max": round(self.stats.lag_max, 2), "decodes": self.stats.decodes,
                   "forced_commits": self.stats.forced_commits,
                   "undecodable_seconds": round(self.stats.undecodable_seconds, 2),
                   "deferred_loops": self.stats.deferred_loops}
        # the record does not hold them: a live view learns it now, as for those withdrawn during the call
        gone = [replace(e, phase="withdrawn", at=duration) for e in retracted]
        return review, late + gone, summary


def _same(a: Alert, f: Finding) -> bool:
    """The same event seen twice: one type, speaker and category, overlapping (or ≤ 1 s apart)."""
    return (a.kind == f.type and a.speaker == f.speaker and a.category == f.category
            and (min(a.end, f.end) - max(a.start, f.start) > -0.5 or abs(a.start - f.start) < 1.0))


def _settle_held(track: Track, mask: np.ndarray, first: float, end: float) -> None:
    """A held channel is settled up to where its open region's own voice starts, as a decoded one
    is: the other party's lines need not wait for this party's region to close."""
    onset = _own_onset(mask, first, max(track.held_from or 0.0, track.committed_until), end)
    track.settled = max(track.settled, track.committed_until, min([w.start for w in track.hypothesis] + [onset]))


def _own_onset(mask: np.ndarray, first: float, since: float, end: float) -> float:
    """The earliest call time a word of an open speech region can still be placed: where the party's
    own voice starts in it, less the pad Whisper is given (`own_regions`). The other party's voice
    bleeding into this channel opens a VAD region too; its start must not hold the channel
    unsettled (it held the other party's phrasing alerts back until this party's reply had words)."""
    runs = _own_runs(mask, first, since, end)
    if not runs:
        return max(since, end - _UNHEARD_ONSET)
    return max(since, runs[0][0] - OWN_PAD)


def _own_runs(mask: np.ndarray, first: float, since: float, end: float) -> list[tuple[float, float]]:
    """The party's own-voice runs in call time [since, end): a blip of a frame or two (the other
    party's bleed peaking) is none; a run still growing at `end` is one."""
    lo = max(0, int(round((since - first) / FRAME)))
    seg = mask[lo:max(lo, int(round((end - first) / FRAME)))]
    return [(first + (lo + a) * FRAME, first + (lo + b) * FRAME) for a, b in _runs(seg, 1)
            if b - a >= _SHORTEST_SPEECH / FRAME or b == len(seg)]


def _runs(mask: np.ndarray, shortest: int) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2]) if e - s >= shortest]
