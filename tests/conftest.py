"""Shared helpers for tests: hand-built conversations with exact word timing."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

from audio_pipeline.config import load_config  # noqa: E402
from audio_pipeline.types import Conversation, Utterance, Word  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def utt(speaker: str, start: float, end: float, text: str) -> Utterance:
    """An utterance whose words evenly fill [start, end] (tiny gaps between words)."""
    tokens = text.split()
    step = (end - start) / len(tokens)
    words = tuple(Word(round(start + i * step, 3), round(start + (i + 1) * step - 0.02, 3), t, 0.9)
                  for i, t in enumerate(tokens))
    words = words[:-1] + (Word(words[-1].start, end, words[-1].text, 0.9),)
    return Utterance(speaker=speaker, start=start, end=end, text=text, words=words)  # type: ignore[arg-type]


def conv(*utterances: Utterance, duration: float | None = None) -> Conversation:
    ordered = tuple(sorted(utterances, key=lambda u: u.start))
    return Conversation(ordered, duration if duration is not None else max((u.end for u in ordered), default=0) + 1)


@pytest.fixture(scope="session")
def cfg():
    return load_config()


# The session's result is final once pytest has reported it. A native library torn down with the
# interpreter afterwards (its worker threads, its codecs) has crashed the process now and then
# with every test passed, turning a green run red; the exit status is the tests', decided here.
_EXIT: dict[str, int] = {}


def pytest_sessionfinish(session, exitstatus):
    _EXIT["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if "status" in _EXIT:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT["status"])
