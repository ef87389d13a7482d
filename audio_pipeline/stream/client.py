"""Clients of the live server: replay a recording as a live call (`send_call`), print alerts as
they come (`watch`). Used by the CLI, the tests and bench/stream.py."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .protocol import SAMPLE_RATES, decode_frame, encode_mulaw


# keepalive pings: a busy server (or client) may take a while to answer; a slow pong must not end a call
PING_TIMEOUT = 120.0


class ClientError(RuntimeError):
    """The server could not be reached or broke the protocol."""


@dataclass(frozen=True, slots=True)
class CallAudio:
    samples: np.ndarray    # (n, 2) int16, agent then customer
    sample_rate: int


def load_call(path: Path, channels: tuple[int, int] = (0, 1)) -> CallAudio:
    """A stereo recording as int16 at its own rate when that is 8 or 16 kHz, else resampled to
    16 kHz. Raises audio.AudioError for anything the offline path would reject."""
    import soundfile as sf

    from .. import audio as audio_mod

    a = audio_mod.load(path, 16000, 0.1, max_channels=64)
    if a.channels < 2 or max(channels) >= a.channels:
        raise audio_mod.AudioError(f"{path}: live replay needs a stereo recording (agent and customer channels)")
    if a.source_rate in SAMPLE_RATES:
        try:
            raw, rate = sf.read(str(path), dtype="int16", always_2d=True)
            return CallAudio(np.ascontiguousarray(raw[:, list(channels)]), rate)
        except Exception:  # a container soundfile cannot read: fall back to the decoded audio
            pass
    mixed = np.stack([a.channel(channels[0]), a.channel(channels[1])], axis=1).astype(np.float32)
    return CallAudio(np.clip(np.round(mixed * 32767), -32768, 32767).astype(np.int16), 16000)


def _frames(call: CallAudio, chunk_s: float, encoding: str):
    step = max(1, int(call.sample_rate * chunk_s))
    for i in range(0, len(call.samples), step):
        part = call.samples[i:i + step]
        if encoding == "mulaw":
            yield encode_mulaw(part.astype(np.float32).reshape(-1) / 32768.0), len(part)
        else:
            yield part.astype("<i2").tobytes(), len(part)


def feed_recording(monitor, call: CallAudio, step: float = 0.25) -> list:
    """A recording into a CallMonitor in `step`-second PCM16 frames with no clock, each frame decoded
    as the server decodes it and each step decoding whenever due: the streaming policy on its own,
    however fast the machine (tests, `bench/stream.py --policy`). Returns the live alerts."""
    alerts = []
    for raw, _ in _frames(call, step, "pcm16"):
        monitor.feed(raw, decode_frame(raw, monitor.start, len(raw)))
        alerts += monitor.step()
    return alerts


async def send_call(call: CallAudio, url: str, call_id: str, *, agent_id: str | None = None, speed: float = 1.0,
                    encoding: str = "pcm16", chunk_s: float = 0.02, disconnect_after: float | None = None,
                    on_message: Callable[[dict], None] | None = None, timeout: float = 900.0) -> dict[str, Any]:
    """Stream `call` in real time × `speed`; returns the server's final message: `review` (after an
    `error`, the review carries the partial result), the `error` alone, or {"type": "disconnected"}
    when the client hung up by itself after `disconnect_after` seconds of audio."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    start = {"type": "start", "call_id": call_id, "agent_id": agent_id, "sample_rate": call.sample_rate,
             "encoding": encoding, "channels": 2, "layout": ["agent", "customer"]}
    try:
        ws = await connect(url, max_size=None, open_timeout=10, ping_timeout=PING_TIMEOUT, compression=None)
    except Exception as exc:
        raise ClientError(f"cannot connect to {url}: {exc}") from None
    got: dict[str, dict] = {}

    async def receive() -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if on_message:
                on_message(msg)
            got.setdefault(msg.get("type", ""), msg)

    async with ws:
        await ws.send(json.dumps(start))
        first = json.loads(await ws.recv())
        if first.get("type") != "started":
            return first
        receiver = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        t0, sent = loop.time(), 0
        try:
            for data, n in _frames(call, chunk_s, encoding):
                if receiver.done():
                    break
                await ws.send(data)
                sent += n
                seconds = sent / call.sample_rate
                if disconnect_after is not None and seconds >= disconnect_after:
                    receiver.cancel()
                    return {"type": "disconnected", "sent_seconds": seconds}
                delay = t0 + seconds / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if not receiver.done():
                await ws.send(json.dumps({"type": "end"}))
        except ConnectionClosed:  # the server ended the call (its error message is in `got`)
            pass
        try:
            await asyncio.wait_for(receiver, timeout)
        except Exception:  # the server closed the socket: what it said before is in `got`
            pass
    return got.get("review") or got.get("error") or {"type": "closed"}


async def watch(url: str, on_message: Callable[[dict], None], *, call_id: str | None = None,
                until_ended: bool = False, ready: asyncio.Event | None = None) -> None:
    """Print (via `on_message`) every message of the events socket; with `until_ended`, return after
    the `call_ended` of `call_id` (of any call when None)."""
    from websockets.asyncio.client import connect

    full = url + (("&" if "?" in url else "?") + f"call_id={call_id}" if call_id else "")
    from websockets.exceptions import ConnectionClosedError

    try:
        ws = await connect(full, max_size=None, open_timeout=10, ping_timeout=PING_TIMEOUT)
    except Exception as exc:
        raise ClientError(f"cannot connect to {url}: {exc}") from None
    async with ws:
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "hello" and ready is not None:
                    ready.set()
                on_message(msg)
                if until_ended and msg.get("type") == "call_ended":
                    return
        except ConnectionClosedError as exc:
            raise ClientError(f"lost the connection to {url}: {exc}") from None


def format_event(msg: dict) -> str:
    """One line per event for a terminal."""
    kind = msg.get("type")
    call = msg.get("call_id", "")
    if kind == "alert":
        t = msg.get("start", 0.0)
        phase = "" if msg.get("phase") == "final" else f" {msg.get('phase')}"
        cat = f" ({msg['category']})" if msg.get("category") else ""
        who = f" {msg['speaker']}" if msg.get("speaker") else ""
        evidence = f" — {msg['evidence']}" if msg.get("evidence") else ""
        return (f"[{call}] {int(t // 60):02d}:{t % 60:05.2f} {msg.get('severity', '')} {msg.get('kind')}{phase}{cat}"
                f"{who}: {msg.get('message', '')}{evidence}")
    if kind == "call_started":
        return f"[{call}] call started (agent {msg.get('agent_id') or '?'}, {msg.get('sample_rate')} Hz {msg.get('encoding')})"
    if kind == "call_ended":
        state = "complete" if msg.get("complete") else f"INCOMPLETE ({msg.get('reason')})"
        return f"[{call}] call ended, {state}; flagged: {msg.get('flagged')}; review: {msg.get('review_path')}"
    if kind == "status":
        return f"[{call}] received {msg.get('received')} s, lag {msg.get('lag')} s"
    if kind == "hello":
        return f"watching; {len(msg.get('calls', []))} call(s) in progress"
    return json.dumps(msg)
