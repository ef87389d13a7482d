"""Turning any exception into one line a user can read, with the traceback kept in a log file.

The CLI shows only the line (exit 2 for the user's input, 1 for everything else); the traceback goes
to the log file named in the line, or to stderr under `--verbose`.
"""
from __future__ import annotations

import errno
import logging
import os
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

_OS_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a path component is not a folder",
    errno.EDQUOT: "disk quota exceeded",
    errno.EIO: "input/output error",
}


def log_file() -> Path:
    """$AUDIO_PIPELINE_LOG, else the user's state folder (XDG), else the temp folder."""
    env = os.environ.get("AUDIO_PIPELINE_LOG")
    if env:
        return Path(env).expanduser()
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "audio_pipeline" / "errors.log"


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'fix your input' (exit code 2)."""
    from .audio import AudioError
    from .config import ConfigError
    from .models import ModelNotFound

    types: list[type[BaseException]] = [AudioError, ConfigError, ModelNotFound]
    from .privacy.engine import PiiUnavailable

    types.append(PiiUnavailable)
    try:
        from .diarize import DiarizationUnavailable

        types.append(DiarizationUnavailable)
    except Exception:  # noqa: BLE001 - the diarization module itself may be what is broken
        pass
    return tuple(types)


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, user_error_types())


def one_line(exc: BaseException) -> str:
    """The first line of the message; OS errors as 'PATH: reason'."""
    if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {_OS_REASONS[exc.errno]}" if where else _OS_REASONS[exc.errno]
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def describe(exc: BaseException) -> str:
    """One line for an unexpected failure: the exception type unless the message says enough."""
    text = one_line(exc)
    if isinstance(exc, OSError) or is_user_error(exc):
        return text
    return f"{type(exc).__name__}: {text}"


def record_traceback(exc: BaseException, context: str = "") -> Path | None:
    """Append the traceback to the log file; None when even that cannot be written."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for path in (log_file(), Path(tempfile.gettempdir()) / f"audio_pipeline-{os.getuid()}.log"):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(f"--- {stamp} {context}\n{text}\n")
            return path
        except OSError:
            continue
    return None


def report(exc: BaseException, context: str = "", verbose: bool = False) -> str:
    """One line for `exc`; the traceback is logged (stderr under --verbose, else the log file)."""
    line = describe(exc)
    if is_user_error(exc):
        return line
    if verbose:
        log.error("%s", context or "failure", exc_info=exc)
        return line
    where = record_traceback(exc, context)
    return f"{line} (details in {where})" if where else line
