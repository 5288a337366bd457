"""The French text pipeline on real examples: what Addok (addok-fr + addok-france) produces."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from balise.text import french, make_pipeline
from balise.text.french import (
    clean_noise,
    extract_address,
    housenumber_alternatives,
    housenumber_key,
    phonetic,
    remove_leading_zeros,
)
from balise.text.pipeline import ascii_label, fold


@pytest.fixture(scope="module")
def pipeline():
    return make_pipeline("fr")


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Avenue du Général Lemonnier", ["avenu", "du", "jeneral", "lemonier"]),
        ("Rue Sainte-Opportune", ["ru", "saint", "oportun"]),
        ("Boulevard de Champigny", ["boulevar", "de", "chanpigni"]),
        ("Bd Saint-Germain", ["boulevar", "sain", "jermain"]),
        ("Pl. de l'Hôtel de Ville", ["plas", "de", "l", "otel", "de", "vil"]),
        ("Rue du 8 Mai 1945", ["ru", "du", "ui", "mai", "1945"]),
        ("Œuvre", ["euvr"]),
        ("Chemin des Écoliers", ["chemin", "de", "ekolier"]),
    ],
)
def test_index_tokens(pipeline, text, tokens):
    assert pipeline.index_tokens(text) == tokens


def test_same_tokens_as_addok_on_real_strings(pipeline):
    """3,000 real names, cities and queries, tokenized by Addok 1.3.2 + addok-fr + addok-france
    (bench/addok_tokens.py): balise must produce exactly the same tokens."""
    golden = Path(__file__).with_name("addok-tokens.jsonl.gz")
    mismatches = []
    with gzip.open(golden) as f:
        for line in f:
            row = orjson.loads(line)
            query = [[str(t), t.kind if t.kind == "housenumber" else None]
                     for t in pipeline.query_tokens(row["s"])]
            if pipeline.index_tokens(row["s"]) != row["index"] or query != row["query"]:
                mismatches.append(row["s"])
    assert mismatches == []


def test_abbreviations_are_expanded(pipeline):
    assert pipeline.index_tokens("av") == pipeline.index_tokens("avenue")
    assert pipeline.index_tokens("fbg") == pipeline.index_tokens("faubourg")
    assert pipeline.index_tokens("pte") == pipeline.index_tokens("porte")


def test_phonetic_folding_merges_spellings():
    assert phonetic("lemonnier") == phonetic("lemonier")
    assert phonetic("champs") == "chan"
    assert phonetic("vingt") == "vin"


def test_fold_matches_unidecode():
    from unidecode import unidecode

    for text in ("Île-de-France", "Œuf", "Straße", "Saint-Étienne", "Ŀ", "Ελλάδα"):
        assert fold(text) == unidecode(text.lower())


def test_ascii_label_strips_punctuation():
    assert ascii_label("  34, Avenue de l'Opéra — Paris ") == "34 avenue de l opera paris"


def test_query_housenumber_is_flagged_and_glued(pipeline):
    tokens = pipeline.query_tokens("3 bis rue des Fleurs 75002 Paris")
    number = [t for t in tokens if t.kind == "housenumber"]
    assert [(str(t), t.raw) for t in number] == [("3b", "3 bis")]
    assert tokens[-1].is_last and str(tokens[-1]) == "pari"


def test_number_before_a_street_type_is_a_housenumber(pipeline):
    tokens = pipeline.query_tokens("Mairie 12 place de la Liberté")
    assert [t.raw for t in tokens if t.kind == "housenumber"] == ["12"]


def test_number_in_a_name_is_not_a_housenumber(pipeline):
    tokens = pipeline.query_tokens("rue du 8 mai 1945")
    assert not [t for t in tokens if t.kind]


def test_trailing_number_may_be_a_housenumber(pipeline):
    tokens = pipeline.query_tokens("Rue de Rivoli 12 bis 75001 Paris")
    assert [(t.raw, t.kind) for t in tokens if t.kind] == [
        ("12", "maybe_housenumber"),
        ("bis", "maybe_housenumber_suffix"),
    ]


@pytest.mark.parametrize(
    ("query", "cleaned"),
    [
        ("22 rue des fleurs 59350 lille cedex 23", "22 rue des fleurs 59 lille"),
        ("bp 123 22 rue des fleurs 59350 lille", "22 rue des fleurs 59350 lille"),
        ("cs 70000 10 avenue foch 75116 paris", "10 avenue foch 75116 paris"),
        ("lieu dit la fontaine", "la fontaine"),
        ("3eme etage 10 rue de la paix", "10 rue de la paix"),
    ],
)
def test_noise_cleaning(query, cleaned):
    assert clean_noise(query) == cleaned


@pytest.mark.parametrize("text", [
    "sarl x 12 rue de la paix 75002 paris 3eme etage", "12 rue y 2ème étage bât b", "3E ÉTAGE 4 rue z",
    "etage 12e etage 1er etage 99eme etage", "12345e etage", "rue du stage 1 a 1e  etage",
    "BP 12 rue x", "zbp 12 rue", "rue x b.p. no 45 cedex", "12 rue w 75009 paris cedex 2 bp12",
    "tsa 70011 cs 4 cidex 9", "33000 bordeaux 33100 cédex 07", "İstanbul 2e étage",
])
def test_noise_rules_rewrite_as_their_patterns(text):
    """The rules sped up (a replacement function in place of a template, the floors searched
    from near their first "tage") rewrite every text as their plain patterns do."""
    import re

    plain = {1: (r"(^| )(b\.?p\.?|cs|tsa|cidex) *(n(o|°|) *|)[\d]+ *", r"\1"),
             2: (r"([\d]{2})[\d]{3}(.*)c(e|é)dex ?[\d]*", r"\1\2"),
             4: (r"\d{,2}(e|[eè]me) ([eé]tage)", "")}
    for position, (pattern, template) in plain.items():
        rule = french.NOISE[position][0]
        assert rule(text) == re.compile(pattern, flags=re.IGNORECASE).sub(template, text), pattern


def test_address_extraction_drops_leading_noise():
    q = "ets dupont batiment b 22 rue des fleurs 59350 lille"
    assert extract_address(q) == "22 rue des fleurs 59350 lille"


def test_leading_zeros_but_not_postcodes():
    assert remove_leading_zeros("0003 rue x 01000 bourg") == "3 rue x 01000 bourg"


@pytest.mark.parametrize(
    ("raw", "key"),
    [("30", "30"), ("30 BIS", "30bis"), ("30bis", "30bis"), ("30B", "30b"), ("30 b", "30b"),
     ("0012", "12"), ("7 ter", "7ter"), ("22s", "22s")],
)
def test_housenumber_keys_keep_bis_apart_from_b(raw, key):
    assert housenumber_key(raw) == key


def test_housenumber_alternatives():
    assert housenumber_alternatives("30b") == ["30bis"]
    assert housenumber_alternatives("30bis") == ["30b"]
    assert housenumber_alternatives("30a") == []
    assert housenumber_alternatives("30") == []


def test_word_tests_match_their_expressions():
    """The street types and ordinals are looked up in the sets their expressions match
    (french.language): the same answers as the expressions on real words and near misses."""
    import random
    import re

    from balise.text import french

    with gzip.open(Path(__file__).parent / "addok-tokens.jsonl.gz", "rt") as f:
        words = set(re.findall(r"\w+", f.read()))
    rng = random.Random(1)
    for word in sorted(french.STREET_TYPE_WORDS | french.ORDINAL_WORDS):
        words.update((word, word.upper(), word + "s", word[1:], word[:-1]))
        words.update(word[:i] + rng.choice("aeiouz0") + word[i:] for i in range(len(word) + 1))
    for word in words:
        folded = fold(word)
        lower = folded.lower()
        assert (lower in french.STREET_TYPE_WORDS) == bool(french.STREET_TYPE.fullmatch(folded)), folded
        assert (lower in french.ORDINAL_WORDS) == bool(french.ORDINAL.match(folded)), folded


def test_compiled_phonetic_rules_are_the_expressions():
    """french.PHONETIC_RULES and their compiled twin (_phonetic) rewrite a folded word alike:
    every word of three characters or fewer, every four-letter word of the letters the rules
    look at, random longer words of them, and the real words of the golden file; a word with
    any other character is left to the expressions."""
    import itertools
    import random
    import re
    import string

    from balise.text._french import rewrite
    from balise.text._phonetic import phonetic_ascii
    from balise.text.french import PHONETIC_RULES

    alphabet = string.ascii_lowercase + string.digits + "_"
    words = {"".join(w) for n in range(4) for w in itertools.product(alphabet, repeat=n)}
    words.update("".join(w) for w in itertools.product("aeiougnhcsqtmpdlxwyr1_", repeat=4))
    rng = random.Random(1)
    letters = "aeiouyaeiougnhcsqtmpdlxwkfrbz0_"
    words.update("".join(rng.choice(letters) for _ in range(rng.randint(5, 14))) for _ in range(50_000))
    with gzip.open(Path(__file__).parent / "addok-tokens.jsonl.gz", "rt") as f:
        words.update(re.findall(r"\w+", fold(f.read()).lower()))
    differ = [w for w in words if phonetic_ascii(w) != rewrite(w, PHONETIC_RULES)]
    assert differ == []
    assert phonetic_ascii("Champs") is None and phonetic_ascii("rue des") is None
    assert phonetic("Champs") == rewrite("Champs", PHONETIC_RULES)


def test_expand_word_is_the_word_steps(pipeline):
    """Pipeline.expand takes the rules' expand_word, a word's steps (synonyms, phonetics) on a
    plain string: the same tokens as the steps over Tokens, for every word of the golden file,
    every synonym and its replacement, and typos."""
    import re

    from balise.text.french import load_synonyms
    from balise.text.pipeline import Token

    assert pipeline.expand_word is not None
    with gzip.open(Path(__file__).parent / "addok-tokens.jsonl.gz", "rt") as f:
        words = set(re.findall(r"\w+", fold(f.read()).lower()))
    synonyms = load_synonyms()
    words |= set(synonyms) | {w for wanted in synonyms.values() for w in wanted.split()}
    words |= {w + "x" for w in list(words)[:2000]} | {"", "Rue", "sébastopol"}
    for word in words:
        assert pipeline.expand(word) == [str(t) for t in pipeline.expand_all([Token(word)])], word
