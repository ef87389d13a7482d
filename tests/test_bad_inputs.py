"""The bad-input corpus (tests/bad_inputs.py) through the real Reviewer (tiny.en), one test per kind,
then through the real CLI: one line per bad file, no traceback, exit 2; the good files reviewed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_pipeline.audio import AudioError
from audio_pipeline.config import load_config

from .bad_inputs import Case, make_corpus
from .conftest import ROOT

pytestmark = pytest.mark.slow
_KINDS_DIR = Path(tempfile.mkdtemp(prefix="bad-input-kinds-"))
KINDS = [c.kind for c in make_corpus(_KINDS_DIR)]
shutil.rmtree(_KINDS_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Case]:
    return {c.kind: c for c in make_corpus(tmp_path_factory.mktemp("corpus"))}


@pytest.fixture(scope="module")
def reviewer():
    from audio_pipeline.pipeline import Reviewer

    return Reviewer(load_config(), device="cpu")


def test_corpus_has_25_kinds():
    assert len(KINDS) >= 25 and len(set(KINDS)) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_kind(kind, corpus, reviewer):
    from audio_pipeline.pipeline import ChannelMap

    case = corpus[kind]
    cmap = ChannelMap.parse(case.channels) if case.channels else None
    if case.expect == "input":
        with pytest.raises(AudioError) as info:
            reviewer.review(case.path, channels=cmap)
        message = str(info.value)
        assert "\n" not in message and case.fragment in message, message
        assert case.path.name in message or "channel" in message
        return
    review = reviewer.review(case.path, channels=cmap)
    assert review.audio.sample_rate == case.source_rate
    assert review.audio.duration == pytest.approx(case.duration, abs=0.15)  # mp3/aac encoders pad a little
    assert all(0 <= f.start <= f.end <= review.audio.duration + 1e-6 for f in review.findings)
    # none of these files holds speech: no words may be invented from them
    assert not [w for u in review.utterances for w in u.words if w.probability > 0]


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "audio_pipeline", *map(str, args)], capture_output=True,
                          text=True, cwd=kw.pop("cwd", ROOT), timeout=600, **kw)


def test_cli_one_line_per_bad_file_and_good_ones_reviewed(corpus, tmp_path):
    bad = [c for c in corpus.values() if c.expect == "input" and not c.channels]
    good = [corpus["spaces_and_unicode"], corpus["header_promises_hours"], corpus["m4a_aac"]]
    r = cli("review", *[c.path for c in bad + good], "-o", tmp_path / "out", "-q")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == len(bad), r.stderr
    for case in bad:
        assert sum(case.path.name in line and case.fragment in line for line in lines) == 1, (case.kind, r.stderr)
    for case in good:
        review = json.loads((tmp_path / "out" / f"{case.path.stem}.review.json").read_text())
        assert review["audio"]["duration"] == pytest.approx(case.duration, abs=0.15)


PATCHED_CLI = ("import sys, os, errno; sys.argv = ['audio-pipeline'] + sys.argv[1:]\n{patch}\n"
               "from audio_pipeline.cli import main; main()")


def patched_cli(patch: str, log_dir: Path, *args):
    """The real CLI with one OS call replaced, to simulate what a test machine cannot do for real."""
    return subprocess.run([sys.executable, "-c", PATCHED_CLI.format(patch=patch), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "AUDIO_PIPELINE_LOG": str(log_dir / "errors.log")})


def one_error_line(r, code: int, fragment: str) -> str:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], r.stderr
    return lines[0]


def test_file_disappears_mid_read(corpus, tmp_path):
    call = tmp_path / "vanishing.wav"
    shutil.copy(corpus["pcm24"].path, call)
    patch = ("import audio_pipeline.audio as A; _d = A.decode\n"
             "def decode(p):\n    out = _d(p); os.unlink(p); return out\nA.decode = decode")
    one_error_line(patched_cli(patch, tmp_path, "review", call, "-o", tmp_path / "out", "-q"), 2,
                   "could not be read to the end")


def test_full_disk_while_writing_is_one_line_exit_1(corpus, tmp_path):
    patch = ("def fsync(fd):\n    raise OSError(errno.ENOSPC, 'No space left on device')\nos.fsync = fsync")
    out = tmp_path / "out"
    line = one_error_line(patched_cli(patch, tmp_path, "review", corpus["pcm24"].path, "-o", out, "-q"), 1,
                          "no space left on device")
    assert "details in" in line and (tmp_path / "errors.log").read_text().count("Traceback") == 1
    assert list(out.iterdir()) == []  # no half-written file, no temporary left behind


def test_read_only_output_folder_fails_before_any_model_loads(corpus, tmp_path):
    patch = ("_open = os.open\n"
             "def ro(path, *a, **k):\n"
             "    if 'ro-out' in str(path): raise OSError(errno.EROFS, 'Read-only file system', str(path))\n"
             "    return _open(path, *a, **k)\nos.open = ro")
    out = tmp_path / "ro-out"
    one_error_line(patched_cli(patch, tmp_path, "review", corpus["pcm24"].path, "-o", out, "-q"), 2,
                   "cannot write there (read-only file system)")


def test_output_folder_is_a_file(corpus, tmp_path):
    (tmp_path / "taken").write_text("x")
    one_error_line(cli("review", corpus["pcm24"].path, "-o", tmp_path / "taken" / "out"), 2, "cannot write there")


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv as root")
def test_unreadable_file(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="unreadable-"))
    try:
        folder.chmod(0o755)
        call = folder / "locked.wav"
        sf.write(call, np.zeros((8000, 2), dtype=np.float32), 8000)
        call.chmod(0)
        code = f"from audio_pipeline.audio import load; load({str(call)!r})"
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        r = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                           timeout=120)
        assert r.returncode != 0 and "AudioError" in r.stderr and "permission denied" in r.stderr, r.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
