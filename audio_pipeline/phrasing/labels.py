"""What the phrasing model predicts. Agent turns: seven empathy categories, dismissive, sympathy
(multi-label); customer turns: five distress kinds. The `any` heads ("empathy", "distress") are
trained on their own: whether a line shows empathy at all is a sharper question than which kind.
"wants_empathy" is distress of the kinds an agent owes an acknowledgement (not confusion, which
wants an answer): the missed-empathy decision asks exactly that, rather than which kind won."""
from __future__ import annotations

EMPATHY_CATEGORIES = ("acknowledgement", "validation", "apology", "reassurance", "recap", "exploration",
                      "follow_up")
DISTRESS_KINDS = ("frustration", "worry", "anger", "disappointment", "confusion")
EMPATHY_WANTED = ("frustration", "worry", "anger", "disappointment")

AGENT_HEADS = ("empathy", *(f"empathy:{c}" for c in EMPATHY_CATEGORIES), "dismissive", "sympathy")
CUSTOMER_HEADS = ("distress", "wants_empathy", *DISTRESS_KINDS)


def heads(speaker: str) -> tuple[str, ...]:
    return AGENT_HEADS if speaker == "agent" else CUSTOMER_HEADS if speaker == "customer" else ()


def targets(speaker: str, labels: frozenset[str] | set[str]) -> tuple[int, ...]:
    """0/1 per head of that speaker from a turn's labels."""
    out = []
    for h in heads(speaker):
        if h == "empathy":
            out.append(int(any(lb.startswith("empathy:") for lb in labels)))
        elif h == "distress":
            out.append(int(any(lb in DISTRESS_KINDS for lb in labels)))
        elif h == "wants_empathy":
            out.append(int(any(lb in EMPATHY_WANTED for lb in labels)))
        else:
            out.append(int(h in labels))
    return tuple(out)
