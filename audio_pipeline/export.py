"""Writers for a Review: review.json (schema call-review/1), a Markdown report, RTTM.

Times are rounded to 0.01 s here and only here. Every file is written to a temporary name in the
target folder and renamed, so a crash never leaves half a review behind.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

from .types import SEVERITY_RANK, Finding, Review, Utterance

SCHEMA = "call-review/1"
FORMATS = ("json", "md", "rttm", "html")


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def _utterance(u: Utterance) -> dict:
    return {"speaker": u.speaker, "start": _r(u.start), "end": _r(u.end), "text": u.text,
            "words": [{"start": _r(w.start), "end": _r(w.end), "text": w.text,
                       "probability": round(float(w.probability), 3)} for w in u.words]}


def _finding(f: Finding) -> dict:
    d = {"type": f.type, "speaker": f.speaker, "start": _r(f.start), "end": _r(f.end),
         "severity": f.severity, "message": f.message, "evidence": f.evidence, "rule": f.rule,
         "category": f.category}
    d.update({k: _plain(v) for k, v in f.extra.items()})
    return d


def _plain(value: object) -> object:
    """JSON-ready: numpy scalars become Python ones, floats are rounded."""
    if hasattr(value, "item"):
        value = value.item()  # type: ignore[union-attr]
    return _r(value) if isinstance(value, float) else value


def _metrics(review: Review) -> dict:
    out = {}
    for key, value in asdict(review.metrics).items():
        out[key] = round(value, 3) if isinstance(value, float) else (dict(value) if isinstance(value, dict) else value)
    return out


def review_to_dict(review: Review) -> dict:
    a = review.audio
    d = {
        "schema": SCHEMA,
        "audio": {"path": a.path, "sha256": a.sha256, "duration": _r(a.duration), "sample_rate": a.sample_rate,
                  "channels": a.channels, "mode": a.mode},
        "models": {"asr": review.models.asr, "diarization": review.models.diarization,
                   "device": review.models.device},
        "utterances": [_utterance(u) for u in review.utterances],
        "findings": [_finding(f) for f in review.findings],
        "metrics": _metrics(review),
        "flagged": review.flagged,
        "flag_reasons": list(review.flag_reasons),
    }
    if review.roles is not None:
        r = review.roles
        d["roles"] = {"mapping": dict(r.mapping), "method": r.method, "confidence": round(r.confidence, 3),
                      "evidence": r.evidence, "uncertain": r.uncertain}
    return d


def mmss(t: float) -> str:
    t = max(0.0, t)
    return f"{int(t // 60):02d}:{t % 60:05.2f}"


def _md_findings(review: Review) -> list[str]:
    shown = [f for f in review.findings if f.type != "backchannel"]
    if not shown:
        return ["No findings."]
    ordered = sorted(shown, key=lambda f: (-SEVERITY_RANK[f.severity], f.start))
    lines = ["| when | severity | type | who | what | evidence |", "|---|---|---|---|---|---|"]
    for f in ordered:
        kind = f.type + (f" ({f.category})" if f.category else "")
        evidence = f.evidence.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {mmss(f.start)}–{mmss(f.end)} | {f.severity} | {kind} | {f.speaker or '—'} "
                     f"| {f.message} | {evidence} |")
    return lines


def _md_empathy(review: Review) -> list[str]:
    m = review.metrics
    cats = ", ".join(f"{k} {v}" for k, v in sorted(m.empathy_by_category.items())) or "none"
    return [f"- empathy statements: {m.empathy_statements} ({cats})",
            f"- dismissive statements: {m.dismissive_statements}",
            f"- sympathy/pity statements: {m.sympathy_statements}",
            f"- customer distress moments: {m.customer_distress}, missed empathy: {m.missed_empathy}"]


def _source_line(review: Review) -> str:
    a = review.audio
    if a.mode == "transcript":
        return f"- duration {mmss(a.duration)}, reviewed from a transcript (no audio)"
    return (f"- duration {mmss(a.duration)}, {a.mode}, {a.sample_rate} Hz, {a.channels} channel(s); "
            f"ASR {review.models.asr} on {review.models.device}")


def review_to_markdown(review: Review) -> str:
    a, m = review.audio, review.metrics
    counts = Counter(f.type for f in review.findings)
    status = "**FLAGGED** — " + "; ".join(review.flag_reasons) if review.flagged else "not flagged"
    latency = "n/a" if m.mean_response_latency is None else f"{m.mean_response_latency:.2f} s"
    lines = [
        f"# Call review: {Path(a.path).name}", "",
        f"- status: {status}",
        _source_line(review),
        f"- talk: agent {m.agent_talk_ratio:.0%}, customer {m.customer_talk_ratio:.0%}, "
        f"overlap {m.overlap_seconds:.1f} s; mean response latency {latency}",
        f"- interruptions: agent {m.interruptions_by_agent}, customer {m.interruptions_by_customer}; "
        f"backchannels {m.backchannels}; dead air {m.dead_air_count} ({m.dead_air_seconds:.1f} s); "
        f"slow responses {m.slow_responses}; longest agent monologue {m.longest_agent_monologue:.0f} s",
        f"- findings: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"),
    ]
    if review.roles is not None:
        r = review.roles
        lines.append(f"- roles: {', '.join(f'{k}→{v}' for k, v in r.mapping.items())} "
                     f"({'UNCERTAIN, ' if r.uncertain else ''}{r.method}, confidence {r.confidence:.2f}"
                     f"{'; ' + r.evidence if r.evidence else ''})")
    lines += ["", "## Findings", "", *_md_findings(review), "", "## Empathy", "", *_md_empathy(review),
              "", "## Transcript", ""]
    lines += [f"**[{mmss(u.start)}] {u.speaker}:** {u.text}  " for u in review.utterances] or ["(no speech)"]
    return "\n".join(lines) + "\n"


def review_to_rttm(review: Review) -> str:
    """Who spoke when. Mono: the diarization's speech turns (short turns and overlapped speech that
    got no words are speech too); stereo: the parties' utterances."""
    uri = Path(review.audio.path).stem.replace(" ", "_")
    turns = review.speaker_turns or tuple((u.start, u.end, u.speaker) for u in review.utterances)
    return "".join(f"SPEAKER {uri} 1 {start:.3f} {end - start:.3f} <NA> <NA> {who} <NA> <NA>\n"
                   for start, end, who in sorted(turns))


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; others (a web server) may need to read it
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask: from /proc on Linux (no race), else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_WRITERS: dict[str, tuple[str, Callable[[Review], str] | None]] = {
    "json": (".review.json", lambda r: json.dumps(review_to_dict(r), indent=2, ensure_ascii=False) + "\n"),
    "md": (".review.md", review_to_markdown),
    "rttm": (".rttm", review_to_rttm),
    "html": (".review.html", None),  # rendered knowing the output folder: it links the audio relatively
}


def review_to_html(review: Review, out_dir: Path) -> str:
    """The review UI's call page as one offline file (audio_pipeline/web/offline.py)."""
    from .web.offline import render_offline

    return render_offline(review_to_dict(review), out_dir)


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in _WRITERS]
    if bad or not formats:
        raise ValueError(f"unknown format '{','.join(bad) or text}'; choose from {', '.join(FORMATS)}")
    return formats


def write_outputs(review: Review, out_dir: Path, formats: Sequence[str], stem: str | None = None) -> list[Path]:
    stem = stem or Path(review.audio.path).stem
    written = []
    for fmt in formats:
        suffix, render = _WRITERS[fmt]
        path = Path(out_dir) / f"{stem}{suffix}"
        atomic_write(path, render(review) if render else review_to_html(review, path.parent))
        written.append(path)
    return written
