"""The empathy lexicon (configs/empathy.yaml): cue patterns, exemplar sentences and guards, compiled.

Patterns match NORMALISED text (see `normalise_token`): ASR output of Whisper tiny.en comes with or
without punctuation and casing, with "im"/"dont"/"thats" as often as "I'm"/"don't"/"that's", so
both spellings are folded into one form before any pattern runs and a pattern is written once.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from audio_pipeline.config import ConfigError

AGENT_KINDS = ("empathy", "dismissive", "sympathy")
CUSTOMER_KINDS = ("distress",)
KINDS = AGENT_KINDS + CUSTOMER_KINDS
# kinds whose cues are split into categories in the yaml (the others are one flat list)
_CATEGORISED = ("empathy", "distress")

_FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "er", "erm", "hmm", "mm", "mmm"})

# Folded spellings: with and without the apostrophe (ASR often drops it), to one expanded form.
_CONTRACTIONS: Mapping[str, str] = {
    "im": "i am", "ive": "i have", "youre": "you are", "youve": "you have", "youll": "you will",
    "theyre": "they are", "theyve": "they have", "weve": "we have", "thats": "that is",
    "theres": "there is", "whats": "what is", "heres": "here is", "hes": "he is", "shes": "she is",
    "its": "it is", "lets": "let us", "dont": "do not", "doesnt": "does not", "didnt": "did not",
    "cant": "can not", "cannot": "can not", "wont": "will not", "isnt": "is not", "arent": "are not",
    "wasnt": "was not", "werent": "were not", "shouldnt": "should not", "wouldnt": "would not",
    "couldnt": "could not", "havent": "have not", "hasnt": "has not", "hadnt": "had not",
    "mustnt": "must not", "neednt": "need not", "aint": "is not", "wouldve": "would have",
    "shouldve": "should have", "couldve": "could have", "gonna": "going to", "wanna": "want to",
    "gotta": "got to", "ok": "okay", "alright": "all right", "youd": "you would",
    "theyd": "they would", "theyll": "they will", "itll": "it will", "thatll": "that will",
    "thatd": "that would", "itd": "it would", "wheres": "where is", "whos": "who is", "hows": "how is",
    "whatd": "what did",
}
_S_IS = frozenset({"it", "that", "there", "what", "here", "he", "she", "who", "where", "how", "everything",
                   "nothing", "this"})
_APOSTROPHE_SUFFIXES = (("n't", " not"), ("'re", " are"), ("'ve", " have"), ("'ll", " will"),
                        ("'d", " would"), ("'m", " am"))
_IRREGULAR: Mapping[str, tuple[str, ...]] = {"can't": ("can", "not"), "won't": ("will", "not"),
                                             "shan't": ("shall", "not"), "let's": ("let", "us")}
_MACRO = re.compile(r"\{([a-z_]+)\}")


def normalise_token(raw: str) -> list[str]:
    """One spoken/written token -> the normalised words it stands for ([] for fillers, punctuation)."""
    t = raw.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    t = re.sub(r"[^\w' ]+", " ", t.replace("-", " ")).replace("_", " ")
    out: list[str] = []
    for part in t.split():
        out.extend(_expand(part.strip("'")))
    return [w for w in out if w and w not in _FILLERS]


def _expand(word: str) -> list[str]:
    if word in _CONTRACTIONS:
        return _CONTRACTIONS[word].split()
    if word in _IRREGULAR:
        return list(_IRREGULAR[word])
    for suffix, repl in _APOSTROPHE_SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return (word[: -len(suffix)] + repl).split()
    if word.endswith("'s"):
        stem = word[:-2]
        return [stem, "is"] if stem in _S_IS else [stem + "s"]  # possessive: "customer's" -> "customers"
    folded = word.replace("'", "")
    return _CONTRACTIONS.get(folded, folded).split()


# ASR drops the apostrophe of "I'll", "we'll", "I'd": "ill", "well", "id" are then real words, so
# they are only read as the contraction when a verb follows ("ill call you back", "well sort it").
_AMBIGUOUS = {"ill": ("i", "will"), "well": ("we", "will"), "id": ("i", "would")}
_VERBS_AFTER_CONTRACTION = frozenset("""
    be have do get give make call ring phone email text send check look sort fix take keep let put try see
    need follow chase update pass raise escalate stay reach arrange book go come transfer speak talk
    write note add set ask pop leave explain tell find process refund cancel change organise organize
    reset waive credit contact monitor hold like love suggest recommend say feel personally definitely
    certainly just also get back always never make sure happily gladly absolutely
""".split())


# "were" for "we're" only where a clause starts ("were going to fix it", "okay were on it"), never
# after a subject ("things were bad") or before one ("were you the one who ordered").
_CLAUSE_OPENERS = frozenset("and but so okay right yes yeah well now look because then oh ah sir madam".split())
_AFTER_WERE = frozenset("""
    going really so very here sorry happy looking on not just all able doing working trying definitely
    absolutely certainly still always never glad more aware also committed
""".split())


def _fold(words: Sequence[str], k: int) -> tuple[str, ...] | None:
    w = words[k]
    following = words[k + 1] if k + 1 < len(words) else ""
    if w in _AMBIGUOUS and following in _VERBS_AFTER_CONTRACTION:
        return _AMBIGUOUS[w]
    if w == "were" and following in _AFTER_WERE and (k == 0 or words[k - 1] in _CLAUSE_OPENERS):
        return ("we", "are")
    return None


def normalise_words(tokens: Sequence[str]) -> list[tuple[str, int]]:
    """Normalised words of a token sequence, each with the index of the token it came from."""
    pairs = [(w, i) for i, tok in enumerate(tokens) for w in normalise_token(tok)]
    words = [w for w, _ in pairs]
    out: list[tuple[str, int]] = []
    for k, (w, i) in enumerate(pairs):
        for part in _fold(words, k) or (w,):
            out.append((part, i))
    return out


def normalise_text(text: str) -> str:
    return " ".join(w for w, _ in normalise_words(text.split()))


@dataclass(frozen=True, slots=True)
class Cue:
    """One compiled lexicon pattern."""

    kind: str                # empathy | dismissive | sympathy | distress
    category: str | None     # empathy / distress category; None for dismissive and sympathy
    pattern: str             # as written in the yaml (rule strings quote the matched words instead)
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A sentence the semantic matcher compares against; kind "neutral" marks a non-cue anchor."""

    speaker: str             # agent | customer: whose utterances it is compared with
    kind: str
    category: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Guards:
    negation_window: int
    negators: Mapping[str, frozenset[str]]        # kind -> words that void a following cue
    negation_transparent: frozenset[str]          # words a negation reaches across ("not REALLY sorry")
    contrast: tuple[str, ...]                     # normalised connectives ("but", "having said that")
    contrast_reach: int
    blocker_reach: int
    blockers: Mapping[str, tuple[re.Pattern[str], ...]]   # kind -> patterns that void that kind nearby


@dataclass(frozen=True, slots=True)
class Lexicon:
    cues: tuple[Cue, ...]
    exemplars: tuple[Exemplar, ...]
    guards: Guards
    digest: str              # content hash: key of the exemplar-embedding cache
    source: str

    def cues_of(self, kinds: tuple[str, ...]) -> tuple[Cue, ...]:
        return tuple(c for c in self.cues if c.kind in kinds)


def load_lexicon(path: Path | str) -> Lexicon:
    """Read and compile configs/empathy.yaml (or another file of the same shape)."""
    path = Path(path)
    try:
        text = path.read_text()
        data = yaml.safe_load(text) or {}
    except FileNotFoundError:
        raise ConfigError(f"empathy lexicon not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"empathy lexicon {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"empathy lexicon {path} must be a mapping")
    macros = {str(k): str(v) for k, v in (data.get("macros") or {}).items()}
    cues, exemplars = [], []
    for kind in KINDS:
        speaker = "customer" if kind in CUSTOMER_KINDS else "agent"
        for category, block in _blocks(data, kind, path):
            for pattern in block.get("patterns") or ():
                cues.append(Cue(kind, category, str(pattern), _compile(str(pattern), macros, path)))
            for sentence in block.get("exemplars") or ():
                exemplars.append(Exemplar(speaker, kind, category, str(sentence)))
    neutral = data.get("neutral") or {}
    for speaker in ("agent", "customer"):
        exemplars += [Exemplar(speaker, "neutral", None, str(s)) for s in neutral.get(speaker) or ()]
    guards = _guards(data.get("guards") or {}, macros, path)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Lexicon(tuple(cues), tuple(exemplars), guards, digest, str(path))


def _blocks(data: Mapping[str, Any], kind: str, path: Path) -> list[tuple[str | None, Mapping[str, Any]]]:
    section = data.get(kind)
    if section is None:
        return []
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: section '{kind}' must be a mapping")
    if kind not in _CATEGORISED:
        return [(None, section)]
    blocks = []
    for category, block in section.items():
        if not isinstance(block, Mapping):
            raise ConfigError(f"{path}: '{kind}.{category}' must hold patterns and exemplars")
        blocks.append((str(category), block))
    return blocks


def _compile(pattern: str, macros: Mapping[str, str], path: Path) -> re.Pattern[str]:
    def expand(m: re.Match[str]) -> str:
        if m.group(1) not in macros:
            raise ConfigError(f"{path}: unknown macro {{{m.group(1)}}} in pattern {pattern!r}")
        return macros[m.group(1)]

    body = _MACRO.sub(expand, pattern)
    try:
        # whole words only: a cue never starts or ends inside a word
        return re.compile(rf"(?<![\w'])(?:{body})(?![\w'])")
    except re.error as exc:
        raise ConfigError(f"{path}: bad pattern {pattern!r}: {exc}") from None


def _guards(g: Mapping[str, Any], macros: Mapping[str, str], path: Path) -> Guards:
    negators = {str(k): frozenset(normalise_text(str(w)) for w in v) for k, v in (g.get("negators") or {}).items()}
    blockers = {str(k): tuple(_compile(str(p), macros, path) for p in v) for k, v in (g.get("blockers") or {}).items()}
    return Guards(
        negation_window=int(g.get("negation_window", 3)),
        negators=negators,
        negation_transparent=frozenset(w for x in g.get("negation_transparent") or () for w in normalise_text(str(x)).split()),
        contrast=tuple(normalise_text(str(w)) for w in g.get("contrast") or ()),
        contrast_reach=int(g.get("contrast_reach", 12)),
        blocker_reach=int(g.get("blocker_reach", 3)),
        blockers=blockers,
    )
