"""Reading the review queue: items to decide, one item in full, and what decisions teach.

Part of the review queue (:mod:`moderation.reviewqueue`): each function here is a method of
`ReviewQueue` (``read_item`` is ``ReviewQueue.item``). `list_items`, `read_item` and `history`
serve a moderator's screen; `export_labels` is the second step of the feedback flow (review
decisions → **export labels** → retrain), and `author_history` feeds rules on an author's
history in the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from moderation import schema
from moderation.queuedatabase import QueueDatabase, QueueError
from moderation.queuedecisions import DecisionRecord, audit_trail
from moderation.queuetables import (
    EXPORT_LABELS,
    PENDING,
    REJECT,
    RELABEL,
    STATUS_OF,
    STATUSES,
    as_utc,
    comments,
    items,
)

__all__ = ["QueueItem", "author_history", "export_labels", "history", "list_items", "read_item"]

_SEVERITY = {action.value: action.severity for action in schema.Action}

#: Columns of `list_items`, most telling first.
_LISTED = [
    items.c.id,
    items.c.status,
    items.c.action,
    items.c.priority,
    items.c.top_score,
    items.c.thread_id,
    items.c.article_title,
    items.c.comment_id,
    items.c.item_size,
    items.c.author,
    items.c.text,
    items.c.reasons,
    items.c.flagged,
    items.c.decided_by,
    items.c.decided_at,
    items.c.version,
]


@dataclass(frozen=True)
class QueueItem:
    """An item with everything a moderator needs: the item row, its comments, its history."""

    item: dict[str, Any]
    comments: pd.DataFrame
    history: list[DecisionRecord]


def list_items(
    queue: QueueDatabase,
    *,
    status: str | None = PENDING,
    action: str | None = None,
    min_priority: int | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Items, most urgent first: priority, then action severity, then top score, then id.

    Parameters
    ----------
    status : str or None, default "pending"
        One of `STATUSES`; None lists every item.
    action : str or None
        Only items with this action (``review``, ``hold``, ``remove``).
    min_priority : int or None
        Only items with at least this priority.
    limit : int or None
        At most this many items.

    Returns
    -------
    DataFrame
        One row per item: ``id``, ``status``, ``action``, ``priority``, ``top_score``,
        ``thread_id``, ``article_title`` (None where unknown), ``comment_id``,
        ``item_size``, ``author``, ``text``, ``reasons``, ``flagged``, ``decided_by``,
        ``decided_at``, ``version``.
    """
    if status is not None and status not in STATUSES:
        raise QueueError(f"unknown status '{status}'; use one of {', '.join(STATUSES)}")
    actions = [a.value for a in schema.Action]
    if action is not None and action not in actions:
        raise QueueError(f"unknown action '{action}'; use one of {', '.join(actions)}")
    severity = sa.case(_SEVERITY, value=items.c.action, else_=0)
    query = sa.select(*_LISTED).order_by(
        items.c.priority.desc(), severity.desc(), items.c.top_score.desc(), items.c.id
    )
    if status is not None:
        query = query.where(items.c.status == status)
    if action is not None:
        query = query.where(items.c.action == action)
    if min_priority is not None:
        query = query.where(items.c.priority >= min_priority)
    if limit is not None:
        query = query.limit(limit)
    frame = pd.DataFrame(queue.rows(query), columns=[c.name for c in _LISTED])
    frame["decided_at"] = [as_utc(v) for v in frame["decided_at"]]
    _keep_none(frame, items.c.article_title.name)
    return frame


def _keep_none(frame: pd.DataFrame, column: str) -> None:
    """Give a nullable text column back as objects, None where NULL.

    pandas would infer a string dtype and turn NULL into NaN, which is truthy and prints
    as "nan"; None says "unknown" to every caller.
    """
    values = [v if isinstance(v, str) else None for v in frame[column]]
    frame[column] = pd.Series(values, index=frame.index, dtype=object)


def read_item(queue: QueueDatabase, item_id: int) -> QueueItem:
    """One item with its comments (in thread order) and its decision history.

    The item holds ``article_title`` (None where unknown) and each comment its ``spans``
    JSON (None where the queue was given none, e.g. written by an earlier release).

    Raises
    ------
    ItemNotFound
        If no item has this id.
    """
    with queue.connect() as conn:
        row = conn.execute(sa.select(items).where(items.c.id == item_id)).mappings().first()
        if row is None:
            raise queue.not_found(conn, item_id)
        members = (
            conn.execute(
                sa.select(comments)
                .where(comments.c.item_id == item_id)
                .order_by(comments.c.position)
            )
            .mappings()
            .all()
        )
        history = audit_trail(conn, item_id)
    record = dict(row)
    for name in ("decided_at", "first_seen_at", "last_seen_at"):
        record[name] = as_utc(record[name])
    record["labels"] = json.loads(record["labels"]) if record["labels"] else {}
    frame = pd.DataFrame([dict(m) for m in members], columns=[c.name for c in comments.c])
    _keep_none(frame, comments.c.spans.name)
    return QueueItem(record, frame, history)


def history(queue: QueueDatabase, item_id: int | None = None) -> list[DecisionRecord]:
    """The audit trail, oldest first; of one item, or of the whole queue."""
    with queue.connect() as conn:
        return audit_trail(conn, item_id)


def export_labels(queue: QueueDatabase) -> pd.DataFrame:
    """Decided items as labelled comments, in the training corpus's label columns.

    ``approve`` → each comment's flagged labels are 0 (the escalation was wrong);
    ``reject`` → they are 1; ``relabel`` → the labels the moderator gave. Every other
    label is NaN: the decision says nothing about it, and training treats NaN as
    unknown, never as "not hostile".

    Returns
    -------
    DataFrame
        One row per comment of every decided item: ``item_id``, ``comment_id``,
        ``thread_id``, ``parent_id``, ``author``, ``text``, ``parent_text``,
        ``decision``, ``moderator``, ``decided_at``, ``note``, then the float label
        columns `EXPORT_LABELS`. Ordered by item id and position.
    """
    query = (
        sa.select(
            comments.c.item_id,
            comments.c.comment_id,
            comments.c.thread_id,
            comments.c.parent_id,
            comments.c.author,
            comments.c.text,
            comments.c.parent_text,
            comments.c.flagged,
            items.c.decision,
            items.c.labels,
            items.c.decided_by.label("moderator"),
            items.c.decided_at,
            items.c.note,
        )
        .join(items, items.c.id == comments.c.item_id)
        .where(items.c.status != PENDING)
        .order_by(comments.c.item_id, comments.c.position)
    )
    base = [
        "item_id", "comment_id", "thread_id", "parent_id", "author", "text", "parent_text",
        "decision", "moderator", "decided_at", "note",
    ]  # fmt: skip
    out = []
    for row in queue.rows(query):
        values = dict.fromkeys(EXPORT_LABELS, np.nan)
        if row["decision"] == RELABEL:
            values.update({k: float(v) for k, v in json.loads(row["labels"] or "{}").items()})
        else:
            truth = 1.0 if row["decision"] == REJECT else 0.0
            values.update(dict.fromkeys(row["flagged"].split(), truth))
        stamp = as_utc(row["decided_at"])
        out.append(
            {
                **{k: row[k] for k in base if k != "decided_at"},
                "note": row["note"] or "",
                "decided_at": stamp.isoformat() if stamp else "",
                **values,
            }
        )
    frame = pd.DataFrame(out, columns=[*base, *EXPORT_LABELS])
    return frame.astype({label: "float64" for label in EXPORT_LABELS})


def author_history(queue: QueueDatabase) -> pd.DataFrame:
    """Per author: comments escalated into the queue and comments in rejected items.

    For rules on an author's history (``author: escalated in the queue``).

    Returns
    -------
    DataFrame
        ``author``, ``escalated``, ``rejected`` (int), one row per non-empty author.
    """
    rejected = sa.case((items.c.status == STATUS_OF[REJECT], 1), else_=0)
    query = (
        sa.select(
            comments.c.author,
            sa.func.count().label("escalated"),
            sa.func.coalesce(sa.func.sum(rejected), 0).label("rejected"),
        )
        .join(items, items.c.id == comments.c.item_id)
        .where(comments.c.author != "")
        .group_by(comments.c.author)
        .order_by(comments.c.author)
    )
    frame = pd.DataFrame(queue.rows(query), columns=["author", "escalated", "rejected"])
    return frame.astype({"escalated": "int64", "rejected": "int64"})
