"""Privacy as the CLI and the batch apply it: built once from the config (`privacy:` section), then
`apply(review, out_dir, stem)` before anything about the call is written."""
from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..types import Review
from .redact import PrivacyOptions


class Protector:
    def __init__(self, cfg: Config) -> None:
        self.opts = PrivacyOptions.from_config(cfg.raw)
        self.redactor = None
        if self.opts.redact or self.opts.redact_audio:
            from .redact import Redactor

            self.redactor = Redactor(self.opts)

    @property
    def active(self) -> bool:
        return self.redactor is not None

    def apply(self, review: Review, out_dir: Path | None, stem: str) -> tuple[Review, list[Path]]:
        """The masked review, and the redacted audio copy when asked for (written atomically)."""
        if self.redactor is None:
            return review, []
        redacted = self.redactor(review)
        written = []
        if self.opts.redact_audio and out_dir is not None:
            from .audio import silence_spans

            written.append(silence_spans(Path(review.audio.path), redacted.spans, Path(out_dir) / f"{stem}.redacted.wav",
                                         self.opts.audio_margin))
        return redacted.review, written
