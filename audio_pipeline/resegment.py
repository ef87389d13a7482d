"""Speaker refinement after pyannote: re-cluster short windows of each speaker's audio.

segmentation-3.0 decides locally, inside each 10 s window, how many voices it hears; two
similar voices (two male TTS voices, two agents on one headset model) can come out as one local
speaker, and then one clustered speaker, for whole stretches of a call. A speaker-embedding
model tells such voices apart easily once it is given audio of one voice at a time. So every
exclusive (one-voice) turn is cut into short windows, each window is embedded, and the windows
are re-clustered with k-means started from pyannote's own clusters: where pyannote was right
nothing moves, where it merged two voices the windows of the minority voice move to the cluster
they sound like. Each 10 ms frame then takes the label most of its windows voted for.

Pure logic over arrays: the embedding function is injected (CAM++ in `diarize.Diarizer`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .analysis import timeline

FRAME = 0.01  # seconds per voting frame

Window = tuple[float, float, str, int]  # start, end, the label pyannote gave it, index of its turn
Embed = Callable[[Sequence[tuple[float, float]]], np.ndarray]  # spans -> (n, dim), NaN rows if unusable


@dataclass(frozen=True, slots=True)
class RefineOptions:
    window: float = 1.5      # seconds of one voice per embedding
    hop: float = 1.0         # window step inside a turn
    min_turn: float = 0.5    # shorter exclusive turns keep pyannote's label
    iterations: int = 10
    split: bool = True       # relabel frame by frame (True) or whole turns by majority (False)
    min_run: float = 1.0     # a relabelled part of a turn shorter than this keeps its label
    max_overlap: float = 0.25  # windows with more overlapped speech than this share do not vote


def windows(turns: Sequence, opts: RefineOptions) -> list[Window]:
    """Windows of `opts.window` every `opts.hop` over each turn of at least `opts.min_turn`; the
    last one ends at the turn's end, a turn shorter than a window is one window."""
    out: list[Window] = []
    for i, t in enumerate(turns):
        if t.end - t.start < opts.min_turn:
            continue
        start = t.start
        while True:
            end = min(start + opts.window, t.end)
            out.append((max(t.start, end - opts.window), end, t.speaker, i))
            if end >= t.end:
                break
            start += opts.hop
    return out


def kmeans(vectors: np.ndarray, init: np.ndarray, iterations: int) -> np.ndarray:
    """Cosine k-means over unit `vectors` from the initial assignment `init` (cluster ids);
    a cluster that empties keeps its last centroid, so no label disappears by accident."""
    assign = init.copy()
    ids = np.unique(init)
    centroids = np.stack([vectors[init == k].mean(0) for k in ids])
    for _ in range(iterations):
        for i, k in enumerate(ids):
            if (assign == k).any():
                centroids[i] = vectors[assign == k].mean(0)
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
        new = ids[(vectors @ centroids.T).argmax(1)]
        if np.array_equal(new, assign):
            break
        assign = new
    return assign


def vote(turns: Sequence, wins: Sequence[Window], labels: Sequence[str], make_turn: Callable,
         split: bool = True, min_run: float = 1.0) -> list:
    """Each frame of each turn takes the label most of its windows were clustered to (its own
    label where no window covers it or the vote ties); runs of one label become turns. A part of
    a turn shorter than `min_run` is not split off: at a turn's edge the windows reach into the
    other voice's overlapping speech, and relabelling there would erase the overlap."""
    out = []
    names = sorted({t.speaker for t in turns} | set(labels))
    col = {name: i for i, name in enumerate(names)}
    by_turn = _windows_by_turn(turns, wins, labels)
    for t, covering in zip(turns, by_turn):
        n = max(1, int(round((t.end - t.start) / FRAME)))
        votes = np.zeros((n, len(names)))
        for (a, b), label in covering:
            i, j = int((a - t.start) / FRAME), int(np.ceil((b - t.start) / FRAME))
            votes[max(i, 0):min(j, n), col[label]] += 1
        votes[:, col[t.speaker]] += 0.5  # ties keep pyannote's label
        if not split:
            votes[:] = votes.sum(0)
        out += _runs(t, _keep_short_runs(votes.argmax(1), col[t.speaker], int(min_run / FRAME)), names, make_turn)
    return out


def _keep_short_runs(labels: np.ndarray, own: int, shortest: int) -> np.ndarray:
    """Runs of another label shorter than `shortest` frames go back to `own`, unless one run is
    the whole turn (a short turn relabelled as a whole)."""
    bounds = _bounds(labels)
    if len(bounds) == 1:
        return labels
    out = labels.copy()
    for a, b in bounds:
        if out[a] != own and b - a < shortest:
            out[a:b] = own
    return out


def _bounds(labels: np.ndarray) -> list[tuple[int, int]]:
    """(first, one-past-last) frame of each run of one label."""
    edges = [0, *(np.flatnonzero(labels[1:] != labels[:-1]) + 1).tolist(), len(labels)]
    return list(zip(edges[:-1], edges[1:]))


def _windows_by_turn(turns: Sequence, wins: Sequence[Window], labels: Sequence[str]
                     ) -> list[list[tuple[tuple[float, float], str]]]:
    groups: list[list[tuple[tuple[float, float], str]]] = [[] for _ in turns]
    for (a, b, _, i), label in zip(wins, labels):
        groups[i].append(((a, b), label))
    return groups


def _runs(turn, frame_labels: np.ndarray, names: Sequence[str], make_turn: Callable) -> list:
    out = []
    for a, b in _bounds(frame_labels):
        start = turn.start + a * FRAME
        end = turn.end if b == len(frame_labels) else turn.start + b * FRAME
        out.append(make_turn(start, end, names[frame_labels[a]]))
    return out


def refine(exclusive: Sequence, turns: Sequence, overlap: Sequence[tuple[float, float]], embed: Embed,
           opts: RefineOptions, make_turn: Callable) -> tuple[list, list]:
    """(exclusive, turns) with each voice's windows re-clustered. Overlapped stretches keep the
    voices pyannote heard there (the dominant one is whatever the exclusive turns now say)."""
    ordered = sorted(exclusive, key=lambda t: (t.start, t.end))
    # a window that holds two voices at once says nothing about either
    wins = [w for w in windows(ordered, opts)
            if timeline.total(timeline.clip(list(overlap), w[0], w[1])) <= opts.max_overlap * (w[1] - w[0])]
    if len({w[2] for w in wins}) < 2:
        return list(exclusive), list(turns)  # one voice: nothing to separate
    vectors = embed([(w[0], w[1]) for w in wins])
    usable = ~np.isnan(vectors[:, 0])
    wins = [w for w, ok in zip(wins, usable) if ok]
    vectors = vectors[usable]
    names = sorted({w[2] for w in wins})
    if len(names) < 2:
        return list(exclusive), list(turns)
    vectors = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    init = np.array([names.index(w[2]) for w in wins])
    assign = kmeans(vectors, init, opts.iterations)
    new_exclusive = vote(ordered, wins, [names[k] for k in assign], make_turn, opts.split, opts.min_run)
    return new_exclusive, follow(turns, ordered, new_exclusive, make_turn)


def follow(turns: Sequence, old: Sequence, new: Sequence, make_turn: Callable) -> list:
    """pyannote's full turns (smoothed, overlapping) relabelled as their exclusive parts were:
    each frame of a turn where its own voice was the dominant one takes that frame's new label,
    the other frames (overlap, bridged pauses) the label of the nearest such frame — unless that
    is the label of the voice dominant there: two voices heard at once stay two voices."""
    if not turns:
        return []
    n = int(np.ceil(max(t.end for t in turns) / FRAME)) + 1
    was, now = _frames(old, n), _frames(new, n)
    out = []
    for t in turns:
        a, b = int(t.start / FRAME), max(int(t.start / FRAME) + 1, int(np.ceil(t.end / FRAME)))
        own = np.flatnonzero(was[a:b] == t.speaker)
        if own.size == 0:
            out.append(t)
            continue
        frames = np.arange(b - a)
        after = np.searchsorted(own, frames)
        later, earlier = own[np.clip(after, 0, own.size - 1)], own[np.clip(after - 1, 0, own.size - 1)]
        pick = np.where(np.abs(earlier - frames) <= np.abs(later - frames), earlier, later)
        labels = now[a:b][pick]
        clash = (labels == now[a:b]) & (was[a:b] != t.speaker) & (was[a:b] != "")
        labels = np.where(clash, t.speaker, labels)
        names = sorted(set(labels))
        out += _runs(t, np.array([names.index(x) for x in labels]), names, make_turn)
    return out


def _frames(turns: Sequence, n: int) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    for t in turns:
        out[int(t.start / FRAME):int(np.ceil(t.end / FRAME))] = t.speaker
    return out
