"""`audio-pipeline` command line. Heavy imports (ctranslate2, torch) happen inside commands, so
`--help` is instant and a user error never costs a model load."""
from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .failures import is_user_error, report
from .outputs import check_output_dir, output_stems

app = typer.Typer(
    name="audio-pipeline",
    help="Review customer-service calls: who said what and when, interruptions, listening gaps, "
         "empathy. Writes a timestamped review (review.json + a Markdown report) per call.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 2) -> "typer.Exit":
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # libraries' warnings (pyannote, torch) are for developers: shown under --verbose only
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'fix your input', reported as one line with exit code 2."""
    from .failures import user_error_types

    return user_error_types()


def summary_table(review) -> Table:
    m = review.metrics
    counts = Counter(f.type for f in review.findings if f.type != "backchannel")
    title = Path(review.audio.path).name
    table = Table(title=title, show_header=False, title_justify="left", box=None, padding=(0, 2))
    table.add_row("duration", f"{review.audio.duration:.1f} s ({review.audio.mode})")
    table.add_row("talk ratio", f"agent {m.agent_talk_ratio:.0%} · customer {m.customer_talk_ratio:.0%} "
                                f"· overlap {m.overlap_seconds:.1f} s")
    table.add_row("findings", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none")
    table.add_row("empathy", f"{m.empathy_statements} statements · dismissive {m.dismissive_statements} "
                             f"· missed {m.missed_empathy}")
    verdict = ("[bold red]FLAGGED[/] — " + "; ".join(review.flag_reasons)) if review.flagged else "[green]not flagged[/]"
    table.add_row("decision", verdict)
    return table


@app.callback()
def _root() -> None:
    """Review customer-service calls (see each command's --help)."""


@app.command()
def review(
    calls: Annotated[list[Path], typer.Argument(help="Call recordings (wav, flac, mp3, ogg, m4a, opus, …) or "
                                                     "transcripts (.json, .jsonl).",
                                                show_default=False)],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Where reviews are written.")] = Path("out"),
    fmt: Annotated[str, typer.Option("--format", "-f", help="Comma list of json, md, rttm, html.")] = "json,md",
    model: Annotated[Optional[str], typer.Option(help="Whisper model: tiny.en, base, or a local CTranslate2 folder.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto (GPU when ctranslate2 sees one), cpu or cuda.",
                                                  show_default="auto")] = None,
    compute_type: Annotated[Optional[str], typer.Option(help="CTranslate2 compute type (int8, float16, …).")] = None,
    channels: Annotated[Optional[str], typer.Option(help="Stereo channel roles, e.g. agent=0,customer=1.")] = None,
    mono: Annotated[bool, typer.Option("--mono", help="Diarize even a stereo file (one mix in both channels).")] = False,
    agent_speaker: Annotated[Optional[str], typer.Option(help="Mono: the diarized label that is the agent.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML overriding configs/default.yaml.")] = None,
    redact: Annotated[bool, typer.Option("--redact", help="Mask personal data (cards, phones, names, addresses, "
                                                         "…) before anything is written.")] = False,
    redact_audio: Annotated[bool, typer.Option("--redact-audio", help="Also write <name>.redacted.wav with the "
                                                                     "masked words silenced (implies --redact).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary tables.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what each stage does.")] = False,
) -> None:
    """Review one or more calls; writes OUTPUT_DIR/<name>.review.json and .review.md."""
    _setup_logging(verbose)
    from .audio import AudioError
    from .config import load_config
    from .export import parse_formats, write_outputs
    from .pipeline import ChannelMap

    errors = user_errors()
    try:
        formats = parse_formats(fmt)
        cmap = ChannelMap.parse(channels) if channels else None
        cfg = load_config(config, {"asr.model": model, "asr.device": device, "asr.compute_type": compute_type,
                                   "privacy.redact": True if redact or redact_audio else None,
                                   "privacy.redact_audio": True if redact_audio else None})
        missing = [c for c in calls if not c.exists()]
        if len(calls) == 1 and missing:
            raise AudioError(f"{missing[0]}: no such file")
        check_output_dir(output_dir)
    except ValueError as exc:
        raise fail(str(exc)) from None
    reviewer = _load_reviewer(cfg, errors, verbose, calls)
    protector = _load_protector(cfg, verbose)
    stems = output_stems(calls)
    bad_input = failed = 0
    for path in calls:
        try:
            started = time.perf_counter()
            with err.status(f"{path.name}: starting", spinner="dots") as status:
                result = reviewer.review(path, channels=cmap, force_mono=mono, agent_speaker=agent_speaker,
                                         progress=lambda stage, p=path: status.update(f"{p.name}: {stage}…"))
            stem = stems[path](result)
            result, extra = protector.apply(result, output_dir, stem)  # masked before anything is written
            written = write_outputs(result, output_dir, formats, stem=stem) + extra
            elapsed = time.perf_counter() - started
        except errors as exc:
            bad_input += 1
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            continue
        except Exception as exc:  # noqa: BLE001 - one line per failed call, the others go on
            failed += 1
            err.print(f"[bold red]error:[/] {escape(f'{path}: {report(exc, str(path), verbose)}')}",
                      highlight=False, soft_wrap=True)
            continue
        if not quiet:
            out.print(summary_table(result))
            speed = result.audio.duration / elapsed if elapsed > 0 else 0
            out.print(f"  wrote {', '.join(str(p) for p in written)}  ({elapsed:.1f} s, {speed:.0f}× real time)\n",
                      highlight=False)
    if failed or bad_input:
        raise typer.Exit(1 if failed else 2)


def _load_reviewer(cfg, errors, verbose: bool = False, calls=()):
    from .pipeline import Reviewer
    from .transcript import is_transcript

    try:
        if calls and all(is_transcript(Path(c)) for c in calls):
            return Reviewer(cfg, device=cfg.asr.device, lazy=True)   # transcripts need no Whisper
        with err.status(f"loading Whisper {cfg.asr.model}", spinner="dots"):
            return Reviewer(cfg, device=cfg.asr.device)
    except errors as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - e.g. --device cuda without a usable GPU
        if cfg.asr.device.startswith("cuda"):
            raise fail(f"--device {cfg.asr.device}: the model cannot run there ({report(exc, 'load', verbose)})") from None
        raise fail(f"cannot load Whisper {cfg.asr.model}: {report(exc, 'load', verbose)}", 1) from None


def _load_protector(cfg, verbose: bool = False):
    from .privacy.apply import Protector

    try:
        with err.status("loading the PII recognizers", spinner="dots"):
            return Protector(cfg)
    except Exception as exc:  # noqa: BLE001 - redaction asked for and unavailable: nothing may be written
        raise fail(f"--redact: {report(exc, 'privacy', verbose)}", 2 if is_user_error(exc) else 1) from None


def _register_extensions() -> None:
    import importlib.util

    if importlib.util.find_spec("audio_pipeline.cli_batch") is not None:
        from .cli_batch import register

        register(app)
    from .cli_web import register as register_web  # serve, disputes

    register_web(app)
    from .cli_retention import register as register_retention

    register_retention(app)
    from .cli_stream import register as register_stream

    register_stream(app)


_register_extensions()


def main() -> None:
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - never a traceback on the terminal
        verbose = any(a in ("-v", "--verbose") for a in sys.argv[1:])
        err.print(f"[bold red]error:[/] {escape(report(exc, ' '.join(sys.argv[1:2]), verbose))}",
                  highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
