"""Speaker refinement (resegment.py) on hand-built turns with a fake voice embedding: pure logic."""
from __future__ import annotations

import numpy as np
import pytest

from audio_pipeline.diarize import SpeakerTurn
from audio_pipeline.resegment import RefineOptions, follow, kmeans, refine, windows

# the truth of a fake call: who really talks when
VOICE = [(0.0, 6.0, "A"), (7.0, 12.0, "B"), (13.0, 20.0, "A"), (21.0, 26.0, "B")]
DIRECTION = {"A": np.array([1.0, 0.1, 0.0]), "B": np.array([0.1, 1.0, 0.0])}


def fake_embed(spans):
    """The voice heard most in a span, as a direction, with a little per-window jitter."""
    rng = np.random.default_rng(0)
    out = []
    for a, b in spans:
        share = {"A": 0.0, "B": 0.0}
        for s, e, v in VOICE:
            share[v] += max(0.0, min(b, e) - max(a, s))
        out.append(DIRECTION[max(share, key=share.get)] + rng.normal(0, 0.05, 3))
    return np.array(out)


def _truth_at(t: float) -> str:
    return next(v for s, e, v in VOICE if s <= t < e)


def test_windows_cover_each_turn_and_skip_short_ones():
    opts = RefineOptions(window=1.5, hop=1.0, min_turn=0.5)
    wins = windows([SpeakerTurn(0.0, 4.0, "X"), SpeakerTurn(5.0, 5.3, "X"), SpeakerTurn(6.0, 7.0, "Y")], opts)
    assert [(a, b, i) for a, b, _, i in wins] == [(0.0, 1.5, 0), (1.0, 2.5, 0), (2.0, 3.5, 0), (2.5, 4.0, 0),
                                                  (6.0, 7.0, 2)]


def test_kmeans_moves_only_the_windows_that_sound_like_the_other_cluster():
    vectors = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [0, 1.0]])
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    init = np.array([0, 0, 0, 1, 1])  # the third window was clustered with the first voice
    assert kmeans(vectors, init, 10).tolist() == [0, 0, 1, 1, 1]


def test_refine_separates_a_voice_that_pyannote_merged_into_the_other():
    # pyannote heard B's first turn as A (one merged cluster) and got the rest right
    pyannote = [SpeakerTurn(0.0, 6.0, "S0"), SpeakerTurn(7.0, 12.0, "S0"), SpeakerTurn(13.0, 20.0, "S0"),
                SpeakerTurn(21.0, 26.0, "S1")]
    exclusive, turns = refine(pyannote, pyannote, (), fake_embed, RefineOptions(), SpeakerTurn)
    label_of = {"A": None, "B": None}
    for t in exclusive:
        mid = (t.start + t.end) / 2
        voice = _truth_at(mid)
        assert label_of[voice] in (None, t.speaker), f"{voice} split over two labels at {mid}"
        label_of[voice] = t.speaker
    assert label_of["A"] != label_of["B"]
    assert sum(t.end - t.start for t in turns) == pytest.approx(23.0)


def test_refine_splits_a_turn_that_spans_a_speaker_change():
    pyannote = [SpeakerTurn(0.0, 12.0, "S0"), SpeakerTurn(13.0, 20.0, "S0"), SpeakerTurn(21.0, 26.0, "S1")]
    exclusive, _ = refine(pyannote, pyannote, (), fake_embed, RefineOptions(hop=0.5), SpeakerTurn)
    first = [t for t in exclusive if t.end <= 12.0]
    assert len({t.speaker for t in first}) == 2
    change = next(t.start for t in first if t.speaker != first[0].speaker)
    assert 6.0 <= change <= 7.5  # where B starts, within a window's reach


def test_right_diarization_is_left_alone():
    pyannote = [SpeakerTurn(s, e, {"A": "S0", "B": "S1"}[v]) for s, e, v in VOICE]
    exclusive, turns = refine(pyannote, pyannote, (), fake_embed, RefineOptions(), SpeakerTurn)
    assert [(t.start, t.end, t.speaker) for t in exclusive] == [(t.start, t.end, t.speaker) for t in pyannote]
    assert [(t.start, t.end, t.speaker) for t in turns] == [(t.start, t.end, t.speaker) for t in pyannote]


def test_one_voice_is_returned_unchanged():
    one = [SpeakerTurn(0.0, 5.0, "S0"), SpeakerTurn(6.0, 9.0, "S0")]
    assert refine(one, one, (), fake_embed, RefineOptions(), SpeakerTurn) == (one, one)


def test_full_turns_follow_their_exclusive_parts_and_keep_overlap():
    old = [SpeakerTurn(0.0, 4.0, "S0"), SpeakerTurn(4.0, 8.0, "S1")]
    new = [SpeakerTurn(0.0, 2.0, "S0"), SpeakerTurn(2.0, 4.0, "S1"), SpeakerTurn(4.0, 8.0, "S1")]
    # S1's full turn starts 0.5 s early, in overlap with S0
    full = [SpeakerTurn(0.0, 4.2, "S0"), SpeakerTurn(3.5, 8.0, "S1")]
    out = sorted((round(t.start, 2), round(t.end, 2), t.speaker) for t in follow(full, old, new, SpeakerTurn))
    # S0's tail inside S1's speech stays a second voice there
    assert out == [(0.0, 2.0, "S0"), (2.0, 4.0, "S1"), (3.5, 8.0, "S1"), (4.0, 4.2, "S0")]


def test_a_turn_edge_that_reaches_into_the_other_voice_keeps_its_label():
    from audio_pipeline.resegment import vote

    turn = SpeakerTurn(0.0, 6.0, "S0")
    # the last window, which reaches into the other voice's overlapping speech, voted S1
    wins = [(0.0, 1.5, "S0", 0), (1.5, 3.0, "S0", 0), (3.0, 4.5, "S0", 0), (5.5, 6.0, "S0", 0)]
    out = vote([turn], wins, ["S0", "S0", "S0", "S1"], SpeakerTurn, split=True, min_run=1.0)
    assert [(t.start, t.end, t.speaker) for t in out] == [(0.0, 6.0, "S0")]
    short = SpeakerTurn(0.0, 0.8, "S0")  # a short turn relabelled as a whole still moves
    assert vote([short], [(0.0, 0.8, "S0", 0)], ["S1"], SpeakerTurn)[0].speaker == "S1"


def test_windows_in_overlapped_speech_do_not_vote():
    # pyannote is right; the stretch 10-12 s holds both voices, which a fake embedding of the
    # window would call B: it must not move A's frames there
    pyannote = [SpeakerTurn(s, e, {"A": "S0", "B": "S1"}[v]) for s, e, v in VOICE]
    turns = [SpeakerTurn(0.0, 6.0, "S0"), SpeakerTurn(7.0, 12.0, "S1"), SpeakerTurn(10.5, 12.0, "S0"),
             SpeakerTurn(13.0, 20.0, "S0"), SpeakerTurn(21.0, 26.0, "S1")]
    _, out = refine(pyannote, turns, [(10.5, 12.0)], fake_embed, RefineOptions(), SpeakerTurn)
    assert (10.5, 12.0, "S0") in [(t.start, t.end, t.speaker) for t in out]
