"""French address rules: street types, ordinals, house numbers, noise, phonetics.

The rules follow addok-france 1.2 and addok-fr 1.1 (the pipeline of the French
national address API) so that balise tokenizes exactly like Addok; where balise
deliberately differs it says so (house-number keys keep "bis" apart from "b").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import resources

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

EXTRACT_ADDRESS = re.compile(
    r"(\b\d{1,4}( *(" + ORDINAL_REGEX + r"))?,? +(" + TYPES_REGEX + r") .*(\d{5})?).*",
    flags=re.IGNORECASE,
)
ORDINAL = re.compile(r"\b(" + ORDINAL_REGEX + r")\b", flags=re.IGNORECASE)
STREET_TYPE = re.compile(r"\b(" + TYPES_REGEX + r")\b", flags=re.IGNORECASE)
NUMBER_WITH_ORDINAL = re.compile(r"^(\d{1,4})(" + ORDINAL_REGEX + ")$", flags=re.IGNORECASE)
HOUSENUMBER = re.compile(r"\b\d{1,4}[a-z]?\b", flags=re.IGNORECASE)
# The BAN's parcels and lots: number 12, suffix p2, on a street of their own whose name
# starts with it ("12P2 Rue des Rosiers", address "12P2 12P2 Rue des Rosiers").
PARCEL = re.compile(r"\d{1,4}[a-z]{1,2}\d{1,3}", flags=re.IGNORECASE)
LEADING_ZEROS = re.compile(r"\b0+(\d{1,3})\b")
# (pattern, replacement, what the text must hold for the pattern to match at all).
# PERF: each pattern is tried only when its text is there (a plain search, no backtracking).
NOISE = [
    (re.compile(p, flags=re.IGNORECASE), r, re.compile("|".join(map(re.escape, needs))))
    for p, r, needs in (
        (r"([\d]{5})", r" \1 ", "0123456789"),
        (r"(^| )(b\.?p\.?|cs|tsa|cidex) *(n(o|°|) *|)[\d]+ *", r"\1", ("bp", "b.p", "cs", "tsa", "cidex")),
        (r"([\d]{2})[\d]{3}(.*)c(e|é)dex ?[\d]*", r"\1\2", ("cedex", "cédex")),
        (r"c(e|é)dex ?[\d]*", "", ("cedex", "cédex")),
        (r"\d{,2}(e|[eè]me) ([eé]tage)", "", ("tage",)),
        (" {2,}", " ", ("  ",)),
        ("[ -]s/[ -]", " sur ", ("s/",)),
        ("[ -]s/s[ -]", " sous ", ("s/s",)),
        ("^lieux?[ -]?dits?\\b(?=.)", "", ("lieu",)),
    )
]

PHONETIC_RULES = [
    (re.compile(p), r)
    for p, r in (
        ("(?<=a)(mp|nd|nt)s?$", "n"),  # champ(s) > cham
        (r"([aeiouy])mp(?=[^aeiouyr])", r"\1n"),  # champvallon -> chanvalon
        (r"ngt(?=[aeiouy])", "nt"),  # vingtieme > vintieme
        (r"ngt", "n"),  # vingt > vin
        ("((?<=[^g])g|^g)(?=[eyi])", "j"),
        ("(?<=g)u(?=[aeio])", ""),
        (r"(?<=ei)gn([aeiouy])", r"ni\1"),  # seigneur -> senieur
        (r"je([aeiouy])", r"j\1"),  # georges -> jorj
        ("c(?=[^hieyw])", "k"),
        (r"anc$", "an"),  # blanc -> blan
        ("((?<=[^s])ch|(?<=[^0-9])c)$", "k"),  # final "c", "ch", not "sch" nor "10c"
        ("(?<=[aeiouy])s(?=[aeiouy])", "z"),
        ("((?<=[^0-9])q|^q)u?", "k"),
        ("cc(?=[ie])", "s"),
        ("ck", "k"),
        ("ph", "f"),
        ("th$", "te"),
        ("(?<=[^sc0-9])h", ""),
        ("^h(?=.)+", ""),
        ("sc", "s"),
        ("sh", "ch"),
        ("((?<=[^0-9])w|^w)", "v"),
        ("c(?=[eiy])", "s"),
        (r"((?<=[^0-9])y|^y)", "i"),
        ("esn", "en"),
        (r"eim( |$)", "aim"),  # pforzheim -> pforzaim
        (r"(ae|ei)(?=\w)", "e"),
        (r"oeufs( |$)", "eu"),
        (r"oeu?(?=\w)", "eu"),
        ("(?<=[^0-9])s$", ""),
        ("(?<=u)l?x$", ""),  # eaux, eux, aux, aulx
        ("(?<=u)lt$", "t"),
        ("(?<=[a-z])[dg]$", ""),
        ("(?<=[^es0-9])t$", ""),
        ("(?<=[aeiou])(m)(?=[pbgft])", "n"),
        ("(?<=[a-z]{2})(e$)", ""),
        (r"(?<=[aeiouy])n[dt](?=[^aeiouyr])", "n"),  # montbon -> monbon
        (r"([a-z])\1+", r"\1"),  # double letters
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
    return q[address_start(q) :]


NUMBER_START = re.compile(r"\b\d")


@lru_cache(maxsize=256)  # a query's readings ask it several times
def address_start(q: str) -> int:
    """Where the address starts in a longer text (a number before a street type), else 0.

    PERF: EXTRACT_ADDRESS.search, tried only where a number starts (the same leftmost match).
    """
    for number in NUMBER_START.finditer(q):
        if EXTRACT_ADDRESS.match(q, number.start()):
            return number.start()
    return 0


def clean_noise(q: str) -> str:
    """Drop CEDEX, BP/CS/TSA numbers, floors; expand s/ (sur) and s/s (sous)."""
    lower = q.lower()
    for pattern, repl, needs in NOISE:
        if needs.search(lower):
            q = pattern.sub(repl, q)
            lower = q.lower()
    return q.strip()


def remove_leading_zeros(q: str) -> str:
    """0003 -> 3 (up to three digits, so postcodes are left alone)."""
    return LEADING_ZEROS.sub(r"\g<1>", q) if "0" in q else q


# --- token steps --------------------------------------------------------------


# What the token steps ask of single words, cached (PERF: the same few thousand words come
# again and again; each question is a regular expression of dozens of alternatives).
# On a single word (\w+), a match from its start ending at a word boundary is a full match.


def _word_test(match: Callable[[str], object]) -> Callable[[str], bool]:
    """Whether a word matches, cached by its plain string.

    NOTE: a Token as the cache's key would keep the token, its position list and the key's
    tuple alive, objects the garbage collector then walks at every full pass.
    """
    cached = lru_cache(maxsize=50_000)(lambda word: match(word) is not None)

    def test(word: str) -> bool:
        return cached(str(word))

    return test


is_street_type = _word_test(STREET_TYPE.fullmatch)
is_ordinal = _word_test(ORDINAL.match)
is_housenumber = _word_test(HOUSENUMBER.match)
is_parcel = _word_test(PARCEL.fullmatch)


def glue_ordinal(tokens: Iterable[Token]) -> list[Token]:
    """"3 bis rue" -> "3bis rue": an ordinal glued to the number before it.

    NOTE: as in Addok, of two numbers in a row only the second is kept ("10-12
    rue X" is searched as "12 rue X").
    """
    tokens = list(tokens)
    out: list[Token] = []
    held = None
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i < last else None
        if following and token.isdigit() and len(token) < 5:
            held = token
            continue
        if held is not None:
            if is_ordinal(token) and (not following or is_street_type(following)):
                raw = f"{held} {token}"
                token = held.update(raw.replace(" ", ""), raw=raw)
            else:
                out.append(held)
            held = None
        out.append(token)
    return out


def fold_ordinal(token: Token) -> Token:
    """3bis -> 3b (the form Addok indexes)."""
    if token[:1].isdigit() and not token.isdigit():
        m = NUMBER_WITH_ORDINAL.match(token)
        if m:
            number, ordinal = m.groups()
            return token.update(number + FOLD.get(ordinal.lower(), ordinal))
    return token


def flag_housenumber(tokens: Iterable[Token]) -> list[Token]:
    """The first number at the start or before a street type is a house number.

    Beyond Addok, a parcel number ("12p2") is one too when the street's name repeats it
    ("12p2 12p2 rue des rosiers", "saucats 33650 12p2 12p2 rue..."); once, it is the name.
    """
    tokens = list(tokens)
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i < last else None
        if (
            (token.is_first or (following and is_street_type(following))) and is_housenumber(token)
            or is_parcel(token) and token == following
        ):
            token.kind = "housenumber"
            break
    return tokens


MONTHS = {
    "janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
    "octobre", "novembre", "decembre",
}
# Words after which a number belongs to the street name ("rue du 8 mai 1945", "place du 19
# mars 1962": after a month, a year).
NAME_NUMBER_PRECEDERS = {"du", "de", "des", "le", "la", "les", "au", "aux", "l", "d"}
TRAILING_NUMBER = re.compile(r"^\d{1,4}(" + ORDINAL_REGEX + r"|[a-z]{1,2}\d{1,3})?$")  # parcels too


is_trailing_number = _word_test(TRAILING_NUMBER.match)


def flag_trailing_housenumber(tokens: Iterable[Token]) -> list[Token]:
    """"rue de Rivoli 12": a number after the street name may be the house number.

    Beyond Addok, which only looks for a number at the start or before a street
    type. The token is only flagged ``maybe_housenumber``: it is still searched
    as a word, and a result takes it as its house number only if it has one, and
    if the street's name does not hold it ("route nationale 7": search/scorer.py).
    """
    tokens = list(tokens)
    if any(t.kind == "housenumber" for t in tokens):
        return tokens
    for i, token in enumerate(tokens):
        if i == 0 or not is_trailing_number(token):
            continue
        previous, following = tokens[i - 1], tokens[i + 1] if i + 1 < len(tokens) else None
        if previous.isdigit() or previous in NAME_NUMBER_PRECEDERS or previous in MONTHS and len(token) == 4:
            continue
        if following is not None and (following in MONTHS or following.isdigit() and len(following) < 5):
            continue
        token.kind = "maybe_housenumber"
        if following is not None and (following in FOLD or len(following) == 1 and following.isalpha()):
            following.kind = "maybe_housenumber_suffix"  # "12 bis", "12 b"
        break
    return tokens


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
    """Very light French phonetic folding: keeps only significant letters."""
    for pattern, repl in PHONETIC_RULES:
        word = pattern.sub(repl, word)
    return word


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



def make_pipeline() -> Pipeline:
    return Pipeline(
        context_steps=[glue_ordinal, each(fold_ordinal), flag_housenumber, flag_trailing_housenumber],
        word_steps=[make_synonymize(load_synonyms()), each(phonemicize)],
        query_steps=[clean_noise, remove_leading_zeros],
        extract=address_start,
        housenumber_key=housenumber_key,
    )


__all__ = ["make_pipeline", "housenumber_key", "housenumber_alternatives", "normalize", "tokenize"]
