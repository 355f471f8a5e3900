"""The review list: escalated comments, most urgent first.

Last step of the flow (… → rules → **review queue** → write). It reads the
decision columns only. This release writes the queue to a CSV / JSONL /
Parquet file; database-backed queues extend the same step.
"""

from __future__ import annotations

import pandas as pd

from moderation import schema


def build_queue(scored: pd.DataFrame, *, limit: int | None = None) -> pd.DataFrame:
    """Rows whose action is not ``allow``, by priority, then by their highest score.

    Parameters
    ----------
    scored
        The frame returned by :meth:`moderation.Moderator.score`.
    limit
        Keep at most this many items.

    Returns
    -------
    DataFrame
        The escalated rows with all their columns, highest priority first; ties
        keep the stronger action, then the higher maximum score, then input order.
    """
    escalated = scored[scored[schema.ACTION] != schema.Action.ALLOW.value]
    severity = escalated[schema.ACTION].map({a.value: a.severity for a in schema.Action})
    strongest = escalated[[c for c in schema.SCORES if c in escalated.columns]].max(axis=1)
    keys = pd.DataFrame(
        {
            "p": escalated[schema.PRIORITY].to_numpy(),
            "s": severity.to_numpy(),
            "m": strongest.fillna(0).to_numpy(),
        }
    )
    order = keys.sort_values(["p", "s", "m"], ascending=False, kind="stable").index
    queue = escalated.iloc[order]
    return queue if limit is None else queue.head(limit)
