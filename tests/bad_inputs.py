"""Generator of the bad-input corpus: every kind of awkward file a call-review run meets, written
from code (no binary blobs). `python -m tests.bad_inputs OUT_DIR` writes it to a folder.

Each Case says what a review of it must do: `ok` (a valid review, the decoded duration and source
rate as given) or `input` (one-line AudioError containing `fragment`, exit code 2 from the CLI).
"""
from __future__ import annotations

import struct
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 8000


@dataclass(frozen=True)
class Case:
    kind: str
    path: Path
    expect: str                      # ok | input
    fragment: str = ""               # in the error line (input) or ""
    channels: str | None = None      # --channels for the review
    duration: float | None = None    # decoded seconds (ok)
    source_rate: int | None = None   # the file's own rate (ok)


def _signal(seconds: float, rate: int = RATE, channels: int = 2, level: float = 0.05) -> np.ndarray:
    """A quiet two-tone hum with a little noise (no speech: reviews stay cheap)."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * rate)) / rate
    # a different hum per channel: channels that carry one mix would be reviewed as mono
    hums = [level * (np.sin(2 * np.pi * (220 + 70 * i) * t) + 0.5 * np.sin(2 * np.pi * (330 + 110 * i) * t)) / 1.5
            for i in range(channels)]
    return np.stack([h + 0.002 * rng.standard_normal(len(t)) for h in hums], axis=1).astype(np.float32)


def _wav_header(n_bytes: int, rate: int = RATE, channels: int = 2, bits: int = 16) -> bytes:
    """A PCM RIFF header that claims `n_bytes` of data."""
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits) +
            b"data" + struct.pack("<I", n_bytes))


def _pyav_write(path: Path, codec: str, rate: int, data: np.ndarray) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        pcm = np.ascontiguousarray(data.T.astype(np.float32))
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, pcm.shape[1], frame_size):
            frame = av.AudioFrame.from_ndarray(pcm[:, start:start + frame_size], format="fltp", layout="stereo")
            frame.sample_rate = rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def make_corpus(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(kind: str, name: str, expect: str, fragment: str = "", **kw) -> Path:
        path = folder / name
        cases.append(Case(kind, path, expect, fragment, **kw))
        return path

    sig = _signal(2.0)
    # -- files that are not usable audio: exit 2 with one line -----------------------------------
    add("missing", "missing.wav", "input", "no such file")
    (folder / "a folder.wav").mkdir(exist_ok=True)
    add("directory", "a folder.wav", "input", "is a directory")
    add("empty", "empty.wav", "input", "empty (0 bytes)").write_bytes(b"")
    add("truncated_header", "truncated_header.wav", "input", "not a readable audio file").write_bytes(
        _wav_header(32000)[:20])
    add("header_only", "header_only.wav", "input", "empty or shorter").write_bytes(_wav_header(0))
    add("text_as_wav", "notes.wav", "input", "not a readable audio file").write_text("call notes\n" * 200)
    add("image_as_wav", "photo.wav", "input", "not a readable audio file").write_bytes(
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    add("random_bytes", "noise.bin.wav", "input", "not a readable audio file").write_bytes(
        np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    sf.write(add("one_ms", "one_ms.wav", "input", "shorter than"), sig[:8], RATE)
    nan = sig.copy()
    nan[100, 0] = np.nan
    sf.write(add("nan_samples", "nan.wav", "input", "NaN or infinite"), nan, RATE, subtype="FLOAT")
    inf = sig.copy()
    inf[200, 1] = -np.inf
    sf.write(add("inf_samples", "inf.wav", "input", "NaN or infinite"), inf, RATE, subtype="DOUBLE")
    sf.write(add("four_channels", "four.wav", "input", "4 channels"), _signal(2.0, channels=4), RATE)
    sf.write(add("channel_out_of_range", "three.wav", "input", "channel 5 requested", channels="agent=0,customer=5"),
             _signal(2.0, channels=3), RATE)
    fifo = folder / "pipe.wav"
    if not fifo.exists():
        import os

        os.mkfifo(fifo)
    add("fifo", "pipe.wav", "input", "not a regular file")

    # -- awkward but valid audio: a review, with the duration and rate the file holds -------------
    def ok(kind: str, name: str, seconds: float = 2.0, rate: int = RATE, **kw) -> Path:
        return add(kind, name, "ok", duration=seconds, source_rate=rate, **kw)

    long = _wav_header(RATE * 4 * 3600 * 2)  # promises two hours of 16-bit stereo ...
    ok("header_promises_hours", "promises_hours.wav", 1.0).write_bytes(
        long + (sig[:RATE] * 32767).astype("<i2").tobytes())  # ... holds one second
    ok("data_cut_short", "cut_short.wav", 1.5).write_bytes(
        _wav_header(RATE * 4 * 2) + (sig[:int(RATE * 1.5)] * 32767).astype("<i2").tobytes())
    sf.write(ok("clipped", "clipped.wav"), np.clip(sig * 60, -1, 1), RATE)
    sf.write(ok("dc_offset", "dc_offset.wav"), sig + 0.4, RATE)
    sf.write(ok("silence", "silence.wav"), np.zeros_like(sig), RATE)
    sf.write(ok("four_channels_mapped", "four_mapped.wav", channels="agent=2,customer=3"),
             _signal(2.0, channels=4), RATE)
    sf.write(ok("mono", "mono.wav"), sig[:, 0], RATE)
    for rate in (8000, 11025, 22050, 44100, 48000, 96000):
        sf.write(ok(f"rate_{rate}", f"rate_{rate}.wav", rate=rate), _signal(2.0, rate), rate)
    sf.write(ok("ulaw", "ulaw.wav"), sig, RATE, subtype="ULAW")
    sf.write(ok("alaw", "alaw.wav"), sig, RATE, subtype="ALAW")
    sf.write(ok("pcm24", "pcm24.wav"), sig, RATE, subtype="PCM_24")
    sf.write(ok("pcm_u8", "pcm_u8.wav"), sig, RATE, subtype="PCM_U8")
    sf.write(ok("flac", "call.flac"), sig, RATE)
    sf.write(ok("ogg_vorbis", "call.ogg", rate=16000), _signal(2.0, 16000), 16000, format="OGG", subtype="VORBIS")
    sf.write(ok("mp3", "call.mp3", rate=16000), _signal(2.0, 16000), 16000, format="MP3")
    sf.write(ok("opus", "call.opus", rate=48000), _signal(2.0, 48000), 48000, format="OGG", subtype="OPUS")
    _pyav_write(ok("m4a_aac", "call.m4a", rate=16000), "aac", 16000, _signal(2.0, 16000))
    sf.write(ok("wav_named_mp3", "really_a_wav.mp3"), sig, RATE, format="WAV")
    sf.write(ok("spaces_and_unicode", "appel client – Zoë 通话 01.wav"), sig, RATE)
    with wave.open(str(ok("stdlib_wave", "stdlib.wav")), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes((sig * 32767).astype("<i2").tobytes())
    return cases


if __name__ == "__main__":
    for case in make_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs")):
        print(f"{case.kind:24} {case.expect:6} {case.path.name}")
