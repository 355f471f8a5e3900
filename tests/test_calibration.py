"""Isotonic calibration maps: monotone, rank-preserving, chosen only when they help."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from moderation.calibration import (
    Calibration,
    apply_calibration,
    brier,
    choose_calibration,
    expected_calibration_error,
    fit_isotonic,
)


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores that claim far more certainty than the labels bear out (true rate = sqrt(score))."""
    rng = np.random.default_rng(seed)
    true_rate = rng.random(n)
    y = (rng.random(n) < true_rate).astype(float)
    return y, true_rate**2


def test_a_fitted_map_calibrates_unseen_rows_without_changing_their_order() -> None:
    y_fit, s_fit = overconfident(5_000, seed=0)
    y_new, s_new = overconfident(5_000, seed=1)
    calibrated = fit_isotonic(y_fit, s_fit)(s_new)
    assert (
        expected_calibration_error(y_new, calibrated) < expected_calibration_error(y_new, s_new) / 3
    )
    assert brier(y_new, calibrated) < brier(y_new, s_new)
    assert roc_auc_score(y_new, calibrated) == pytest.approx(roc_auc_score(y_new, s_new), abs=1e-3)


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=2, max_size=200))
def test_maps_are_increasing_and_stay_in_the_unit_interval(rows: list[tuple[bool, float]]) -> None:
    y = np.array([float(a) for a, _ in rows])
    s = np.array([b for _, b in rows])
    found = fit_isotonic(y, s)
    assert found.x[0] == 0.0 and found.x[-1] == 1.0
    assert np.all(np.diff(found.x) > 0)
    assert np.all(np.diff(found.y) >= 0)
    out = found(np.linspace(0, 1, 101))
    assert np.all((out >= 0) & (out <= 1)) and np.all(np.diff(out) >= 0)


def test_a_map_is_kept_only_when_cross_fitting_lowers_the_brier_score() -> None:
    y, s = overconfident(4_000, seed=2)
    folds = np.arange(len(y)) % 2
    found, report = choose_calibration(y, s, folds)
    assert found is not None and report["applied"]
    assert report["brier_cross_fitted"] < report["brier_raw"]
    # Already calibrated scores: the map only adds noise, so it is not applied.
    rng = np.random.default_rng(3)
    rate = rng.random(4_000)
    calibrated_y = (rng.random(4_000) < rate).astype(float)
    found, report = choose_calibration(calibrated_y, rate, folds)
    assert found is None and not report["applied"], report


def test_too_few_rows_or_positives_leave_a_label_raw() -> None:
    found, report = choose_calibration(np.zeros(500), np.linspace(0, 1, 500), np.arange(500) % 2)
    assert found is None and "too few" in report["reason"]


def test_labels_without_a_map_keep_their_scores() -> None:
    halve = Calibration(x=np.array([0.0, 1.0]), y=np.array([0.0, 0.5]))
    scores = np.array([[0.2, 0.8], [0.6, 0.4]])
    out = apply_calibration(scores, ("a", "b"), {"b": halve})
    np.testing.assert_allclose(out, [[0.2, 0.4], [0.6, 0.2]])
    assert apply_calibration(scores, ("a", "b"), {}) is scores


def test_the_model_applies_its_maps_to_scores_and_spans() -> None:
    from labelled_fixtures import labelled_dir

    from moderation.corpus import load_corpus
    from moderation.model import HostilityModel

    corpus = load_corpus(labelled_dir())
    model = HostilityModel().fit(corpus[corpus["redistributable"]], seed=0)
    texts = ["You are a pathetic idiot. Go away.", "Lovely photos of the harbour."]
    raw = model.predict(texts)
    raw_spans = model.span_map(texts[0], ["toxicity"], {"toxicity": 0.0})["toxicity"]["sentence"]
    model.calibration_ = {"toxicity": Calibration(x=np.array([0.0, 1.0]), y=np.array([0.0, 0.5]))}
    calibrated = model.predict(texts)
    np.testing.assert_allclose(calibrated["toxicity"], raw["toxicity"] / 2)
    np.testing.assert_allclose(calibrated["insult"], raw["insult"])
    spans = model.span_map(texts[0], ["toxicity"], {"toxicity": 0.0})["toxicity"]["sentence"]
    assert [s.score for s in spans] == pytest.approx([s.score / 2 for s in raw_spans])
