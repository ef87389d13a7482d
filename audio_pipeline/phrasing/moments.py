"""Missed-empathy moments of a labelled dialogue (data/phrasing README, "Missed empathy"): a
customer turn voicing distress that wants empathy opens a moment; the customer's further such turns
before the agent speaks join it; an agent turn with an empathy category or sympathy before the
customer's next substantive turn answers it. The benches derive the truth this way from the labels,
and training derives the prediction the same way from out-of-fold probabilities, so the threshold
chosen on dev and the figure reported on test count the same thing."""
from __future__ import annotations

from typing import Sequence

from .labels import EMPATHY_WANTED

SUBSTANTIVE_WORDS = 3      # a customer turn this short ("yeah", "okay then") does not close a moment
CUE_EARLY = 0.5            # s: how far before its turn a cue's first word may start through audio


def wants_empathy(labels) -> bool:
    return any(lb in EMPATHY_WANTED for lb in labels)


def acknowledges(labels) -> bool:
    return any(lb.startswith("empathy:") or lb == "sympathy" for lb in labels)


def unanswered(turns: Sequence[tuple[str, str, Sequence[str]]],
               times: Sequence[tuple[float, float]] | None = None, window: float = 0.0) -> list[list[int]]:
    """(speaker, text, labels) per turn -> the turn indices of each unanswered moment. With the
    turns' (start, end) `times` (audio), an acknowledging agent turn starting within `window`
    seconds of the moment's last turn's end answers it too, after the customer's next turn or not."""
    moments, i = [], 0
    while i < len(turns):
        speaker, _, labels = turns[i]
        if speaker != "customer" or not wants_empathy(labels):
            i += 1
            continue
        group, answered, j = [i], False, i + 1
        while j < len(turns):
            who, text, lbs = turns[j]
            if who == "customer" and len(text.split()) > SUBSTANTIVE_WORDS:
                joins = wants_empathy(lbs) and not answered and all(
                    turns[k][0] == "customer" for k in range(group[-1] + 1, j))
                if not joins:
                    break
                group.append(j)
            elif who == "agent" and acknowledges(lbs):
                answered = True
            j += 1
        if not answered and times is not None:
            answered = any(turns[k][0] == "agent" and acknowledges(turns[k][2])
                           and times[k][0] <= times[group[-1]][1] + window for k in range(group[-1] + 1, len(turns)))
        if not answered:
            moments.append(group)
        i = group[-1] + 1
    return moments


def agreement(truth: Sequence[Sequence[int]], found: Sequence[Sequence[int]]) -> tuple[int, int, int]:
    """(tp, fp, fn): a found moment is right when its first turn (where the review's finding says
    the distress began) lies in a true moment not matched yet."""
    taken: set[int] = set()
    tp = fp = 0
    for moment in found:
        k = next((n for n, group in enumerate(truth) if n not in taken and moment[0] in group), None)
        if k is None:
            fp += 1
        else:
            taken.add(k)
            tp += 1
    return tp, fp, len(truth) - len(taken)


def cue_turn(at: float, turns: Sequence[tuple[str, float, float]]) -> int | None:
    """The customer turn ((speaker, start, end) per turn) a missed-empathy finding's cue starts on.
    Through audio the cue's first word may start up to CUE_EARLY before its turn (the VAD's padding
    reaches into the gap before it): matched only inside the turn, a finding on the right moment
    counted as a false one and its moment as not found."""
    return next((k for k, (who, start, end) in enumerate(turns)
                 if who == "customer" and start - CUE_EARLY <= at <= end + 0.01), None)
