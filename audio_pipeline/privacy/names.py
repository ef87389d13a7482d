"""People's names in lower-case ASR text, where capitals cannot help: the US census name lists
(the `names` package, MIT) for first names and surnames, cue words around them ("my name's …",
"my husband …", "ask for …"), and a list of common words that are never taken for names."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .rules import PERSON, Span
from .spoken import NUMBER_WORDS, ORDINALS, Token

# words that are names in the census lists but mostly ordinary words in a call
COMMON = set("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few
for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him
himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my
myself no nor not of off on once only or other ought our ours ourselves out over own same shan't she she'd she'll
she's should shouldn't so some such than that that's the their theirs them themselves then there there's these
they they'd they'll they're they've this those through to too under until up very was wasn't we we'd we'll we're
we've were weren't what what's when when's where where's which while who who's whom why why's with won't would
wouldn't you you'd you'll you're you've your yours yourself yourselves yes yeah yep no nope okay ok right sure
well just so um uh erm er hmm mm oh ah hi hello hiya bye thanks thank cheers sorry please great good fine lovely
will may mark bill grace april june july august hope joy faith summer dawn rose pat frank ray sandy don art guy
jack chase drew gene jay lee miles page price rich rob sue victor virginia wade ward young long white black brown
green gray grey king little love hill wood field street house road lane park
said rang calling called call last first name names number account card bank code phone email address post
postcode mobile home work today yesterday tomorrow morning evening night week month year day time back still
again already also really actually just only even never ever always usually sometimes often here there now then
wife husband partner son daughter dad mum mother father brother sister friend neighbour neighbor boss manager
driver agent customer sir madam mate love dear
new old other another same different next last first second third one two three four five six seven eight nine
ten hundred thousand deal deals dealing help helping check checking get got give gave go going gone went come
came coming see saw seen look looking know knew think thought want wanted need needed say says tell told ask
asked make made take took pay paid send sent keep kept let put set try tried use used work worked live lives
lived move moved stay stayed wait waiting hold holding speak speaking talk talking phone phoned ring ringing
about around because before behind between both during except inside near outside since through toward under
council tax insurance policy claim boiler heating internet bill bills payment refund direct debit
someone somebody anyone else everyone nobody dot co uk com star hash press hang like pm am
terrace grove close crescent avenue drive court place gardens square row mews walk parade way view rise gate
""".split())
STRONG_CUES = re.compile(
    r"^(?:name's|name is|names|named|called|first name|last name|surname|ask for|asking for|speak to|speak with|"
    r"speaking to|speaking with|talking to|talk to|spoke to|spoke with|mr|mrs|ms|miss|dr|my (?:wife|husband|partner|"
    r"son|daughter|dad|father|mum|mother|mom|neighbour|neighbor|brother|sister|friend|colleague|boss|landlord|"
    r"landlady|tenant|grandson|granddaughter|nan|gran|grandma|grandad|uncle|aunt|auntie|carer|fiance|fiancee|"
    r"girlfriend|boyfriend|son-in-law|daughter-in-law)|driver was|driver is|the name|under)$")
WEAK_CUES = {"i'm", "im", "thanks", "thank", "okay", "ok", "hiya", "hi", "hello", "cheers", "morning", "afternoon",
             "it's", "this", "is", "and", "with", "for", "was", "dear", "sorry", "right", "yes", "no", "oh"}


@lru_cache(maxsize=1)
def _census() -> tuple[frozenset[str], frozenset[str]]:
    try:
        import names as names_pkg
    except ImportError:
        return frozenset(), frozenset()
    folder = Path(names_pkg.__file__).parent

    def read(*files: str) -> frozenset[str]:
        out = set()
        for f in files:
            path = folder / f
            if path.is_file():
                out |= {line.split()[0].lower() for line in path.read_text().splitlines() if line.strip()}
        return frozenset(out)

    return read("dist.male.first", "dist.female.first"), read("dist.all.last")


def _plain(tok: Token) -> bool:
    low = tok.low
    return (tok.text.isalpha() or re.fullmatch(r"[a-z]+['’-][a-z]+", low) is not None) and len(low) >= 2 \
        and low not in COMMON and low not in NUMBER_WORDS and low not in ORDINALS


def _cue_before(toks: list[Token], i: int) -> str:
    """'strong', 'weak' or '' for the words just before token i."""
    for width in (3, 2, 1):
        if i - width < 0:
            continue
        phrase = " ".join(t.low for t in toks[i - width:i])
        if STRONG_CUES.match(phrase):
            return "strong"
    return "weak" if i > 0 and toks[i - 1].low in WEAK_CUES or i == 0 else ""


def lower_case_names(toks: list[Token]) -> list[Span]:
    first, last = _census()
    out, i = [], 0
    while i < len(toks):
        tok = toks[i]
        if not _plain(tok) or tok.text[:1].isupper():
            i += 1
            continue
        cue = _cue_before(toks, i)
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        pair = nxt is not None and _plain(nxt) and nxt.low in last
        is_name = (cue == "strong" or (tok.low in first and (cue or pair))
                   or (pair and cue == "weak"))
        if not is_name:
            i += 1
            continue
        j = i
        while j + 1 < len(toks) and j - i < 2 and _plain(toks[j + 1]) and toks[j + 1].low in last:
            j += 1
        out.append(Span(PERSON, tok.start, toks[j].end, 0.75))
        i = j + 1
    return out
