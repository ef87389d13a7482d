"""The review's language stage: empathy phrasing over a Conversation. Built by the Reviewer on the
first call that has speech; the sentence embedder (numpy MiniLM, ~0.2 s to load) is cached per
process by `load_embedder`."""
from __future__ import annotations

from .config import EmpathyOptions
from .types import Conversation, Finding


class LanguageAnalyzer:
    def __init__(self, opts: EmpathyOptions, device: str = "cpu"):
        from .analysis.empathy import embedder_for, load_lexicon

        self.opts = opts
        self.lexicon = load_lexicon(opts.lexicon_path)
        # the numpy embedder is the fast one on CPU; a GPU gives no gain for a few dozen sentences
        self.embedder = embedder_for(opts, "cpu")

    def analyze(self, conv: Conversation) -> tuple[list[Finding], dict]:
        from .analysis.empathy import analyze_empathy, empathy_metrics

        findings = analyze_empathy(conv, self.lexicon, self.embedder, self.opts)
        return findings, empathy_metrics(findings)
