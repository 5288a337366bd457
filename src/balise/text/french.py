"""French address rules: street types, ordinals, house numbers, noise, phonetics.

The rules follow addok-france 1.2 and addok-fr 1.1 (the pipeline of the French
national address API) so that balise tokenizes exactly like Addok; where balise
deliberately differs it says so (house-number keys keep "bis" apart from "b").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache, partial
from importlib import resources

from ._french import FrenchRules, collapse_spaces, rewrite, space_postcodes
from ._phonetic import phonetic_ascii
from .pipeline import WORD, Pipeline, Token, each, fold, normalize, tokenize

TYPES = [
    "aer(odrome)?", "all([ée]es?)?", "anc(ien(ne)?)?", "av(enue)?", "b(oulevar|l?v?)?d",
    "b(ou)?cle", "ber(ges?)?", "bois", "c(en)?tre", "c(ou)?rs?", "c[ôo]te", "carr?(efour)?",
    "ch(am)?p", "chauss[ée]e", "che?(m(in)?)?", "cit[ée]", "clos", "desserte", "devi(ation)?",
    "dig(ue)?", "dom(aine)?", "embr(anchement)?", "espl?(anade)?", "eta?ng", "éta?ng",
    "f(aubour|b|bour)?g", "giratoire", "gr(ande?)?", "gr(e|es|s)?", "ham(eau)?", "imp(asse)?",
    "j[ée]?t[ée]e", "jard(in)?", "l[ôo]t(issement)?", "mont", "mont[ée]e", "p(arvis|rvs?|vr)?",
    "p(asserel|l)?le", "p(lace)?tte", "p(or)?te", "parc", "pas(se)?", "pass(age)?", "pl(ace)?",
    "porte", "pr[ée]", "pro?m(enade)?", "q(uart(ier)?|ua|rt(ier)?)", "qu?(ai)?", "r(ou)?te",
    "r(uel|l)?le", "r(ue)?", "r[ée]s(idence)?", "rd?pt", "rocade", "rond[- ]point",
    "sent(e|ier)", "squ?(are)?", "t(erra)?sse", "taillis", "trav(erse)?", "tunn?(el)?",
    "v(il|l)?la", "via", "viad(uc)?", "voie", "[îi]lot",
]
TYPES_REGEX = "|".join(TYPES)
ORDINAL_REGEX = "bis|ter|quater|quinquies|sexies|[a-z]"
# Multiplicative suffixes and the letter Addok folds each to.
FOLD = {"bis": "b", "ter": "t", "quater": "q", "quinquies": "c", "sexies": "s"}
UNFOLD = {letter: word for word, letter in FOLD.items()}

ORDINAL = re.compile(r"\b(" + ORDINAL_REGEX + r")\b", flags=re.IGNORECASE)
STREET_TYPE = re.compile(r"\b(" + TYPES_REGEX + r")\b", flags=re.IGNORECASE)
HOUSENUMBER = re.compile(r"\b\d{1,4}[a-z]?\b", flags=re.IGNORECASE)
# The BAN's parcels and lots: number 12, suffix p2, on a street of their own whose name
# starts with it ("12P2 Rue des Rosiers", address "12P2 12P2 Rue des Rosiers").
PARCEL = re.compile(r"\d{1,4}[a-z]{1,2}\d{1,3}", flags=re.IGNORECASE)


def _regex_noise(pattern: str, repl: str | Callable[[re.Match[str]], str]) -> Callable[[str], str]:
    """A noise rule: ``pattern``'s matches (ignoring case) replaced by ``repl``.

    PERF: a replacement that names groups is given as a function (``m.group(1)``), not as a
    template ("\\1"), which Python's re reads again through Python code at each call (2.6 ->
    1.6 us a query that has a BP)."""
    return partial(re.compile(pattern, flags=re.IGNORECASE).sub, repl)


def _floor_noise(q: str) -> str:
    """r"\\d{,2}(e|[eè]me) ([eé]tage)" dropped: "3e étage", "2ème étage".

    PERF: searched from 7 characters before the first "tage" (the most a match can start
    before it: two digits, "ème", a space, "é"), not from the start (2.7 -> 1.3 us); the
    text before is left as it is, as the pattern has no anchor nor look-behind."""
    lower = q.lower()
    at = lower.find("tage")
    if at < 0 or len(lower) != len(q):  # NOTE: a lower case of another length: no window
        return _FLOORS(q)
    start = max(0, at - 7)
    return q[:start] + _FLOORS(q[start:])


_FLOORS = _regex_noise(r"\d{,2}(e|[eè]me) ([eé]tage)", "")


# (rewrite, what the text must hold for it to apply at all), in order, on the folded query.
# PERF: each rewrite is tried only when its text is there (a substring test); the two that
# apply to most queries (postcodes apart, runs of spaces) are compiled.
NOISE: list[tuple[Callable[[str], str], tuple[str, ...]]] = [
    (space_postcodes, tuple("0123456789")),  # r"([\d]{5})" -> r" \1 "
    (_regex_noise(r"(^| )(b\.?p\.?|cs|tsa|cidex) *(n(o|°|) *|)[\d]+ *", lambda m: m.group(1)),
     ("bp", "b.p", "cs", "tsa", "cidex")),
    (_regex_noise(r"([\d]{2})[\d]{3}(.*)c(e|é)dex ?[\d]*", lambda m: m.group(1) + m.group(2)),
     ("cedex", "cédex")),
    (_regex_noise(r"c(e|é)dex ?[\d]*", ""), ("cedex", "cédex")),
    (_floor_noise, ("tage",)),
    (collapse_spaces, ("  ",)),  # " {2,}" -> " "
    (_regex_noise("[ -]s/[ -]", " sur "), ("s/",)),
    (_regex_noise("[ -]s/s[ -]", " sous "), ("s/s",)),
    (_regex_noise("^lieux?[ -]?dits?\\b(?=.)", ""), ("lieu",)),
]

# (pattern, replacement, what the word must hold for the pattern to match at all: one of
# these substrings, each implied by the pattern; empty: always tried).
# PERF: a substring test costs a tenth of a regex call; a word meets a few of the rules.
PHONETIC_RULES: list[tuple[Callable[..., str], str, tuple[str, ...]]] = [
    (re.compile(p).sub, r, needs)
    for p, r, needs in (
        ("(?<=a)(mp|nd|nt)s?$", "n", ("amp", "and", "ant")),  # champ(s) > cham
        (r"([aeiouy])mp(?=[^aeiouyr])", r"\1n", ("mp",)),  # champvallon -> chanvalon
        (r"ngt(?=[aeiouy])", "nt", ("ngt",)),  # vingtieme > vintieme
        (r"ngt", "n", ("ngt",)),  # vingt > vin
        ("((?<=[^g])g|^g)(?=[eyi])", "j", ("g",)),
        ("(?<=g)u(?=[aeio])", "", ("gu",)),
        (r"(?<=ei)gn([aeiouy])", r"ni\1", ("eign",)),  # seigneur -> senieur
        (r"je([aeiouy])", r"j\1", ("je",)),  # georges -> jorj
        ("c(?=[^hieyw])", "k", ("c",)),
        (r"anc$", "an", ("anc",)),  # blanc -> blan
        ("((?<=[^s])ch|(?<=[^0-9])c)$", "k", ("c",)),  # final "c", "ch", not "sch" nor "10c"
        ("(?<=[aeiouy])s(?=[aeiouy])", "z", ("s",)),
        ("((?<=[^0-9])q|^q)u?", "k", ("q",)),
        ("cc(?=[ie])", "s", ("cc",)),
        ("ck", "k", ("ck",)),
        ("ph", "f", ("ph",)),
        ("th$", "te", ("th",)),
        ("(?<=[^sc0-9])h", "", ("h",)),
        ("^h(?=.)+", "", ("h",)),
        ("sc", "s", ("sc",)),
        ("sh", "ch", ("sh",)),
        ("((?<=[^0-9])w|^w)", "v", ("w",)),
        ("c(?=[eiy])", "s", ("c",)),
        (r"((?<=[^0-9])y|^y)", "i", ("y",)),
        ("esn", "en", ("esn",)),
        (r"eim( |$)", "aim", ("eim",)),  # pforzheim -> pforzaim
        (r"(ae|ei)(?=\w)", "e", ("ae", "ei")),
        (r"oeufs( |$)", "eu", ("oeufs",)),
        (r"oeu?(?=\w)", "eu", ("oe",)),
        ("(?<=[^0-9])s$", "", ("s",)),
        ("(?<=u)l?x$", "", ("ux", "ulx")),  # eaux, eux, aux, aulx
        ("(?<=u)lt$", "t", ("ult",)),
        ("(?<=[a-z])[dg]$", "", ("d", "g")),
        ("(?<=[^es0-9])t$", "", ("t",)),
        ("(?<=[aeiou])(m)(?=[pbgft])", "n", ("m",)),
        ("(?<=[a-z]{2})(e$)", "", ("e",)),
        (r"(?<=[aeiouy])n[dt](?=[^aeiouyr])", "n", ("nd", "nt")),  # montbon -> monbon
        (r"([a-z])\1+", r"\1", ()),  # double letters
    )
]


def load_synonyms() -> dict[str, str]:
    text = resources.files("balise.text").joinpath("resources/synonyms-fr.txt").read_text()
    synonyms = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        aliases, wanted = line.split("=>")
        for alias in aliases.split(","):
            if alias.strip():
                synonyms[alias.strip()] = wanted.strip()
    return synonyms


# --- query string steps -------------------------------------------------------


def extract_address(q: str) -> str:
    """Keep "22 rue des Fleurs 59350 Lille" out of "Ets XYZ bât B 22 rue des Fleurs ..."."""
    return q[RULES.address_start(q) :]


# --- token steps --------------------------------------------------------------


# The word tests of the rules in context (house numbers, ordinals): on a single word (\w+),
# a match from its start ending at a word boundary is a full match. The compiled rules cache
# their answers by word; PERF: a test a word cannot pass by its first character or its
# length (numbers start with a digit, ordinals are short) does not run its expression.


def language(pattern: str) -> frozenset[str]:
    """Every string a pattern of TYPES or ORDINAL_REGEX matches: they use only literals,
    character classes, groups of alternatives and ``?``, so each matches a finite set."""

    def alternatives(i: int) -> tuple[set[str], int]:
        out, i = sequence(i)
        while i < len(pattern) and pattern[i] == "|":
            more, i = sequence(i + 1)
            out |= more
        return out, i

    def sequence(i: int) -> tuple[set[str], int]:
        out = {""}
        while i < len(pattern) and pattern[i] not in "|)":
            if pattern[i] == "(":
                atom, i = alternatives(i + 1)
                i += 1  # ")"
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                atom, i = characters(pattern[i + 1 : end]), end + 1
            else:
                atom, i = {pattern[i]}, i + 1
            if i < len(pattern) and pattern[i] == "?":
                atom, i = atom | {""}, i + 1
            out = {a + b for a in out for b in atom}
        return out, i

    return frozenset(alternatives(0)[0])


def characters(cls: str) -> set[str]:
    """The characters of a class such as "ée" or "a-z"."""
    out: set[str] = set()
    i = 0
    while i < len(cls):
        if i + 2 < len(cls) and cls[i + 1] == "-":
            out.update(chr(c) for c in range(ord(cls[i]), ord(cls[i + 2]) + 1))
            i += 3
        else:
            out.add(cls[i])
            i += 1
    return out


# PERF: the words the expressions match, as sets (the expressions stay the rules' text).
STREET_TYPE_WORDS = frozenset(w for t in TYPES for w in language(t) if w.isalnum())
ORDINAL_WORDS = language(ORDINAL_REGEX)


MONTHS = {
    "janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
    "octobre", "novembre", "decembre",
}
# Words after which a number belongs to the street name ("rue du 8 mai 1945", "place du 19
# mars 1962": after a month, a year).
NAME_NUMBER_PRECEDERS = {"du", "de", "des", "le", "la", "les", "au", "aux", "l", "d"}
TRAILING_NUMBER = re.compile(r"^\d{1,4}(" + ORDINAL_REGEX + r"|[a-z]{1,2}\d{1,3})?$")  # parcels too



RULES = FrenchRules(
    STREET_TYPE_WORDS, ORDINAL_WORDS, (HOUSENUMBER.match, PARCEL.fullmatch, TRAILING_NUMBER.match),
    NOISE, FOLD, MONTHS, NAME_NUMBER_PRECEDERS,
)
clean_noise = RULES.clean_noise  # CEDEX, BP/CS/TSA numbers, floors, s/ (sur) and s/s (sous) dropped
remove_leading_zeros = RULES.remove_leading_zeros  # 0003 -> 3 (postcodes are left alone)


def make_synonymize(synonyms: dict[str, str]) -> Callable[[Iterable[Token]], list[Token]]:
    def synonymize(tokens: Iterable[Token]) -> list[Token]:
        out = []
        for token in tokens:
            wanted = synonyms.get(token)
            if wanted is None:
                out.append(token)
            else:
                out += [token.update(word, position=position) for position, word in enumerate(wanted.split())]
        return out

    return synonymize


@lru_cache(maxsize=20_000)  # known words come from the lexicon
def phonetic(word: str) -> str:
    """Very light French phonetic folding: keeps only significant letters.

    PHONETIC_RULES are the rules; a folded word (``[a-z0-9_]``) goes through their compiled
    twin (PERF: 3.1 -> 0.4 us for a word the index does not know)."""
    folded = phonetic_ascii(word)
    return rewrite(word, PHONETIC_RULES) if folded is None else folded


def phonemicize(token: Token) -> Token:
    folded = phonetic(str(token))
    return token if folded == token else token.update(folded)


# --- house numbers ------------------------------------------------------------

HOUSENUMBER_PARTS = re.compile(
    r"^0*(\d{1,6})\s*(bis|ter|quater|quinquies|sexies|[a-z]{1,3})?$", flags=re.IGNORECASE
)


@lru_cache(maxsize=20_000)
def housenumber_key(raw: str) -> str:
    """Canonical key of a house number: "30 BIS" -> "30bis", "30B" -> "30b", "0012" -> "12".

    Unlike Addok (which folds "bis" to "b"), the ordinal word is kept, so 30 B and
    30 BIS stay two numbers.
    """
    if raw.isdigit():
        return str(int(raw))
    text = " ".join(WORD.findall(fold(raw)))
    m = HOUSENUMBER_PARTS.match(text)
    if not m:
        return text.replace(" ", "")
    number, suffix = m.groups()
    return number + (suffix or "")


def housenumber_alternatives(key: str) -> list[str]:
    """Keys to try after ``key`` when a street lacks it: 30b <-> 30bis."""
    m = HOUSENUMBER_PARTS.match(key)
    if not m or not m.group(2):
        return []
    number, suffix = m.groups()
    if suffix in FOLD:
        return [number + FOLD[suffix]]
    if suffix in UNFOLD:
        return [number + UNFOLD[suffix]]
    return []



def make_expand_word(synonyms: dict[str, str]) -> Callable[[str], list[str]]:
    """The word steps below (synonymize, then phonemicize) on a plain string."""

    def expand_word(word: str) -> list[str]:
        wanted = synonyms.get(word)
        if wanted is None:
            return [phonetic(word)]
        return [phonetic(w) for w in wanted.split()]

    return expand_word


def make_pipeline() -> Pipeline:
    synonyms = load_synonyms()
    return Pipeline(RULES, word_steps=[make_synonymize(synonyms), each(phonemicize)],
                    housenumber_key=housenumber_key, expand_word=make_expand_word(synonyms))


__all__ = ["make_pipeline", "housenumber_key", "housenumber_alternatives", "normalize", "tokenize"]
