"""The off-topic trees' inverse link is scipy's ``expit``, bit for bit, without importing it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from moderation.offtopicarrays import _expit


def test_expit_is_scipys_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    raw = np.concatenate(
        [
            rng.normal(0.0, 3.0, 200_000),
            rng.uniform(-40.0, 40.0, 200_000),
            rng.uniform(-800.0, 800.0, 10_000),
            [np.inf, -np.inf, 0.0, -0.0, 709.9, -709.9, -745.2, 1e-320, -1e-320],
        ]
    )
    np.testing.assert_array_equal(_expit(raw), expit(raw))
    assert np.isnan(_expit(np.array([np.nan]))[0])
    assert _expit(np.zeros(0)).shape == (0,)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1_ -'.\u00e9\u0301\u4e2d\u00b2\n"), max_size=40))
def test_faster_token_pattern_finds_the_same_tokens(text: str) -> None:
    import re

    from moderation.offtopicarrays import _SAME_TOKENS

    for pattern, faster in _SAME_TOKENS.items():
        assert re.findall(faster, text) == re.findall(pattern, text)
