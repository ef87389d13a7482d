"""Which diarized voice is the agent, which the customer, and which is neither (mono calls).

The agent is the voice that greets and introduces themselves or the company ("thank you for calling…",
"my name is…", "how can I help", "this is X from Y", "X speaking"). Without such phrases: who spoke
first (inbound calls are answered by the agent), then the talk pattern (agents ask more questions).
A third voice (IVR prompt, transfer) is kept as "other", never folded into the customer, unless it
holds less than `other_min_share` of the speech: then it is a clustering artefact and joins the
voice it sits next to in time. Pure: text and times in, a RoleDecision out.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from . import openings
from .config import DiarizationOptions
from .types import Finding, Role, RoleDecision

log = logging.getLogger(__name__)


class Spoken(Protocol):
    """What role assignment reads from an utterance (types.Utterance fits)."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def text(self) -> str: ...


# (pattern, weight) families for greetings, introductions and a caller's business: openings.py
AGENT_CUES = openings.AGENT_CUES
CUSTOMER_CUES = openings.CUSTOMER_CUES
# Recorded prompts: said by an IVR, never by a person in the conversation.
IVR_CUES: tuple[tuple[str, float], ...] = (
    (r"\b(press|dial|say) (one|two|three|four|five|six|seven|eight|nine|zero|\d)\b", 2),
    (r"\byour call is important\b", 2),
    (r"\b(calls?|conversation) (are|is|may be|will be|might be|could be) (recorded|monitored)\b", 2),
    (r"\bcaller number\b|\bin the queue\b|\bplease hold while\b", 2),
    (r"\bfor (quality|training) (and|or) (training|quality)\b", 1),
    (r"\bnext available (agent|representative|advisor|operator)\b", 2),
    (r"\b(menu|options) ha(ve|s) changed\b", 2),
    (r"\bplease (stay on|hold the) line\b", 1),
    (r"\b(please )?(say|enter|key( in)?|type)( or (say|enter|key( in)?|type))+ (your|the)\b", 2),
    (r"\b(virtual|digital|automated) (assistant|agent)\b", 2),
    (r"\b(in a few words|in a word or two|briefly),? (tell|say|describe)\b", 2),
)
DECISIVE = 2.0  # net cue points one voice must lead by before phrases decide alone
# both voices introduce themselves (an outbound call's "Hello, Mark speaking" / "Hi Mark, it's Bev from
# Wessex General"; a caller's "it's Olivia from flat 3B"): without a phrase only an answering agent
# says, the opening cannot tell who speaks for the company, so the decision stays below the
# default roles_min_confidence (0.7)
CONTESTED = 0.65
# who spoke first is the strongest single hint, but more questions and more words together outvote it
PATTERN_WEIGHTS = {"first": 1.0, "questions": 0.8, "words": 0.4, "cues": 0.5}
_QUESTION = re.compile(r"\?|^\W*(what|when|where|which|who|why|how|can|could|would|will|do|does|did|is|are|may)\b")


@dataclass(frozen=True, slots=True)
class Cue:
    label: str
    phrase: str  # the words that matched
    weight: float
    start: float


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def find_cues(label: str, utterances: Sequence[Spoken], cues: Sequence[tuple[str, float]]) -> list[Cue]:
    """Every match of `cues` in the label's utterances (each pattern counted once per utterance)."""
    found = []
    for u in utterances:
        text = _norm(u.text)
        for pattern, weight in cues:
            m = re.search(pattern, text)
            if m:
                found.append(Cue(label, m.group(0).strip(), weight, u.start))
    return found


OPENING_WINDOW = 20.0  # seconds after the call's first speech in which a line can be the answering line


def agent_cues(label: str, utterances: Sequence[Spoken], call_start: float = 0.0) -> list[Cue]:
    """Agent phrases, plus the answering shape of the voice's first line when the call opens with it
    ("Acme Energy, Priya speaking"): casing and punctuation as the ASR wrote them."""
    found = find_cues(label, utterances, AGENT_CUES)
    first = min(utterances, key=lambda u: u.start, default=None)
    if first is not None and first.start <= call_start + OPENING_WINDOW:
        name = openings.answering_shape(first.text)
        if name:
            found.append(Cue(label, f"{name}, …", openings.OPENING_WEIGHT, first.start))
    return found


def _call_start(by_label: Mapping[str, Sequence[Spoken]]) -> float:
    return min((_first_start(us) for us in by_label.values()), default=0.0)


def _points(cues: Sequence[Cue]) -> float:
    return sum(c.weight for c in cues)


def _speech(utterances: Sequence[Spoken]) -> float:
    return sum(max(0.0, u.end - u.start) for u in utterances)


def _first_start(utterances: Sequence[Spoken]) -> float:
    return min((u.start for u in utterances), default=float("inf"))


def _questions(utterances: Sequence[Spoken]) -> int:
    return sum(bool(_QUESTION.search(_norm(u.text))) for u in utterances)


def _words(utterances: Sequence[Spoken]) -> int:
    return sum(len(u.text.split()) for u in utterances)


# ------------------------------------------------------------------------------------- the decision


@dataclass(frozen=True, slots=True)
class _Pick:
    agent: str | None
    method: str
    confidence: float
    evidence: str


def _by_override(labels: Sequence[str], forced: str | None) -> _Pick | None:
    if forced is None:
        return None
    if forced in labels:
        return _Pick(forced, "override", 1.0, f"diarization.agent_speaker = {forced}")
    log.warning("agent_speaker %s is not among the diarized speakers %s; deciding from the speech",
                forced, ", ".join(labels))
    return None


def _net_points(by_label: Mapping[str, Sequence[Spoken]], labels: Sequence[str]) -> dict[str, float]:
    start = _call_start(by_label)
    return {lb: _points(agent_cues(lb, by_label[lb], start)) - _points(find_cues(lb, by_label[lb], CUSTOMER_CUES))
            for lb in labels}


def _by_phrases(by_label: Mapping[str, Sequence[Spoken]], labels: Sequence[str]) -> _Pick | None:
    """The voice whose agent phrases (minus customer phrases) lead the others' by DECISIVE points."""
    net = _net_points(by_label, labels)
    ranked = sorted(labels, key=lambda lb: (-net[lb], _first_start(by_label[lb])))
    runner_up = net[ranked[1]] if len(ranked) > 1 else 0.0
    lead = net[ranked[0]] - max(runner_up, 0.0)
    if net[ranked[0]] < DECISIVE or lead < DECISIVE:
        return None
    agent = ranked[0]
    best = max(agent_cues(agent, by_label[agent], _call_start(by_label)), key=lambda c: (c.weight, -c.start))
    method = "greeting" if best.weight >= 3 else "introduction"
    # an agent who answers speaks first; phrases that pick the second voice decide less surely
    # (outbound calls, or a caller who introduces themselves)
    first = agent == min(labels, key=lambda lb: _first_start(by_label[lb]))
    confidence = _contested(by_label, labels, agent, min(0.99, 0.6 + 0.08 * lead - (0.0 if first else 0.1)))
    return _Pick(agent, method, confidence, f'{agent} at {best.start:.1f} s: "{best.phrase}"')


def _contested(by_label: Mapping[str, Sequence[Spoken]], labels: Sequence[str], agent: str,
               confidence: float) -> float:
    """`confidence`, at most CONTESTED when another voice rings on an organisation's behalf ("I'm
    calling from …"), or introduces or names itself too ("I'm Joanne", "it's Claire") while the chosen
    one said nothing only an answering agent says (a weight-3 phrase)."""
    start = _call_start(by_label)
    others = [lb for lb in labels if lb != agent]
    # an answering greeting met by "I'm calling from <Org>" is how every outbound call to a business
    # opens: the greeting no longer tells who speaks for the company
    if any(openings.calling_from(u.text) for lb in others for u in by_label[lb]):
        return min(confidence, CONTESTED)
    if any(c.weight >= 3 for c in agent_cues(agent, by_label[agent], start)):
        return confidence
    if any(agent_cues(lb, by_label[lb], start) or any(openings.self_named(u.text) for u in by_label[lb])
           for lb in others):
        return min(confidence, CONTESTED)
    return confidence


def _by_pattern(by_label: Mapping[str, Sequence[Spoken]], labels: Sequence[str]) -> _Pick:
    """No decisive phrase: a weighted vote of who spoke first, asked more questions, said more, and
    any weak phrase lead. The confidence says how one-sided the vote was (0.5 = a coin flip)."""
    votes = {lb: 0.0 for lb in labels}
    reasons = []
    first = min(labels, key=lambda lb: _first_start(by_label[lb]))
    votes[first] += PATTERN_WEIGHTS["first"]
    reasons.append(f"{first} spoke first ({_first_start(by_label[first]):.1f} s)")
    for kind, measure in (("questions", _questions), ("words", _words)):
        counts = {lb: measure(by_label[lb]) for lb in labels}
        top, runner_up = sorted(labels, key=lambda lb: -counts[lb])[:2]
        if counts[top] > counts[runner_up]:
            votes[top] += PATTERN_WEIGHTS[kind]
            reasons.append(f"{top} has more {kind} ({counts[top]} vs {counts[runner_up]})")
    net = _net_points(by_label, labels)
    lead = max(labels, key=lambda lb: net[lb])
    if net[lead] > 0 and sum(net[lb] == net[lead] for lb in labels) == 1:
        votes[lead] += PATTERN_WEIGHTS["cues"]
        reasons.append(f"{lead} has more agent phrases")
    agent = max(labels, key=lambda lb: (votes[lb], -_first_start(by_label[lb])))
    others = max((v for lb, v in votes.items() if lb != agent), default=0.0)
    # without a greeting even a unanimous vote stays below a decisive phrase's confidence: callers
    # also speak first, ask questions and talk at length
    vote = 0.5 + 0.3 * (votes[agent] - others) / sum(PATTERN_WEIGHTS.values())
    confidence = _contested(by_label, labels, agent, vote)
    method = "first_speaker" if agent == first else "talk_pattern"
    return _Pick(agent, method, round(confidence, 3), "; ".join(reasons))


def _is_ivr(utterances: Sequence[Spoken]) -> bool:
    # a recorded prompt may thank the caller or welcome them, but never introduces a person
    prompt = _points(find_cues("", utterances, IVR_CUES))
    agent = agent_cues("", utterances)
    introduces = any(c.weight == 2 for c in agent)
    return prompt >= DECISIVE and (prompt > _points(agent) or not introduces)


def _gap(a: Spoken, b: Spoken) -> float:
    return max(b.start - a.end, a.start - b.end, 0.0)


def _nearest_major(utterances: Sequence[Spoken], majors: Mapping[str, Sequence[Spoken]]) -> str:
    """The major voice a minor cluster most likely belongs to: for each of its utterances, the voice
    closest in time (a split-off fragment of a speaker sits inside or next to that speaker's speech),
    votes weighted by duration."""
    votes = {lb: 0.0 for lb in majors}
    for u in utterances:
        nearest = min(majors, key=lambda lb: min((_gap(u, v) for v in majors[lb]), default=float("inf")))
        votes[nearest] += max(u.end - u.start, 1e-3)
    return max(votes, key=lambda lb: votes[lb])


def assign_roles(utterances_by_label: Mapping[str, Sequence[Spoken]], opts: DiarizationOptions) -> RoleDecision:
    """label -> agent / customer / other, with the method, a confidence in [0, 1] and the evidence."""
    speech = {lb: _speech(us) for lb, us in utterances_by_label.items() if us}
    total = sum(speech.values())
    if not speech or total <= 0:
        return RoleDecision(mapping={lb: "customer" for lb in utterances_by_label}, method="no_speech",
                            confidence=0.0, evidence="no speech attributed to any speaker")
    by_label = {lb: utterances_by_label[lb] for lb in speech}
    ranked = sorted(speech, key=lambda lb: -speech[lb])
    # the most talkative voice is never an artefact, whatever other_min_share says
    majors = ranked[:1] + [lb for lb in ranked[1:] if speech[lb] >= opts.other_min_share * total]
    minors = [lb for lb in ranked if lb not in majors]
    ivr = [lb for lb in majors if len(majors) > 1 and _is_ivr(by_label[lb])]
    people = [lb for lb in majors if lb not in ivr] or majors
    pick = _by_override(list(speech), opts.agent_speaker) or _decide(by_label, people)
    mapping: dict[str, Role] = {pick.agent: "agent"} if pick.agent is not None else {}
    rest = [lb for lb in people if lb != pick.agent]
    if rest:  # the customer is the most talkative remaining person; further voices are "other"
        mapping[rest[0]] = "customer"
    mapping.update({lb: "other" for lb in majors if lb not in mapping})
    for lb in minors:
        if lb not in mapping:
            mapping[lb] = mapping[_nearest_major(by_label[lb], {m: by_label[m] for m in majors})]
    mapping.update({lb: "customer" for lb in utterances_by_label if lb not in mapping})  # silent labels
    evidence = pick.evidence + _merge_note(minors, mapping, speech, total) + _other_note(mapping, ivr)
    confidence = max(0.0, min(1.0, pick.confidence))
    uncertain = pick.method != "override" and confidence < opts.roles_min_confidence
    return RoleDecision(mapping=dict(sorted(mapping.items())), method=pick.method,
                        confidence=confidence, evidence=evidence, uncertain=uncertain)


def _decide(by_label: Mapping[str, Sequence[Spoken]], people: Sequence[str]) -> _Pick:
    if len(people) == 1:
        return _single(people[0], by_label[people[0]])
    return _by_phrases(by_label, people) or _by_pattern(by_label, people)


def _single(label: str, utterances: Sequence[Spoken]) -> _Pick:
    """One voice only (a voicemail, one side of a call): agent unless it talks like a customer."""
    net = _net_points({label: utterances}, [label])[label]
    if net < 0:
        return _Pick(None, "single_speaker", 0.6, f"only {label} speaks, with customer phrases")
    return _Pick(label, "single_speaker", 0.6 if net > 0 else 0.5, f"only {label} speaks")


def _merge_note(minors: Sequence[str], mapping: Mapping[str, Role], speech: Mapping[str, float],
                total: float) -> str:
    return "".join(f"; {lb} ({100 * speech[lb] / total:.1f} % of speech) merged into {mapping[lb]}"
                   for lb in minors)


def _other_note(mapping: Mapping[str, Role], ivr: Sequence[str]) -> str:
    return "".join(f"; {lb} kept as other{' (recorded prompt)' if lb in ivr else ''}"
                   for lb, role in sorted(mapping.items()) if role == "other")


def uncertain_finding(decision: RoleDecision, duration: float) -> Finding:
    """The review's own warning that its agent/customer labels are a guess."""
    agent = next((lb for lb, role in decision.mapping.items() if role == "agent"), "none")
    return Finding(type="roles_uncertain", speaker=None, start=0.0, end=duration, severity="warning",
                   message=f"Roles uncertain: {agent} taken as the agent by {decision.method.replace('_', ' ')} "
                           f"(confidence {decision.confidence:.2f}); check them or pass --agent-speaker",
                   evidence=decision.evidence, rule="roles.confidence<diarization.roles_min_confidence",
                   extra={"confidence": round(decision.confidence, 3)})
