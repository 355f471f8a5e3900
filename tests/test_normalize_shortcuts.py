"""The speed shortcuts of normalisation change nothing: same text, same offsets as full passes.

The shortcuts are: hints that skip a pattern, early stops between passes, the untracked run
standing in for the tracked one when no character moved, and the per-batch memo.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from moderation import normalize
from moderation.normalize import (
    _MEMO,
    _SENTENCE_MEMO,
    MIN_SENTENCE_WORD_CHARS,
    Normalized,
    _run,
    memoized,
    normalize_text,
    normalize_with_offsets,
    split_sentences,
)

# Letters, look-alikes, leet and masking symbols, separators of spaced letters, marks,
# invisible characters, links and mentions: what the shortcuts skip or stop early on.
PIECES = st.sampled_from(
    [
        *"aAbBiIoOsStTuUxXyY",
        *"0135@$!|*#%\u20ac",
        *" \t\n\r.-_,'\"()",
        "\u0456", "\u043e", "\u0430", "\u03bf", "\u0131", "\u1d00",
        "\u0301", "\u0308", "\u200b", "\u200d", "\u00ad", "\ufeff",
        "\u00df", "\uff29", "\U0001d41a", "\U0001f600",
        "http://x.y/z ", "www.", "url", "@user", "@ss", "s h i t", "i.d.i.o.t", "f-u-c-k",
        "1d10t", "sh!t", "f***", "stuuuupid", "  ", "\n\n",
    ]
)  # fmt: skip
texts = st.lists(PIECES, max_size=25).map("".join)


def full(text: str, track: bool) -> tuple[str, list[int] | None, list[int] | None]:
    state = _run(text, track, shortcuts=False)
    return state.text, state.starts, state.ends


def fast(text: str, track: bool) -> tuple[str, list[int] | None, list[int] | None]:
    state = _run(text, track)
    return state.text, state.starts, state.ends


@settings(max_examples=800, deadline=None)
@given(st.one_of(texts, st.text(max_size=80)))
@example("Hello World")  # only lower-casing: one pass
@example("HELLO  W O R L D")  # lower-casing, then spaced letters after whitespace collapse
@example("A\u0301 b\u200bC")
def test_shortcuts_give_the_full_result(text: str) -> None:
    assert fast(text, track=False) == full(text, track=False)
    assert fast(text, track=True) == full(text, track=True)


@settings(max_examples=800, deadline=None)
@given(st.one_of(texts, st.text(max_size=80)))
@example("Hello World")  # nothing moves: the untracked run stands in
@example(" Hello")  # stripped: moved
@example("\u4e2d\u0301")  # a cluster rewritten to itself: each character maps to both
def test_offsets_without_tracking_are_the_tracked_offsets(text: str) -> None:
    state = _run(text, track=True, shortcuts=False)
    assert state.starts is not None and state.ends is not None
    expected = Normalized(state.text, tuple(state.starts), tuple(state.ends))
    assert normalize_with_offsets(text) == expected
    with memoized():
        normalize_text(text)  # the memo now holds the text: the next call reads it
        assert normalize_with_offsets(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, st.text(max_size=40)), max_size=8))
def test_memoized_gives_the_same_results_and_forgets_them(batch: list[str]) -> None:
    plain = [(normalize_text(t), split_sentences(t)) for t in batch]
    with memoized():
        twice = [[(normalize_text(t), split_sentences(t)) for t in batch] for _ in range(2)]
        with memoized():  # nested: the outer memo is reused
            assert _MEMO.get() is not None
            inner = [(normalize_text(t), split_sentences(t)) for t in batch]
        assert _MEMO.get() is not None  # the inner block did not end the outer one
        if batch:
            split_sentences(batch[0]).append((0, 0))  # callers own the list they get
            assert split_sentences(batch[0]) == plain[0][1]
    assert twice == [plain, plain]
    assert inner == plain
    assert _MEMO.get() is None
    assert _SENTENCE_MEMO.get() is None


class _CountingWordChars:
    """The plain definition of "enough word characters": count them all."""

    def match(self, text: str, begin: int, end: int) -> bool:
        return len(re.findall(r"\w", text[begin:end])) >= MIN_SENTENCE_WORD_CHARS


@settings(max_examples=500, deadline=None)
@given(st.one_of(texts, st.text(alphabet=st.sampled_from("ab1_ .!?\n\t\u2026\"'\u00e9-"))))
def test_sentence_pieces_are_joined_as_by_counting(text: str) -> None:
    fast = split_sentences(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(normalize, "_ENOUGH_WORD_CHARS", _CountingWordChars())
        assert split_sentences(text) == fast


def test_batch_memos_live_as_long_as_the_block() -> None:
    assert normalize.batch_memo("x") is None
    with memoized():
        memo = normalize.batch_memo("x")
        assert memo is not None
        memo["a"] = 1
        assert normalize.batch_memo("x") is memo
        assert normalize.batch_memo("y") == {}
        with memoized():
            assert normalize.batch_memo("x") is memo
    assert normalize.batch_memo("x") is None
    with memoized():
        assert normalize.batch_memo("x") == {}


ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=60)


@settings(max_examples=800, deadline=None)
@given(ASCII)
@example("Hello\tWORLD\x1f  x\x7f")
def test_ascii_lower_casing_and_blank_checks_are_the_general_ones(text: str) -> None:
    """On ASCII text a pass lower-cases with ``str.lower`` and looks for blanks by first
    asking ``isprintable``: both give what the general forms give."""
    assert text.lower() == text.translate(normalize._ASCII_LOWER)
    assert normalize._has_blanks(text) == any(b in text for b in normalize._ASCII_BLANKS)
    assert fast(text, track=False) == full(text, track=False)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("aAbBlLrRuUsSzZ"), max_size=12))
@example("URL")
@example("Url")
@example("stuuupid")
@example("Idiot")
def test_ascii_words_take_the_full_result(word: str) -> None:
    assert normalize_text(word) == full(word, track=False)[0]
    assert normalize_with_offsets(word) == _tracked(word)


def _tracked(text: str) -> Normalized:
    state = _run(text, track=True, shortcuts=False)
    assert state.starts is not None and state.ends is not None
    return Normalized(state.text, tuple(state.starts), tuple(state.ends))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(texts, st.text(max_size=30)), max_size=8))
def test_normalize_all_is_normalize_text_of_each(batch: list[str]) -> None:
    from moderation.normalize import normalize_all

    expected = [normalize_text(t) for t in batch]
    assert normalize_all(batch) == expected
    with memoized():
        assert normalize_all(batch + batch) == expected + expected
        assert [normalize_text(t) for t in batch] == expected


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=st.sampled_from("asShiItT10345!|#*@$%_ .,-'"), max_size=24))
@example("What!")  # a token ending in "!": nothing to decode
@example("sh!t!")  # an interior "!" decodes
@example("*a!*")  # the stars go, leaving "!" at the core's end
@example("1!a and 2020")
def test_leet_hint_skips_only_tokens_that_decode_to_nothing(text: str) -> None:
    assert fast(text, track=False) == full(text, track=False)
    assert fast(text, track=True) == full(text, track=True)
