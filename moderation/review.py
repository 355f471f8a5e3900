"""The review list: escalated comments, most urgent first, a derailed sub-thread as one item.

Last step of the flow (… → rules → **review list** → write). It reads the
decision columns only. The list is written to a CSV / JSONL / Parquet file, or
kept in a database by `moderation.reviewqueue`, which builds its items here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moderation import schema
from moderation.rules import REVIEW_GROUP

#: Added to each queue item: the comments it covers (itself, or a whole sub-thread).
ITEM_COMMENTS = "item_comments"
ITEM_SIZE = "item_size"


def build_queue(scored: pd.DataFrame, *, limit: int | None = None) -> pd.DataFrame:
    """Escalated rows as review items, by priority, then action, then highest score.

    Rows that share a non-empty ``review_group`` (the comments of one derailed
    sub-thread escalated only for leaving the article) become one item: the
    row of the comment where the sub-thread left the article (or its first
    escalated row), with the strongest action and highest priority of the group
    and every member's id in ``item_comments``. A moderator then decides once
    instead of N times.

    Parameters
    ----------
    scored
        The frame returned by :meth:`moderation.Moderator.score`.
    limit
        Keep at most this many items.

    Returns
    -------
    DataFrame
        The items with all their columns plus ``item_comments`` (space-separated
        comment ids) and ``item_size``; ties keep input order.
    """
    escalated = scored[scored[schema.ACTION] != schema.Action.ALLOW.value].reset_index(drop=True)
    group = (
        escalated[REVIEW_GROUP].astype(str)
        if REVIEW_GROUP in escalated.columns
        else pd.Series("", index=escalated.index)
    )
    ids = escalated[schema.COMMENT_ID].astype(str)
    own = np.char.add("\0", np.arange(len(escalated)).astype(str))  # singletons: own key
    key = pd.Series(np.where(group != "", group, own), index=escalated.index)
    severity = escalated[schema.ACTION].map({a.value: a.severity for a in schema.Action})
    lead = np.where(group == ids, 0, 1)  # the comment where the sub-thread left leads its item
    order = pd.DataFrame({"key": key, "lead": lead, "pos": np.arange(len(escalated))}).sort_values(
        ["key", "lead", "pos"], kind="stable"
    )
    first = order.drop_duplicates("key")["pos"].to_numpy()
    items = escalated.iloc[np.sort(first)].copy()
    by_key = pd.DataFrame(
        {"key": key, "id": ids, "severity": severity, "priority": escalated[schema.PRIORITY]}
    )
    grouped = by_key.groupby("key", sort=False)
    item_keys = key.iloc[items.index]
    items[ITEM_COMMENTS] = item_keys.map(grouped["id"].agg(" ".join)).to_numpy()
    items[ITEM_SIZE] = item_keys.map(grouped.size()).to_numpy()
    items[schema.PRIORITY] = item_keys.map(grouped["priority"].max()).to_numpy()
    strongest = item_keys.map(grouped["severity"].max()).to_numpy()
    items[schema.ACTION] = [list(schema.Action)[s].value for s in strongest]
    scores = items[[c for c in schema.SCORES if c in items.columns]].max(axis=1).fillna(0)
    rank = pd.DataFrame(
        {
            "p": items[schema.PRIORITY].to_numpy(),
            "s": strongest,
            "m": scores.to_numpy(),
        }
    ).sort_values(["p", "s", "m"], ascending=False, kind="stable")
    queue = items.iloc[rank.index.to_numpy()].reset_index(drop=True)
    return queue if limit is None else queue.head(limit)
