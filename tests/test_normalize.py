"""normalize_text: the canonical form every text takes before features."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.normalize import MENTION_TOKEN, URL_TOKEN, normalize_text, split_sentences


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Stuuuuupid", "stuupid"),
        ("good and too", "good and too"),
        ("\uff49\uff44\uff49\uff4f\uff54", "idiot"),  # full-width letters (NFKC)
        ("i\u200bd\u200di\ufeffot", "idiot"),  # zero-width characters
        ("  Hello\n\n\tWORLD  ", "hello world"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # casefold, not lower
        ("@USER @bob hi", f"{MENTION_TOKEN} {MENTION_TOKEN} hi"),
        ("see https://example.com/a?b=1 now", f"see {URL_TOKEN} now"),
        ("www.example.org", URL_TOKEN),
        ("OLID placeholder URL", f"olid placeholder {URL_TOKEN}"),
        ("mail me at a@b.com", "mail me at a@b.com"),
        ("", ""),
    ],
)
def test_examples(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_total_and_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert isinstance(once, str)
    assert normalize_text(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("aAbB@:/. \u200bwhtps\u00dfe1")))
def test_idempotent_on_tricky_alphabet(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert "\u200b" not in once
    assert once == once.strip()
    assert "  " not in once


# split_sentences ------------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello there. You idiot!  Right?", ["Hello there.", "You idiot!", "Right?"]),
        ("1. First point.\n\n2. Second point", ["1. First point.", "2. Second point"]),
        ("Line one\nline two", ["Line one", "line two"]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("Wait... what?! No way", ["Wait...", "what?!", "No way"]),
        ("Ok. Fine then.", ["Ok. Fine then."]),  # a piece with < 3 word characters joins the next
        ("A whole sentence. Ok.", ["A whole sentence. Ok."]),  # ... or the previous one at the end
        ("no punctuation at all", ["no punctuation at all"]),
        ("It cost 3.5 million.", ["It cost 3.5 million."]),  # no break without whitespace
        ("", []),
        ("  \n\t ", []),
    ],
)
def test_split_sentences_examples(raw: str, expected: list[str]) -> None:
    assert sentences(raw) == expected


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .!?\n\t\u2026\"'1")))
def test_split_sentences_offsets_map_back(text: str) -> None:
    offsets = split_sentences(text)
    previous_end = 0
    for start, end in offsets:
        assert previous_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip() and piece
        previous_end = end
    # Nothing but whitespace and sentence breaks is left out, and every word character is kept.
    covered = "".join(text[start:end] for start, end in offsets)
    assert sum(c.isalnum() for c in covered) == sum(c.isalnum() for c in text)
