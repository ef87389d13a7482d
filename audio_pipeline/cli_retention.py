"""`audio-pipeline purge`: retention for the review store (cli.py registers it with one line)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("purge")(purge)


def purge(
    db: Annotated[Optional[Path], typer.Option("--db", help="SQLite review store.", show_default=False)] = None,
    before: Annotated[Optional[str], typer.Option(help="Remove calls dated before this (YYYY-MM-DD or ISO time).",
                                                  show_default=False)] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also delete the calls' review files "
                                                                         "written here by `batch --out`.")] = None,
    delete_audio: Annotated[bool, typer.Option("--delete-audio", help="Also delete the recordings themselves.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
) -> None:
    """Retention: remove the reviews, findings, errors and files of calls older than --before."""
    from .cli import fail, out
    from .retention import purge as run_purge
    from .store import Store, StoreError, parse_when

    if db is None or before is None:
        raise fail("purge needs --db FILE and --before DATE")
    if not db.is_file():
        raise fail(f"{db}: no such review database")
    if out_dir is not None and not out_dir.is_dir():
        raise fail(f"--out {out_dir}: no such folder")
    try:
        cutoff = parse_when(before)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        with Store(db) as store:
            result = run_purge(store, cutoff, out_dir, delete_audio, dry_run)
    except StoreError as exc:
        raise fail(str(exc)) from None
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {result.calls} call(s) dated before {cutoff}: {result.reviews} review(s), "
              f"{result.findings} finding(s), {result.errors} error record(s), {len(result.files)} file(s)",
              highlight=False)
    for line in result.file_failures:
        out.print(f"  could not delete {line}", highlight=False, markup=False)
    if result.file_failures:
        raise typer.Exit(1)
