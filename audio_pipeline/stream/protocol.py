"""The ingest protocol: one JSON start message, binary audio frames, one JSON end message.

Pure parsing and decoding, no sockets: the server turns a `ProtocolError` into an error message
on the socket and a clean close. See README "Live call monitoring" for the wire format.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

SAMPLE_RATES = (8000, 16000)
ENCODINGS = ("pcm16", "mulaw")
LAYOUTS = {2: ("agent", "customer"), 1: ("mix",)}
_CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class ProtocolError(ValueError):
    """What the client got wrong; `code` is the machine-readable error code sent back."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class StartMessage:
    call_id: str
    agent_id: str | None
    sample_rate: int
    encoding: str
    channels: int
    layout: tuple[str, ...]     # role of each interleaved channel: ("agent", "customer") or ("mix",)

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "pcm16" else 1

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample instant across all channels: every audio frame is a multiple of it."""
        return self.bytes_per_sample * self.channels

    def seconds(self, n_bytes: int) -> float:
        return n_bytes / self.frame_bytes / self.sample_rate


def parse_json(text: str) -> Mapping[str, Any]:
    try:
        msg = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProtocolError("bad_message", "text messages must be JSON objects") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("bad_message", "a message needs a string 'type'")
    return msg


def parse_start(msg: Mapping[str, Any]) -> StartMessage:
    if msg.get("type") != "start":
        raise ProtocolError("expected_start", f"the first message must be 'start', got '{msg.get('type')}'")
    call_id = msg.get("call_id")
    if not isinstance(call_id, str) or not _CALL_ID.match(call_id):
        raise ProtocolError("bad_start", "call_id must be 1-128 characters of letters, digits, '.', '_', ':', '-'")
    agent_id = msg.get("agent_id")
    if agent_id is not None and (not isinstance(agent_id, str) or len(agent_id) > 128):
        raise ProtocolError("bad_start", "agent_id must be a string of at most 128 characters")
    rate, encoding, channels = msg.get("sample_rate"), msg.get("encoding", "pcm16"), msg.get("channels", 2)
    if rate not in SAMPLE_RATES or isinstance(rate, bool):
        raise ProtocolError("bad_format", f"sample_rate must be one of {SAMPLE_RATES}, got {rate!r}")
    if encoding not in ENCODINGS:
        raise ProtocolError("bad_format", f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if channels not in LAYOUTS or isinstance(channels, bool):
        raise ProtocolError("bad_format", f"channels must be 1 (mono mix) or 2 (interleaved), got {channels!r}")
    layout = msg.get("layout", list(LAYOUTS[channels]))
    if not isinstance(layout, list) or sorted(layout) != sorted(LAYOUTS[channels]):
        raise ProtocolError("bad_format", f"layout for {channels} channel(s) must order {list(LAYOUTS[channels])}")
    return StartMessage(call_id, agent_id, rate, encoding, channels, tuple(layout))


def _mulaw_table() -> np.ndarray:
    """G.711 μ-law byte → linear float in [-1, 1] (ITU-T G.711, bias 0x84)."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(sign, -magnitude, magnitude) / 32768.0).astype(np.float32)


_MULAW = _mulaw_table()


def decode_frame(data: bytes, start: StartMessage, max_bytes: int) -> np.ndarray:
    """One binary frame → float32 samples, shape (n, channels)."""
    if len(data) > max_bytes:
        raise ProtocolError("frame_too_large", f"audio frames may hold at most {max_bytes} bytes, got {len(data)}")
    if not data or len(data) % start.frame_bytes:
        raise ProtocolError("bad_frame", f"an audio frame must be a non-empty multiple of {start.frame_bytes} bytes "
                                         f"({start.channels} channel(s) of {start.encoding}), got {len(data)}")
    if start.encoding == "pcm16":
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    else:
        samples = _MULAW[np.frombuffer(data, dtype=np.uint8)]
    return samples.reshape(-1, start.channels)


def encode_mulaw(x: np.ndarray) -> bytes:
    """float in [-1, 1] → G.711 μ-law bytes (for clients replaying a file; inverse of the table)."""
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()
