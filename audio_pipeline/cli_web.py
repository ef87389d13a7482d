"""`audio-pipeline serve | disputes`: the supervisors' review UI and its labelled-example export.

cli.py calls `register(app)`. The web stack (Starlette, uvicorn, Jinja2) is imported inside the
commands, so other commands never pay for it.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

TOKEN_ENV = "AUDIO_PIPELINE_TOKEN"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("disputes")(disputes)


def _fail(message: str, code: int = 2) -> typer.Exit:
    from .cli import fail

    return fail(message, code)


def _open_store(db: Path | None):
    from .cli_batch import _open_store as open_store

    if db is None:
        raise _fail("missing --db FILE")
    return open_store(db)


def serve(
    db: Annotated[Optional[Path], typer.Option("--db", help="SQLite review store written by `batch`.",
                                               show_default=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback needs a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token: Annotated[Optional[str], typer.Option(
        "--token", envvar=TOKEN_ENV, show_default=False,
        help=f"Access token checked on every request (also ${TOKEN_ENV}); required off loopback.")] = None,
    scorecard: Annotated[Optional[Path], typer.Option(help="Evaluation form YAML.",
                                                      show_default="configs/scorecard.yaml")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c",
                                                   help="YAML overriding configs/default.yaml (role swaps re-run the analysis with it).")] = None,
    live: Annotated[Optional[str], typer.Option(
        "--live", show_default=False,
        help="The live monitoring server (`stream serve`), e.g. ws://127.0.0.1:8765: the Live calls page "
             "shows its calls and alerts as they happen.")] = None,
) -> None:
    """Serve the review UI: the flagged-call queue, call pages with audio, reviewer decisions, live calls."""
    from .config import ConfigError, load_config
    from .scorecard import load_scorecard
    from .web.options import load_web_options
    from .web.security import is_loopback

    if live is not None and not re.fullmatch(r"wss?://[\w.\[\]:-]+/?", live):
        raise _fail(f"--live must look like ws://HOST:PORT (the stream server), got '{live}'")
    if token is not None and len(token) < 16:
        raise _fail("--token must be at least 16 characters")
    if not is_loopback(host) and not token:
        raise _fail(f"--host {host} is not loopback: give --token (or set {TOKEN_ENV}); "
                    "anyone who can reach the port would see every call otherwise")
    _open_store(db).close()  # a missing or foreign database is reported before the server starts
    try:
        card, cfg, web = load_scorecard(scorecard), load_config(config), load_web_options()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    try:
        import uvicorn

        from .web.app import Settings, create_app
    except ImportError as exc:
        raise _fail(f"the review UI needs its web packages ({exc.name}): pip install -e .", 1) from None
    app = create_app(Settings(db=db, token=token, scorecard=card, config=cfg, web=web,
                              live=live.rstrip("/") if live else None))
    shown = f"[{host}]" if ":" in host else host
    print(f"review UI on http://{shown}:{port}/" + (f"?token={token}" if token else ""), file=sys.stderr)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror}", 1) from None


def disputes(
    db: Annotated[Optional[Path], typer.Option("--db", help="SQLite review store.", show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl (one labelled example per line).")] = "jsonl",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Disputed and confirmed findings with their text and context, as labelled examples."""
    from .decisions import labelled_examples
    from .export import atomic_write

    if fmt.lower() != "jsonl":
        raise _fail(f"--format must be jsonl, got '{fmt}'")
    with _open_store(db) as store:
        lines = [json.dumps(e, ensure_ascii=False) + "\n" for e in labelled_examples(store.db)]
    if output is not None:
        atomic_write(output, "".join(lines))
        print(f"{len(lines)} example(s) written to {output}", file=sys.stderr)
    else:
        sys.stdout.writelines(lines)
