"""The speed shortcuts of normalisation change nothing: same text, same offsets as full passes."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from moderation.normalize import _run

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
