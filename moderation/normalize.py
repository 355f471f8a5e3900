"""Text normalisation applied before features are extracted (scoring and training alike).

Flow: ``read -> validate -> thread context -> **normalize** -> features -> models``. Both the
training corpus and the comments being scored pass through :func:`normalize_text`, so the
feature vocabulary sees one canonical spelling of cheap obfuscations (full-width letters,
zero-width joiners, "stuuuupid"). The function is pure, total and idempotent; a later step adds
leetspeak and masking with character offsets for spans.

:func:`split_sentences` cuts raw text (before normalisation) into sentences given as character
offsets, so sentence scores and toxic-span labels refer to positions in the original text.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MENTION_TOKEN", "URL_TOKEN", "normalize_text", "split_sentences"]

#: Placeholder for ``@user`` mentions (OLID already ships ``@USER``); keeps names out of features.
MENTION_TOKEN = "xxuser"
#: Placeholder for links; a link is a signal (spam, off-topic) but its exact address is not.
URL_TOKEN = "xxurl"

# Format characters used to split words invisibly (ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft hyphen,
# invisible separators) plus the Mongolian vowel separator.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\u206a-\u206f\ufeff]")
_URL = re.compile(r"(?:https?://|www\.)\S+|\burl\b", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w+")
# Three or more of the same letter become two: keeps "good"/"too" but "stuuuupid" -> "stuupid".
_STRETCH = re.compile(r"(\w)\1{2,}")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Return the canonical form of ``text`` used for features.

    Parameters
    ----------
    text
        Any string, including the empty string. Non-strings are not accepted.

    Returns
    -------
    str
        NFKC-normalised, case-folded text without zero-width characters, with runs of three or
        more identical word characters shortened to two, URLs replaced by ``xxurl``, ``@mentions``
        by ``xxuser`` and all whitespace runs collapsed to single spaces (stripped at both ends).

    Notes
    -----
    ``normalize_text(normalize_text(s)) == normalize_text(s)`` for every string ``s``.
    Character offsets are not preserved; span extraction must map back separately.
    """
    # Each rewrite can expose a pattern for another (removing a zero-width joiner lets NFKC
    # compose, casefolding "ß" makes "ss"), so repeat the pass until nothing changes.
    out = text
    for _ in range(8):
        nxt = _normalize_once(out)
        if nxt == out:
            break
        out = nxt
    return out


def _normalize_once(text: str) -> str:
    out = _INVISIBLE.sub("", text)
    out = unicodedata.normalize("NFKC", out).casefold()
    out = _URL.sub(f" {URL_TOKEN} ", out)
    out = _MENTION.sub(f" {MENTION_TOKEN} ", out)
    out = _STRETCH.sub(r"\1\1", out)
    return _SPACE.sub(" ", out).strip()


# A sentence ends at ., !, ? or … (plus closing quotes/brackets) followed by whitespace, or at a
# line break. Group 1 is the whitespace after the punctuation.
_SENTENCE_BREAK = re.compile("[.!?\u2026]+[\"'\u201d\u2019)\\]]*(\\s+)|[ \t]*\n\\s*")
_WORD_CHAR = re.compile(r"\w")
#: Pieces with fewer word characters than this ("1.", "Ok.") join the following sentence.
MIN_SENTENCE_WORD_CHARS = 3


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
        if len(_WORD_CHAR.findall(text, begin, end)) < MIN_SENTENCE_WORD_CHARS:
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
