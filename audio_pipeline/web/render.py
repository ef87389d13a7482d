"""The Jinja2 environment of the review UI's pages (autoescaping on: every transcript string,
finding text and comment is escaped). Kept apart from the app so the offline export needs only Jinja2."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .callview import mmss
from .security import CSRF_FIELD

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["mmss"] = mmss
    env.globals["csrf_field"] = CSRF_FIELD
    return env
