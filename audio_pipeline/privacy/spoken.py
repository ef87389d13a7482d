"""Numbers as a transcript holds them: digits, digit groups, number words, "oh", "double five",
"twenty seven" and mixtures ("4471 two oh 3 9"), joined into runs with their character spans.

Whisper writes spoken digits as digits, but not always in one group; a caller reads a card number
in fours, a phone number with "double" and "oh", a year as "nineteen eighty five".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {"zero": 0, "nought": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
         "seven": 7, "eight": 8, "nine": 9}
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
         "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
            "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
            "twentieth": 20, "thirtieth": 30}
REPEAT = {"double": 2, "triple": 3, "treble": 3}
NUMBER_WORDS = set(UNITS) | set(TEENS) | set(TENS) | set(REPEAT) | {"hundred", "thousand"}
# "oh"/"o" are zero only between other digits ("oh I see" is not a number)
_WEAK = {"oh", "o"}

TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[^\sA-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int

    @property
    def low(self) -> str:
        return self.text.lower()


@dataclass(frozen=True, slots=True)
class DigitRun:
    """Consecutive number tokens: `digits` as read out, the span in the text, the tokens used."""

    start: int
    end: int
    digits: str
    first_token: int
    last_token: int


def tokens(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)]


def _is_numberish(tok: Token) -> bool:
    return tok.text.isdigit() or tok.low in NUMBER_WORDS or tok.low in ORDINALS


def _read(words: list[str]) -> str:
    """Number words (and digit groups) of one run → the digits a listener would write down."""
    out, i = "", 0
    while i < len(words):
        w = words[i]
        if w.isdigit():
            out += w
        elif w in REPEAT and i + 1 < len(words) and (words[i + 1] in UNITS or words[i + 1].isdigit()):
            nxt = words[i + 1]
            out += (str(UNITS[nxt]) if nxt in UNITS else nxt) * REPEAT[w]
            i += 1
        elif w in TENS:
            value = TENS[w]
            if i + 1 < len(words) and words[i + 1] in UNITS and UNITS[words[i + 1]] > 0 and words[i + 1] not in _WEAK:
                value += UNITS[words[i + 1]]
                i += 1
            out += str(value)
        elif w in TEENS:
            out += str(TEENS[w])
        elif w in ORDINALS:
            out += str(ORDINALS[w])
        elif w in UNITS:
            if i + 1 < len(words) and words[i + 1] == "hundred":
                out += str(UNITS[w])
                out += "00" if not (i + 2 < len(words) and _is_small(words[i + 2])) else ""
                i += 1
            else:
                out += str(UNITS[w])
        elif w == "hundred":
            out += "00" if not (i + 1 < len(words) and _is_small(words[i + 1])) else "0" if (
                i + 1 < len(words) and words[i + 1] in UNITS) else ""
        elif w == "thousand":
            out += "000"
        i += 1
    return out


def _is_small(word: str) -> bool:
    return word in UNITS or word in TEENS or word in TENS


# tokens that may sit inside a number read aloud without ending it
_JOINERS = {"-", ",", "/", ".", "and", "dash"}


def digit_runs(toks: list[Token]) -> list[DigitRun]:
    runs: list[DigitRun] = []
    i = 0
    while i < len(toks):
        if not _is_numberish(toks[i]) or (toks[i].low in _WEAK and not _next_numberish(toks, i)):
            i += 1
            continue
        j = i
        while j + 1 < len(toks):
            nxt = toks[j + 1]
            if _is_numberish(nxt):  # inside a run even "oh" is a zero
                j += 1
            elif nxt.low in _JOINERS and j + 2 < len(toks) and _is_numberish(toks[j + 2]) \
                    and toks[j + 2].low not in ("and",):
                j += 2
            else:
                break
        words = [t.low for t in toks[i:j + 1] if t.low not in _JOINERS]
        # a trailing weak "oh"/"o" is an interjection, not a zero
        while words and words[-1] in _WEAK and j > i:
            words.pop()
            j -= 1
        digits = _read(words)
        if digits:
            runs.append(DigitRun(toks[i].start, toks[j].end, digits, i, j))
        i = j + 1
    return runs


def _next_numberish(toks: list[Token], i: int) -> bool:
    return i + 1 < len(toks) and _is_numberish(toks[i + 1]) and toks[i + 1].low not in _WEAK


def luhn(digits: str) -> bool:
    if not digits.isdigit() or len(digits) < 12:
        return False
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
