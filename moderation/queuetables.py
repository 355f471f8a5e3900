"""The review queue's tables, and the words their status, decision and label columns hold.

Part of the review queue (:mod:`moderation.reviewqueue`, the last step of the scoring flow):
the four tables below are the whole layout, shared by SQLite and PostgreSQL through
SQLAlchemy Core; `moderation.queuedatabase` creates them and checks `SCHEMA_VERSION`.

``review_items``
    One row per item: a single escalated comment, or a derailed sub-thread. Keyed by
    ``item_key``; holds the article title, the current decision and a ``version`` every
    decision bumps.
``review_comments``
    The comments of each item with their scores, reasons, parent text and highlight spans.
``review_decisions``
    The audit trail: every decision ever attempted. Database triggers refuse UPDATE and
    DELETE, so rows are only ever inserted.
``review_meta``
    The schema version.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from moderation import schema

__all__ = [
    "ADDED_COLUMNS",
    "APPLIED",
    "APPROVE",
    "CONFLICT",
    "DECISIONS",
    "EXPORT_LABELS",
    "PENDING",
    "REJECT",
    "RELABEL",
    "SCHEMA_VERSION",
    "STATUSES",
    "STATUS_OF",
    "as_utc",
    "comments",
    "decisions",
    "items",
    "meta",
    "metadata",
    "utc_now",
]

#: Version of the table layout written into ``review_meta``. It changes only when a layout
#: change would break an older moderation; columns in `ADDED_COLUMNS` do not change it.
SCHEMA_VERSION = 1

APPROVE = "approve"
REJECT = "reject"
RELABEL = "relabel"
#: Decisions a moderator can make on an item.
DECISIONS = (APPROVE, REJECT, RELABEL)

PENDING = "pending"
#: Item statuses: undecided, or the decision that was applied.
STATUSES = (PENDING, "approved", "rejected", "relabelled")
#: The status an applied decision gives its item.
STATUS_OF = {APPROVE: "approved", REJECT: "rejected", RELABEL: "relabelled"}

#: Outcomes of a decision in the audit trail.
APPLIED = "applied"
CONFLICT = "conflict"

#: Label columns of exported decisions: the training corpus labels, then ``off_topic``.
EXPORT_LABELS = (*schema.LABELS, schema.OFF_TOPIC)

metadata = sa.MetaData()


def _score_columns(*extra: sa.Column[Any]) -> list[sa.Column[Any]]:
    """A fresh set (a column belongs to one table) of scores, ``extra``, then the verdict."""
    return [
        *[sa.Column(name, sa.Float, nullable=True) for name in schema.SCORES],
        *extra,
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("flagged", sa.Text, nullable=False),  # space-separated labels
    ]


items = sa.Table(
    "review_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_key", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "comment" | "subthread"
    sa.Column("thread_id", sa.Text, nullable=False),
    sa.Column("comment_id", sa.Text, nullable=False),  # the lead comment
    sa.Column("review_group", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("parent_id", sa.Text, nullable=False),
    sa.Column("parent_text", sa.Text, nullable=False),
    *_score_columns(sa.Column("top_score", sa.Float, nullable=False)),
    sa.Column("comment_ids", sa.Text, nullable=False),  # space-separated
    sa.Column("item_size", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default=PENDING),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("decision", sa.String(16), nullable=True),
    sa.Column("labels", sa.Text, nullable=True),  # JSON {label: 0|1} of a relabel
    sa.Column("decided_by", sa.Text, nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("times_seen", sa.Integer, nullable=False, server_default="1"),
    # Added after version 1 (see ADDED_COLUMNS): NULL where the title was not known.
    sa.Column("article_title", sa.Text, nullable=True),
    sa.Index("ix_review_items_status_priority", "status", "priority"),
    sa.Index("ix_review_items_author", "author"),
)

comments = sa.Table(
    "review_comments",
    metadata,
    sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), primary_key=True),
    sa.Column("comment_id", sa.Text, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("thread_id", sa.Text, nullable=False),
    sa.Column("parent_id", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("parent_text", sa.Text, nullable=False),
    *_score_columns(),
    # Added after version 1 (see ADDED_COLUMNS): the scorer's JSON {label: [{begin, end,
    # score}]}; "{}" when it found no words, NULL where the queue was given no spans.
    sa.Column("spans", sa.Text, nullable=True),
)

decisions = sa.Table(
    "review_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False, index=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("labels", sa.Text, nullable=False),  # JSON
    sa.Column("moderator", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("based_on_version", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # "applied" | "conflict"
    sa.Column("detail", sa.Text, nullable=False),
)

meta = sa.Table(
    "review_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: Nullable columns added to version-1 tables since their release. A queue created before
#: them gets them with ``ALTER TABLE … ADD COLUMN`` when it is opened
#: (`moderation.queuedatabase`); an older moderation ignores them, so it keeps reading and
#: writing an upgraded queue and `SCHEMA_VERSION` stays the same.
ADDED_COLUMNS: tuple[sa.Column[Any], ...] = (items.c.article_title, comments.c.spans)


def _ddl(statement: str) -> sa.DDL:
    return sa.DDL(statement)  # type: ignore[no-untyped-call]


# The audit trail is append only: the database itself refuses to change or delete a row.
for _verb in ("update", "delete"):
    event.listen(
        decisions,
        "after_create",
        _ddl(
            f"CREATE TRIGGER review_decisions_no_{_verb} BEFORE {_verb.upper()} ON "
            "review_decisions BEGIN SELECT RAISE(ABORT, 'review_decisions is append only'); END"
        ).execute_if(dialect="sqlite"),
    )
event.listen(
    decisions,
    "after_create",
    _ddl(
        "CREATE OR REPLACE FUNCTION review_decisions_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'review_decisions is append only'; END $$; "
        "CREATE TRIGGER review_decisions_append_only BEFORE UPDATE OR DELETE "
        "ON review_decisions FOR EACH ROW EXECUTE FUNCTION review_decisions_append_only()"
    ).execute_if(dialect="postgresql"),
)


def utc_now() -> dt.datetime:
    """The time stamp a write stores: now, in UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: Any) -> dt.datetime | None:
    """A stored time stamp read back; SQLite hands back naive datetimes, all stored is UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    stamp: dt.datetime = value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
