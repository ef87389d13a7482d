"""`--device cuda` on a machine where CUDA cannot be used: the review still completes, on CPU, with
one warning line saying why. On a machine with a usable GPU the same tests check the opposite
(the review ran on cuda and nothing was logged), so they run everywhere."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import replace

import pytest

from audio_pipeline.device import cpu_compute_type, cuda_problem, load_transcriber
from audio_pipeline.pipeline import Reviewer

from .conftest import ROOT, SAMPLES

NO_CUDA = cuda_problem() is not None


def test_gpu_compute_types_become_the_cpu_default():
    assert cpu_compute_type("float16") == cpu_compute_type("int8_float16") == "default"
    assert cpu_compute_type("int8") == "int8"


def test_a_failing_cuda_load_falls_back_with_one_line(cfg, caplog):
    """Whatever breaks while loading on CUDA (here: the factory itself, as a missing libcublas
    would) ends on CPU, compute type reset to the CPU default, with one warning."""
    built = []

    class Loaded:
        def __init__(self, device, compute_type):
            self.device, self.compute_type, self.model = device, compute_type, None

    def factory(opts, device, compute_type):
        built.append((device, compute_type))
        if device.startswith("cuda"):
            raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")
        return Loaded(device, compute_type)

    with caplog.at_level(logging.WARNING):
        t = load_transcriber(replace(cfg.asr, compute_type="int8_float16"), "cuda", None, factory=factory)
    assert t.device == "cpu" and t.compute_type == "default"
    assert built[-1] == ("cpu", "default")
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "running on CPU" in lines[0]
    if NO_CUDA:  # CTranslate2 sees no GPU here: the factory is not even tried on cuda
        assert "sees no CUDA device" in lines[0] and built == [("cpu", "default")]
    else:
        assert "libcublas" in lines[0]


@pytest.mark.slow
def test_reviewer_asked_for_cuda_loads_where_it_can(cfg, caplog):
    with caplog.at_level(logging.WARNING):
        reviewer = Reviewer(replace(cfg, asr=replace(cfg.asr, compute_type="int8_float16")), device="cuda")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if NO_CUDA:
        assert reviewer.device == "cpu" and reviewer.transcriber.compute_type == "int8"
        assert len(warnings) == 1 and "CUDA requested (cuda) but not usable" in warnings[0]
    else:
        assert reviewer.device == "cuda" and reviewer.transcriber.compute_type == "int8_float16"
        assert not warnings


@pytest.mark.slow
@pytest.mark.parametrize("mono", [False, True], ids=["stereo", "mono"])
def test_cli_review_with_device_cuda_completes(tmp_path, mono):
    """The command a user runs: exit 0, a review written, its device recorded, at most one line
    on stderr (the fallback). The mono run diarizes too: the diarizer follows Whisper to the CPU
    without a second line."""
    cmd = [sys.executable, "-m", "audio_pipeline", "review", str(SAMPLES / "sample_crosstalk.flac"),
           "--device", "cuda", "-o", str(tmp_path), "-q"] + (["--mono"] if mono else [])
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    review = json.loads((tmp_path / "sample_crosstalk.review.json").read_text())
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if NO_CUDA:
        assert review["models"]["device"] == "cpu"
        assert len(lines) == 1 and "CUDA requested (cuda) but not usable" in lines[0], proc.stderr
    else:
        assert review["models"]["device"] == "cuda" and not lines, proc.stderr
    assert review["utterances"], "no words: the review did not really run"
    assert review["audio"]["mode"] == ("mono-diarized" if mono else "stereo")


def test_diarization_device_follows_torch(caplog):
    """A CUDA Whisper beside a torch without CUDA: diarization goes to the CPU with one warning."""
    import torch

    from audio_pipeline.device import torch_device

    torch_device.cache_clear()
    with caplog.at_level(logging.WARNING):
        assert torch_device("cpu") == "cpu"
        got = torch_device("cuda")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if torch.cuda.is_available():
        assert got == "cuda" and not warnings
    else:
        assert got == "cpu" and len(warnings) == 1 and "torch sees no CUDA device" in warnings[0]
