"""The review UI's options from configs/web.yaml (unknown keys are an error, as in config.py)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from ..config import CONFIG_DIR, ConfigError, read_yaml

WEB_CONFIG = CONFIG_DIR / "web.yaml"


@dataclass(frozen=True, slots=True)
class WebOptions:
    page_size: int = 50
    silence_min: float = 2.0
    count_cap: int = 10_000
    review_cache: int = 16
    coaching_lookback: float = 60.0
    coaching_quote_words: int = 16


def parse_web_options(data: Mapping[str, Any]) -> WebOptions:
    flat = {k: v for k, v in data.items() if k != "coaching"}
    flat.update({f"coaching_{k}": v for k, v in (data.get("coaching") or {}).items()})
    known = {f.name: f.type for f in fields(WebOptions)}
    unknown = sorted(set(flat) - set(known))
    if unknown:
        raise ConfigError(f"web options: unknown key(s) {', '.join(unknown)}")
    try:
        return WebOptions(**{k: (int if known[k] == "int" else float)(v) for k, v in flat.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"web options: {exc}") from None


def load_web_options(path: str | Path | None = None) -> WebOptions:
    return parse_web_options(read_yaml(Path(path) if path else WEB_CONFIG, "web options"))
