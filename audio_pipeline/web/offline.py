"""The call page as one self-contained HTML file (`review CALL --format html`): the same markup as
the web app's call page, its style sheet and script inlined, the audio linked by a path relative to
the file (or embedded as a data: URI), read-only, no network."""
from __future__ import annotations

import base64
import mimetypes
import os
from pathlib import Path
from typing import Any, Mapping

from ..scorecard import load_scorecard
from .callview import call_view, review_view
from .options import load_web_options

HERE = Path(__file__).resolve().parent


def audio_href(audio_path: str, out_dir: Path, embed: bool = False) -> str:
    path = Path(audio_path)
    if embed and path.is_file():
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"data:{media};base64,{base64.b64encode(path.read_bytes()).decode()}"
    try:
        rel = os.path.relpath(path.resolve(), Path(out_dir).resolve())
    except ValueError:  # another drive (Windows): an absolute file URI still works offline
        return path.resolve().as_uri()
    return "/".join(rel.split(os.sep))


def render_offline(review: Mapping[str, Any], out_dir: Path, *, embed_audio: bool = False) -> str:
    from .render import templates

    call = {"pk": None, "call_id": None, "agent_id": None, "queue": None, "started_at": None, "reviewed": False}
    card = load_scorecard()
    view = call_view(review_view(review, [], card, load_web_options()), call=call, decisions={}, card=card,
                     saved_evaluation=None)
    for n, f in enumerate(view["findings"]):
        f["id"] = f"f{n}"
    env = templates()
    return env.get_template("offline.html").render(
        v=view, offline=True, audio_src=audio_href(review["audio"]["path"], out_dir, embed_audio),
        css=(HERE / "static" / "app.css").read_text(encoding="utf-8"),
        script=(HERE / "static" / "call.js").read_text(encoding="utf-8"), csrf="", comments=[], trail=[])
