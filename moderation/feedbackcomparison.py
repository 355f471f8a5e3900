"""Old model against new on held-out moderator decisions: agreement, ROC-AUC and F1.

Flow: ``review decisions -> export labels -> retrain -> **compare**``. After
:mod:`moderation.feedback` refits a bundle on decisions, `compare_models` scores the
decisions neither model trained on (held out by `moderation.feedbacklabels.split_by_thread`)
with both, and `comparison_table` shows the result in the model card and on the command line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from moderation import schema
from moderation.train import binary_metrics

__all__ = ["COMPARISON_COLUMNS", "compare_models", "comparison_table"]

#: Columns of `compare_models`, in the order `comparison_table` shows them.
COMPARISON_COLUMNS = (
    "label", "n", "positives", "old_agreement", "new_agreement",
    "old_roc_auc", "new_roc_auc", "old_f1", "new_f1",
)  # fmt: skip


def compare_models(
    old: tuple[Any, dict[str, float]],
    new: tuple[Any, dict[str, float]],
    heldout: pd.DataFrame,
) -> pd.DataFrame:
    """Score held-out decisions with two models and put their agreement side by side.

    Parameters
    ----------
    old, new : tuple
        ``(model, thresholds)``; a model is anything with ``predict(texts)`` returning a
        frame of label scores.
    heldout : DataFrame
        Decisions (from `read_feedback`) neither model trained on.

    Returns
    -------
    DataFrame
        One row per hostility label the decisions know: ``label``, ``n``, ``positives``,
        ``old_agreement``, ``new_agreement``, ``old_roc_auc``, ``new_roc_auc``, ``old_f1``,
        ``new_f1``. Empty (same columns) without held-out decisions.
    """
    columns = list(COMPARISON_COLUMNS)
    if heldout.empty:
        return pd.DataFrame(columns=columns)
    texts = heldout["text"].astype(str).tolist()
    scored = {side: model.predict(texts) for side, (model, _) in (("old", old), ("new", new))}
    thresholds = {"old": old[1], "new": new[1]}
    rows = []
    for label in schema.LABELS:
        known = heldout[label].notna().to_numpy()
        if not known.any():
            continue
        truth = heldout[label].to_numpy(dtype=np.float64)[known]
        row: dict[str, Any] = {"label": label, "n": int(known.sum())}
        row["positives"] = int((truth >= 0.5).sum())
        for side in ("old", "new"):
            score = scored[side][label].to_numpy(dtype=np.float64)[known]
            cut = float(thresholds[side].get(label, 0.5))
            metrics = binary_metrics(truth, score, cut)
            row[f"{side}_agreement"] = round(float(np.mean((score >= cut) == (truth >= 0.5))), 4)
            row[f"{side}_roc_auc"] = metrics["roc_auc"]
            row[f"{side}_f1"] = metrics["f1"]
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def comparison_table(comparison: pd.DataFrame) -> str:
    """Markdown table of `compare_models` output (``n/a`` where a metric is undefined)."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "n/a"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        "| label | n | positives | agreement old | agreement new | ROC-AUC old | ROC-AUC new "
        "| F1 old | F1 new |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in comparison.to_dict("records"):
        lines.append("| " + " | ".join(cell(row[k]) for k in COMPARISON_COLUMNS) + " |")
    return "\n".join(lines)
