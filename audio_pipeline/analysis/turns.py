"""Turn-taking analysis: interruptions vs backchannels, dead air and holds, slow responses,
monologues, and the talk-time metrics (DESIGN §2). Pure functions over a Conversation.

Who talks when comes from word timestamps (not raw VAD), so one party's echo on the other's
channel, already removed at transcription, cannot create phantom overlaps. Whether anyone talks at
all also takes the signal's voice activity (`Conversation.speech`): a silence finding needs both
to be silent, so speech the ASR did not word is never reported as dead air.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..config import SeverityOptions, TurnOptions
from ..types import UNHEARD, Conversation, Finding, Utterance, Word
from . import timeline
from .timeline import Span

PARTIES = ("agent", "customer")
_NON_WORD = re.compile(r"[^a-z' ]+")


@dataclass(frozen=True, slots=True)
class Turn:
    """A stretch of one party's speech with no pause ≥ `segment_join_gap` inside it."""

    speaker: str
    start: float
    end: float
    words: tuple[Word, ...]
    backchannel: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def text(self) -> str:
        return " ".join(w.text.strip() for w in self.words).strip()


def normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower().replace("-", " ")).split())


def _words_of(utterances: Sequence[Utterance]) -> list[Word]:
    words: list[Word] = []
    for u in utterances:
        words.extend(u.words or (Word(u.start, u.end, u.text),))
    return sorted(words, key=lambda w: w.start)


def activity(conv: Conversation, speaker: str, join: float) -> list[Span]:
    """When `speaker` is talking, from word timestamps; pauses shorter than `join` are part of
    continuous speech (Whisper's word edges inside fluent speech leave small false gaps)."""
    return timeline.merge(((w.start, w.end) for w in _words_of(conv.of(speaker))), join)


def build_turns(conv: Conversation, speaker: str, join_gap: float) -> list[Turn]:
    turns: list[Turn] = []
    current: list[Word] = []
    for word in _words_of(conv.of(speaker)):
        if current and word.start - max(w.end for w in current) >= join_gap:
            turns.append(Turn(speaker, current[0].start, max(w.end for w in current), tuple(current)))
            current = []
        current.append(word)
    if current:
        turns.append(Turn(speaker, current[0].start, max(w.end for w in current), tuple(current)))
    return turns


def split_yielded(turns: Sequence[Turn], others: Sequence[Turn], other_act: Sequence[Span],
                  opts: TurnOptions) -> list[Turn]:
    """Each turn cut at a pause (≥ `activity_join`: shorter ones are word gaps) that the other
    party talks through (`floor_yield_share` of it) in a turn they began after this one: the floor
    went to them, so the words after the pause are a new turn — a cut-in back, or a reply — not
    more of the old one. A pause filled by the end of a turn the other party was already in (an
    interrupter pausing while the holder finishes) cuts nothing."""
    out: list[Turn] = []
    for t in turns:
        pieces, current = [], [t.words[0]]
        for word in t.words[1:]:
            end = max(w.end for w in current)
            if word.start - end >= opts.activity_join and _yielded(end, word.start, t.start, others, other_act, opts):
                pieces.append(current)
                current = []
            current.append(word)
        pieces.append(current)
        out += [Turn(t.speaker, p[0].start, max(w.end for w in p), tuple(p)) for p in pieces]
    return out


def _yielded(start: float, end: float, since: float, others: Sequence[Turn], other_act: Sequence[Span],
             opts: TurnOptions) -> bool:
    taker = next((o for o in others if o.start < end and o.end > start), None)
    return (taker is not None and taker.start > since
            and timeline.total(timeline.clip(other_act, start, end)) >= opts.floor_yield_share * (end - start))


def is_backchannel_text(turn: Turn, opts: TurnOptions) -> bool:
    """Short, and made only of acknowledgement tokens ("mm hmm", "right", "I see"), or a short
    vocalisation the ASR wrote no words for."""
    if turn.text and all(w.text == UNHEARD for w in turn.words):
        return turn.duration <= opts.backchannel_max_duration
    text = normalise(turn.text)
    if not text:
        return False
    short = turn.duration <= opts.backchannel_max_duration or len(text.split()) <= opts.backchannel_max_words
    return short and _covered_by_phrases(text, opts.backchannel_phrases)


def _covered_by_phrases(text: str, phrases: Sequence[str]) -> bool:
    """True when `text` is a concatenation of listed phrases ("yeah right okay"); drawn-out
    vocalisations match their short form (ASR writes "MMMM", "uhhh", "hmmmm")."""
    tokens = [_squeeze(t) for t in text.split()]
    vocab = {tuple(_squeeze(t) for t in normalise(p).split()) for p in phrases}
    longest = max((len(p) for p in vocab), default=1)
    reachable = [True] + [False] * len(tokens)
    for i in range(len(tokens)):
        if reachable[i]:
            for n in range(1, min(longest, len(tokens) - i) + 1):
                if tuple(tokens[i:i + n]) in vocab:
                    reachable[i + n] = True
    return reachable[-1]


def _squeeze(token: str) -> str:
    return re.sub(r"(.)\1+", r"\1", token)


def _holder(turn: Turn, others: Sequence[Turn]) -> Turn | None:
    """The other party's turn that `turn` starts inside, if any."""
    for other in others:
        if other.start < turn.start < other.end:
            return other
    return None


def mark_backchannels(turns: Sequence[Turn], others: Sequence[Turn], opts: TurnOptions) -> list[Turn]:
    """A backchannel sits inside the other's turn, which goes on after it (floor not taken)."""
    out = []
    for t in turns:
        holder = _holder(t, others)
        floor_kept = holder is not None and holder.end > t.end
        out.append(Turn(t.speaker, t.start, t.end, t.words, floor_kept and is_backchannel_text(t, opts)))
    return out


@dataclass(frozen=True, slots=True)
class TurnAnalysis:
    turns: dict[str, list[Turn]]
    activity: dict[str, list[Span]]
    findings: list[Finding]


def _other(speaker: str) -> str:
    return "customer" if speaker == "agent" else "agent"


def _fmt_words(words: Sequence[Word], limit: int = 12) -> str:
    text = " ".join(w.text.strip() for w in words[:limit])
    return text + ("…" if len(words) > limit else "")


def voiced(voices: Sequence[tuple[str, float, float]] | None, speaker: str) -> list[Span]:
    return timeline.merge((a, b) for who, a, b in voices or () if who == speaker)


def signal_overlap(t: Turn, holder: Turn, voice: dict[str, list[Span]], reach: float) -> float:
    """Seconds the holder's own speech runs on from the cut-in's voice onset until it stops (as
    the words measure it: the holder's talk after the interrupter began, the interrupter's short
    pauses included): the signal sees the holder's last words run under the cut-in even when the
    ASR gave them no timing there. Only the holder's speech continuous with its turn counts
    (pauses under `reach`)."""
    start = voice_onset(t, holder, voice, reach)
    # energy runs break at every syllable gap; pauses under `reach` are inside speech (as for words)
    theirs = timeline.merge(voice.get(holder.speaker, []), reach)
    if not voice.get(t.speaker) or not theirs:
        return 0.0
    tail = [s for s in timeline.merge(timeline.clip(theirs, holder.start, t.end), reach) if s[0] <= holder.end]
    if not tail:
        return 0.0
    return timeline.total(timeline.clip(tail, start, min(t.end, tail[-1][1])))


def voice_onset(t: Turn, holder: Turn, voice: dict[str, list[Span]] | None, reach: float) -> float:
    """Where the cut-in's voice really starts: the ASR often gives no words to its first ones
    under the other party's speech. Never before the holder's turn began."""
    if not voice:
        return t.start
    runs = timeline.merge(timeline.clip(voice.get(t.speaker, []), holder.start, t.start + reach), reach)
    # a run ending less than `reach` before the first word is the same speech (a first word the
    # ASR dropped, then a short pause), as pauses under `reach` are everywhere else
    run = next((r for r in runs if r[0] <= t.start + reach and r[1] >= t.start - reach), None)
    return min(t.start, max(run[0], holder.start)) if run else t.start


def _voiced_holder(t: Turn, others: Sequence[Turn], voice: dict[str, list[Span]], reach: float) -> Turn | None:
    """The other party's turn whose words ended before `t` started but whose voice ran on under
    it (its last words got no timing)."""
    before = [o for o in others if o.end <= t.start]
    if not before:
        return None
    last = before[-1]
    tail = [s for s in timeline.merge(timeline.clip(voice.get(last.speaker, []), last.start, t.end), reach)
            if s[0] <= last.end]
    return last if tail and tail[-1][1] > voice_onset(t, last, voice, reach) else None


def find_interruptions(turns: dict[str, list[Turn]], act: dict[str, list[Span]],
                       opts: TurnOptions, sev: SeverityOptions,
                       voice: dict[str, list[Span]] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for speaker in PARTIES:
        count = 0
        for t in turns[speaker]:
            holder = _holder(t, turns[_other(speaker)])
            if holder is None and voice:
                holder = _voiced_holder(t, turns[_other(speaker)], voice, opts.activity_join)
            if t.backchannel or holder is None:
                continue
            overlap = timeline.total(timeline.clip(act[_other(speaker)], t.start, min(holder.end, t.end)))
            onset = t.start
            if voice:
                overlap = max(overlap, signal_overlap(t, holder, voice, opts.activity_join))
                onset = voice_onset(t, holder, voice, opts.activity_join)
            # the interrupter must still be talking once the other has stopped: they took the floor
            holder_end = max(holder.end, onset + overlap)
            took_floor = t.end >= holder_end + opts.floor_taken_min_after
            if overlap < opts.interruption_min_overlap - 1e-9 or not took_floor:
                continue
            count += 1
            cut = [w for w in holder.words if w.end > t.start]
            before = [w for w in holder.words if w.end <= t.start][-6:]
            severity = ("critical" if speaker == "agent" and count >= sev.interruption_critical_count
                        else sev.interruption)
            who, whom = speaker.capitalize(), _other(speaker)
            findings.append(Finding(
                type="interruption", speaker=speaker, start=onset, end=onset + overlap,
                severity=severity,  # type: ignore[arg-type]
                message=f"{who} cut in while the {whom} was mid-sentence ({overlap:.1f} s of overlap)",
                evidence=f"{whom}: …{_fmt_words(before)} [{_fmt_words(cut)}] / {speaker}: {_fmt_words(t.words)}",
                rule=f"interruption.overlap>={opts.interruption_min_overlap:g}s",
                extra={"overlap": round(overlap, 2)}))
    return findings


def find_backchannels(turns: dict[str, list[Turn]]) -> list[Finding]:
    return [Finding(type="backchannel", speaker=t.speaker, start=t.start, end=t.end, severity="info",
                    message=f"{t.speaker.capitalize()} acknowledged while listening",
                    evidence=t.text, rule="backchannel.short_ack_inside_other_turn")
            for speaker in PARTIES for t in turns[speaker] if t.backchannel]


def announced_hold(gap_start: float, agent_turns: Sequence[Turn], opts: TurnOptions) -> str | None:
    """The hold phrase the agent said shortly before the silence, if any."""
    window = [w for t in agent_turns for w in t.words
              if gap_start - opts.hold_announce_window <= w.end <= gap_start + 0.5]
    text = f" {normalise(' '.join(w.text for w in window))} "
    return next((p for p in opts.hold_phrases if f" {normalise(p)} " in text), None)


def find_dead_air(conv: Conversation, speech: Sequence[Span], agent_turns: Sequence[Turn],
                  opts: TurnOptions, sev: SeverityOptions) -> list[Finding]:
    if not speech:
        return []
    lo, hi = (0.0, conv.duration) if opts.dead_air_at_edges else (speech[0][0], speech[-1][1])
    findings = []
    for start, end in timeline.gaps(speech, lo, hi):
        length = end - start
        if length < opts.dead_air_min:
            continue
        phrase = announced_hold(start, agent_turns, opts)
        hold = length >= opts.long_hold_min
        if hold:
            severity, kind = sev.long_hold, "Long hold"
        elif phrase:
            severity, kind = sev.dead_air_announced, "Announced silence"
        else:
            severity = "critical" if length >= sev.dead_air_critical else sev.dead_air
            kind = "Dead air"
        findings.append(Finding(
            type="dead_air", speaker=None, start=start, end=end, severity=severity,  # type: ignore[arg-type]
            message=f"{kind}: {length:.1f} s with nobody speaking" + (f" (after \"{phrase}\")" if phrase else ""),
            evidence=f"agent said \"{phrase}\" before" if phrase else "no hold announced",
            rule=f"dead_air.silence>={opts.dead_air_min:g}s" + (f", hold>={opts.long_hold_min:g}s" if hold else ""),
            extra={"announced": phrase is not None, "long_hold": hold}))
    return findings


def response_gaps(turns: dict[str, list[Turn]]) -> list[tuple[Turn, Turn, float]]:
    """(customer turn, agent reply, gap) for every customer → agent hand-over.

    A hand-over is an agent turn whose most recent preceding speech, by anyone, was the customer's
    non-backchannel turn. The gap is negative when the agent started before the customer finished."""
    everyone = sorted((t for s in PARTIES for t in turns[s]), key=lambda t: (t.start, t.end))
    out = []
    for reply in (t for t in everyone if t.speaker == "agent" and not t.backchannel):
        before = [t for t in everyone if t is not reply and t.start < reply.start]
        if not before:
            continue
        last = max(before, key=lambda t: t.end)
        if last.speaker == "customer" and not last.backchannel:
            out.append((last, reply, reply.start - last.end))
    return out


def waiting_silence(start: float, end: float, signal: Sequence[Span] | None, min_pause: float = 0.0) -> Span | None:
    """The silence the agent's reply at `end` follows, inside the word gap [start, end]: the last
    stretch of it where the signal carries no speech (speech the ASR did not word, an "um" before
    the reply, ends the customer's wait there). A stretch shorter than `min_pause` is a pause
    inside that speech (a first word the ASR dropped, then the worded reply), not the wait. None
    when the signal has speech up to the reply."""
    if end <= start:
        return None
    if signal is None:
        return (start, end)
    quiet = [q for q in timeline.gaps(timeline.clip(signal, start, end), start, end) if q[1] - q[0] >= min_pause]
    return quiet[-1] if quiet else None


def find_slow_responses(turns: dict[str, list[Turn]], opts: TurnOptions, sev: SeverityOptions,
                        signal: Sequence[Span] | None = None) -> list[Finding]:
    findings = []
    for cust, reply, _ in response_gaps(turns):
        silence = waiting_silence(cust.end, reply.start, signal, opts.activity_join)
        gap = silence[1] - silence[0] if silence else 0.0
        # a silence long enough to be dead air is reported as dead air only (never both)
        if silence is None or not opts.slow_response_min <= gap < opts.dead_air_min:
            continue
        findings.append(Finding(
            type="slow_response", speaker="agent", start=silence[0], end=silence[1],
            severity=sev.slow_response,  # type: ignore[arg-type]
            message=f"Agent took {gap:.1f} s to respond to the customer",
            evidence=f"customer: …{_fmt_words(cust.words[-8:])} / agent: {_fmt_words(reply.words)}",
            rule=f"slow_response.gap>={opts.slow_response_min:g}s"))
    return findings


def find_monologues(agent_turns: Sequence[Turn], opts: TurnOptions, sev: SeverityOptions) -> list[Finding]:
    findings = []
    for stretch in stretches(agent_turns, opts.monologue_pause_max):
        start, end = stretch[0].start, max(t.end for t in stretch)
        length = end - start
        if length < opts.monologue_min:
            continue
        words = [w for t in stretch for w in t.words]
        findings.append(Finding(
            type="long_monologue", speaker="agent", start=start, end=end,
            severity="critical" if length >= sev.long_monologue_critical else sev.long_monologue,  # type: ignore[arg-type]
            message=f"Agent talked for {length:.0f} s without letting the customer in",
            evidence=_fmt_words(words, 20), rule=f"long_monologue.agent_stretch>={opts.monologue_min:g}s"))
    return findings


def stretches(turns: Sequence[Turn], pause_max: float) -> list[list[Turn]]:
    groups: list[list[Turn]] = []
    for t in turns:
        if groups and t.start - max(x.end for x in groups[-1]) < pause_max:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def analyze_turns(conv: Conversation, opts: TurnOptions, sev: SeverityOptions) -> TurnAnalysis:
    act = {s: activity(conv, s, opts.activity_join) for s in PARTIES}
    plain = {s: build_turns(conv, s, opts.segment_join_gap) for s in PARTIES}
    raw = {s: split_yielded(plain[s], plain[_other(s)], act[_other(s)], opts) for s in PARTIES}
    turns = {s: mark_backchannels(raw[s], raw[_other(s)], opts) for s in PARTIES}
    # silence is where neither the words nor the signal's voice activity say anyone is talking
    signal = timeline.merge(conv.speech) if conv.speech is not None else None
    speech = timeline.merge(act["agent"] + act["customer"] + activity(conv, "other", opts.activity_join)
                            + list(signal or ()))
    voice = {s: voiced(conv.voices, s) for s in PARTIES} if conv.voices is not None else None
    findings = (find_interruptions(turns, act, opts, sev, voice) + find_backchannels(turns)
                + find_dead_air(conv, speech, turns["agent"], opts, sev)
                + find_slow_responses(turns, opts, sev, signal) + find_monologues(turns["agent"], opts, sev))
    return TurnAnalysis(turns=turns, activity=act, findings=sorted(findings, key=lambda f: (f.start, f.type)))
