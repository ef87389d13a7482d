"""`--redact-audio`: a copy of the recording with every masked word silenced (all channels: one
party's words leak onto the other's channel), a small margin either side."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path


def silence_spans(source: Path, spans: Sequence[tuple[float, float, str]], target: Path, margin: float) -> Path:
    import soundfile as sf

    from ..audio import decode
    from ..export import _umask

    samples, rate = decode(Path(source))  # the file's own rate and channels: only the masked words change
    n = samples.shape[1]
    for start, end, _ in spans:
        a, b = max(0, int((start - margin) * rate)), min(n, int(round((end + margin) * rate)))
        if b > a:
            samples[:, a:b] = 0.0
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.wav", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        sf.write(tmp, samples.T, rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
