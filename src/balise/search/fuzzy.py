"""One-edit neighbours of a word, in Addok's order of preference.

Transpositions first, then substitutions by keys adjacent on a French AZERTY
keyboard, then insertions, then deletions (words longer than 3 letters).
"""

from __future__ import annotations

from string import ascii_lowercase

KEYBOARD_NEIGHBOURS = {
    "a": "ezqop", "z": "aqse", "e": "azsdryu", "r": "edft", "t": "rfgy", "y": "teghu",
    "u": "yehji", "i": "ujko", "o": "iaklp", "p": "oalm", "q": "azsw", "s": "qzedxw",
    "d": "serfcx", "f": "drtgvc", "g": "ftyhbv", "h": "gyujnb", "j": "huikn", "k": "jil",
    "l": "kom", "m": "lpu", "w": "qsx", "x": "wsdc", "c": "xdfvio", "v": "cfgb", "b": "vghn",
    "n": "bhj",
}


def one_edit(word: str) -> list[str]:
    """The words one edit away, each once, in Addok's order of preference.

    NOTE: not cached here (a word has hundreds of neighbours, ~40 KB): the engine caches
    the few of them that are index terms."""
    out = []
    for i in range(len(word) - 1):
        out.append(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    for i, letter in enumerate(word):
        # NOTE: Addok substitutes cumulatively within one position (its loop
        # reuses the mutated list), which yields the same single-edit words.
        for other in KEYBOARD_NEIGHBOURS.get(letter, ""):
            if other != letter:
                out.append(word[:i] + other + word[i + 1 :])
    for letter in ascii_lowercase:
        for i in range(len(word) + 1):
            out.append(word[:i] + letter + word[i:])
    if len(word) > 3:
        for i in range(len(word)):
            out.append(word[:i] + word[i + 1 :])
    return list(dict.fromkeys(out))
