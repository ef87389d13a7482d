"""Where `review` writes: the output folder checked before any model loads, and one distinct file
name per input, so that `review a/x.wav b/x.wav` never writes one call's review over the other's."""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from .failures import one_line

StemFor = Callable[[object], str]


class OutputDirError(ValueError):
    """The output folder cannot be created or written (the user must pick another)."""


def check_output_dir(folder: Path, option: str = "--output-dir") -> None:
    """Create `folder` and prove a file can be written there, before hours of work go into it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except FileExistsError:
        raise OutputDirError(f"{option} {folder}: exists and is not a folder") from None
    except OSError as exc:
        raise OutputDirError(f"{option} {folder}: cannot write there ({one_line(exc).split(': ')[-1]})") from None


def output_stems(calls: Sequence[Path]) -> dict[Path, StemFor]:
    """Each input's file-name stem: its own name, plus the first 8 hex digits of its audio hash when
    another input (from another folder) has the same name."""
    files_per_stem = Counter(stem for stem, _ in {(p.stem, os.path.realpath(p)) for p in calls})

    def stem_for(path: Path) -> StemFor:
        if files_per_stem[path.stem] > 1:
            return lambda review: f"{path.stem}-{review.audio.sha256[:8]}"
        return lambda review: path.stem

    return {p: stem_for(p) for p in calls}
