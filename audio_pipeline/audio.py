"""Load and validate call audio: decode, check, resample to the models' rate, keep channels.

Every failure a user can cause raises AudioError with one line they can act on.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# containers soundfile (libsndfile) cannot read; PyAV (bundled FFmpeg) decodes them
_PYAV_SUFFIXES = {".m4a", ".mp4", ".aac", ".opus", ".webm", ".mka", ".mkv", ".wma", ".amr", ".3gp"}


class AudioError(ValueError):
    """Input audio a user must fix (missing, empty, not audio, unsupported layout)."""


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded call audio. `samples` is (channels, n) at `sample_rate`: float32, or float16 for a
    call longer than STREAM_ABOVE (see blocks.py: whole-channel work on it goes block by block)."""

    path: str
    samples: np.ndarray
    sample_rate: int
    source_rate: int
    sha256: str

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    def channel(self, index: int) -> np.ndarray:
        return self.samples[index]

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0).astype(np.float32)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise AudioError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied (the file is not readable)")


@contextmanager
def _c_stderr_to_log() -> Iterator[None]:
    """libmpg123 prints its warnings straight to file descriptor 2, which would break the CLI's
    one-line errors: catch them and log them instead."""
    import tempfile

    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            noise = sink.read().decode("utf-8", "replace").strip()
            if noise:
                log.debug("decoder said: %s", noise)


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        with _c_stderr_to_log():
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise _Undecodable(str(exc)) from None
    except (RuntimeError, ValueError, TypeError, OSError) as exc:  # older soundfile: RuntimeError
        raise _Undecodable(str(exc)) from None
    return data.T, int(rate)


def _decode_pyav(path: Path) -> tuple[np.ndarray, int]:
    try:
        import av
    except ImportError:
        raise _Undecodable("PyAV is not installed") from None
    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                raise _Undecodable("no audio stream")
            stream = streams[0]
            rate = stream.codec_context.sample_rate
            chunks = []
            for frame in container.decode(stream):
                arr = frame.to_ndarray()
                if arr.ndim == 1 or frame.format.is_packed:
                    arr = arr.reshape(-1, frame.layout.nb_channels).T
                chunks.append(_to_float(arr))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise _Undecodable(str(exc)) from None
    if not chunks:
        raise _Undecodable("no audio frames")
    return np.concatenate(chunks, axis=1), int(rate)


def _to_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    info = np.iinfo(arr.dtype)
    return (arr.astype(np.float32) / max(abs(info.min), info.max)).astype(np.float32)


class _Undecodable(Exception):
    pass


def decode(path: Path) -> tuple[np.ndarray, int]:
    """(channels, n) float32 and the file's own sample rate."""
    order = (_decode_pyav, _decode_soundfile) if path.suffix.lower() in _PYAV_SUFFIXES else (
        _decode_soundfile, _decode_pyav)
    errors = []
    for decoder in order:
        try:
            return decoder(path)
        except _Undecodable as exc:
            errors.append(str(exc))
    log.debug("decoders failed for %s: %s", path, errors)
    if not path.exists():
        raise AudioError(f"{path}: the file disappeared while it was being read")
    raise AudioError(f"{path}: not a readable audio file (unknown format, or the file is truncated/corrupt)")


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling with soxr (high quality); each channel independently."""
    if source_rate == target_rate:
        return samples.astype(np.float32, copy=False)
    import soxr

    out = soxr.resample(samples.T, source_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(np.atleast_2d(out.T), dtype=np.float32)


def load(path: str | Path, sample_rate: int = 16000, min_duration: float = 0.1,
         max_channels: int = 2) -> Audio:
    """Decode `path`, validate it, resample to `sample_rate`."""
    p = Path(path)
    _check_path(p)
    try:
        streamed = _stream_long(p, sample_rate, max_channels)
        if streamed is not None:
            return Audio(path=str(p), samples=streamed[0], sample_rate=sample_rate, source_rate=streamed[1],
                         sha256=sha256_of(p))
        samples, rate = decode(p)
        digest = sha256_of(p)
    except OSError as exc:  # the file vanished or became unreadable while we read it
        raise AudioError(f"{p}: could not be read to the end ({exc.strerror or exc})") from None
    if samples.size == 0 or samples.shape[1] / rate < min_duration:
        raise AudioError(f"{p}: audio is empty or shorter than {min_duration:g} s")
    if not np.isfinite(samples).all():
        raise AudioError(f"{p}: audio holds NaN or infinite samples (corrupt float data)")
    if samples.shape[0] > max_channels:
        raise AudioError(f"{p}: {samples.shape[0]} channels; only mono or stereo calls are supported "
                         f"(map the agent/customer channels with --channels)")
    return Audio(path=str(p), samples=resample(samples, rate, sample_rate), sample_rate=sample_rate,
                 source_rate=rate, sha256=digest)


STREAM_ABOVE = 20 * 60  # seconds: longer files are decoded and resampled a minute at a time


def _stream_long(path: Path, target_rate: int, max_channels: int) -> tuple[np.ndarray, int] | None:
    """A long file soundfile can read: decode and resample block by block into one float16 buffer at
    the target rate, never holding the whole file at its own rate too (a 2-hour stereo call: 0.46 GB
    instead of 2.3 GB at the peak). None for short files and for what soundfile cannot read."""
    import soundfile as sf

    try:
        with _c_stderr_to_log():
            info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - not for soundfile: the ordinary path decides what it is
        return None
    if info.frames <= 0 or info.samplerate <= 0 or info.frames / info.samplerate <= STREAM_ABOVE:
        return None
    channels, rate = info.channels, int(info.samplerate)
    if channels > max_channels:
        raise AudioError(f"{path}: {channels} channels; only mono or stereo calls are supported "
                         f"(map the agent/customer channels with --channels)")
    import soxr

    out = np.empty((channels, int(info.frames * target_rate / rate) + target_rate), dtype=np.float16)
    stream = soxr.ResampleStream(rate, target_rate, channels, dtype="float32", quality="HQ") \
        if rate != target_rate else None
    pos = 0
    try:
        for block in sf.blocks(str(path), blocksize=rate * 60, dtype="float32", always_2d=True):
            if not np.isfinite(block).all():
                raise AudioError(f"{path}: audio holds NaN or infinite samples (corrupt float data)")
            pos = _put(out, pos, stream.resample_chunk(block) if stream is not None else block)
        if stream is not None:
            pos = _put(out, pos, stream.resample_chunk(np.zeros((0, channels), np.float32), last=True))
    except sf.LibsndfileError as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc})") from None
    return out[:, :pos], rate


def _put(out: np.ndarray, pos: int, block: np.ndarray) -> int:
    n = min(len(block), out.shape[1] - pos)
    out[:, pos:pos + n] = block[:n].T
    return pos + n
