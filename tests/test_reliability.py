"""Nothing crashes, nothing is lost: config values checked up front, file modes, distinct outputs,
what the batch's skip fingerprint depends on, a failing write in a batch, the installed package."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import soundfile as sf

from audio_pipeline.config import ConfigError, load_config
from audio_pipeline.export import atomic_write

from .conftest import ROOT


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "audio_pipeline", *map(str, args)], capture_output=True,
                          text=True, cwd=kw.pop("cwd", ROOT), timeout=600, **kw)


def one_line(r, code: int, fragment: str) -> None:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], r.stderr


# -- every config value is checked, and the message names it ------------------------------------

@pytest.mark.parametrize("override, fragment", [
    ({"asr.device": "gpu"}, "'asr.device' must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ({"asr.compute_type": "int4"}, "'asr.compute_type' must be one of"),
    ({"batch.formats": ["json", "pdf"]}, "'batch.formats' holds unknown format 'pdf'"),
    ({"turns.dead_air_min": -1.0}, "'turns.dead_air_min' must be at least 0"),
    ({"turns.dead_air_min": "five"}, "'turns.dead_air_min' must be a number, got 'five'"),
    ({"flags.no_speech": "yes"}, "'flags.no_speech' must be true/false"),
    ({"severity.dead_air": "loud"}, "'severity.dead_air' must be one of info, warning, critical"),
    ({"empathy.severity_missed": "meh"}, "'empathy.severity_missed' must be one of"),
    ({"asr.vad_threshold": 1.5}, "'asr.vad_threshold' must be between 0.0 and 1.0"),
    ({"asr.beam_size": 0}, "'asr.beam_size' must be at least 1"),
    ({"audio.sample_rate": 8000}, "'audio.sample_rate' must be one of 16000"),
    ({"channels.customer": 0}, "'channels.agent' and 'channels.customer' are both 0"),
    ({"batch.engine": "spark"}, "'batch.engine' must be one of local, ray"),
    ({"empathy.lexicon": "nope.yaml"}, "'empathy.lexicon': no such file"),
    ({"diarization.min_speakers": 4}, "'diarization.min_speakers' is larger"),
    ({"turns.backchannel_phrases": "mm"}, "'turns.backchannel_phrases' must be a list"),
])
def test_config_values_are_validated(override, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=override)
    assert fragment in str(info.value)


def test_defaults_pass_validation():
    load_config()


def test_cli_bad_device_and_config_formats_exit_2(tmp_path):
    one_line(cli("review", "x.wav", "--device", "gpu"), 2, "'asr.device' must be auto, cpu, cuda")
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch:\n  formats: [pdf]\n")
    one_line(cli("batch", tmp_path, "--db", tmp_path / "r.sqlite", "--config", bad), 2, "unknown format 'pdf'")
    one_line(cli("review", "x.wav", "--compute-type", "int3"), 2, "asr.compute_type")


def test_unexpected_failure_is_one_line_with_a_log(tmp_path):
    """Any exception (here: the audio decoder blows up) is one line, exit 1, traceback in the log."""
    sf.write(tmp_path / "a.wav", np.zeros((8000, 2), dtype=np.float32), 8000)
    code = ("import sys; sys.argv = ['audio-pipeline'] + sys.argv[1:]\n"
            "import audio_pipeline.audio as A\n"
            "def boom(*a, **k):\n    raise ZeroDivisionError('decoder bug')\n"
            "A.load = boom\nfrom audio_pipeline.cli import main; main()")
    log = tmp_path / "errors.log"
    r = subprocess.run([sys.executable, "-c", code, "review", str(tmp_path / "a.wav"), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=ROOT, timeout=600,
                       env={**os.environ, "AUDIO_PIPELINE_LOG": str(log)})
    one_line(r, 1, "ZeroDivisionError: decoder bug (details in")
    assert "Traceback" in log.read_text()
    verbose = subprocess.run([sys.executable, "-c", code, "review", str(tmp_path / "a.wav"), "-o",
                              str(tmp_path / "o"), "--verbose"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


# -- files: umask, distinct names --------------------------------------------------------------

def test_atomic_write_honours_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.json", "{}")
        os.umask(0o077)
        atomic_write(tmp_path / "b.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_same_name_in_two_folders_gives_two_reviews(tmp_path):
    t = np.arange(8000 * 2) / 8000
    for folder, freq in (("a", 300), ("b", 500)):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "x.wav", np.stack([0.01 * np.sin(2 * np.pi * freq * t)] * 2, axis=1), 8000)
    out = tmp_path / "out"
    r = cli("review", tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav", tmp_path / "a" / "x.wav", "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    written = sorted(p.name for p in out.glob("*.review.json"))
    assert len(written) == 2 and all(name.startswith("x-") for name in written)
    paths = {json.loads((out / n).read_text())["audio"]["path"] for n in written}
    assert paths == {str(tmp_path / "a" / "x.wav"), str(tmp_path / "b" / "x.wav")}


# -- what the batch's skip fingerprint depends on ------------------------------------------------

def test_fingerprint_follows_lexicon_content_and_weights(tmp_path, monkeypatch):
    from audio_pipeline import fingerprint, models

    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text((ROOT / "configs" / "empathy.yaml").read_text())
    cfg = load_config(overrides={"empathy.lexicon": str(lexicon)})
    first = fingerprint.review_fingerprint(cfg)
    assert fingerprint.review_fingerprint(cfg) == first
    lexicon.write_text(lexicon.read_text() + "\n# a reviewer's edit\n")
    edited = fingerprint.review_fingerprint(cfg)
    assert edited != first
    # another phrasing head configured, then its file changing
    head = tmp_path / "head.npz"
    head.write_bytes(b"v1")
    cfg = load_config(overrides={"empathy.lexicon": str(lexicon), "empathy.model": str(head)})
    with_model = fingerprint.review_fingerprint(cfg)
    head.write_bytes(b"v2")
    assert len({edited, with_model, fingerprint.review_fingerprint(cfg)}) == 3
    monkeypatch.setattr(fingerprint, "package_version", lambda: "9.9.9")
    assert fingerprint.review_fingerprint(cfg) not in {edited, with_model}


def test_whisper_identity_is_its_files(tmp_path):
    from audio_pipeline.models import weights_fingerprint

    for name, data in (("a", b"one"), ("b", b"two")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.bin").write_bytes(data)
        (tmp_path / name / "config.json").write_text("{}")
    a = weights_fingerprint(str(tmp_path / "a"), None, diarization=False)
    b = weights_fingerprint(str(tmp_path / "b"), None, diarization=False)
    assert a["whisper"] != b["whisper"] and a["phrasing"] == b["phrasing"]


def test_batch_write_failure_fails_that_call_only(tmp_path):
    from audio_pipeline.audio import sha256_of
    from audio_pipeline.batch import BatchRequest, CallInput, output_stem, run_batch
    from audio_pipeline.store import Store

    from .test_batch import fake_factory, make_calls

    make_calls(tmp_path / "calls", {"a.wav": b"one", "b.wav": b"two", "c.wav": b"three"})
    out = tmp_path / "out"
    blocked = out / f"{output_stem(CallInput(tmp_path / 'calls' / 'b.wav'), sha256_of(tmp_path / 'calls' / 'b.wav'))}.review.json"
    blocked.mkdir(parents=True)  # a folder where the file must go: the rename fails
    summary = run_batch(BatchRequest(source=str(tmp_path / "calls"), db=tmp_path / "r.sqlite", out_dir=out,
                                     workers=1), load_config(), factory=fake_factory)
    assert summary.reviewed == 2 and len(summary.failed) == 1 and summary.exit_code == 1
    assert "b.wav: cannot save the review" in summary.failed[0].message
    with Store(tmp_path / "r.sqlite") as store:
        assert store.count("reviews") == 2 and store.count("errors") == 1


# -- the package installs and runs without the source tree --------------------------------------

@pytest.mark.slow
def test_wheel_ships_the_configs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    wheel = next(tmp_path.glob("audio_pipeline-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"audio_pipeline/configs/default.yaml", "audio_pipeline/configs/empathy.yaml"} <= names


def test_workers_capped_by_memory():
    from audio_pipeline.batch import local_workers

    assert local_workers(8, 100, worker_memory_gb=1.5, available_gb=4.0) == 2
    assert local_workers(8, 100, worker_memory_gb=1.5, available_gb=0.5) == 1
    assert local_workers(2, 100, worker_memory_gb=1.5, available_gb=64.0) == 2
    assert local_workers(8, 3, worker_memory_gb=0.0, available_gb=1.0) == 3
