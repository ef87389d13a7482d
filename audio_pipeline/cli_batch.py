"""`audio-pipeline batch | flagged | agents`: the nightly batch and the supervisors' queries.

cli.py calls `register(app)`. Heavy imports (models, Ray) happen inside the commands; a user error
is one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import csv
import json
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from .batch import BatchSummary, FileEvent, Plan
    from .store import Store

TABLE_FORMATS = ("table", "json", "csv")


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)
    app.command("flagged")(flagged)
    app.command("agents")(agents)


def _consoles() -> tuple["Console", "Console"]:
    from .cli import err, out  # imported late: cli.py imports this module while it loads

    return out, err


def _fail(message: str, code: int = 2) -> typer.Exit:
    from .cli import fail

    return fail(message, code)


# ---------------------------------------------------------------------------------------------
# batch

def batch(
    source: Annotated[str, typer.Argument(metavar="DIR|GLOB|MANIFEST.csv", show_default=False,
                                          help="A folder (searched recursively), a quoted glob such as "
                                               "'calls/**/*.wav', or a CSV manifest with a path column "
                                               "(and call_id, agent_id, queue, started_at).")],
    db: Annotated[Optional[Path], typer.Option("--db", help="SQLite review store (created if missing).",
                                               show_default=False)] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write each review as files here.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="With --out: comma list of json, md, rttm.",
                                               show_default="json")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "-w", help="Model-holding workers.",
                                                   show_default="one per CPU core / fill the Ray cluster")] = None,
    engine: Annotated[Optional[str], typer.Option(help="local (process pool), ray (a Ray cluster) or shared "
                                                       "(one model, calls' speech batched together: a GPU).",
                                                  show_default="local")] = None,
    address: Annotated[Optional[str], typer.Option(help="Ray cluster: auto or HOST:6379; none starts a "
                                                        "private local Ray instance.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML overriding configs/default.yaml.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Whisper model: tiny.en, base, or a CTranslate2 folder.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.", show_default="auto")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Try again files that already failed "
                                                                      "with the same bytes and settings.")] = False,
    redact: Annotated[bool, typer.Option("--redact", help="Mask personal data in the store and the files "
                                                         "(privacy.redact).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what each stage does.")] = False,
) -> None:
    """Review every call under DIR (or matching GLOB, or listed in a manifest) into a SQLite store.

    Calls already reviewed with the same audio, model and settings are skipped:
    after an interruption, the same command again finishes the job.
    Exit code 0 when every file was reviewed, 1 when any failed (each is listed and stored), 2 for bad input.
    """
    from .cli import _setup_logging

    _setup_logging(verbose)
    request, cfg = _batch_request(source, db, out_dir, fmt, workers, engine, address, config, model, device,
                                  retry_failed, redact)
    from .batch import BatchAbort, BatchInputError, run_batch
    from .store import StoreError

    out, err = _consoles()
    try:
        with _sigterm_as_interrupt(), _reporter(err) as reporter:
            summary = run_batch(request, cfg, reporter)
    except (BatchInputError, StoreError) as exc:
        raise _fail(str(exc)) from None
    except BatchAbort as exc:
        raise _fail(str(exc), 1) from None
    except Exception as exc:  # noqa: BLE001 - a locked database, a full disk: one line, exit 1
        from .failures import report

        raise _fail(report(exc, "batch", verbose), 1) from None
    _print_summary(out, summary)
    raise typer.Exit(summary.exit_code)


def _batch_request(source: str, db: Path | None, out_dir: Path | None, fmt: str | None, workers: int | None,
                   engine: str | None, address: str | None, config: Path | None, model: str | None,
                   device: str | None, retry_failed: bool, redact: bool = False):
    """Validate the options (exit 2 with one line on a bad one) → (BatchRequest, Config)."""
    from .batch import BatchInputError, BatchRequest, check_ray_address
    from .config import ConfigError, load_config
    from .export import parse_formats
    from .models import ModelNotFound, find_whisper

    if db is None:
        raise _fail("missing --db FILE (the SQLite review store, e.g. --db reviews.sqlite)")
    if fmt is not None and out_dir is None:
        raise _fail("--format needs --out DIR (the store always keeps the full review)")
    if workers is not None and workers < 1:
        raise _fail("--workers must be 1 or more")
    try:
        cfg = load_config(config, {"asr.model": model, "asr.device": device,
                                   "privacy.redact": True if redact else None})
        formats = parse_formats(fmt) if fmt else list(cfg.batch.formats)
        engine = (engine or cfg.batch.engine).lower()
        if engine not in ("local", "ray", "shared"):
            raise ValueError(f"--engine must be local or ray (or shared: one model, calls batched "
                             f"together), got '{engine}'")
        if address and engine != "ray":
            raise ValueError("--address is for --engine ray")
        address = address or cfg.batch.address
        if out_dir is not None:
            from .outputs import check_output_dir

            check_output_dir(out_dir, "--out")
        if engine == "local" or not address:
            find_whisper(cfg.asr.model)  # fail before starting workers, not once per worker
        else:
            check_ray_address(address)
    except (ConfigError, ModelNotFound, BatchInputError, ValueError) as exc:
        raise _fail(str(exc)) from None
    return BatchRequest(source=source, db=db, out_dir=out_dir, formats=tuple(formats), engine=engine,
                        workers=workers or 0, address=address, device=cfg.asr.device,
                        retry_failed=retry_failed or cfg.batch.retry_failed), cfg


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A scheduler's SIGTERM stops the batch like Ctrl-C: workers stopped, run marked interrupted."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _reporter(err: "Console") -> Iterator[Any]:
    reporter = RichReporter(err) if err.is_terminal else PlainReporter(err)
    try:
        yield reporter
    finally:
        reporter.close()


def _audio(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 360 else f"{seconds / 60:.1f} min"


class _Rates:
    """Files done, audio reviewed and speed since the workers were asked for."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.done = self.total = 0
        self.audio_seconds = 0.0

    def add(self, event: "FileEvent") -> None:
        self.done += 1
        self.audio_seconds += event.audio_seconds

    @property
    def speed(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.audio_seconds / elapsed if elapsed > 0 else 0.0


def _plan_line(plan: "Plan") -> str:
    parts = [f"{len(plan.todo)} to review"]
    if plan.already_done:
        parts.append(f"{plan.already_done} already reviewed")
    if plan.known_bad:
        parts.append(f"{len(plan.known_bad)} failed before (--retry-failed to try again)")
    if plan.unreadable:
        parts.append(f"{len(plan.unreadable)} unreadable")
    return ", ".join(parts)


class PlainReporter:
    """Not a terminal (cron, CI, a log file): one line per file."""

    def __init__(self, err: "Console") -> None:
        self.err, self.rates = err, _Rates()

    def _print(self, text: str) -> None:
        self.err.print(text, highlight=False, markup=False, soft_wrap=True)

    def planned(self, plan: "Plan") -> None:
        self.rates = _Rates()
        self.rates.total = len(plan.todo) + len(plan.unreadable)
        self._print(f"batch: {_plan_line(plan)}")

    def started(self, engine: str, workers: int, seconds: float) -> None:
        self._print(f"batch: {workers} {engine} worker(s) ready in {seconds:.1f} s")

    def file_done(self, event: "FileEvent") -> None:
        r = self.rates
        r.add(event)
        head = f"[{r.done}/{r.total}]"
        if event.status == "failed":
            self._print(f"{head} FAILED {event.message}")
            return
        speed = event.audio_seconds / event.seconds if event.seconds > 0 else 0.0
        flag = " FLAGGED" if event.flagged else ""
        note = " (same audio as a reviewed call)" if event.status == "duplicate" else ""
        self._print(f"{head} {event.status} {event.path} {event.audio_seconds:.1f} s audio in {event.seconds:.1f} s "
                    f"({speed:.1f}x real time){flag}{note}; total {_audio(r.audio_seconds)}, {r.speed:.1f}x")

    def close(self) -> None:
        pass


class RichReporter:
    """A terminal: one progress bar with files, audio hours, speed and ETA."""

    def __init__(self, err: "Console") -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.err, self.rates = err, _Rates()
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), console=err)
        self.task = None

    def planned(self, plan: "Plan") -> None:
        self.err.print(f"batch: {_plan_line(plan)}", highlight=False)
        self.rates = _Rates()
        self.rates.total = len(plan.todo) + len(plan.unreadable)
        self.progress.start()
        self.task = self.progress.add_task("loading models", total=self.rates.total, stats="")

    def started(self, engine: str, workers: int, seconds: float) -> None:
        self.progress.update(self.task, description=f"reviewing ({workers} {engine} worker{'s' * (workers > 1)})")

    def file_done(self, event: "FileEvent") -> None:
        self.rates.add(event)
        if event.status == "failed":
            self.progress.console.print(f"[red]failed[/] {event.message}", highlight=False, soft_wrap=True)
        stats = f"{_audio(self.rates.audio_seconds)} audio · {self.rates.speed:.1f}× real time"
        self.progress.update(self.task, advance=1, stats=stats)

    def close(self) -> None:
        self.progress.stop()


def _print_summary(out: "Console", s: "BatchSummary") -> None:
    def say(text: str) -> None:
        out.print(text, highlight=False, markup=False, soft_wrap=True)

    head = "interrupted" if s.interrupted else "done"
    say(f"run {s.run_id} {head}: {s.reviewed} reviewed ({s.flagged} flagged), {s.already_done} already reviewed, "
        f"{len(s.failed) + len(s.known_bad)} failed" + (f", {s.duplicates} duplicate audio" if s.duplicates else ""))
    if s.reviewed:
        per_hour = s.reviewed / s.wall_seconds * 3600 if s.wall_seconds > 0 else 0.0
        say(f"  {_audio(s.audio_seconds)} of audio in {s.wall_seconds:.1f} s on {s.workers} {s.engine} "
            f"worker{'s' * (s.workers > 1)}: {s.realtime_factor:.1f}x real time, {per_hour:.0f} calls/hour "
            f"(start-up {s.startup_seconds:.1f} s)")
    failures = [*s.failed, *s.known_bad]
    for failure in failures[:50]:
        say(f"  failed: {failure.message}")
    if len(failures) > 50:
        say(f"  ... and {len(failures) - 50} more (table errors, run {s.run_id})")
    if s.interrupted:
        say("  stopped early: run the same command again to finish (reviewed calls are kept)")


# ---------------------------------------------------------------------------------------------
# queries

def _open_store(db: Path) -> "Store":
    from .store import Store, StoreError

    if not db.is_file():
        raise _fail(f"{db}: no such review database (create one with `audio-pipeline batch … --db {db}`)")
    try:
        return Store(db)
    except StoreError as exc:
        raise _fail(str(exc)) from None


def _bounds(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    from .store import parse_when

    try:
        return (parse_when(since) if since else None, parse_when(until, end_of_day=True) if until else None)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in TABLE_FORMATS:
        raise _fail(f"--format must be one of {', '.join(TABLE_FORMATS)}, got '{fmt}'")
    return fmt


DbOption = Annotated[Optional[Path], typer.Option("--db", help="SQLite review store written by `batch`.",
                                                  show_default=False)]
SinceOption = Annotated[Optional[str], typer.Option(help="Calls started on/after this date (YYYY-MM-DD or ISO time).")]
UntilOption = Annotated[Optional[str], typer.Option(help="Calls started up to this date (a date includes the whole day).")]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")]


def flagged(
    db: DbOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    agent: Annotated[Optional[str], typer.Option(help="Only this agent's calls.")] = None,
    finding_type: Annotated[Optional[str], typer.Option("--type", help="Only calls with this finding type "
                                                                       "(interruption, dead_air, missed_empathy, …).")] = None,
    fmt: FormatOption = "table",
    limit: Annotated[int, typer.Option(help="At most this many calls (0 = all).")] = 50,
) -> None:
    """The supervisors' queue: flagged calls, most severe first (critical, then warning findings, then reasons)."""
    if db is None:
        raise _fail("missing --db FILE")
    fmt, bounds = _check_format(fmt), _bounds(since, until)
    with _open_store(db) as store:
        calls = store.flagged(since=bounds[0], until=bounds[1], agent=agent, finding_type=finding_type,
                              limit=limit or None)
    rows = [c.as_dict() for c in calls]
    out, _ = _consoles()
    if fmt != "table":
        _emit(fmt, rows)
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), title=f"{len(rows)} flagged call(s), most severe first", title_justify="left")
    for name in ("#", "call", "agent", "started", "length", "crit", "warn", "why", "findings"):
        table.add_column(name, overflow="fold")
    for i, c in enumerate(calls, start=1):
        table.add_row(str(i), c.call_id or Path(c.path).name, c.agent_id or "—", (c.started_at or "—").replace("T", " "),
                      f"{(c.duration or 0) / 60:.1f} min", str(c.critical), str(c.warning), "; ".join(c.flag_reasons),
                      ", ".join(f"{t}×{n}" for t, n in c.finding_types.items()))
    out.print(table)


def agents(
    db: DbOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Per-agent figures over a period: calls, interruptions, empathy, dead air, missed empathy, flagged share."""
    if db is None:
        raise _fail("missing --db FILE")
    fmt, bounds = _check_format(fmt), _bounds(since, until)
    with _open_store(db) as store:
        stats = store.agents(since=bounds[0], until=bounds[1])
    rows = [s.as_dict() for s in stats]
    out, _ = _consoles()
    if fmt != "table":
        _emit(fmt, rows)
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), title="per agent, figures per call: interruptions, empathy and dismissive statements, "
                        "missed empathy, dead air (count, seconds); share of calls flagged", title_justify="left")
    for name in ("agent", "calls", "hours", "interr", "empathy", "dismiss", "missed", "dead air", "dead s", "flagged"):
        table.add_column(name, justify="left" if name == "agent" else "right", no_wrap=True)
    for s in stats:
        table.add_row(s.agent_id or "(unknown)", str(s.calls), f"{s.audio_hours:.2f}", f"{s.interruptions_per_call:.2f}",
                      f"{s.empathy_per_call:.2f}", f"{s.dismissive_per_call:.2f}", f"{s.missed_empathy_per_call:.2f}",
                      f"{s.dead_air_per_call:.2f}", f"{s.dead_air_seconds_per_call:.1f}", f"{s.flagged_share:.0%}")
    out.print(table)


def _emit(fmt: str, rows: Sequence[dict[str, Any]]) -> None:
    """json / csv straight to stdout (no rich wrapping: other programs read it)."""
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
                         for k, v in row.items()})
