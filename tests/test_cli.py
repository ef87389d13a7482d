"""The real CLI as a user runs it: exit codes and one-line messages for every bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from .conftest import ROOT


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "audio_pipeline", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=600)


def assert_user_error(result, fragment):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


def test_help_lists_commands():
    r = cli("--help")
    assert r.returncode == 0
    assert "review" in r.stdout
    r = cli("review", "--help")
    for option in ("--output-dir", "--format", "--model", "--device", "--compute-type", "--channels", "--config"):
        assert option in r.stdout


@pytest.fixture
def bad_files(tmp_path):
    files = {}
    files["missing"] = tmp_path / "nope.wav"
    (tmp_path / "adir").mkdir()
    files["directory"] = tmp_path / "adir"
    files["empty"] = tmp_path / "empty.wav"
    files["empty"].write_bytes(b"")
    files["truncated"] = tmp_path / "trunc.wav"
    files["truncated"].write_bytes(b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00")
    files["text"] = tmp_path / "notes.wav"
    files["text"].write_text("this is a text file\n" * 50)
    files["image"] = tmp_path / "photo.wav"
    files["image"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(500))
    four = tmp_path / "four.wav"
    sf.write(four, np.zeros((8000, 4), dtype=np.float32), 8000)
    files["four_channels"] = four
    nan = tmp_path / "nan.wav"
    data = np.zeros((8000, 2), dtype=np.float32)
    data[10] = np.inf
    sf.write(nan, data, 8000, subtype="FLOAT")
    files["nan"] = nan
    return files


@pytest.mark.parametrize("kind,fragment", [
    ("missing", "no such file"), ("directory", "is a directory"), ("empty", "empty (0 bytes)"),
    ("truncated", "not a readable audio file"), ("text", "not a readable audio file"),
    ("image", "not a readable audio file"), ("four_channels", "4 channels"), ("nan", "NaN or infinite"),
])
def test_bad_input_exit_2(bad_files, tmp_path, kind, fragment):
    assert_user_error(cli("review", bad_files[kind], "-o", tmp_path / "out"), fragment)


def test_bad_options_exit_2(tmp_path):
    assert_user_error(cli("review", "x.wav", "--format", "pdf"), "unknown format")
    assert_user_error(cli("review", "x.wav", "--channels", "agent=zero"), "--channels")
    bad = tmp_path / "bad.yaml"
    bad.write_text("turns:\n  dead_air_mni: 3\n")
    assert_user_error(cli("review", "x.wav", "--config", bad), "unknown setting 'turns.dead_air_mni'")
    assert_user_error(cli("review", "x.wav", "--config", tmp_path / "none.yaml"), "config file not found")


def test_missing_model_exit_2(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros((8000, 2), dtype=np.float32), 8000)
    assert_user_error(cli("review", tmp_path / "s.wav", "--model", "large-v9"), "not available offline")


def test_silence_gives_valid_review(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros((8000 * 5, 2), dtype=np.float32), 8000)
    r = cli("review", tmp_path / "silence.wav", "-o", tmp_path / "out", "-q")
    assert r.returncode == 0, r.stderr
    review = json.loads((tmp_path / "out" / "silence.review.json").read_text())
    assert review["utterances"] == []
    assert [f["type"] for f in review["findings"]] == ["no_speech"]


def test_one_bad_file_does_not_stop_the_others(tmp_path):
    sf.write(tmp_path / "ok.wav", np.zeros((8000 * 2, 2), dtype=np.float32), 8000)
    (tmp_path / "bad.wav").write_text("nope")
    r = cli("review", tmp_path / "bad.wav", tmp_path / "ok.wav", "-o", tmp_path / "out", "-q")
    assert r.returncode == 2
    assert (tmp_path / "out" / "ok.review.json").exists()
    assert "bad.wav" in r.stderr


def test_mono_without_torch_is_a_clear_error_and_stereo_still_works(tmp_path):
    """A broken torch install must only cost the mono path, with one line, never a traceback."""
    t = np.arange(16000 * 2) / 16000
    sf.write(tmp_path / "mono.wav", (0.1 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    sf.write(tmp_path / "stereo.wav", np.zeros((16000 * 2, 2), dtype=np.float32), 16000)
    code = ("import sys; sys.modules['torch'] = None; sys.argv = ['audio-pipeline'] + sys.argv[1:]; "
            "from audio_pipeline.cli import main; main()")
    run = lambda *a: subprocess.run([sys.executable, "-c", code, *map(str, a)], capture_output=True, text=True,
                                    cwd=ROOT, timeout=600)
    assert_user_error(run("review", tmp_path / "mono.wav", "-o", tmp_path / "out", "-q"), "diariz")
    ok = run("review", tmp_path / "stereo.wav", "-o", tmp_path / "out", "-q")
    assert ok.returncode == 0, ok.stderr
