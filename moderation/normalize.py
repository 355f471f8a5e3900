"""Text normalisation applied before features are extracted (scoring and training alike).

Flow: ``read -> validate -> thread context -> **normalize** -> features -> models``. Both the
training corpus and the comments being scored pass through :func:`normalize_text`, so the
feature vocabulary sees one canonical spelling of the cheap ways people dodge a filter:

- Unicode compatibility forms (NFKC: full-width, mathematical bold and circled letters),
  accents on Latin letters (``ìdìót``), case;
- homoglyphs: Cyrillic and Greek letters drawn like Latin ones inside a Latin word
  (``idiot`` with a Cyrillic i and o), Latin small capitals;
- zero-width and other invisible characters (``i\\u200bdiot``);
- spaced letters (``y o u   a r e   a n   i d i o t``, ``i.d.i.o.t``, ``f-u-c-k``);
- leetspeak inside words (``1d10t``, ``sh1t``, ``l0s3r``): only a token that mixes letters with
  digits or symbols *inside* the word, so ``2024``, ``$5``, ``3rd``, ``mp3`` and ``covid19``
  stay as written;
- masked swear words (``f***``, ``f*ck``, ``sh!t``, ``a$$``, ``@ss``): a token with masking
  symbols is matched against a short list of words people mask (:data:`MASKED_WORDS`), with
  each symbol standing for one letter;
- stretched letters (``stuuuupid`` -> ``stuupid``: runs of three or more become two);
- links and ``@mentions`` (``xxurl``, ``xxuser``) and whitespace.

- glued words (``iwillkillyou``, ``hatewomen``): a letters-only token of six or more letters
  that is not an English word is split into words when it splits wholly into common ones
  (:func:`_split_glued`; the word list and splitter are ``wordninja``'s, English Wikipedia
  unigram frequencies). Without the split, word n-grams miss the glued words entirely and the
  character n-grams only partly recover them.

:func:`normalize_with_offsets` returns the same text plus, for every normalised character, the
range of original characters it came from, so a span found on normalised text (a hostile word,
``1d10t`` -> ``idiot``) maps back to the characters the author typed.

:func:`split_sentences` cuts raw text (before normalisation) into sentences given as character
offsets, so sentence scores and toxic-span labels refer to positions in the original text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any

__all__ = [
    "MASKED_WORDS",
    "MENTION_TOKEN",
    "URL_TOKEN",
    "Normalized",
    "batch_memo",
    "memoized",
    "normalize_all",
    "normalize_text",
    "normalize_with_offsets",
    "split_sentences",
]

#: Placeholder for ``@user`` mentions (OLID already ships ``@USER``); keeps names out of features.
MENTION_TOKEN = "xxuser"
#: Placeholder for links; a link is a signal (spam, off-topic) but its exact address is not.
URL_TOKEN = "xxurl"

#: Words people disguise with masking symbols (``f***``, ``sh!t``), most often masked first: a
#: masked token becomes the first of these words (or of their forms with :data:`_SUFFIXES`) that
#: it fits letter for letter. Used only for tokens that contain masking or leet symbols.
MASKED_WORDS = (
    "fuck", "shit", "bitch", "cunt", "asshole", "ass", "dick", "damn", "hell", "crap", "bastard",
    "whore", "slut", "cock", "pussy", "piss", "twat", "wanker", "prick", "fag", "faggot",
    "nigger", "nigga", "retard", "idiot", "moron", "stupid", "dumbass", "bullshit",
    "motherfucker", "jackass", "douche", "arse", "bollocks", "tits", "porn", "sex", "kill",
    "rape", "loser", "suck", "scum", "hoe", "penis", "boobs", "dumb", "jerk", "nazi", "hate",
    "die",
)  # fmt: skip
_SUFFIXES = ("", "s", "ed", "er", "ers", "ing", "in", "y", "ty", "head", "hole", "face", "es")

# ----------------------------------------------------------------------------- offsets


@dataclass(frozen=True)
class Normalized:
    """Normalised text with the original characters behind each of its characters.

    ``text[i]`` comes from ``original[starts[i]:ends[i]]``: one character for most, several
    for ``xxurl`` (the whole link), the second letter of a shortened stretch (the rest of the
    run) or ``ss`` from ``ß`` (both from the one character).
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def original_span(self, begin: int, end: int) -> tuple[int, int]:
        """The ``(begin, end)`` in the original text behind ``text[begin:end]`` (``end > begin``).

        Covers every original character between the first and the last one mapped, so
        characters the normalisation removed inside the span (zero-width joiners, the spaces of
        ``i d i o t``, the extra letters of a stretch) are included.
        """
        if not 0 <= begin < end <= len(self.text):
            raise ValueError(f"span ({begin}, {end}) is not inside the normalised text")
        return self.starts[begin], self.ends[end - 1]


# A replacement: the new text, and for each of its characters the [a, b) range of the current
# text it stands for (None: every character stands for the whole match).
_Replacement = tuple[str, list[tuple[int, int]] | None]
_Rewrite = Callable[["re.Match[str]"], _Replacement | None]


class _State:
    """The text being normalised plus, when tracked, its map back to the original.

    ``moved`` turns True when a rewrite replaced a match or the ends were stripped: until then
    (lower-casing keeps every offset) each character still comes from the same position, so
    :func:`normalize_with_offsets` can skip tracking for a text that never moved.
    """

    __slots__ = ("ends", "moved", "starts", "text")

    def __init__(self, text: str, track: bool) -> None:
        self.text = text
        self.moved = False
        self.starts: list[int] | None = list(range(len(text))) if track else None
        self.ends: list[int] | None = list(range(1, len(text) + 1)) if track else None

    def strip(self) -> None:
        """Drop one leading and one trailing space (whitespace runs are single spaces by now)."""
        lo = 1 if self.text.startswith(" ") else 0
        hi = (
            len(self.text) - 1
            if self.text.endswith(" ") and len(self.text) > lo
            else len(self.text)
        )
        if (lo, hi) != (0, len(self.text)):
            self.moved = True
            self.text = self.text[lo:hi]
            if self.starts is not None and self.ends is not None:
                self.starts, self.ends = self.starts[lo:hi], self.ends[lo:hi]

    def sub(self, pattern: re.Pattern[str], rewrite: _Rewrite) -> None:
        """Replace every match of ``pattern`` by ``rewrite(match)`` (None keeps the match)."""
        if self.starts is None or self.ends is None:

            def plain(match: re.Match[str]) -> str:
                out = rewrite(match)
                if out is None:
                    return match.group()
                self.moved = True
                return out[0]

            self.text = pattern.sub(plain, self.text)
            return
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        last = 0
        for match in pattern.finditer(self.text):
            out = rewrite(match)
            if out is None:
                continue
            a, b = match.span()
            pieces.append(self.text[last:a])
            starts.extend(self.starts[last:a])
            ends.extend(self.ends[last:a])
            new, sources = out
            pieces.append(new)
            for k in range(len(new)):
                lo, hi = (a, b) if sources is None else sources[k]
                starts.append(self.starts[lo])
                ends.append(self.ends[max(hi, lo + 1) - 1])
            last = b
        if not pieces:
            return
        self.moved = True
        pieces.append(self.text[last:])
        starts.extend(self.starts[last:])
        ends.extend(self.ends[last:])
        self.text = "".join(pieces)
        self.starts, self.ends = starts, ends


def _one_to_one(new: str, start: int) -> _Replacement:
    return new, [(start + k, start + k + 1) for k in range(len(new))]


# ----------------------------------------------------------------------------- the steps

# Format characters used to split words invisibly (ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft hyphen,
# invisible separators) plus the Mongolian vowel separator.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\u206a-\u206f\ufeff]+")


def _drop(match: re.Match[str]) -> _Replacement:
    return "", []


# A non-ASCII character, or an ASCII one carrying combining marks, with its combining marks.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_CLUSTER = re.compile(f"[^\\x00-\\x7f][{_MARKS}]*|[\\x00-\\x7f][{_MARKS}]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Latin small capitals and letter-like symbols NFKC leaves alone.
_LATIN_LOOKALIKE = str.maketrans("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢɑɡıɩʟ", "abcdefghijklmnoprstuvwyzagiil")


def _fold_cluster(match: re.Match[str]) -> _Replacement:
    """NFKC, case-fold and strip accents from Latin letters (full-width I -> i, ó -> o)."""
    out = unicodedata.normalize("NFKC", match.group()).casefold()
    decomposed = unicodedata.normalize("NFD", out)
    if decomposed[:1].isascii() and decomposed[:1].isalpha():
        out = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return out.translate(_LATIN_LOOKALIKE), None


# Cyrillic and Greek lower-case letters drawn like Latin ones.
_HOMOGLYPHS = {
    **dict(zip("авеёкмнорстухіїјѕԁԛԝһӏьгпшщ", "abeekmhopctyxiijsdqwhlbrnww", strict=True)),
    **dict(zip("αβεηικνορτυχγωμϲϳ", "abenikvoptuxywucj", strict=True)),
}
_HOMOGLYPH_TABLE = str.maketrans(_HOMOGLYPHS)
_HOMOGLYPH_CHARS = frozenset(_HOMOGLYPHS)
_LETTERS = re.compile(r"[^\W\d_]+")


def _homoglyphs(state: _State) -> None:
    """Map look-alikes in words that mix them with Latin letters (``idiot`` with Cyrillic i, o).

    A word made only of look-alikes (``shit`` in Cyrillic letters) is mapped too when the
    text is mostly Latin, so Russian or Greek text keeps its words.
    """
    if _HOMOGLYPH_CHARS.isdisjoint(state.text):
        return  # no word can hold a look-alike: every rewrite below would decline
    latin = sum(1 for c in state.text if "a" <= c <= "z")
    other = sum(1 for c in state.text if c.isalpha() and not c.isascii())
    latin_text = latin > other

    def rewrite(match: re.Match[str]) -> _Replacement | None:
        word = match.group()
        if word.isascii() or not any(c in _HOMOGLYPHS for c in word):
            return None
        mixed = any(c.isascii() for c in word)
        if not (mixed or (latin_text and all(c in _HOMOGLYPHS for c in word))):
            return None
        return _one_to_one(word.translate(_HOMOGLYPH_TABLE), match.start())

    state.sub(_LETTERS, rewrite)


_URL = re.compile(r"(?:https?://|www\.)\S+|\burl\b")  # applied after case folding
# "@ss", "@rse" are leetspeak, not mentions.
_MENTION = re.compile(r"(?<![\w@])@(?!(?:ss|rse)(?:es|hole|holes|wipe)?\b)\w+")


def _url(match: re.Match[str]) -> _Replacement:
    return f" {URL_TOKEN} ", None


def _mention(match: re.Match[str]) -> _Replacement:
    return f" {MENTION_TOKEN} ", None


# Letters (or leet symbols) written one at a time: "y o u", "i.d.i.o.t", "f-u-c-k".
_UNIT = "[a-z0-9@$]"
_SPACED = re.compile(f"(?<![^\\s(\"']){_UNIT}(?:[ \\t]+{_UNIT}){{2,}}(?=[\\s.,;:!?)\"']|$)")
_PUNCT_SPACED = re.compile(f"(?<![^\\W_]){_UNIT}([.\\-_])(?:{_UNIT}\\1)+{_UNIT}(?![^\\W_])")


def _mostly_letters(units: str) -> bool:
    letters = sum(c.isalpha() for c in units)
    return letters >= 3 and 2 * letters >= len(units)


def _join_spaced(match: re.Match[str]) -> _Replacement | None:
    """``y o u   a r e`` -> ``you are``: the narrowest gap separates letters, wider ones words."""
    chunk, base = match.group(), match.start()
    units = [(m.start(), m.group()) for m in re.finditer(r"\S", chunk)]
    joined = "".join(u for _, u in units)
    if not _mostly_letters(joined) or (len(units) < 4 and joined not in _KNOWN):
        return None  # "u r a" is text-speak for "you are a"; "a s s" is spaced
    gaps = [units[k + 1][0] - units[k][0] - 1 for k in range(len(units) - 1)]
    narrow = min(gaps)
    text = units[0][1]
    sources = [(base + units[0][0], base + units[0][0] + 1)]
    for gap, (pos, unit) in zip(gaps, units[1:], strict=True):
        if gap > narrow:
            text += " "
            sources.append((base + pos - gap, base + pos))
        text += unit
        sources.append((base + pos, base + pos + 1))
    return text, sources


def _join_punct_spaced(match: re.Match[str]) -> _Replacement | None:
    """``i.d.i.o.t`` -> ``idiot``."""
    chunk, base = match.group(), match.start()
    units = chunk[::2]
    if not _mostly_letters(units):
        return None
    return units, [(base + 2 * k, base + 2 * k + 1) for k in range(len(units))]


# Leetspeak: digits and symbols read as letters.
_LEET = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
    "@": "a", "$": "s", "!": "i", "|": "l", "€": "e",
}  # fmt: skip
_LEET_TABLE = str.maketrans(_LEET)
_LEET_L_TABLE = str.maketrans({**_LEET, "1": "l", "!": "l"})  # "1ame", "sh!t" vs "l0ser"
_MASK = frozenset("*#%")
_SYMBOLS = frozenset("@$!|€") | _MASK
_TOKEN_CHAR = "(?:[^\\W_]|[@$!|*#%€])"
# A token holding at least one digit or symbol; starts only at a token boundary (linear time).
_LEET_TOKEN = re.compile(f"(?<!{_TOKEN_CHAR}){_TOKEN_CHAR}*[0-9@$!|*#%€]{_TOKEN_CHAR}*")
_INTERIOR = re.compile(r"[a-z][0-9$|€]+[a-z]")  # "@", "!" only in known words
_EDGE_PUNCT = "!|#"


def _masked_forms() -> dict[int, list[str]]:
    forms: dict[int, list[str]] = {}
    seen: set[str] = set()
    for suffix in _SUFFIXES:
        for word in MASKED_WORDS:
            form = word + suffix
            if form not in seen:
                seen.add(form)
                forms.setdefault(len(form), []).append(form)
    return forms


_FORMS = _masked_forms()
_KNOWN = frozenset(f for group in _FORMS.values() for f in group)


def _stands_for(char: str, letter: str) -> bool:
    """A letter stands for itself, a digit for its leet letter, a symbol for any letter."""
    if char.isalpha():
        return char == letter
    if char.isdigit():
        return _LEET.get(char) == letter or (char == "1" and letter == "l")
    return True


def _unmask(core: str) -> str | None:
    """The masked word ``core`` stands for, with each symbol standing for one letter."""
    for form in _FORMS.get(len(core), ()):
        if all(_stands_for(c, f) for c, f in zip(core, form, strict=True)):
            return form
    return None


def _decode_token(match: re.Match[str]) -> _Replacement | None:
    token, start = match.group(), match.start()
    after = match.string[match.end() : match.end() + 2]
    if "@" in token and len(after) == 2 and after[0] == "." and after[1].isalnum():
        return None  # an e-mail address
    lo, hi = 0, len(token)
    while lo < hi and token[lo] in _EDGE_PUNCT:
        lo += 1
    while hi > lo and token[hi - 1] in _EDGE_PUNCT:
        hi -= 1
    if token[lo:hi].startswith("*"):  # "*really*" is emphasis, "***k" too rare to guess
        while lo < hi and token[lo] == "*":
            lo += 1
        while hi > lo and token[hi - 1] == "*":
            hi -= 1
    stem = token[lo:hi].rstrip("*")
    if stem.isalpha() and (stem in _KNOWN or len(stem) >= 5):
        hi = lo + len(stem)  # "bitch*": a footnote star, not a masked letter
    core = token[lo:hi]
    if not any("a" <= c <= "z" for c in core) or core.isalpha():
        return None
    decoded: str | None = None
    for table in (_LEET_TABLE, _LEET_L_TABLE):
        candidate = core.translate(table)
        if candidate in _KNOWN:
            decoded = candidate
            break
    if decoded is None and any(c in _SYMBOLS for c in core):
        decoded = _unmask(core)
    hashtag = token.startswith("#")  # "#vote5sos", "#str8up" glue words and numbers
    if decoded is None and not hashtag and "!" not in core and _INTERIOR.search(core):
        candidate = core.translate(_LEET_TABLE)
        decoded = candidate if candidate.isalpha() else None  # "2x4x24" is a measurement
    if decoded is None or decoded == core:
        return None
    return _one_to_one(token[:lo] + decoded + token[hi:], start)


# Three or more of the same letter become two: keeps "good"/"too" but "stuuuupid" -> "stuupid".
_STRETCH = re.compile(r"(\w)\1{2,}")


def _shorten(match: re.Match[str]) -> _Replacement:
    a, b = match.span()
    return match.group(1) * 2, [(a, a + 1), (a + 1, b)]


# A whole token of six or more ASCII letters (no digit, underscore or other letter attached).
_GLUED = re.compile(r"(?<!\w)[a-z]{6,}(?!\w)")
#: Pieces of one or two letters a glued token may split into: common words only, so a
#: misspelling ("idetify" -> "ide tif y") or a name is not cut into fragments.
GLUED_SHORT_PIECES = frozenset(
    "i a an am as at be by do go he if in is it me my no of oh ok on or so to up us we".split()  # noqa: SIM905
)
#: Short pieces that do not end a split: there they are mostly a word's own ending (a dropped
#: "g", a plural), not a word.
GLUED_NOT_LAST = frozenset({"in", "is", "as", "an", "at", "a", "i"})
#: Three-letter pieces must be among this many most frequent words of the word list ("you",
#: "fat"; not "sse", which would cut "strasse" into "stra sse")...
GLUED_MAX_RANK_3 = 5_000
#: ... and longer pieces among this many.
GLUED_MAX_RANK = 50_000
#: At most this many pieces (more is more likely a name or a language we do not split).
GLUED_MAX_PIECES = 4


@dataclass(frozen=True)
class _Lexicon:
    """``wordninja``'s English word list and its splitter, loaded once."""

    words: frozenset[str]
    #: The words a glued token may split into: :data:`GLUED_SHORT_PIECES` and the words of
    #: three or more letters within :data:`GLUED_MAX_RANK_3` / :data:`GLUED_MAX_RANK`.
    pieces: frozenset[str]
    split: Callable[[str], list[str]]


_LEXICON: list[_Lexicon] = []


def _lexicon() -> _Lexicon:
    """Read the word list on first use (about 40 ms); ``wordninja`` itself, which reads it
    again to build its splitter, is imported only when a token is to be split."""
    if not _LEXICON:
        import gzip
        from importlib.util import find_spec
        from pathlib import Path

        spec = find_spec("wordninja")
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError("wordninja is required: pip install wordninja")
        path = Path(spec.origin).parent / "wordninja" / "wordninja_words.txt.gz"
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            words = lines.read().split()
        common = (  # the list is in order of frequency
            word
            for at, word in enumerate(words)
            if len(word) >= 3 and at < (GLUED_MAX_RANK_3 if len(word) == 3 else GLUED_MAX_RANK)
        )
        pieces = GLUED_SHORT_PIECES.union(common)
        _LEXICON.append(_Lexicon(frozenset(words), pieces, _wordninja_split))
    return _LEXICON[0]


def _wordninja_split(token: str) -> list[str]:
    import wordninja

    pieces: list[str] = wordninja.DEFAULT_LANGUAGE_MODEL.split(token)
    return pieces


def _occurrences(text: str, word: str) -> Iterator[int]:
    start = text.find(word)
    while start >= 0:
        yield start
        start = text.find(word, start + 1)


@lru_cache(maxsize=1 << 16)
def _glued_pieces(token: str) -> tuple[str, ...] | None:
    """The words glued in ``token``, or None for a word, or a token that does not split wholly
    into common words (:data:`GLUED_SHORT_PIECES`, :data:`GLUED_MAX_RANK_3`,
    :data:`GLUED_MAX_RANK`). Cached: a name or a typo recurs across the comments of a batch.
    """
    lexicon = _lexicon()
    if token in lexicon.words:
        return None
    ends = range(1, min(len(token), 24))
    if not any(token[:k] in lexicon.pieces for k in ends) or not any(
        token[-k:] in lexicon.pieces for k in ends
    ):
        return None  # speed: most tokens here are names and typos, which neither start nor end so
    pieces = lexicon.split(token)
    if not 2 <= len(pieces) <= GLUED_MAX_PIECES or "".join(pieces) != token:
        return None
    if any(piece not in lexicon.pieces for piece in pieces):
        return None
    if any(len(piece) == 1 for piece in pieces[1:]):
        return None  # "jihadi" -> "jihad i", "brigading" -> "brig a ding"
    if pieces[-1] in GLUED_NOT_LAST:
        return None  # "lookin" -> "look in", "fellas" -> "fell as", "jihadis"
    cuts = set(accumulate(len(piece) for piece in pieces[:-1]))
    if any(
        cut in cuts
        for word in MASKED_WORDS
        for start in _occurrences(token, word)
        for cut in range(start + 1, start + len(word))
    ):
        return None  # "dipshit" -> "dips hit" would hide the word it is about
    return tuple(pieces)


def _split_glued(match: re.Match[str]) -> _Replacement | None:
    """``iwillkillyou`` -> ``i will kill you`` (:func:`_glued_pieces`), each inserted space
    mapped to the letter after it."""
    pieces = _glued_pieces(match.group())
    if pieces is None:
        return None
    sources: list[tuple[int, int]] = []
    at = match.start()
    for k, piece in enumerate(pieces):
        if k:
            sources.append((at, at + 1))
        sources.extend((i, i + 1) for i in range(at, at + len(piece)))
        at += len(piece)
    return " ".join(pieces), sources


_SPACE = re.compile(r"\s{2,}|[^\S ]")


def _space(match: re.Match[str]) -> _Replacement:
    return " ", None


# Speed only: cheap searches that must succeed for the pattern after them to match anywhere, so
# the costly pattern (look-behinds, back-references) runs only on the texts that may need it.
# Spaced letters need a one-letter unit between blanks followed by another unit.
_SPACED_HINT = re.compile(f"[ \t]{_UNIT}[ \t]+{_UNIT}(?![^\\s.,;:!?)\"'])")
_PUNCT_SPACED_HINT = re.compile(f"{_UNIT}([.\\-_]){_UNIT}\\1{_UNIT}")
_LEET_HINT = re.compile("[0-9@$!|*#%\u20ac]")
# In ASCII text \w is [A-Za-z0-9_]: the same test as _STRETCH in a cheaper form.
_STRETCH_HINT = re.compile(r"([A-Za-z0-9_])\1\1")
# In ASCII text a leet token is rewritten only when, once its edge "!|#" runs are dropped, it
# holds a letter next to a digit or symbol (see _decode_token: the core needs a letter and a
# non-letter). So one of these pairs must occur, an edge-symbol run counting only when a
# token character follows it (after a letter) or precedes it (before a letter). Tokens
# ending in "!" and plain numbers are then not looked at.
_LEET_PAIR_HINT = re.compile(
    "[a-z][0-9@$*%\u20ac]|[0-9@$*%\u20ac][a-z]"
    "|[a-z][!|#]+(?:[^\\W_]|[@$*%\u20ac])|(?:[^\\W_]|[@$*%\u20ac])[!|#]+[a-z]"
)
# In ASCII text, _SPACE can only match two blanks in a row or an ASCII blank other than " ".
_ASCII_BLANKS = ("  ", *(chr(c) for c in range(128) if chr(c).isspace() and c != 32))


def _has_blanks(text: str) -> bool:
    """Whether ASCII ``text`` holds one of :data:`_ASCII_BLANKS`.

    Every ASCII blank but the space is a control character, so a printable text holds none.
    """
    if "  " in text:
        return True
    return not text.isprintable() and any(blank in text for blank in _ASCII_BLANKS[1:])


def _pass(state: _State, hints: bool = True) -> bool:
    """One round of every rewrite; True when another round certainly changes nothing.

    That is the case (see :func:`_run`) when nothing but lower-casing changed the text, or, in
    ASCII text, nothing but lower-casing and the whitespace clean-up -- provided no spaced
    letters can appear once line breaks and tabs have become spaces.
    """
    start = state.text
    if not (hints and start.isascii()):  # every invisible character is non-ASCII
        state.sub(_INVISIBLE, _drop)
    if not state.text.isascii():
        state.sub(_CLUSTER, _fold_cluster)
    folded = state.text
    # Same length: offsets unchanged. On ASCII text, str.lower maps exactly A-Z (and is faster).
    state.text = folded.lower() if folded.isascii() else folded.translate(_ASCII_LOWER)
    lowered = state.text
    if not state.text.isascii():
        _homoglyphs(state)
    text = state.text
    if "url" in text or "www." in text or "http" in text:
        state.sub(_URL, _url)
    if "@" in state.text:
        state.sub(_MENTION, _mention)
    if not hints or _SPACED_HINT.search(state.text):
        state.sub(_SPACED, _join_spaced)
    if not hints or _PUNCT_SPACED_HINT.search(state.text):
        state.sub(_PUNCT_SPACED, _join_punct_spaced)
    if not hints or (
        _LEET_HINT.search(state.text)
        and (not state.text.isascii() or _LEET_PAIR_HINT.search(state.text))
    ):
        state.sub(_LEET_TOKEN, _decode_token)
    if not hints or not state.text.isascii() or _STRETCH_HINT.search(state.text):
        state.sub(_STRETCH, _shorten)
    # Speed: most long tokens are words, and most that are not are names or typos.
    long_words = _GLUED.findall(state.text)
    if (
        long_words
        and not (words := _lexicon().words).issuperset(long_words)
        and any(_glued_pieces(w) is not None for w in long_words if w not in words)
    ):
        state.sub(_GLUED, _split_glued)
    spaced = state.text
    if not hints or not spaced.isascii() or _has_blanks(spaced):
        state.sub(_SPACE, _space)
    state.strip()
    if folded != start:
        return False
    if state.text == lowered:
        return True
    return (
        spaced == lowered
        and spaced.isascii()
        and (
            (spaced.isprintable() or not any(blank in spaced for blank in _ASCII_BLANKS[1:]))
            or not _SPACED_HINT.search(state.text)
        )
    )


def _run(text: str, track: bool, shortcuts: bool = True) -> _State:
    # Each rewrite can expose a pattern for another (removing a zero-width joiner lets NFKC
    # compose, casefolding "ß" makes "ss", joining "s h 1 t" makes a leet token), so repeat
    # the pass until nothing changes.
    #
    # With ``shortcuts`` (``False`` runs every pass and pattern in full; the tests compare
    # both), a pass stops the loop early when the next one provably changes nothing:
    # - only ASCII letters changed case: lower-casing happens before every pattern, so those
    #   patterns already saw the text the next pass would see and rewrote nothing (and
    #   lower-casing creates no invisible character and changes no letter-plus-mark cluster);
    # - in ASCII text, only the case and the whitespace clean-up (runs -> one space, ends
    #   stripped) changed: no pattern tells one blank from another or from a run of them,
    #   except spaced letters (``[ \t]+`` between letters; their rewrite declines on the same
    #   letters whatever the gaps), so the next pass is a no-op when the text held no blank
    #   but spaces, or when no spaced letters can match now.
    state = _State(text, track)
    for _ in range(8):
        before = state.text
        final = _pass(state, hints=shortcuts)
        if state.text == before or (shortcuts and final):
            break
    return state


def normalize_text(text: str) -> str:
    """Return the canonical form of ``text`` used for features.

    Parameters
    ----------
    text
        Any string, including the empty string. Non-strings are not accepted.

    Returns
    -------
    str
        Case-folded NFKC text with Latin accents, homoglyphs, zero-width characters, spaced
        letters, leetspeak and masked swear words undone (see the module docstring), runs of
        three or more identical word characters shortened to two, URLs replaced by ``xxurl``,
        ``@mentions`` by ``xxuser`` and all whitespace runs collapsed to single spaces
        (stripped at both ends).

    Notes
    -----
    ``normalize_text(normalize_text(s)) == normalize_text(s)`` for every string ``s``, and
    ``normalize_text(s) == normalize_with_offsets(s).text``. Inside :func:`memoized`, each
    distinct text is normalised once.
    """
    return _untracked(text)[0]


def normalize_all(texts: Iterable[str]) -> list[str]:
    """:func:`normalize_text` of each text, each distinct text computed once.

    Speed only: scoring a batch normalises tens of thousands of texts, most of them already
    in the :func:`memoized` memo; this reads it directly instead of through three calls each.
    """
    memo = _MEMO.get()
    seen: dict[str, tuple[str, bool]] = {} if memo is None else memo
    out = []
    for text in texts:
        found = seen.get(text)
        if found is None:
            found = _untracked(text)
            if memo is None:
                seen[text] = found
        out.append(found[0])
    return out


def normalize_with_offsets(text: str) -> Normalized:
    """:func:`normalize_text` plus the original characters behind each normalised character.

    Examples
    --------
    >>> norm = normalize_with_offsets("You  1d10t!")
    >>> norm.text
    'you idiot!'
    >>> begin = norm.text.index("idiot")
    >>> norm.original_span(begin, begin + 5)
    (5, 10)
    """
    normalized, moved = _untracked(text)
    if not moved:  # nothing but lower-casing: every character kept its place
        return Normalized(normalized, tuple(range(len(text))), tuple(range(1, len(text) + 1)))
    state = _run(text, track=True)
    assert state.starts is not None
    assert state.ends is not None
    return Normalized(state.text, tuple(state.starts), tuple(state.ends))


# Per batch (see memoized): text -> (normalised text, whether any character moved), and
# text -> its sentence offsets.
_MEMO: ContextVar[dict[str, tuple[str, bool]] | None] = ContextVar("normalize_memo", default=None)
_SENTENCE_MEMO: ContextVar[dict[str, tuple[tuple[int, int], ...]] | None] = ContextVar(
    "sentence_memo", default=None
)
# Other per-batch memos (see batch_memo), by kind.
_OTHER_MEMOS: ContextVar[dict[str, dict[Any, Any]] | None] = ContextVar("batch_memos", default=None)


def batch_memo(kind: str) -> dict[Any, Any] | None:
    """A dict that lives as long as the enclosing :func:`memoized` block (None outside one).

    For per-batch caches of other modules (the compiled scorer keeps each normalised text's
    log-odds there, so explaining a comment does not score its sentences again); ``kind``
    names the cache.
    """
    memos = _OTHER_MEMOS.get()
    if memos is None:
        return None
    return memos.setdefault(kind, {})


def _untracked(text: str) -> tuple[str, bool]:
    memo = _MEMO.get()
    if memo is not None:
        found = memo.get(text)
        if found is not None:
            return found
    out = _ascii_word(text)
    if out is None:
        state = _run(text, track=False)
        out = (state.text, state.moved)
    if memo is not None:
        memo[text] = out
    return out


def _ascii_word(text: str) -> tuple[str, bool] | None:
    """The normal form of a word of ASCII letters, when lower-casing is all that changes it.

    Speed only (explanations normalise every distinct word of a flagged comment): in such a
    word only ``_URL`` (the word ``url``), ``_STRETCH`` and ``_GLUED`` (six or more letters,
    not a word of the list) can match once lower-cased -- every other pattern needs a digit, a
    symbol, a blank or a non-ASCII character -- so without those the full run gives the
    lower-cased word, and no character moves.
    """
    if not (text.isascii() and text.isalpha()):
        return None
    lowered = text.lower()
    if lowered == "url" or _STRETCH.search(lowered):
        return None
    if len(lowered) >= 6 and lowered not in _lexicon().words:
        return None  # perhaps glued words (_split_glued)
    return lowered, False


@contextmanager
def memoized() -> Iterator[None]:
    """Remember, until the block ends, the normal form and the sentences of every text seen.

    Scoring a batch normalises the same strings several times (the comment, then its
    sentences for the sentence scores, again to quote its words and to find its spans, and
    exports repeat texts); inside this block each distinct text is normalised and split
    once. The memory it holds is freed when the block ends, so wrap one batch, not a
    process. Results are the same as without it; nesting reuses the outer memo.
    """
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    sentence_token = _SENTENCE_MEMO.set({})
    other_token = _OTHER_MEMOS.set({})
    try:
        yield
    finally:
        _OTHER_MEMOS.reset(other_token)
        _SENTENCE_MEMO.reset(sentence_token)
        _MEMO.reset(token)


# ----------------------------------------------------------------------------- sentences

# A sentence ends at ., !, ? or … (plus closing quotes/brackets) followed by whitespace, or at a
# line break. Group 1 is the whitespace after the punctuation.
_SENTENCE_BREAK = re.compile("[.!?\u2026]+[\"'\u201d\u2019)\\]]*(\\s+)|[ \t]*\n\\s*")
#: Pieces with fewer word characters than this ("1.", "Ok.") join the following sentence.
MIN_SENTENCE_WORD_CHARS = 3
# Matches at a piece's start when the piece holds enough word characters (stops at the third).
_ENOUGH_WORD_CHARS = re.compile(f"(?:\\W*\\w){{{MIN_SENTENCE_WORD_CHARS}}}")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` character offsets of the sentences of ``text``.

    Parameters
    ----------
    text
        Raw text (not normalised), so that offsets refer to the original characters.

    Returns
    -------
    list of (int, int)
        Non-overlapping, increasing offsets; ``text[start:end]`` is a sentence without leading
        or trailing whitespace. A sentence ends at sentence punctuation followed by whitespace
        or at a line break. Pieces with fewer than :data:`MIN_SENTENCE_WORD_CHARS` word
        characters (list numbers such as ``"1."``, a lone ``"Ok."``) are joined to the next
        sentence, or to the previous one at the end of the text. Empty or blank text gives
        ``[]``.
    """
    memo = _SENTENCE_MEMO.get()
    if memo is None:
        return _split_sentences(text)
    found = memo.get(text)
    if found is None:
        found = memo[text] = tuple(_split_sentences(text))
    return list(found)


def _split_sentences(text: str) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_BREAK.finditer(text):
        end = match.start(1) if match.group(1) is not None else match.start()
        _add_piece(text, start, end, pieces)
        start = match.end()
    _add_piece(text, start, len(text), pieces)
    merged: list[tuple[int, int]] = []
    pending: int | None = None
    for begin, end in pieces:
        if pending is not None:
            begin, pending = pending, None
        if not _ENOUGH_WORD_CHARS.match(text, begin, end):
            pending = begin
            continue
        merged.append((begin, end))
    if pending is not None:
        if merged:
            merged[-1] = (merged[-1][0], pieces[-1][1])
        else:
            merged.append((pending, pieces[-1][1]))
    return merged


def _add_piece(text: str, start: int, end: int, pieces: list[tuple[int, int]]) -> None:
    """Append ``text[start:end]`` without surrounding whitespace, unless it is blank."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        pieces.append((start, end))
