"""Deterministic obfuscations of chosen words, to measure robustness to evasion.

Not part of the scoring flow: evaluation code and tests use it to build obfuscated copies of
held-out texts (``1d10t``, ``f***``, ``i d i o t``, Cyrillic look-alikes, zero-width joiners)
and compare scores on the clean and the obfuscated copy. Every function is pure: the same
input always gives the same output, and the choice between variants (``f*ck`` or ``f***``)
depends only on a hash of the word.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

__all__ = ["KINDS", "SPAN_KINDS", "obfuscate_spans", "obfuscate_word"]

_LEET = str.maketrans(
    {
        "a": "@",
        "e": "3",
        "i": "1",
        "o": "0",
        "s": "$",
        "A": "4",
        "E": "3",
        "I": "1",
        "O": "0",
        "S": "5",
        "t": "7",
        "T": "7",
    }
)
# Latin letters and the Cyrillic letters drawn the same way.
_HOMOGLYPH = str.maketrans(
    {
        "a": "\u0430",
        "c": "\u0441",
        "e": "\u0435",
        "i": "\u0456",
        "o": "\u043e",
        "p": "\u0440",
        "x": "\u0445",
        "y": "\u0443",
        "s": "\u0455",
        "A": "\u0410",
        "E": "\u0415",
        "O": "\u041e",
    }
)
_VOWELS = re.compile("[aeiouAEIOU]")


def _pick(word: str, n: int) -> int:
    return hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest()[0] % n


def _leet(word: str) -> str:
    return word.translate(_LEET)


def _mask(word: str) -> str:
    if len(word) < 3:
        return word
    if _pick(word, 2) == 0:  # "f***"
        return word[0] + "*" * (len(word) - 1)
    inner = _VOWELS.sub("*", word[1:-1])  # "f*ck", "st*p*d"
    return word[0] + (inner if inner != word[1:-1] else "*" * len(inner)) + word[-1]


def _spaced(word: str) -> str:
    return (" " if _pick(word, 2) == 0 else ".").join(word)


def _homoglyph(word: str) -> str:
    return word.translate(_HOMOGLYPH)


def _zero_width(word: str) -> str:
    return "\u200b".join(word)


def _mixed(word: str) -> str:
    return KINDS[("leet", "mask", "spaced", "homoglyph", "zero_width")[_pick(word, 5)]](word)


#: Obfuscation name -> function of one word.
KINDS: dict[str, Callable[[str], str]] = {
    "leet": _leet,
    "mask": _mask,
    "spaced": _spaced,
    "homoglyph": _homoglyph,
    "zero_width": _zero_width,
    "mixed": _mixed,
}

_WORD = re.compile(r"[A-Za-z]{3,}")
_GAP = re.compile(r"\s+")


def _glued(span: str) -> str:
    return _GAP.sub("", span)


#: Obfuscations of a whole span rather than of each word: ``you are an idiot`` ->
#: ``youareanidiot`` (normalisation does not undo these; the character n-grams must cope).
SPAN_KINDS: dict[str, Callable[[str], str]] = {"glued": _glued}


def obfuscate_word(word: str, kind: str) -> str:
    """Obfuscate one word the way ``kind`` (a key of :data:`KINDS`) says."""
    return KINDS[kind](word)


def obfuscate_spans(text: str, spans: Sequence[tuple[int, int]], kind: str) -> str:
    """Obfuscate every word of three or more letters inside the character ``spans`` of ``text``.

    Words outside the spans are unchanged, so a toxic post with gold toxic spans becomes the
    same post with only its offending words disguised. A kind of :data:`SPAN_KINDS` rewrites
    each span as a whole instead (``glued`` removes the spaces inside it).
    """
    if kind in SPAN_KINDS:
        pieces: list[str] = []
        last = 0
        for begin, end in sorted(spans):
            begin = max(begin, last)
            pieces += [text[last:begin], SPAN_KINDS[kind](text[begin:end])]
            last = max(last, end)
        return "".join(pieces) + text[last:]
    out: list[str] = []
    last = 0
    for match in _WORD.finditer(text):
        start, end = match.span()
        if any(a < end and start < b for a, b in spans):
            out.append(text[last:start])
            out.append(obfuscate_word(match.group(), kind))
            last = end
    out.append(text[last:])
    return "".join(out)
