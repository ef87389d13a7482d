"""The live monitoring server: an ASGI (Starlette) app with

  /v1/calls   WebSocket: one call's audio in (start message, binary frames, end message);
              status and the final review summary back
  /v1/calls   GET: the calls in progress
  /v1/events  WebSocket: every call's alerts as JSON (`?call_id=X` for one call)

`StreamService` holds the models, the calls in progress and the subscribers; `create_app` wraps
it. The supervisor web app can mount it: `service.load(); web.mount("/live", create_app(service))`
(a mounted app's lifespan does not run, hence the explicit `load`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import Config
from .monitor import Alert, CallMonitor, Job, transcribe_parts
from .protocol import ProtocolError, StartMessage, decode_frame, parse_json, parse_start

log = logging.getLogger(__name__)
CLOSE_CODES = {"frame_too_large": 1009, "overloaded": 1013, "internal": 1011}


@dataclass(eq=False)
class LiveCall:
    start: StartMessage
    monitor: CallMonitor
    started_at: str
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    failure: str | None = None
    alerts: int = 0
    runner: asyncio.Task | None = None
    recorder: Any = None              # the call's audio written as it arrives (soundfile, .part until hang-up)
    recording: Path | None = None


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue
    call_id: str | None
    dropped: int = 0


class StreamService:
    def __init__(self, cfg: Config, output_dir: Path | None = None, db: Path | None = None, transcriber=None):
        self.cfg, self.opts = cfg, cfg.stream
        self.output_dir, self.db = output_dir, db
        self.transcriber = transcriber
        self.lexicon = self.embedder = self.phrasing = None
        self.calls: dict[str, LiveCall] = {}
        self.subscribers: set[Subscriber] = set()
        workers = self.opts.decode_workers or _cores()
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="stream-whisper")
        self.light = ThreadPoolExecutor(2, thread_name_prefix="stream-commit")  # VAD, commits, rules
        # final reviews (the rules over a whole call) apart, so hang-ups never hold live calls' commits
        self.final = ThreadPoolExecutor(1, thread_name_prefix="stream-review")
        self._workers = workers
        self._loaded = False
        self._jobs: list[tuple[Job, asyncio.Future]] = []
        self._later: list[tuple[Job, asyncio.Future]] = []  # hang-ups' second pass: after every live job
        self._jobs_ready: asyncio.Event | None = None
        self._pass_tasks: list[asyncio.Task] = []
        self._running = 0  # Whisper passes in progress

    # -- models ---------------------------------------------------------------------------
    def load(self) -> None:
        """Whisper with one replica per decode worker, the empathy lexicon and the embedder."""
        if self._loaded:
            return
        if self.transcriber is None:
            from ..transcribe import WhisperTranscriber

            asr = replace(self.cfg.asr, channel_workers=self._workers)
            self.transcriber = WhisperTranscriber(asr, device=asr.device)
        if self.cfg.empathy.enabled:
            from ..analysis.embedder import CachedEmbedder
            from ..analysis.empathy import embedder_for, load_lexicon

            self.lexicon = load_lexicon(self.cfg.empathy.lexicon_path)
            from ..language import load_phrasing_model

            inner = embedder_for(self.cfg.empathy, "cpu")
            self.embedder = CachedEmbedder(inner) if inner is not None else None
            self.phrasing = load_phrasing_model(self.cfg.empathy, inner)
        self._loaded = True

    def close(self) -> None:
        for task in self._pass_tasks:
            task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.light.shutdown(wait=False, cancel_futures=True)
        self.final.shutdown(wait=False, cancel_futures=True)

    # -- shared Whisper passes ------------------------------------------------------------
    async def _decode(self, call: LiveCall, final: bool = False) -> list[Alert]:
        """One decode of one call: its undecided audio rides in the next shared Whisper pass."""
        loop = asyncio.get_running_loop()
        call.monitor.spare = not self._jobs and not self._later and self._running < self._workers
        job = await loop.run_in_executor(self.light, call.monitor.prepare, final)
        for alert in job.alerts:
            self._alert(call, alert)
        segments = await self._pass(job) if job.parts else []
        return await loop.run_in_executor(self.light, call.monitor.complete, job, segments)

    async def _pass(self, job: Job, later: bool = False) -> list:
        """The job's words (one segment list per part) from the next shared Whisper pass that takes
        it; `later` jobs wait until no live call's job does."""
        self._start_passes()
        future = asyncio.get_running_loop().create_future()
        (self._later if later else self._jobs).append((job, future))
        self._jobs_ready.set()
        return await future

    def _start_passes(self) -> None:
        if self._jobs_ready is None:
            self._jobs_ready = asyncio.Event()
            self._pass_tasks = [asyncio.create_task(self._passes()) for _ in range(self._workers)]

    async def _passes(self) -> None:
        """Takes the waiting jobs of every call, oldest first, up to `stream.pass_seconds` of audio,
        into one pass: under load, calls share passes instead of queueing for one each."""
        loop = asyncio.get_running_loop()
        while True:
            await self._jobs_ready.wait()
            if not self._jobs and not self._later:
                self._jobs_ready.clear()
                continue
            await self._gather(loop)
            if not self._jobs and not self._later:  # the other worker took them meanwhile
                continue
            batch = [(self._jobs or self._later).pop(0)]
            seconds = batch[0][0].seconds
            for queue in (self._jobs, self._later):
                while queue and seconds + queue[0][0].seconds + len(batch) <= self.opts.pass_seconds:
                    seconds += queue[0][0].seconds
                    batch.append(queue.pop(0))
            parts = [p for job, _ in batch for p in job.parts]
            self._running += 1
            try:
                result = await loop.run_in_executor(self.executor, transcribe_parts, self.transcriber, parts)
            except Exception as exc:  # every call in the pass learns it failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                self._running -= 1
            i = 0
            for job, future in batch:
                if not future.done():
                    future.set_result(result[i:i + len(job.parts)])
                i += len(job.parts)

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """While another pass runs, wait up to `stream.pass_gather` for other calls' jobs to fill
        half a window: every pass costs a whole encoder window, and a free worker used to start one
        on each job as it came (measured: 4 calls, 169 passes for 189 jobs, 10 s of speech a pass)."""
        deadline = loop.time() + self.opts.pass_gather
        while (self._running and loop.time() < deadline
               and sum(job.seconds for job, _ in self._jobs) < self.opts.pass_seconds / 2):
            await asyncio.sleep(0.02)

    # -- publishing -----------------------------------------------------------------------
    def publish(self, message: dict[str, Any]) -> None:
        for sub in list(self.subscribers):
            if sub.call_id and message.get("call_id") != sub.call_id:
                continue
            if sub.queue.full():  # a slow subscriber loses its oldest alerts, never stalls a call
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(message)

    def _alert(self, call: LiveCall, alert: Alert) -> None:
        call.alerts += -1 if alert.phase == "withdrawn" else 1  # alerts standing
        self.publish({"type": "alert", "call_id": call.start.call_id, "agent_id": call.start.agent_id,
                      **alert.to_json(), "sent_at": time.time()})

    def active(self) -> list[dict[str, Any]]:
        return [{"call_id": c.start.call_id, "agent_id": c.start.agent_id, "started_at": c.started_at,
                 "received": round(c.monitor.stats.received, 2), "lag": round(c.monitor.stats.lag, 2),
                 "decode_interval": c.monitor.decode_interval, "alerts": c.alerts} for c in self.calls.values()]

    # -- endpoints ------------------------------------------------------------------------
    async def ingest(self, ws) -> None:
        from starlette.websockets import WebSocketDisconnect

        await ws.accept()
        call: LiveCall | None = None
        complete, reason = False, "client disconnected"
        try:
            call = await self._receive_start(ws)
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if call.failure:
                    code, _, why = call.failure.partition(": ")
                    raise ProtocolError(code, why)
                if message.get("bytes") is not None:
                    data = message["bytes"]
                    samples = decode_frame(data, call.start, self.opts.max_frame_bytes)
                    call.monitor.feed(data, samples)
                    if call.recorder is not None:
                        call.recorder.write(samples[:, call.monitor.order])
                    call.wakeup.set()
                    continue
                msg = parse_json(message.get("text") or "")
                if msg["type"] != "end":
                    raise ProtocolError("unexpected_message", f"expected audio or 'end', got '{msg['type']}'")
                complete, reason = True, ""
                break
        except ProtocolError as exc:
            reason = f"{exc.code}: {exc}"
            await _send(ws, {"type": "error", "code": exc.code, "message": str(exc)})
            if call is None:
                await _close(ws, CLOSE_CODES.get(exc.code, 1008))
                return
        except WebSocketDisconnect:
            pass
        except Exception as exc:  # a bug in one call must not take the server down
            log.exception("call %s failed", call.start.call_id if call else "?")
            reason = f"internal: {exc}"
            await _send(ws, {"type": "error", "code": "internal", "message": "internal error; partial review saved"})
        if call is None:
            return
        summary = await self._hang_up(call, complete, reason)
        await _send(ws, {"type": "review", "call_id": call.start.call_id, **summary})
        code = 1000 if complete else CLOSE_CODES.get(reason.split(":")[0], 1008)
        await _close(ws, code)

    async def _receive_start(self, ws) -> LiveCall:
        try:
            message = await asyncio.wait_for(ws.receive(), self.opts.start_timeout)
        except asyncio.TimeoutError:
            raise ProtocolError("start_timeout", f"no start message within {self.opts.start_timeout:g} s") from None
        if message["type"] == "websocket.disconnect":
            from starlette.websockets import WebSocketDisconnect

            raise WebSocketDisconnect(message.get("code", 1000))
        if message.get("bytes") is not None:
            raise ProtocolError("audio_before_start", "audio arrived before the start message")
        start = parse_start(parse_json(message.get("text") or ""))
        if start.channels != 2:
            raise ProtocolError("unsupported_layout", "live monitoring needs two channels (agent, customer); "
                                                      "review mono mixes from the recording")
        if start.call_id in self.calls:
            raise ProtocolError("duplicate_call", f"call {start.call_id} is already streaming")
        monitor = CallMonitor(start, self.cfg, self.transcriber, self.lexicon, self.embedder, self.phrasing)
        call = LiveCall(start, monitor, datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"))
        self.calls[start.call_id] = call
        self._start_recording(call)
        call.runner = asyncio.create_task(self._run(call))
        self.publish({"type": "call_started", "call_id": start.call_id, "agent_id": start.agent_id,
                      "sample_rate": start.sample_rate, "encoding": start.encoding, "started_at": call.started_at})
        await _send(ws, {"type": "started", "call_id": start.call_id, "max_frame_bytes": self.opts.max_frame_bytes})
        return call

    async def _run(self, call: LiveCall) -> None:
        """Listens (energy, dead air) on the event loop at every tick of audio; decodes on the pool,
        one decode of this call at a time, so a slow decode never delays a dead-air alert."""
        decoding: asyncio.Future | None = None
        last_status = time.monotonic()
        try:
            while True:
                await call.wakeup.wait()
                call.wakeup.clear()
                if call.closing or call.monitor.pending_seconds() >= self.opts.tick:
                    for alert in call.monitor.listen():
                        self._alert(call, alert)
                if decoding is not None and (decoding.done() or call.closing):
                    for alert in await decoding:
                        self._alert(call, alert)
                    decoding = None
                    stats = call.monitor.stats
                    if stats.lag > self.opts.lag_max:
                        call.failure = f"overloaded: transcription is {stats.lag:.0f} s behind the audio"
                        return
                    if time.monotonic() - last_status >= self.opts.status_every:
                        last_status = time.monotonic()
                        self.publish({"type": "status", "call_id": call.start.call_id,
                                      "received": round(stats.received, 2), "lag": round(stats.lag, 2),
                                      "decode_interval": call.monitor.decode_interval})
                if call.closing:
                    return
                if decoding is None and call.monitor.decode_due():
                    decoding = asyncio.ensure_future(self._decode(call))
                    decoding.add_done_callback(lambda _: call.wakeup.set())
        except Exception as exc:
            log.exception("call %s: processing failed", call.start.call_id)
            call.failure = f"internal: {exc}"

    def _start_recording(self, call: LiveCall) -> None:
        """The call's audio, agent channel first, to the output folder as it arrives, so its review
        page can play it; a .part file until hang-up."""
        if self.output_dir is None or not self.opts.record_audio:
            return
        import soundfile as sf

        path = Path(self.output_dir) / f"{_stem(call.start.call_id)}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        call.recorder = sf.SoundFile(str(path) + ".part", "w", samplerate=call.start.sample_rate, channels=2,
                                     subtype="PCM_16", format="WAV")
        call.recording = path

    def _stop_recording(self, call: LiveCall) -> Path | None:
        if call.recorder is None:
            return None
        call.recorder.close()
        call.recorder = None
        Path(str(call.recording) + ".part").replace(call.recording)
        return call.recording

    async def _hang_up(self, call: LiveCall, complete: bool, reason: str) -> dict[str, Any]:
        call.closing = True
        call.wakeup.set()
        if call.runner is not None:
            await call.runner
        loop = asyncio.get_running_loop()
        try:
            recording = self._stop_recording(call)
            monitor = call.monitor
            alerts = await loop.run_in_executor(self.light, monitor.listen, True)
            alerts += await self._decode(call, final=True)
            jobs = await loop.run_in_executor(self.light, monitor.rest_jobs)
            words = await asyncio.gather(*(self._pass(job, later=True) for job in jobs))
            await loop.run_in_executor(self.light, monitor.revise, jobs, words)
            review, late, summary = await loop.run_in_executor(self.final, monitor.review, complete, reason, recording)
            for alert in alerts + late:
                self._alert(call, alert)
            saved = await loop.run_in_executor(self.final, self._save, call, review, summary)
            summary = {**summary, **saved, "flagged": review.flagged, "flag_reasons": list(review.flag_reasons),
                       "findings": len([f for f in review.findings if f.type != "backchannel"])}
        except Exception as exc:
            log.exception("call %s: the final review failed", call.start.call_id)
            summary = {"complete": False, "reason": f"internal: {exc}", "error": "the final review failed"}
        finally:
            self.calls.pop(call.start.call_id, None)
        self.publish({"type": "call_ended", "call_id": call.start.call_id, "agent_id": call.start.agent_id,
                      **{k: summary.get(k) for k in ("complete", "reason", "flagged", "review_path")}})
        return summary

    def _save(self, call: LiveCall, review, summary: dict) -> dict[str, Any]:
        """review.json (+ md) under the output folder and a row in the store; `stream` says whether
        the call was received whole (an additive key: the call-review/1 fields are unchanged)."""
        from ..export import atomic_write, review_to_dict, review_to_markdown

        data = review_to_dict(review)
        data["stream"] = {"call_id": call.start.call_id, "agent_id": call.start.agent_id,
                          "started_at": call.started_at, **summary}
        out: dict[str, Any] = {}
        stem = _stem(call.start.call_id)
        if self.output_dir is not None:
            formats = self.opts.formats
            if "json" in formats:
                path = Path(self.output_dir) / f"{stem}.review.json"
                atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
                out["review_path"] = str(path)
            if "md" in formats:
                atomic_write(Path(self.output_dir) / f"{stem}.review.md", review_to_markdown(review))
        if self.db is not None:
            from ..store import CallMeta, Store

            meta = CallMeta(call_id=call.start.call_id, agent_id=call.start.agent_id, started_at=call.started_at,
                            extra={"source": "stream", "complete": "true" if summary["complete"] else "false"})
            with Store(self.db) as store:
                store.save_review(data, model=review.models.asr, config_fp=self.cfg.fingerprint(), run_id=None,
                                  meta=meta)
            out["db"] = str(self.db)
        return out

    async def events(self, ws) -> None:
        await ws.accept()
        sub = Subscriber(asyncio.Queue(self.opts.subscriber_queue), ws.query_params.get("call_id"))
        self.subscribers.add(sub)
        closed = asyncio.create_task(_wait_closed(ws))
        try:
            await ws.send_json({"type": "hello", "calls": self.active()})
            while True:
                get = asyncio.create_task(sub.queue.get())
                done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    get.cancel()
                    break
                await ws.send_json(get.result())
        except Exception:  # the subscriber went away mid-send
            pass
        finally:
            self.subscribers.discard(sub)
            closed.cancel()

    async def list_calls(self, request):
        from starlette.responses import JSONResponse

        return JSONResponse({"calls": self.active()})


def create_app(service: StreamService):
    """The Starlette app; its lifespan loads the models (blocking, before the first call)."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.routing import Route, WebSocketRoute

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.get_running_loop().run_in_executor(None, service.load)
        yield
        service.close()

    routes = [WebSocketRoute("/v1/calls", service.ingest), WebSocketRoute("/v1/events", service.events),
              Route("/v1/calls", service.list_calls)]
    return Starlette(routes=routes, lifespan=lifespan)


def server_config(service: StreamService, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
    """uvicorn settings for the live server (`stream serve`, the benchmark and the tests alike).
    No per-message compression: audio barely compresses, and deflating every 20 ms frame cost both
    ends more CPU than a call's energy tracking (measured with 4 live calls)."""
    import uvicorn

    from .client import PING_TIMEOUT

    return uvicorn.Config(create_app(service), host=host, port=port, log_level=log_level,
                          ws_max_size=max(service.opts.max_frame_bytes * 4, 1 << 20), ws_ping_timeout=PING_TIMEOUT,
                          ws_per_message_deflate=False)


async def _wait_closed(ws) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def _send(ws, message: dict) -> None:
    try:
        await ws.send_text(json.dumps(message))
    except Exception:  # already gone: nothing to tell
        pass


async def _close(ws, code: int) -> None:
    try:
        await ws.close(code)
    except Exception:
        pass


def _stem(call_id: str) -> str:
    return call_id.replace(":", "_")


def _cores() -> int:
    import os

    return max(1, os.cpu_count() or 1)
