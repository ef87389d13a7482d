"""`audio-pipeline stream serve|send|watch`: live call monitoring (audio_pipeline.stream)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

stream_app = typer.Typer(help="Live call monitoring: a WebSocket server for calls as they happen, a replay "
                              "client and an alert watcher.", no_args_is_help=True)


@stream_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    db: Annotated[Optional[Path], typer.Option(help="SQLite store the final reviews go to.")] = None,
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o",
                                                       help="Where each call's review.json/.md is written.")] = Path("out"),
    model: Annotated[Optional[str], typer.Option(help="Whisper model: tiny.en, base, or a local folder.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.", show_default="auto")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML overriding configs/default.yaml.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each call's progress.")] = False,
) -> None:
    """Serve live calls: audio on ws://HOST:PORT/v1/calls, alerts on ws://HOST:PORT/v1/events."""
    from .cli import _setup_logging, err, fail, user_errors
    from .config import load_config

    _setup_logging(verbose)
    try:
        cfg = load_config(config, {"asr.model": model, "asr.device": device})
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not 0 < port < 65536:
        raise fail(f"--port must be 1-65535, got {port}")
    import uvicorn

    from .stream.server import StreamService, server_config

    service = StreamService(cfg, output_dir=output_dir, db=db)
    try:
        with err.status(f"loading Whisper {cfg.asr.model}", spinner="dots"):
            service.load()
    except user_errors() as exc:
        raise fail(str(exc)) from None
    err.print(f"audio: ws://{host}:{port}/v1/calls · alerts: ws://{host}:{port}/v1/events · "
              f"calls: http://{host}:{port}/v1/calls", highlight=False)
    try:
        uvicorn.Server(server_config(service, host, port, "info" if verbose else "warning")).run()
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc}", 1) from None


@stream_app.command("send")
def send(
    call: Annotated[Path, typer.Argument(help="A stereo recording (agent, customer) to replay as a live call.",
                                         show_default=False)],
    url: Annotated[str, typer.Option(help="The server's audio endpoint.")] = "ws://127.0.0.1:8765/v1/calls",
    speed: Annotated[float, typer.Option(help="Replay speed: 1 = real time, 4 = four times faster.")] = 1.0,
    call_id: Annotated[Optional[str], typer.Option(help="Call id (default: the file name).")] = None,
    agent_id: Annotated[Optional[str], typer.Option(help="Agent id stored with the review.")] = None,
    encoding: Annotated[str, typer.Option(help="pcm16 or mulaw.")] = "pcm16",
    chunk_ms: Annotated[int, typer.Option(help="Milliseconds of audio per frame.")] = 20,
    channels: Annotated[str, typer.Option(help="Which file channels are agent,customer.")] = "0,1",
    disconnect_after: Annotated[Optional[float], typer.Option(help="Hang up without 'end' after this many "
                                                                   "seconds of audio (tests, demos).")] = None,
) -> None:
    """Replay a recording to a live server; prints the final review summary as JSON."""
    from .audio import AudioError
    from .cli import err, fail
    from .stream.client import ClientError, load_call, send_call

    if speed <= 0 or not 5 <= chunk_ms <= 1000 or encoding not in ("pcm16", "mulaw"):
        raise fail("--speed must be > 0, --chunk-ms 5-1000, --encoding pcm16 or mulaw")
    try:
        cmap = tuple(int(c) for c in channels.split(","))
        if len(cmap) != 2:
            raise ValueError
    except ValueError:
        raise fail(f"--channels must look like 0,1, got '{channels}'") from None
    try:
        audio = load_call(call, cmap)  # type: ignore[arg-type]
    except AudioError as exc:
        raise fail(str(exc)) from None
    try:
        result = asyncio.run(send_call(audio, url, call_id or call.stem, agent_id=agent_id, speed=speed,
                                       encoding=encoding, chunk_s=chunk_ms / 1000,
                                       disconnect_after=disconnect_after,
                                       on_message=lambda m: m.get("type") == "error" and err.print(
                                           f"[bold red]server:[/] {m.get('code')}: {m.get('message')}",
                                           highlight=False)))
    except ClientError as exc:
        raise fail(str(exc), 1) from None
    typer.echo(json.dumps(result))
    if result.get("type") == "error":
        raise typer.Exit(2 if result.get("code") not in ("overloaded", "internal") else 1)
    if result.get("type") not in ("review", "disconnected"):
        raise typer.Exit(1)


@stream_app.command("watch")
def watch(
    url: Annotated[str, typer.Option(help="The server's alert endpoint.")] = "ws://127.0.0.1:8765/v1/events",
    call_id: Annotated[Optional[str], typer.Option(help="Only this call's events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    until_ended: Annotated[bool, typer.Option(help="Stop after the (first) call ends.")] = False,
) -> None:
    """Print live alerts as they arrive (Ctrl-C to stop)."""
    from .cli import fail
    from .stream.client import ClientError, format_event, watch as watch_events

    def show(msg: dict) -> None:
        typer.echo(json.dumps(msg) if as_json else format_event(msg))

    try:
        asyncio.run(watch_events(url, show, call_id=call_id, until_ended=until_ended))
    except ClientError as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def register(app: typer.Typer) -> None:
    app.add_typer(stream_app, name="stream")
