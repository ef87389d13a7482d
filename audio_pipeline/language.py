"""The review's language stage: empathy phrasing over a Conversation. Built by the Reviewer on the
first call that has speech; the sentence embedder (numpy MiniLM, ~0.2 s to load) is cached per
process by `load_embedder`."""
from __future__ import annotations

from .config import EmpathyOptions
from .types import Conversation, Finding


def load_phrasing_model(opts: EmpathyOptions, embedder):
    """The trained phrasing head the options name, checked against the embedder it was trained
    on (None: `empathy.model: none`, or semantic matching off)."""
    if embedder is None or opts.model in ("none", "off"):
        return None
    from .analysis.embedder import encoder_identity
    from .models import ModelNotFound, find_phrasing_model
    from .phrasing.model import load

    path = find_phrasing_model(opts.model)
    model = load(path)
    if model.encoder != encoder_identity(embedder):
        raise ModelNotFound(f"the phrasing model was trained on encoder {model.encoder}, not on "
                            f"{encoder_identity(embedder)}: retrain it (make train-phrasing)")
    if model.pair_refs:
        from .models import find_phrasing_pairs, find_sentence_model
        from .phrasing import pairs

        model = model.with_pairs({speaker: pairs.load(p, find_sentence_model())
                                  for speaker, p in find_phrasing_pairs(path, model.pair_refs).items()})
    return model


class LanguageAnalyzer:
    def __init__(self, opts: EmpathyOptions, device: str = "cpu"):
        from .analysis.empathy import embedder_for, load_lexicon

        self.opts = opts
        self.lexicon = load_lexicon(opts.lexicon_path)
        # the numpy embedder is the fast one on CPU; a GPU gives no gain for a few dozen sentences
        self.embedder = embedder_for(opts, "cpu")
        self.model = load_phrasing_model(opts, self.embedder)

    def analyze(self, conv: Conversation) -> tuple[list[Finding], dict]:
        from .analysis.empathy import analyze_empathy, empathy_metrics

        findings = analyze_empathy(conv, self.lexicon, self.embedder, self.opts, self.model)
        return findings, empathy_metrics(findings)
