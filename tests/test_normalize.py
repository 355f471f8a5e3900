"""normalize_text: the canonical form every text takes before features."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.normalize import MENTION_TOKEN, URL_TOKEN, normalize_text


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
