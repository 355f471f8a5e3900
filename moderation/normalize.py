"""Text normalisation applied before features are extracted (scoring and training alike).

Flow: ``read -> validate -> thread context -> **normalize** -> features -> models``. Both the
training corpus and the comments being scored pass through :func:`normalize_text`, so the
feature vocabulary sees one canonical spelling of cheap obfuscations (full-width letters,
zero-width joiners, "stuuuupid"). The function is pure, total and idempotent; a later step adds
leetspeak and masking with character offsets for spans.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MENTION_TOKEN", "URL_TOKEN", "normalize_text"]

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
