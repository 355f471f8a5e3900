"""normalize_text: the canonical form every text takes before features."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.normalize import (
    MENTION_TOKEN,
    URL_TOKEN,
    normalize_text,
    normalize_with_offsets,
    split_sentences,
)
from moderation.obfuscate import KINDS, obfuscate_spans


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
        # homoglyphs, small capitals, accents
        ("\u0456d\u0456\u043et", "idiot"),  # Cyrillic i, i, o inside a Latin word
        ("you \u0455\u04bb\u0456t", "you shit"),  # a word only of look-alikes in English text
        ("\u041c\u043e\u0441\u043a\u0432\u0430", "\u043c\u043e\u0441\u043a\u0432\u0430"),
        ("\ua730\u1d1c\u1d04\u1d0b", "fuck"),  # Latin small capitals
        ("\u00ecd\u00ec\u00f3t caf\u00e9", "idiot cafe"),
        # leetspeak inside words, and what is not leetspeak
        ("you 1d10t", "you idiot"),
        ("sh1t a$$hole l0s3r", "shit asshole loser"),
        ("kiss my @ss", "kiss my ass"),
        (
            "2024 $5 @user 3rd 5pm mp3 covid19 10am b4 gr8",
            f"2024 $5 {MENTION_TOKEN} 3rd 5pm mp3 covid19 10am b4 gr8",
        ),
        ("#vote5sos Ke$ha", "#vote5sos kesha"),
        ("2x4x24 kids!!!lets", "2x4x24 kids!!!lets"),
        # masked swear words
        ("f*** off", "fuck off"),
        ("sh!t! f*ck F**KING", "shit! fuck fucking"),
        ("a** d*mn b*****d", "ass damn bastard"),
        ("*really* good bitch*", "*really* good bitch*"),
        ("$60k).", "$60k)."),
        # spaced letters
        ("y o u   a r e   a n   i d i o t", "you are an idiot"),
        ("i.d.i.o.t f-u-c-k s h 1 t", "idiot fuck shit"),
        ("u r a", "u r a"),  # text-speak, not spaced letters
        ("e.g. 1.2.3", "e.g. 1.2.3"),
        ("y o u a r e a n i d i o t", "you are an idiot"),  # joined, then split as glued
        # glued words: split only into common words, never through a swear word
        ("Iwillkillyou. You are a stupidcunt", "i will kill you. you are a stupid cunt"),
        ("I hatewomen, Muslims arescum", "i hate women, muslims are scum"),
        ("dipshit horseshit", "dipshit horseshit"),  # not "dips hit", "horses hit"
        ("lookin fellas jihadi", "lookin fellas jihadi"),  # a word's ending, not a word
        ("strasse idetify international", "strasse idetify international"),
    ],
)
def test_examples(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected
    assert normalize_with_offsets(raw).text == expected


@pytest.mark.parametrize(
    ("raw", "word", "typed"),
    [
        ("You  1d10t!", "idiot", "1d10t"),
        ("y o u   a r e   a n   i d i o t.", "idiot", "i d i o t"),
        ("what a f***ing mess", "fucking", "f***ing"),
        ("i\u200bd\u200bi\u200bo\u200bt", "idiot", "i\u200bd\u200bi\u200bo\u200bt"),
        ("stuuuupid \uff49\uff44\uff49\uff4f\uff54", "stuupid", "stuuuupid"),
        ("Stra\u00dfe", "strasse", "Stra\u00dfe"),
        ("see https://x.org/a?b now", URL_TOKEN, "https://x.org/a?b"),
        ("I willkillyou", "kill", "kill"),
        ("Youareanidiot", "you are an idiot", "Youareanidiot"),
    ],
)
def test_offsets_map_words_back_to_what_was_typed(raw: str, word: str, typed: str) -> None:
    norm = normalize_with_offsets(raw)
    begin = norm.text.index(word)
    start, end = norm.original_span(begin, begin + len(word))
    assert raw[start:end] == typed


def test_original_span_rejects_spans_outside_the_text() -> None:
    with pytest.raises(ValueError, match="not inside"):
        normalize_with_offsets("abc").original_span(2, 4)


TRICKY = st.text(
    alphabet=st.sampled_from("aAbsSitIk1034@$!|*#.-_ \t\n\u200b\u0430\u043e\uff41\u00df\u0301"),
    max_size=60,
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=60), TRICKY))
def test_offsets_map_back_to_the_original(text: str) -> None:
    norm = normalize_with_offsets(text)
    assert norm.text == normalize_text(text)
    assert len(norm.starts) == len(norm.ends) == len(norm.text)
    previous = 0
    for start, end in zip(norm.starts, norm.ends, strict=True):
        assert previous <= start < end <= len(text)  # in order, inside the original
        previous = start
    if norm.text:
        assert norm.original_span(0, len(norm.text))[1] <= len(text)


@settings(max_examples=300, deadline=None)
@given(TRICKY)
def test_idempotent_on_obfuscation_alphabet(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_obfuscated_insults_normalise_back(kind: str) -> None:
    text = "You are an idiot and a stupid loser."
    spans = [(text.index("idiot"), text.index("idiot") + 5)]
    obfuscated = obfuscate_spans(text, spans, kind)
    assert obfuscated != text
    normalised = normalize_text(obfuscated)
    if kind == "mask":  # only the words people mask are restored ("idiot" is one of them)
        assert "idiot" in normalised
    else:
        assert normalised == normalize_text(text)


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
