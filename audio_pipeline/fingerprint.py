"""What a review depends on besides its audio, as one short hash: the batch skips a call only when
this is unchanged. Settings alone are not enough: editing the phrasing lexicon, swapping weights or
upgrading the package changes reviews while every setting stays the same."""
from __future__ import annotations

import hashlib
import json

from . import __version__
from .config import Config


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("audio_pipeline")
    except Exception:  # noqa: BLE001 - running from a source tree that is not installed
        return __version__


def lexicon_sha256(cfg: Config) -> str:
    from .models import tree_sha256

    path = cfg.empathy.lexicon_path
    return tree_sha256(path) if path.is_file() else "absent"


def review_fingerprint(cfg: Config) -> str:
    """16 hex digits over the settings, the lexicon's content, the weights and the package version."""
    from .models import weights_fingerprint

    parts = {
        "settings": cfg.fingerprint(),
        "lexicon": lexicon_sha256(cfg) if cfg.empathy.enabled else "off",
        "weights": weights_fingerprint(cfg.asr.model, cfg.empathy.semantic_model if cfg.empathy.semantic else None,
                                       phrasing_model=cfg.empathy.model if cfg.empathy.semantic else None),
        "package": package_version(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
