"""Probability calibration: monotone maps from a label's raw score to a calibrated probability.

Flow: ``features -> **calibration** -> model``. The logistic regressions are fitted by maximum
likelihood, but the sentence combination (:meth:`moderation.model.HostilityModel.combine`)
lifts multi-sentence texts and the sources mix very different base rates, so raw scores are not
probabilities of anything in particular. Each label gets an isotonic map fitted on the
validation rows (never fitted by the classifiers) -- the method Perspective API documents --
kept only where cross-fitting on those rows shows it helps (:func:`choose_calibration`).

A map is stored as knots and applied with :func:`numpy.interp`: cheap, picklable, and strictly
increasing wherever the fitted rate changes, so it does not merge different scores into ties
the way a step function would (rankings and ROC-AUC are kept).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Calibration", "apply_calibration", "choose_calibration", "fit_isotonic"]

#: Fewer known validation rows, or fewer positives, than this: the label stays uncalibrated.
MIN_ROWS = 200
MIN_POSITIVES = 20
#: Bins of the expected calibration error (equal width on [0, 1]).
ECE_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """A monotone piecewise-linear map ``[0, 1] -> [0, 1]`` through ``(x[i], y[i])``."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.interp(scores, self.x, self.y)
        return out

    def as_lists(self) -> dict[str, list[float]]:
        """JSON-friendly knots at full precision (for the manifest)."""
        return {"x": [float(v) for v in self.x], "y": [float(v) for v in self.y]}


def fit_isotonic(y: np.ndarray, scores: np.ndarray) -> Calibration:
    """Isotonic regression of ``y`` on ``scores``, as knots through the centre of each block.

    scikit-learn's fitted step function has flat blocks; putting one knot at the mean score of
    each block (and anchoring 0 -> 0 and 1 -> 1) keeps the calibrated values while making the
    map strictly increasing, so distinct scores stay distinct.
    """
    from sklearn.isotonic import IsotonicRegression  # only training fits maps

    y = np.asarray(y, dtype=np.float64)
    scores = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
    values = fitted.predict(scores)
    levels, inverse = np.unique(values, return_inverse=True)
    centres = np.bincount(inverse, weights=scores) / np.bincount(inverse)
    xs = np.concatenate([[0.0], centres, [1.0]])
    ys = np.concatenate([[min(0.0, levels[0])], levels, [max(1.0, levels[-1])]])
    keep = np.concatenate([[True], np.diff(xs) > 0])  # drop a centre sitting on 0 or 1
    return Calibration(x=xs[keep], y=ys[keep])


def expected_calibration_error(y: np.ndarray, scores: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |observed rate - mean score| over equal-width score bins, weighted by bin size."""
    y = np.asarray(y, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if len(y) == 0:
        return float("nan")
    index = np.minimum((scores * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(index):
        inside = index == b
        total += inside.mean() * abs(y[inside].mean() - scores[inside].mean())
    return float(total)


def brier(y: np.ndarray, scores: np.ndarray) -> float:
    """Mean squared error of the scores as probabilities."""
    return float(np.mean((np.asarray(scores, dtype=np.float64) - np.asarray(y)) ** 2))


def choose_calibration(
    y: np.ndarray, scores: np.ndarray, folds: np.ndarray
) -> tuple[Calibration | None, dict[str, Any]]:
    """Fit a label's isotonic map on validation rows if cross-fitting says it helps.

    Parameters
    ----------
    y, scores
        Known 0/1 labels and raw scores of the validation rows.
    folds
        Fold number (0 or 1) of each row, e.g. from a hash of its thread: each half is
        calibrated by a map fitted on the other half, and the map is kept only when that lowers
        the Brier score of the whole validation set.

    Returns
    -------
    tuple
        The map fitted on all rows (or None), and ``{"rows", "positives", "brier_raw",
        "brier_cross_fitted", "ece_raw", "ece_cross_fitted", "applied"}``.
    """
    y = np.asarray(y, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    report: dict[str, Any] = {"rows": len(y), "positives": int(y.sum()), "applied": False}
    halves = [np.asarray(folds) == k for k in (0, 1)]
    if len(y) < MIN_ROWS or y.sum() < MIN_POSITIVES or not all(h.any() for h in halves):
        report["reason"] = "too few validation rows or positives"
        return None, report
    crossed = np.empty_like(scores)
    for test, train in (halves, halves[::-1]):
        crossed[test] = fit_isotonic(y[train], scores[train])(scores[test])
    report.update(
        brier_raw=round(brier(y, scores), 5),
        brier_cross_fitted=round(brier(y, crossed), 5),
        ece_raw=round(expected_calibration_error(y, scores), 4),
        ece_cross_fitted=round(expected_calibration_error(y, crossed), 4),
    )
    if report["brier_cross_fitted"] >= report["brier_raw"]:
        report["reason"] = "cross-fitted map did not lower the Brier score"
        return None, report
    report["applied"] = True
    return fit_isotonic(y, scores), report


def apply_calibration(
    scores: np.ndarray,
    labels: Sequence[str],
    calibration: Mapping[str, Calibration] | None,
) -> np.ndarray:
    """Calibrated copy of a ``[n, len(labels)]`` score matrix (labels without a map unchanged)."""
    if not calibration:
        return scores
    out = np.array(scores, dtype=np.float64, copy=True)
    for j, label in enumerate(labels):
        found = calibration.get(label)
        if found is not None:
            out[:, j] = found(out[:, j])
    return out
