"""One call in, one Review out: load → split into agent/customer → transcribe → analyse → review.

`Reviewer` holds the loaded models, so a batch worker builds one and reviews many files. The
diarizer and the sentence embedder load on first need: a stereo call never imports torch unless
the empathy analysis asks for embeddings.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import audio as audio_mod
from . import blocks, echo
from .analysis.turns import analyze_turns
from .audio import Audio, AudioError
from .config import Config
from .device import load_transcriber, torch_device
from .hold_guard import drop_invented
from .review import build_review
from .transcribe import (Transcriber, clean_segments, energies_from_db, snap_to_energy,
                         speech_mask, speech_spans, to_utterances, unheard_acknowledgements)
from .voice_activity import band_db, signal_speech
from .types import AudioInfo, Conversation, Finding, ModelInfo, Review, RoleDecision, Utterance

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ChannelMap:
    agent: int
    customer: int

    @classmethod
    def parse(cls, text: str) -> "ChannelMap":
        """'agent=0,customer=1' → ChannelMap(0, 1)."""
        try:
            pairs = dict(part.split("=") for part in text.replace(" ", "").split(","))
            return cls(agent=int(pairs["agent"]), customer=int(pairs["customer"]))
        except (ValueError, KeyError):
            raise AudioError(f"--channels must look like agent=0,customer=1, got '{text}'") from None


def _rms_db(x: np.ndarray, sample_rate: int) -> float:
    return float(10 * np.log10(blocks.mean_square(x, sample_rate) + 1e-12))


def stereo_layout(a: Audio, cmap: ChannelMap, cfg: Config) -> tuple[str, str]:
    """('stereo'|'mono', reason): a two-channel file is only split by channel when the channels
    really carry different parties."""
    if max(cmap.agent, cmap.customer) >= a.channels:
        raise AudioError(f"{a.path}: channel {max(cmap.agent, cmap.customer)} requested, "
                         f"file has {a.channels} channel(s)")
    agent, customer = a.channel(cmap.agent), a.channel(cmap.customer)
    levels = {"agent": _rms_db(agent, a.sample_rate), "customer": _rms_db(customer, a.sample_rate)}
    silent = [role for role, db in levels.items() if db < cfg.channels.silent_channel_dbfs]
    if len(silent) == 1:
        return "mono", f"the {silent[0]} channel is silent ({levels[silent[0]]:.0f} dBFS)"
    if np.std(agent) > 0 and np.std(customer) > 0:
        corr = blocks.correlation(agent, customer, a.sample_rate)
        if corr >= cfg.channels.same_mix_correlation:
            return "mono", f"both channels carry the same mix (correlation {corr:.3f})"
    return "stereo", ""


class Reviewer:
    """Loads models once; `review(path)` turns one recording into a Review."""

    def __init__(self, cfg: Config, device: str = "auto", transcriber: Transcriber | None = None,
                 lazy: bool = False):
        """`lazy`: load Whisper on the first recording, not now (a run over transcripts never needs it)."""
        self.cfg = cfg
        self._device = device
        self._transcriber = transcriber if transcriber or lazy else load_transcriber(cfg.asr, device=device)
        self._diarizer = None
        self._language = None

    # -- lazily loaded models -------------------------------------------------------------
    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = load_transcriber(self.cfg.asr, device=self._device)
        return self._transcriber

    @property
    def device(self) -> str:
        return self.transcriber.device

    def diarizer(self):
        if self._diarizer is None:
            from .diarize import Diarizer

            self._diarizer = Diarizer(self.cfg.diarization, device=torch_device(self.device))
        return self._diarizer

    def language(self):
        if self._language is None:
            from .language import LanguageAnalyzer

            self._language = LanguageAnalyzer(self.cfg.empathy, device="cpu")
        return self._language

    # -- stages ---------------------------------------------------------------------------
    def _transcribe_stereo(self, a: Audio, cmap: ChannelMap, progress: Progress
                           ) -> tuple[list[Utterance], tuple[tuple[str, float, float], ...]]:
        """The parties' utterances, and where each party's own (echo-guarded) speech is."""
        agent, customer = a.channel(cmap.agent), a.channel(cmap.customer)
        lo, hi = self.cfg.activity.band_low, self.cfg.activity.band_high
        if self.cfg.channels.echo_cancel:
            progress("cancelling line echo")
            agent, customer, paths = echo.cancel_pair(agent, customer, a.sample_rate, (lo, hi))
            log.info("echo paths: agent %s, customer %s", *(echo.describe(p, a.sample_rate) for p in paths))
        # energies on the speech band: mains hum and rumble must not read as anyone's voice
        energy = dict(zip(("agent", "customer"), energies_from_db(
            band_db(agent, a.sample_rate, lo, hi), band_db(customer, a.sample_rate, lo, hi))))
        progress("transcribing both channels")
        margin = self.cfg.asr.crosstalk_margin_db
        masks = {role: speech_mask(energy[role], margin) for role in energy}
        tracks = self.transcriber.transcribe_many([agent, customer], a.sample_rate, [masks["agent"], masks["customer"]])
        blocks.release_free_memory()
        heard: dict[str, list[Utterance]] = {}
        for role, segments in zip(("agent", "customer"), tracks):
            segments = clean_segments(segments, self.cfg.asr, energy[role])
            segments = snap_to_energy(segments, masks[role])
            heard[role] = to_utterances(segments, role, self.cfg.turns.segment_join_gap)
        agent, customer, reach = heard["agent"], heard["customer"], self.cfg.turns.segment_join_gap
        voices = tuple((role, a_, b_) for role in masks for a_, b_ in speech_spans(masks[role], 0.05))
        return (agent + customer + unheard_acknowledgements(masks["agent"], agent, customer, "agent", reach)
                + unheard_acknowledgements(masks["customer"], customer, agent, "customer", reach)), voices

    def _transcribe_mono(self, samples: np.ndarray, sr: int, progress: Progress,
                         agent_speaker: str | None
                         ) -> tuple[list[Utterance], RoleDecision, tuple[tuple[float, float, str], ...]]:
        """Diarize, transcribe the mix once, give each word to the voice it overlaps most, split at
        speaker changes, then decide which voice is the agent."""
        from .diarize import attribute_words, overlapped_utterances, split_utterances
        from .roles import assign_roles

        progress("diarizing")
        dia = self.diarizer()(samples, sr)
        progress("transcribing")
        segments = clean_segments(self.transcriber.transcribe(samples, sr), self.cfg.asr)
        words = [w for seg in segments for w in seg.words]
        groups = split_utterances(attribute_words(words, dia), dia, self.cfg.turns.segment_join_gap)
        labelled = overlapped_utterances(groups, dia)
        by_label: dict[str, list[Utterance]] = {label: [] for label in dia.labels}
        for u in labelled:
            by_label.setdefault(u.speaker, []).append(u)
        if agent_speaker and agent_speaker not in by_label:
            raise AudioError(f"--agent-speaker {agent_speaker}: no such speaker (found {', '.join(sorted(by_label)) or 'none'})")
        opts = replace(self.cfg.diarization, agent_speaker=agent_speaker) if agent_speaker else self.cfg.diarization
        decision = assign_roles(by_label, opts)
        utterances = [replace(u, speaker=decision.mapping.get(u.speaker, "other")) for u in labelled]
        turns = tuple((t.start, t.end, decision.mapping.get(t.speaker, "other")) for t in dia.turns)
        return utterances, decision, turns

    def review_transcript(self, path: str | Path, progress: Progress = lambda stage: None) -> Review:
        """The same analysis over an existing transcript (transcript.py): no audio, no ASR."""
        from .transcript import load_transcript

        progress("reading the transcript")
        conv, digest = load_transcript(path)
        progress("analysing")
        ta = analyze_turns(conv, self.cfg.turns, self.cfg.severity)
        language, lang_metrics = ([], None)
        if self.cfg.empathy.enabled and conv.utterances:
            language, lang_metrics = self.language().analyze(conv)
        info = AudioInfo(path=str(path), sha256=digest, duration=conv.duration, sample_rate=0, channels=0,
                         mode="transcript")
        return build_review(info, ModelInfo(asr="transcript", diarization=None, device="cpu"), conv, ta,
                            self.cfg, language, lang_metrics)

    def review(self, path: str | Path, *, channels: ChannelMap | None = None, force_mono: bool = False,
               agent_speaker: str | None = None, progress: Progress = lambda stage: None) -> Review:
        from .transcript import is_transcript

        if is_transcript(Path(path)):
            return self.review_transcript(path, progress)
        cfg = self.cfg
        cmap = channels or ChannelMap(cfg.channels.agent, cfg.channels.customer)
        progress("loading audio")
        a = audio_mod.load(path, cfg.audio.sample_rate, cfg.audio.min_duration,
                           max_channels=64 if channels else cfg.audio.max_channels_without_mapping)
        notes: list[Finding] = []
        layout, why = ("mono", "") if a.channels == 1 or force_mono else stereo_layout(a, cmap, cfg)
        roles, speaker_turns = None, ()
        if layout == "stereo":
            utterances, voices = self._transcribe_stereo(a, cmap, progress)
            voiced = [a.channel(cmap.agent), a.channel(cmap.customer)]
        else:
            if why:
                log.warning("%s: %s; reviewing it as a mono recording", a.path, why)
                notes.append(_layout_note(why, a.duration))
            mono = a.mono() if a.channels == 1 or force_mono or "same mix" in why else _loud_channel(a, cmap)
            utterances, roles, speaker_turns = self._transcribe_mono(mono, a.sample_rate, progress, agent_speaker)
            voiced = [mono]
            if roles.uncertain:
                from .roles import uncertain_finding

                notes.append(uncertain_finding(roles, a.duration))
        utterances = drop_invented(utterances, cfg.asr.invented_gap, cfg.asr.invented_probability_max)
        speech = signal_speech(voiced, a.sample_rate, cfg.activity) if cfg.activity.enabled else None
        if layout != "stereo":
            voices = tuple((who, s, e) for s, e, who in speaker_turns)
        conv = Conversation(tuple(sorted(utterances, key=lambda u: (u.start, u.end))), a.duration, speech,
                            voices if cfg.activity.enabled else None)
        progress("analysing")
        ta = analyze_turns(conv, cfg.turns, cfg.severity)
        language, lang_metrics = ([], None)
        if cfg.empathy.enabled and conv.utterances:
            language, lang_metrics = self.language().analyze(conv)
        info = AudioInfo(path=a.path, sha256=a.sha256, duration=a.duration, sample_rate=a.source_rate,
                         channels=a.channels, mode="stereo" if layout == "stereo" else "mono-diarized")
        models = ModelInfo(asr=self.transcriber.name,
                           diarization=self._diarizer.name if layout == "mono" and self._diarizer else None,
                           device=self.device)
        review = build_review(info, models, conv, ta, cfg, language + notes, lang_metrics, roles)
        return replace(review, speaker_turns=speaker_turns)


def _loud_channel(a: Audio, cmap: ChannelMap) -> np.ndarray:
    agent, customer = a.channel(cmap.agent), a.channel(cmap.customer)
    return agent if _rms_db(agent, a.sample_rate) >= _rms_db(customer, a.sample_rate) else customer


def _layout_note(why: str, duration: float) -> Finding:
    return Finding(type="audio_layout", speaker=None, start=0.0, end=duration, severity="info",
                   message=f"Stereo file reviewed as mono: {why}", rule="channels.layout_check")
