"""Personal data in call transcripts that a general PII engine misses: numbers read aloud (cards,
CVV, expiry, sort codes, accounts, phones, national IDs), e-mail addresses spoken as words, postcodes,
dates of birth, self-introductions and street addresses. Pure functions over text → entity spans.

What a number is comes from the words before it ("my card number is …", "sort code …") and,
without such words, from its shape (Luhn-valid 13–19 digits is a card, 10–11 digits from 0 a phone).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .spoken import ORDINALS, UNITS, TEENS, TENS, DigitRun, Token, digit_runs, luhn, tokens

CARD, CVV, EXPIRY, SORT_CODE, ACCOUNT, PHONE, EMAIL, POSTCODE, DOB, NATIONAL_ID, PERSON, ADDRESS = (
    "CREDIT_CARD", "CVV", "CARD_EXPIRY", "SORT_CODE", "BANK_ACCOUNT", "PHONE_NUMBER", "EMAIL_ADDRESS",
    "POSTCODE", "DATE_OF_BIRTH", "NATIONAL_ID", "PERSON", "STREET_ADDRESS")
ENTITIES = (CARD, CVV, EXPIRY, SORT_CODE, ACCOUNT, PHONE, EMAIL, POSTCODE, DOB, NATIONAL_ID, PERSON, ADDRESS)


@dataclass(frozen=True, slots=True)
class Span:
    entity: str
    start: int
    end: int
    score: float = 0.85


# context words before a number (lower case, searched in the few tokens before it)
NOT_PII = "NOT_PII"
CONTEXT: tuple[tuple[str, re.Pattern], ...] = (
    # a reference the company gave out (order, ticket, claim …) identifies a case, not a person
    (NOT_PII, re.compile(r"\b(order|ticket|case|claim|invoice|tracking|booking|confirmation|complaint|reference|"
                         r"ref|job|incident|parcel|consignment)\b")),
    (CVV, re.compile(r"\b(cvv|cvc|cv2|csc|security (code|number|digits)|three digits|last three|back of the card|"
                     r"card verification|on the back|the code|code's|code is)\b")),
    (EXPIRY, re.compile(r"\b(expir\w*|expiry|valid (until|till|thru|through|to)|exp date|end date|runs out|"
                        r"run out|good (until|till|thru|through))\b")),
    (SORT_CODE, re.compile(r"\b(sort ?code|routing( number)?|aba|bsb)\b")),
    (NATIONAL_ID, re.compile(r"\b(social security|ssn|social|national insurance|ni number|insurance number|"
                             r"passport|driver'?s licen[cs]e|licen[cs]e number|national id|tax id|tin|sin)\b")),
    (CARD, re.compile(r"\b(card|visa|master ?card|amex|american express|debit|credit|long number|pan)\b")),
    (ACCOUNT, re.compile(r"\b(account|acct|iban|bank|membership|member|policy|customer (number|id)|"
                         r"roll number)\b")),
    (PHONE, re.compile(r"\b(phone|mobile|cell|landline|telephone|number to (call|reach)|call (you|me) (back )?on|"
                       r"reach (you|me)( on| at)?|contact number|extension|ext|whatsapp|text me|ring me)\b")),
    (POSTCODE, re.compile(r"\b(post ?code|zip( code)?|postal code)\b")),
    (DOB, re.compile(r"\b(born|birth|d ?o ?b|birthday)\b")),
)
MONTHS = ("january february march april may june july august september october november december "
          "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_DATE_WORDS = set(MONTHS) | set(ORDINALS) | set(UNITS) | set(TEENS) | set(TENS) | {
    "of", "the", "hundred", "thousand", "st", "nd", "rd", "th", "/", "-", ".", ",", "and"}


def _context(toks: list[Token], first: int, reach: int = 9) -> str:
    return " ".join(t.low for t in toks[max(0, first - reach):first])


def _kind_for_run(run: DigitRun, toks: list[Token], text: str) -> str | None:
    n, d = len(run.digits), run.digits
    before = _context(toks, run.first_token)
    near = _context(toks, run.first_token, 4)
    # the cue word nearest the number decides ("security code 123 and it expires 0427")
    cues = sorted(((max(m.end() for m in pattern.finditer(before)), entity, pattern) for entity, pattern in CONTEXT
                   if pattern.search(before)), key=lambda c: -c[0])
    if n == 4 and _is_mmyy(d) and re.search(r"\b(ends|end|runs out|expir\w*|valid)$", near):
        return EXPIRY  # "and it ends oh five twenty seven"
    for _, entity, pattern in cues:
        if entity == NOT_PII:
            return None
        if entity == CVV and n in (3, 4) and pattern.search(near + " " + before[-40:]):
            return CVV
        if entity == EXPIRY and 3 <= n <= 6:
            return EXPIRY
        if entity == SORT_CODE and n in (6, 9):
            return SORT_CODE
        if entity == NATIONAL_ID and 6 <= n <= 12:
            return NATIONAL_ID
        if entity == CARD and 12 <= n <= 19:
            return CARD
        if entity == CARD and n == 4 and re.search(r"\b(last|ending|ends)\b", before):
            return CARD  # "the card ending 4471" still identifies the card
        if entity == ACCOUNT and 6 <= n <= 18:
            return ACCOUNT
        if entity == PHONE and 6 <= n <= 15:
            return PHONE
        if entity == POSTCODE and n in (5, 9):
            return POSTCODE
    # no telling words: the number's shape
    if 13 <= n <= 19 and luhn(d):
        return CARD
    if n in (10, 11) and d[0] in "01" or n == 12 and d.startswith("44") or (n == 10 and d[0] in "2345679"):
        return PHONE
    if 13 <= n <= 19:
        return CARD
    if n == 9 and re.fullmatch(r"\d{3}-\d{2}-\d{4}", text[run.start:run.end]):
        return NATIONAL_ID
    if n == 8:
        return ACCOUNT
    if n in (7, 9) or n >= 12:
        return PHONE
    if n == 6 and re.fullmatch(r"\d\d[- ]\d\d[- ]\d\d", text[run.start:run.end]):
        return SORT_CODE
    return None


def _is_mmyy(d: str) -> bool:
    return len(d) == 4 and 1 <= int(d[:2]) <= 12


def number_spans(text: str, toks: list[Token] | None = None, taken: list[Span] = ()) -> list[Span]:
    toks = toks if toks is not None else tokens(text)
    out = []
    for run in digit_runs(toks):
        if any(t.start <= run.start and run.end <= t.end for t in taken):
            continue  # the year of a date is not a phone number
        kind = _kind_for_run(run, toks, text)
        if kind is not None and kind != DOB:
            out.append(Span(kind, run.start, run.end, 0.9))
    return out


def _date_after(toks: list[Token], first: int, limit: int = 9) -> tuple[int, int] | None:
    """The span of date words/numbers starting within a few tokens after index `first`."""
    start = None
    end = None
    skipped = 0
    for k in range(first, min(len(toks), first + limit)):
        low = toks[k].low
        is_date = low in _DATE_WORDS or low.isdigit() or re.fullmatch(r"\d{1,4}(st|nd|rd|th)?", low) is not None
        if is_date and low not in ("of", "the", "and", ",", ".", "-", "/"):
            start = k if start is None else start
            end = k
        elif is_date and start is not None:
            continue
        elif start is None and skipped < 4:  # "born on the", "expires at the end of"
            skipped += 1
        elif start is not None:
            break
    return (start, end) if start is not None else None


DATE_CONTEXT = ((DOB, re.compile(r"^(born|birth|dob|birthday|d\.?o\.?b\.?)$")),
                (EXPIRY, re.compile(r"^(expires?|expiry|expiration|expiring|expired|valid|exp|out)$")))


def _full_dates(toks: list[Token]) -> list[tuple[int, int, str]]:
    """Day + month name + year read out ("third of march nineteen sixty nine", "may 28th 1959"):
    (first token, last token, the year's digits)."""
    out = []
    for i, tok in enumerate(toks):
        if tok.low not in MONTHS or tok.low == "may" and not (i + 1 < len(toks) and _numeric(toks[i + 1])) \
                and not (i > 0 and _numeric(toks[i - 1])):
            continue
        a = i
        while a > 0 and (_numeric(toks[a - 1]) or toks[a - 1].low in ("of", "the")) and i - a < 4:
            a -= 1
        while a < i and toks[a].low in ("of", "the"):
            a += 1
        b = i
        while b + 1 < len(toks) and (_numeric(toks[b + 1]) or toks[b + 1].low in (",", "of")) and b - i < 6:
            b += 1
        while b > i and toks[b].low in (",", "of"):
            b -= 1
        runs = digit_runs(toks[i + 1:b + 1])
        year = runs[-1].digits if runs else ""
        if (a < i or len(runs) > 1 or len(year) > 4) and b > i:
            out.append((a, b, year[-4:] if len(year) >= 4 else year))
    return out


def _numeric(tok: Token) -> bool:
    return tok.text.isdigit() or tok.low in UNITS or tok.low in TEENS or tok.low in TENS or tok.low in ORDINALS \
        or re.fullmatch(r"\d{1,2}(st|nd|rd|th)", tok.low) is not None or tok.low in ("hundred", "thousand")


def date_spans(text: str, toks: list[Token] | None = None) -> list[Span]:
    toks = toks if toks is not None else tokens(text)
    out = []
    for a, b, year in _full_dates(toks):
        if len(year) == 4 and 1900 <= int(year) <= 2015:  # a whole date in the past century: a birth date
            out.append(Span(DOB, toks[a].start, toks[b].end, 0.8))
    for i, tok in enumerate(toks):
        for entity, pattern in DATE_CONTEXT:
            if pattern.match(tok.low) and (tok.low != "out" or i > 0 and toks[i - 1].low in ("runs", "run", "ran")):
                found = _date_after(toks, i + 1)
                if found:
                    out.append(Span(entity, toks[found[0]].start, toks[found[1]].end, 0.9))
    return out


_TLD = r"(?:com|co|uk|org|net|io|edu|gov|ac|info|biz|me|us|ca|au|de|fr|ie|nz|in|mail)"
_PART = r"[A-Za-z0-9][\w+-]*"
SPOKEN_EMAIL = re.compile(
    rf"\b{_PART}(?:(?:\s+(?:dot|underscore|dash|hyphen|point)\s+|[._-]){_PART})*"
    rf"\s*(?:\bat\b|@)\s*{_PART}(?:(?:\s+(?:dot|point)\s+|\.){_PART})*(?:\s+(?:dot|point)\s+|\.){_TLD}\b",
    re.IGNORECASE)


def email_spans(text: str) -> list[Span]:
    out = []
    for m in SPOKEN_EMAIL.finditer(text):
        local = m.group().lower().split(" at ")[0].split("@")[0].split()
        # "look at … dot com" is rarely personal; a spoken address starts with its local part
        if local and local[-1] in ("look", "it", "that", "this", "them", "us", "me", "you", "him", "her", "website", "site"):
            continue
        out.append(Span(EMAIL, m.start(), m.end(), 0.95))
    return out


UK_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?)\s*(\d[A-Z]{2})\b", re.IGNORECASE)
_LETTER_OR_DIGIT = re.compile(r"^([a-z]|\d+|[a-z]{1,2}\d[a-z\d]?|\d[a-z]{2})$")


_SPOKEN_POSTCODE = re.compile(r"^[a-z]{1,2}\d[a-z\d]?\d[a-z]{2}$")
_SPOKEN_NINO = re.compile(r"^[a-z]{2}\d{6}[a-d]$")


def _spoken_postcodes(toks: list[Token]) -> list[Span]:
    """'s w one a one a a', 'c h two one h b': letters and digits read one by one in a postcode's shape."""
    out, i = [], 0
    while i < len(toks):
        found = None
        for j in range(min(len(toks), i + 12), i + 3, -1):
            if not all(t.low.isalnum() and (len(t.low) <= 3 or t.low in UNITS or t.text.isdigit()) for t in toks[i:j]):
                continue
            chars = "".join(str(UNITS[t.low]) if t.low in UNITS and t.low != "o" else t.low for t in toks[i:j])
            if not any(len(t.low) == 1 and t.low.isalpha() for t in toks[i:j]):
                continue
            if _SPOKEN_POSTCODE.match(chars):
                found = (j, POSTCODE)
            elif _SPOKEN_NINO.match(chars):
                found = (j, NATIONAL_ID)
            if found:
                break
        if found:
            out.append(Span(found[1], toks[i].start, toks[found[0] - 1].end, 0.85))
            i = found[0]
        else:
            i += 1
    return out


def postcode_spans(text: str, toks: list[Token] | None = None) -> list[Span]:
    toks = toks if toks is not None else tokens(text)
    out = [Span(POSTCODE, m.start(), m.end(), 0.85) for m in UK_POSTCODE.finditer(text)
           if any(c.isdigit() for c in m.group(1)) and not m.group().isdigit()]
    out += _spoken_postcodes(toks)
    ctx = re.compile(r"^(postcode|zip|postal)$")
    for i, tok in enumerate(toks):
        if not ctx.match(tok.low):
            continue
        k = i + 1
        while k < len(toks) and toks[k].low in ("code", "is", "it's", "its", "that's", ":", ",", "-", "um", "uh"):
            k += 1
        j = k
        while j < len(toks) and j - k < 9 and (_LETTER_OR_DIGIT.match(toks[j].low) or toks[j].low in UNITS
                                                  or toks[j].low in TENS or toks[j].low in TEENS
                                                  or toks[j].low in ("double", "triple")):
            j += 1
        if j > k:
            out.append(Span(POSTCODE, toks[k].start, toks[j - 1].end, 0.85))
    return out


NINO = re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b", re.IGNORECASE)
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")


def id_spans(text: str) -> list[Span]:
    return ([Span(NATIONAL_ID, m.start(), m.end(), 0.85) for m in NINO.finditer(text)]
            + [Span(NATIONAL_ID, m.start(), m.end(), 0.85) for m in SSN.finditer(text)])


_NAME = r"[A-Z][a-z'’-]+(?:[- ][A-Z][a-z'’-]+){0,2}"
_NOT_NAMES = {"Sorry", "Calling", "Here", "Just", "Not", "Afraid", "Glad", "Happy", "Good", "Fine", "Still",
              "Going", "Trying", "Looking", "Ringing", "Phoning", "The", "A", "An", "Very", "So", "Really", "On",
              "In", "At", "With", "From", "Speaking", "Okay", "Ok", "Yes", "No", "Well", "Hi", "Hello", "Thanks",
              "Thank", "That", "This", "It", "I", "We", "You", "Customer", "Agent", "Sure", "Right", "Of",
              "Your", "My", "Our", "Their", "His", "Her", "Mm", "Um", "Uh", "Oh", "And", "But", "Calm", "Back",
              "Worried", "Confused", "Frustrated", "Upset", "Annoyed", "Really", "Done", "Ready", "Able"}
INTRO = re.compile(rf"\b(?:[Mm]y name is|[Mm]y name's|[Nn]ame is|[Tt]his is|[Ii]t's|[Ii] am|[Ii]'m|[Ss]peaking with|"
                   rf"[Ss]peaking to|[Tt]alking to|[Cc]alled|[Nn]amed|under the name|in the name of|"
                   rf"[Mm]r\.?|[Mm]rs\.?|[Mm]s\.?|[Mm]iss|[Dd]r\.?|[Ss]ir)\s+({_NAME})")


def name_spans(text: str, toks: list[Token] | None = None) -> list[Span]:
    from .names import lower_case_names

    out = lower_case_names(toks if toks is not None else tokens(text))
    for m in INTRO.finditer(text):
        words = m.group(1).split()
        while words and words[0].strip("'’") in _NOT_NAMES:
            words.pop(0)
        if not words or words[0] in _NOT_NAMES:
            continue
        # keep only the capitalised run that is not a common word
        kept = []
        for w in words:
            if w in _NOT_NAMES:
                break
            kept.append(w)
        start = m.start(1) + m.group(1).find(kept[0])
        end = start + len(" ".join(kept))
        out.append(Span(PERSON, start, end, 0.8))
    return out


STREET = (r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|court|ct|place|pl|crescent|boulevard|blvd|"
          r"terrace|grove|gardens|square|hill|row|mews|walk|parade|park|highway|hwy|parkway|circle|cir|trail|"
          r"view|rise|green|gate|end|wharf|quay")
_NUM = r"(?:\d+[A-Za-z]?|(?:(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|" \
       r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|" \
       r"oh|zero|double)[\s-]?){1,5})"
ADDRESS_RE = re.compile(
    rf"\b(?:(?:flat|apartment|apt|unit|suite)\s+{_NUM}\s*,?\s*)?{_NUM}\s*,?\s+(?:[A-Za-z'’]+\s+){{0,3}}?(?:{STREET})\b"
    rf"(?:\s*,?\s+(?:[A-Z][a-z]+)(?:\s+[A-Z][a-z]+)?)?",
    re.IGNORECASE)
ADDRESS_CONTEXT = re.compile(r"\b(?:i live at|live at|address is|address,? it's|living at|lives at|moved to|"
                             r"delivered to|deliver(?:ed)? it to|send it to|the address)\s+", re.IGNORECASE)


def address_spans(text: str) -> list[Span]:
    out = []
    for m in ADDRESS_RE.finditer(text):
        head = m.group().split()[0].lower()
        if head in ("the", "a"):
            continue
        end = m.end()
        # a trailing capitalised word must be a town, not the start of a new sentence ("… Road. Thanks")
        out.append(Span(ADDRESS, m.start(), end, 0.85))
    for m in ADDRESS_CONTEXT.finditer(text):
        rest = text[m.end():]
        stop = re.search(r"[.?!;]|\b(and|but|so|because|is that|please|thank|post ?code|zip|that's|which|not)\b", rest)
        length = stop.start() if stop else min(len(rest), 60)
        if 3 <= length <= 80:
            out.append(Span(ADDRESS, m.end(), m.end() + length, 0.75))
    return out


def rule_spans(text: str) -> list[Span]:
    """Every rule's spans over `text` (overlaps are resolved by the caller)."""
    toks = tokens(text)
    dates = date_spans(text, toks)
    emails = email_spans(text)
    rest = (number_spans(text, toks, dates) + dates + postcode_spans(text, toks) + id_spans(text)
            + spelled_id_spans(toks) + name_spans(text, toks) + address_spans(text))
    # an e-mail address is one entity: the name or number inside it is not another
    return emails + [s for s in rest if not any(e.start < s.end and s.start < e.end for e in emails)]


ID_CUE = re.compile(r"^(insurance|ni|nino|passport|licence|license|ssn|social)$")


def spelled_id_spans(toks: list[Token]) -> list[Span]:
    """An ID read out in letters and digits after its cue ("national insurance … j g oh three …")."""
    out = []
    for i, tok in enumerate(toks):
        if not ID_CUE.match(tok.low):
            continue
        k = i + 1
        while k < len(toks) and k - i < 6 and not (len(toks[k].low) == 1 or toks[k].text.isdigit()):
            k += 1
        j = k
        while j < len(toks) and (len(toks[j].low) == 1 and toks[j].low.isalpha() or toks[j].text.isdigit()
                                 or toks[j].low in UNITS or toks[j].low in ("double", "triple")):
            j += 1
        if j - k >= 5:
            out.append(Span(NATIONAL_ID, toks[k].start, toks[j - 1].end, 0.85))
    return out
