"""Reviews for the review-UI tests and bench/ui.py, built from the samples' truth files through the
real analysis code: each scripted turn becomes an utterance (words spread over its span, pauses
kept), then the pipeline's own turn-taking, empathy and role functions and `build_review` make the
review, which is stored with `Store.save_review` exactly as the batch stores one. No ASR: that is
what makes building thousands of them cheap; the audio file served is the sample's own."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from audio_pipeline.analysis.turns import analyze_turns
from audio_pipeline.config import Config, load_config
from audio_pipeline.export import review_to_dict
from audio_pipeline.language import LanguageAnalyzer
from audio_pipeline.review import build_review
from audio_pipeline.roles import assign_roles
from audio_pipeline.store import CallMeta, Store
from audio_pipeline.types import AudioInfo, Conversation, ModelInfo, Utterance, Word

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
XSS_TEXT = "I typed <script>window.__xss = 1</script> and <img src=x onerror=\"window.__xss=2\"> in the form"


def _words(start: float, end: float, text: str, pauses: list[list[float]]) -> tuple[Word, ...]:
    """Words spread evenly over the turn's speech, skipping its labelled pauses."""
    tokens = text.split()
    pieces, cursor = [], start
    for p0, p1 in sorted(pauses):
        pieces.append((cursor, p0))
        cursor = p1
    pieces.append((cursor, end))
    speech = sum(b - a for a, b in pieces) or 1e-6
    words, k = [], 0
    for a, b in pieces:
        share = round(len(tokens) * (b - a) / speech) if (a, b) != pieces[-1] else len(tokens) - k
        n = max(0, min(share, len(tokens) - k))
        for i in range(n):
            s = a + (b - a) * i / n
            words.append(Word(round(s, 3), round(s + (b - a) / n - 0.02, 3), tokens[k + i], 0.9))
        k += n
    return tuple(words)


def conversation(truth: dict[str, Any], *, repeat: int = 1, replace_text: str | None = None) -> Conversation:
    utterances = []
    for r in range(repeat):
        offset = r * truth["duration"]
        for n, t in enumerate(truth["turns"]):
            text = replace_text if (replace_text and t["speaker"] == "customer" and n == 1 and r == 0) else t["text"]
            start, end = t["start"] + offset, t["end"] + offset
            pauses = [[p0 + offset, p1 + offset] for p0, p1 in t.get("pauses") or []] if text == t["text"] else []
            utterances.append(Utterance(t["speaker"], start, end, text, _words(start, end, text, pauses)))
    utterances.sort(key=lambda u: (u.start, u.end))
    return Conversation(tuple(utterances), truth["duration"] * repeat)


def build(name: str, cfg: Config, *, repeat: int = 1, mono: bool = False, replace_text: str | None = None,
          variant: str = "") -> dict[str, Any]:
    """review.json dict for samples/NAME (its truth file), through the real analysis."""
    truth = json.loads((SAMPLES / f"{name}.truth.json").read_text())
    audio = SAMPLES / truth["audio"]
    conv = conversation(truth, repeat=repeat, replace_text=replace_text)
    roles = None
    if mono:  # diarized labels as a mono call would have them; the real role assignment decides
        labels = {"agent": "SPEAKER_01", "customer": "SPEAKER_00"}
        by_label = {labels[s]: [replace(u, speaker=labels[s]) for u in conv.utterances if u.speaker == s]
                    for s in labels}
        roles = assign_roles(by_label, cfg.diarization)
        conv = replace(conv, utterances=tuple(replace(u, speaker=roles.mapping.get(labels[u.speaker], "other"))
                                              for u in conv.utterances))
    ta = analyze_turns(conv, cfg.turns, cfg.severity)
    language, metrics = LanguageAnalyzer(cfg.empathy).analyze(conv)
    sha = hashlib.sha256(audio.read_bytes() + variant.encode()).hexdigest()
    info = AudioInfo(path=str(audio), sha256=sha, duration=conv.duration, sample_rate=truth["sample_rate"],
                     channels=1 if mono else 2, mode="mono-diarized" if mono else "stereo")
    models = ModelInfo(asr="truth-transcript", diarization="truth" if mono else None, device="cpu")
    return review_to_dict(build_review(info, models, conv, ta, cfg, language, metrics, roles))


CALLS = [  # (sample, call_id, agent, queue, started_at, options)
    ("demo_call", "demo-0001", "A17", "broadband", "2026-11-23T09:15:00", {}),
    ("sample_crosstalk", "cross-0002", "A17", "home-services", "2026-11-24T14:02:00", {}),
    ("sample_monologue", "mono-0003", "B04", "billing", "2026-11-16T11:30:00", {"mono": True}),
    ("sample_monologue", "xss-0004", "B04", "billing", "2026-11-25T16:45:00",
     {"replace_text": XSS_TEXT, "variant": "xss"}),
]


def fill(db: Path, cfg: Config | None = None) -> dict[str, int]:
    """Store the test calls; returns call_id -> call primary key."""
    cfg = cfg or load_config()
    with Store(db) as store:
        for name, call_id, agent, queue, started, opts in CALLS:
            review = build(name, cfg, **opts)
            store.save_review(review, model="truth", config_fp=cfg.fingerprint(), run_id=None,
                              meta=CallMeta(call_id=call_id, agent_id=agent, queue=queue, started_at=started))
        return {r[0]: r[1] for r in store.db.execute("SELECT call_id, id FROM calls")}
