"""How a call opens: the phrases by which the agent greets and introduces themselves or the company,
and those by which a caller states their business. Pure text in, scored cues out (roles.py decides).

Two kinds of evidence, each with a weight in "points" (3 = said by an agent answering a call and
hardly ever by a caller, 2 = an introduction a caller could also make, 1 = typical, not decisive):

- phrase patterns over the lower-cased text, written as families ("thank you for calling|ringing|
  phoning", "you're through to|you've reached|you're now connected to", "<name> speaking|here, how
  can I help") rather than a list of sentences;
- the *shape* of an answering line, read from the ASR's casing and punctuation: a proper name (the
  company, the department) standing alone at the start of the voice's first line, optionally after a
  greeting, then a comma — "Good afternoon, Acme Energy, Priya speaking", "Northwind, this is Sam",
  "Billing, Jo here". A caller's first line starts with a greeting, "yes", or "I"; a name standing
  alone at the front is how a phone is answered.
"""
from __future__ import annotations

import re
from typing import Sequence

Cue = tuple[str, float]

_GREETING = r"(?:hi|hello|hiya|hey|good (?:morning|afternoon|evening|day)|morning|afternoon|evening)"

AGENT_CUES: tuple[Cue, ...] = (
    # "thanks for ringing back" is a caller thanking an agent who returned the call
    (r"\bthanks?( you)?( (so|very) much)? for (calling|ringing|phoning|contacting|choosing|holding|waiting|"
     r"your patience)\b(?! back)", 3),
    (r"\bhow (can|may|might|could|shall) (i|we) (help|assist|be of (help|assistance|service)|direct your call)\b", 3),
    (r"\bwhat can (i|we) (do for you|help you with|help with|assist you with)\b", 3),
    (r"\b(welcome to|you'?ve (reached|come through to|been (put|transferred|connected) through to)|"
     r"you have (reached|come through to)|you are (now )?(through|connected) to|you'?re (now )?(through|connected) to)\b", 3),
    (r"\byou'?re (now )?(speaking|talking) (to|with)\b|\byou are (now )?(speaking|talking) (to|with)\b", 3),
    (r"\bi'?ll be (helping|assisting|looking after|dealing with) you\b", 3),
    (r"\b(?<!i'm )(?<!am i )(?<!are you )(?<!is )[a-z]+ (speaking|here)[,.!]? (how|what|who|can|may|could)\b", 3),
    (r"\bmy name is\b", 2),
    # an introduction with the organisation: "this is|it's|I'm|you've got <Name> (calling) from|at <Org>"
    (r"\b(this is|you'?ve got|you have) [a-z]+( [a-z]+)?,? (calling |ringing |phoning )?(from|with|at|of|in) [a-z]+", 2),
    # callers say "it's Olivia from flat 3" too: typical, not decisive
    (r"\b(it'?s|i'?m) (?!calling|ringing|phoning|just|not|so|really|trying)[a-z]+( [a-z]+)?,? "
     r"(calling |ringing |phoning )?(from|with|at) [a-z]+", 1),
    (r"\bis (that|this) (mr|mrs|ms|miss|mister|dr|doctor)\b", 2),  # an outbound agent checking who answered
    (r"\bi can help\b", 1),
    (r"(^\W*|[,.!?;] )(" + _GREETING + r"\W+)?(this is |it'?s )?[a-z]+( [a-z]+)? (speaking|here)\b(?! (to|with|about|for|is|and))", 2),
    (r"\bis there anything else (i|we) can\b", 2),
    (r"\b(am i|are you) (speaking|talking) (with|to) (mr|mrs|ms|miss|mister|dr|doctor)\b", 2),
    (r"\bwho (am i|do i have the pleasure of) (speaking|talking) (to|with)\b", 1),
    (r"\b(can|could|may) i (have|get|take|grab|start with|ask for) (your|the) (full )?(name|account|order|reference|"
     r"phone|date of birth|email|postcode|post code|zip|policy|booking|surname|customer|membership)", 1),
    (r"\b(confirm|verify) (your|the)\b", 1),
    (r"\blet me (check|look|pull|see|find|transfer|just)\b", 1),
    (r"\b(i|we) apologi[sz]e (for|about)\b", 1),
    (r"\bhave a (great|good|nice|lovely|wonderful) (day|evening|afternoon|weekend)\b", 1),
    (r"\bbear with me\b|\bi'?ll put you through\b", 1),
    (r"\b(customer (service|services|support|care)|support (team|desk|line)|help ?desk|service desk)\b", 1),
)
CUSTOMER_CUES: tuple[Cue, ...] = (
    (r"\bi'?m (just )?(calling|ringing|phoning|contacting you) (up )?(about|because|to|regarding|for|re|as)\b", 2),
    (r"\bi (called|am calling|was calling|rang|phoned|was ringing|was phoning)\b", 1),
    (r"\bi (have|had|got|'ve got|'ve) (a|an|some) (problem|question|issue|complaint|query|enquiry|inquiry)\b", 1),
    (r"\b(can|could) you help me\b|\bi need (some )?help\b|\bi was (wondering|hoping)\b", 1),
    (r"\bhave i (got|reached|come through to)\b|\bis (this|that) (the )?[a-z]+( [a-z]+)? "
     r"(department|team|line|office|company|bank|helpline|service|services)\b", 1),
    (r"\bi'?ve been (waiting|charged|trying|on hold|billed|told)\b", 1),
    (r"\bi (want|would like|'d like|need) to (cancel|return|complain|speak|talk|change|close|report|ask|"
     r"query|dispute|know|find out|update|book|make)\b", 1),
    (r"\bmy (bill|order|account|package|parcel|card|internet|refund|delivery|subscription|booking|policy|"
     r"claim|payment|statement|broadband|meter|contract)\b", 1),
    (r"\bi (got|received|had) (a|an|your|this) (letter|email|text|message|bill|notice)\b", 1),
)

# the shape of an answering line, on the ASR's original casing: [greeting,] Name [Name …], …
_NOT_NAMES = {"i", "i'm", "i've", "i'd", "i'll", "yes", "yeah", "yep", "no", "oh", "um", "uh", "so", "well",
              "sorry", "thanks", "thank", "ok", "okay", "right", "hi", "hello", "hey", "good", "morning",
              "afternoon", "evening", "sir", "madam", "ma'am", "please", "excuse", "hiya", "the", "a", "it's",
              "this", "that", "is", "just", "we", "we're", "you", "my", "and", "but"}
_OPENING = re.compile(r"^\W*(?:" + _GREETING + r"(?:\s*[,.!]\s*|\s+(?:and )?welcome to\s+|\s+to\s+))?"
                      r"((?:[A-Z][\w&'’.-]*\s+){0,3}[A-Z][\w&'’.-]*)\s*[,.:!-]\s*\S", re.IGNORECASE)
_CAPITAL = re.compile(r"[A-Z]")
# what follows an answering name: an introduction, a greeting or an offer of help
_AFTER_NAME = re.compile(r"\s*[,.:!-]\s*(this is|it'?s|you'?re|my name|i'?m|[A-Z][\w'-]* (speaking|here)|"
                         r"speaking|how (can|may|might)|what can|good (morning|afternoon|evening)|hello|hi\b)",
                         re.IGNORECASE)
# lower-case words that still belong to an answering name ("Claims department", "Billing team")
_UNIT_WORDS = {"department", "team", "services", "service", "support", "desk", "line", "care", "office",
               "centre", "center", "helpline", "enquiries", "and", "&", "of"}
OPENING_WEIGHT = 2.0


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def phrase_cues(text: str, cues: Sequence[Cue]) -> list[tuple[str, float]]:
    """(matched words, weight) for every cue pattern found in `text` (each counted once)."""
    t = _norm(text)
    return [(m.group(0).strip(), w) for pattern, w in cues for m in [re.search(pattern, t)] if m]


def answering_shape(first_line: str) -> str | None:
    """The leading name of a sentence shaped like an answered phone ("Acme Energy, Priya speaking",
    "Sorry, yes. Atlas Removals, it's Steph"), or None. The name stands alone before a comma and is
    followed by an introduction or an offer of help; a greeting before it is set off by punctuation
    ("Hi Rosa, …" addresses the agent by name: that is the caller)."""
    line = first_line.strip()
    for start in [0] + [m.end() for m in re.finditer(r"[.?!]\s+", line)]:
        name = _answering_name(line[start:])
        if name:
            return name
    return None


def _answering_name(sentence: str) -> str | None:
    m = _OPENING.match(sentence)
    if not m or not _AFTER_NAME.match(sentence[m.end(1):]):
        return None
    name = m.group(1)
    words = name.split()
    if not _CAPITAL.match(words[0]) or any(w.lower().strip(".,") in _NOT_NAMES for w in words):
        return None
    if not all(_CAPITAL.match(w) or w.lower() in _UNIT_WORDS for w in words[1:]):
        return None
    return name


# "I'm Joanne", "my name's Dev": a person naming themselves, read on the ASR's casing (a capitalised
# word after "I'm" is a name, not "I'm sorry"); either party may do it, so it only counts as typical
_SELF_NAMED = re.compile(r"\b(?:I'm|I am|my name's|my name is|this is|it's)\s+([A-Z][a-z'-]+)\b")


def self_named(line: str) -> re.Match | None:
    for m in _SELF_NAMED.finditer(line.replace("’", "'")):
        if m.group(1).lower() not in _NOT_NAMES:
            return m
    return None


# a person ringing out on an organisation's behalf: "I'm calling from Copyserve", "it's Bev calling on
# behalf of Wessex Water" (an outbound agent, or a business calling its supplier)
_CALLING_FROM = re.compile(r"\b(?:i'?m|i am|we'?re|we are|it'?s [a-z]+|this is [a-z]+|[a-z]+ here),? (?:just )?"
                           r"(?:calling|ringing|phoning|contacting you) (?:you )?(?:from|on behalf of)\b")


def calling_from(line: str) -> re.Match | None:
    return _CALLING_FROM.search(_norm(line))
