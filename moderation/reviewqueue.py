"""The review queue in a database: items to decide, their comments and an append-only audit trail.

Last step of the scoring flow (… → rules → review list → **queue**), and first step of the
feedback flow (**review decisions** → export labels → retrain). `moderation.review.build_queue`
decides *what* a moderator must look at; this module keeps it somewhere several moderators
and several scoring runs can share: a SQLite file by default, any PostgreSQL server for a
team, both through SQLAlchemy Core.

Four tables (see the README, "Review queue"):

``review_items``
    One row per item: a single escalated comment, or a derailed sub-thread (every comment
    sharing a ``review_group``). Keyed by `item_key`, so re-scoring the same export updates
    pending items instead of adding duplicates. Holds the current decision and a ``version``
    that every decision bumps (compare-and-set).
``review_comments``
    The comments of each item with their scores, reasons and parent text.
``review_decisions``
    The audit trail: every decision ever attempted, applied or not, with who and when. Rows
    are only ever inserted; database triggers refuse UPDATE and DELETE.
``review_meta``
    The schema version.

Concurrency: writes run in one transaction each. On SQLite every transaction starts with
``BEGIN IMMEDIATE`` (writers queue up behind a busy timeout instead of failing on a lock
upgrade) in WAL mode (readers never block). On PostgreSQL, upserts use ``INSERT … ON CONFLICT``
and a decision is an ``UPDATE … WHERE version = <version read>``: when two moderators decide
the same item at once, the first to commit wins, the other's UPDATE matches no row, and both
attempts land in the audit trail (the loser's as ``conflict``) before the loser gets
`DecisionConflict`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine

from moderation import schema
from moderation.errors import ModerationError
from moderation.review import ITEM_COMMENTS, ITEM_SIZE, build_queue
from moderation.rules import REVIEW_GROUP

__all__ = [
    "APPROVE",
    "DECISIONS",
    "DEFAULT_QUEUE_URL",
    "EXPORT_LABELS",
    "REJECT",
    "RELABEL",
    "STATUSES",
    "AddResult",
    "DecisionConflict",
    "DecisionRecord",
    "ItemNotFound",
    "QueueError",
    "QueueItem",
    "ReviewQueue",
    "is_database_url",
    "item_key",
    "safe_url",
]

#: Where ``moderation review`` looks when no ``--queue`` is given: a SQLite file in the
#: working directory (the environment variable ``MODERATION_QUEUE`` overrides it in the CLI).
DEFAULT_QUEUE_URL = "sqlite:///moderation-queue.db"

#: Version of the table layout written into ``review_meta``.
SCHEMA_VERSION = 1

APPROVE = "approve"
REJECT = "reject"
RELABEL = "relabel"
#: Decisions a moderator can make on an item.
DECISIONS = (APPROVE, REJECT, RELABEL)

PENDING = "pending"
#: Item statuses: undecided, or the decision that was applied.
STATUSES = (PENDING, "approved", "rejected", "relabelled")
_STATUS_OF = {APPROVE: "approved", REJECT: "rejected", RELABEL: "relabelled"}

APPLIED = "applied"
CONFLICT = "conflict"

#: Label columns of exported decisions: the training corpus labels, then ``off_topic``.
EXPORT_LABELS = (*schema.LABELS, schema.OFF_TOPIC)

#: Score a label must reach to count as flagged when no thresholds are given.
DEFAULT_FLAG_AT = 0.5

_SQLITE_BUSY_SECONDS = 60
_PG_CONNECT_SECONDS = 10
#: Key of the PostgreSQL advisory lock that serialises concurrent table creation.
_SCHEMA_LOCK = 0x6D6F6465


class QueueError(ModerationError):
    """The review queue database cannot be reached, read or written as asked."""


class ItemNotFound(QueueError, LookupError):
    """No review item has the given id."""


class DecisionConflict(QueueError):
    """Another decision on the item was committed first; this one was recorded, not applied.

    Attributes
    ----------
    item_id : int
        The item decided.
    winner : DecisionRecord
        The decision that holds (the item's current one).
    attempt : DecisionRecord
        This attempt, as recorded in the audit trail with outcome ``conflict``.
    """

    def __init__(self, message: str, item_id: int, winner: DecisionRecord, attempt: DecisionRecord):
        super().__init__(message)
        self.item_id = item_id
        self.winner = winner
        self.attempt = attempt


@dataclass(frozen=True)
class DecisionRecord:
    """One row of the audit trail (``review_decisions``)."""

    id: int
    item_id: int
    decision: str
    labels: dict[str, int]
    moderator: str
    note: str
    decided_at: dt.datetime
    outcome: str
    detail: str


@dataclass(frozen=True)
class AddResult:
    """What `ReviewQueue.add` did: item counts and the ids of the items written or kept."""

    added: int
    updated: int
    already_decided: int
    item_ids: list[int]

    @property
    def items(self) -> int:
        """Items in the export's review list (added + updated + already decided)."""
        return self.added + self.updated + self.already_decided


@dataclass(frozen=True)
class QueueItem:
    """An item with everything a moderator needs: the item row, its comments, its history."""

    item: dict[str, Any]
    comments: pd.DataFrame
    history: list[DecisionRecord]


# --------------------------------------------------------------------------- tables

_metadata = sa.MetaData()
_SCORE_COLUMNS = [sa.Column(name, sa.Float, nullable=True) for name in schema.SCORES]

items = sa.Table(
    "review_items",
    _metadata,
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
    *_SCORE_COLUMNS,
    sa.Column("top_score", sa.Float, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("flagged", sa.Text, nullable=False),  # space-separated labels
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
    sa.Index("ix_review_items_status_priority", "status", "priority"),
    sa.Index("ix_review_items_author", "author"),
)

comments = sa.Table(
    "review_comments",
    _metadata,
    sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), primary_key=True),
    sa.Column("comment_id", sa.Text, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("thread_id", sa.Text, nullable=False),
    sa.Column("parent_id", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("parent_text", sa.Text, nullable=False),
    *[sa.Column(name, sa.Float, nullable=True) for name in schema.SCORES],
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("flagged", sa.Text, nullable=False),
)

decisions = sa.Table(
    "review_decisions",
    _metadata,
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
    _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def _ddl(statement: str) -> sa.DDL:
    return sa.DDL(statement)  # type: ignore[no-untyped-call]


# The audit trail is append only: the database itself refuses to change or delete a row.
event.listen(
    decisions,
    "after_create",
    _ddl(
        "CREATE TRIGGER review_decisions_no_update BEFORE UPDATE ON review_decisions "
        "BEGIN SELECT RAISE(ABORT, 'review_decisions is append only'); END"
    ).execute_if(dialect="sqlite"),
)
event.listen(
    decisions,
    "after_create",
    _ddl(
        "CREATE TRIGGER review_decisions_no_delete BEFORE DELETE ON review_decisions "
        "BEGIN SELECT RAISE(ABORT, 'review_decisions is append only'); END"
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


# --------------------------------------------------------------------------- URLs


def is_database_url(target: str) -> bool:
    """Whether ``--queue`` names a database (``sqlite:///…``, ``postgresql://…``), not a file."""
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.split("+")[0].lower() in ("sqlite", "postgresql", "postgres")


def safe_url(url: str | URL) -> str:
    """The URL as it may be shown in a message or log: the password replaced by ``***``."""
    try:
        parsed = url if isinstance(url, URL) else sa.make_url(url)
    except sa_exc.ArgumentError:
        text = str(url)
        scheme, sep, rest = text.partition("://")
        if sep and "@" in rest:
            userinfo, _, host = rest.rpartition("@")
            return f"{scheme}://{userinfo.split(':')[0]}:***@{host}"
        return text
    return parsed.render_as_string(hide_password=True)


def _parse_url(url: str) -> URL:
    """Parse and normalise a queue URL; PostgreSQL goes through psycopg 3."""
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError:
        raise QueueError(
            f"{safe_url(url)} is not a database URL; use sqlite:///path/to/queue.db or "
            "postgresql://user:password@host:5432/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql")
        backend = "postgresql"
    if backend == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise QueueError(
            f"{safe_url(parsed)}: the review queue supports SQLite (sqlite:///queue.db) and "
            f"PostgreSQL (postgresql://…), not {backend}"
        )
    if backend == "sqlite" and not parsed.database:
        raise QueueError(
            f"{safe_url(parsed)} names no database file; use sqlite:///queue.db (three slashes "
            "for a relative path, four for an absolute one)"
        )
    return parsed


def _reason(exc: BaseException) -> str:
    """First line of a driver error, which names the problem without the URL's password."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()
    return first[0] if first else type(orig).__name__


# --------------------------------------------------------------------------- keys


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def item_key(thread_id: str, comment_id: str, text: str, *, members: Sequence[str] = ()) -> str:
    """The identity of a review item, stable across re-scoring runs.

    A single comment is identified by its thread, its id and a hash of its text: re-scoring
    the same export finds the same item, while an edited comment becomes a new item (the
    moderator decided on other words). A derailed sub-thread is identified by its thread,
    the comment where it left the article and its member ids, so the same sub-thread is one
    item however often it is scored; a sub-thread that grew is a new item holding all its
    comments.

    Parameters
    ----------
    thread_id, comment_id, text
        Of the comment (for a sub-thread: of the comment where it left the article; the
        text is then not part of the key).
    members
        Comment ids of a sub-thread item; empty for a single comment.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    if members:
        return _sha256("subthread", thread_id, comment_id, *sorted(members))
    return _sha256("comment", thread_id, comment_id, _sha256(text))


# --------------------------------------------------------------------------- the queue


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: Any) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    stamp: dt.datetime = value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


_SEVERITY = {action.value: action.severity for action in schema.Action}


class ReviewQueue:
    """A review queue stored in a SQLite file or a PostgreSQL database.

    Parameters
    ----------
    url : str
        ``sqlite:///queue.db`` (relative path), ``sqlite:////abs/queue.db``, or
        ``postgresql://user:password@host:port/dbname`` (driven by psycopg 3).
    create : bool, default True
        Create the tables if they are missing (and, for SQLite, the file). With False, a
        missing SQLite file or a database without the tables is an error: reading commands
        should not leave an empty queue behind a typo.

    Raises
    ------
    QueueError
        Bad or unsupported URL, unreachable database, missing queue (``create=False``), or a
        queue written by a newer version of moderation. Messages name the URL without its
        password.

    Examples
    --------
    >>> with ReviewQueue("sqlite:///queue.db") as queue:          # doctest: +SKIP
    ...     queue.add(scored)
    ...     first = queue.list(limit=1)
    ...     queue.decide(int(first.loc[0, "id"]), "reject", moderator="ana")
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = _parse_url(url)
        self.display_url = safe_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            database = self.url.database or ""
            if database != ":memory:" and not create and not Path(database).is_file():
                raise QueueError(
                    f"queue database {self.display_url} does not exist; fill it first with "
                    f"`moderation score EXPORT --queue {self.display_url}`"
                )
        self.engine = self._make_engine()
        with self._errors():
            self._prepare(create)

    # ---------------------------------------------------------------- plumbing

    def _make_engine(self) -> Engine:
        if self.dialect == "sqlite":
            engine = sa.create_engine(
                self.url, connect_args={"timeout": _SQLITE_BUSY_SECONDS}, poolclass=sa.NullPool
            )

            @event.listens_for(engine, "connect")
            def _connect(dbapi_connection: Any, _record: Any) -> None:
                # Take transaction control from the sqlite3 module so that "begin" below can
                # start every transaction as BEGIN IMMEDIATE.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_SECONDS * 1000}")
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _begin(connection: Connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        return sa.create_engine(
            self.url, connect_args={"connect_timeout": _PG_CONNECT_SECONDS}, pool_pre_ping=True
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn driver errors into one `QueueError` line naming the URL without its password."""
        try:
            yield
        except sa_exc.OperationalError as exc:
            raise QueueError(
                f"queue database {self.display_url} cannot be reached or used: {_reason(exc)}"
            ) from exc
        except sa_exc.DBAPIError as exc:
            raise QueueError(f"queue database {self.display_url}: {_reason(exc)}") from exc

    def _prepare(self, create: bool) -> None:
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Several scoring processes may create the tables at once: one at a time.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
            present = sa.inspect(conn).has_table(items.name)
            if not present and not create:
                raise QueueError(
                    f"queue database {self.display_url} holds no review queue; fill it first "
                    f"with `moderation score EXPORT --queue {self.display_url}`"
                )
            if not present:
                _metadata.create_all(conn)
                conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            found = conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar()
            if found is not None and int(found) > SCHEMA_VERSION:
                raise QueueError(
                    f"queue database {self.display_url} has schema version {found}; this "
                    f"moderation reads version {SCHEMA_VERSION}: upgrade moderation"
                )

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> ReviewQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writing

    def _insert(self) -> Any:
        return (pg_dialect if self.dialect == "postgresql" else sqlite_dialect).insert

    def add(
        self, scored: pd.DataFrame, *, thresholds: Mapping[str, float] | None = None
    ) -> AddResult:
        """Queue the escalated comments of a scored export; idempotent.

        Items come from `moderation.review.build_queue` (a derailed sub-thread is one item
        with all its comments). An item already in the queue (same `item_key`) is refreshed
        while it is pending (new scores, priority, reasons) and left alone once decided, so
        re-scoring an export never duplicates work or reopens a decision. Everything is
        written in one transaction: concurrent writers neither lose nor duplicate items.

        Parameters
        ----------
        scored : DataFrame
            The frame returned by `moderation.Moderator.score`.
        thresholds : mapping of str to float, optional
            Score at which each label counts as flagged (the bundle's thresholds);
            default `DEFAULT_FLAG_AT`. The flagged labels are what ``approve`` (wrong) and
            ``reject`` (right) say something about in `export_labels`.

        Returns
        -------
        AddResult
        """
        review = build_queue(scored)
        if review.empty:
            return AddResult(0, 0, 0, [])
        members = self._members(scored, review, thresholds or {})
        now = _now()
        added = updated = decided = 0
        ids: list[int] = []
        insert = self._insert()
        with self._errors(), self.engine.begin() as conn:
            planned = [
                (self._item_values(row, rows, now), rows)
                for row, rows in zip(review.to_dict("records"), members, strict=True)
            ]
            # Every writer locks items in key order, so concurrent runs cannot deadlock.
            planned.sort(key=lambda pair: str(pair[0]["item_key"]))
            for values, rows in planned:
                statement = (
                    insert(items)
                    .values(**values)
                    .on_conflict_do_nothing(index_elements=["item_key"])
                )
                new_id = conn.execute(statement.returning(items.c.id)).scalar()
                if new_id is not None:
                    added += 1
                    item_id = int(new_id)
                else:
                    refresh = {
                        k: v
                        for k, v in values.items()
                        if k not in ("item_key", "first_seen_at", "kind")
                    }
                    item_id = int(
                        conn.execute(
                            sa.select(items.c.id).where(items.c.item_key == values["item_key"])
                        ).scalar_one()
                    )
                    changed = conn.execute(
                        items.update()
                        .where(items.c.id == item_id, items.c.status == PENDING)
                        .values(**refresh, times_seen=items.c.times_seen + 1)
                    ).rowcount
                    if not changed:
                        decided += 1
                        ids.append(item_id)
                        continue
                    updated += 1
                ids.append(item_id)
                comment_rows = [{**r, "item_id": item_id} for r in rows]
                upsert = insert(comments).values(comment_rows)
                conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["item_id", "comment_id"],
                        set_={
                            c.name: upsert.excluded[c.name]
                            for c in comments.columns
                            if c.name not in ("item_id", "comment_id")
                        },
                    )
                )
        return AddResult(added, updated, decided, ids)

    @staticmethod
    def _members(
        scored: pd.DataFrame, review: pd.DataFrame, thresholds: Mapping[str, float]
    ) -> list[list[dict[str, Any]]]:
        """The comment rows of every item, with parent text and flagged labels."""
        frame = scored.reset_index(drop=True)
        threads = (
            frame[schema.THREAD_ID].map(_text)
            if schema.THREAD_ID in frame.columns
            else pd.Series("", index=frame.index)
        )
        ids = frame[schema.COMMENT_ID].map(_text)
        texts = frame[schema.TEXT].map(_text) if schema.TEXT in frame.columns else ids.map(str)
        by_key: dict[tuple[str, str], int] = {}
        for pos, key in enumerate(zip(threads, ids, strict=True)):
            by_key.setdefault(key, pos)
        out: list[list[dict[str, Any]]] = []
        for row in review.to_dict("records"):
            thread = _text(row.get(schema.THREAD_ID))
            wanted = _text(row.get(ITEM_COMMENTS)).split() or [_text(row[schema.COMMENT_ID])]
            rows: list[dict[str, Any]] = []
            for comment_id in wanted:
                at = by_key.get((thread, comment_id))
                source: Mapping[Any, Any] = row if at is None else frame.iloc[at].to_dict()
                parent_id = _text(source.get(schema.PARENT_ID))
                parent_at = by_key.get((thread, parent_id)) if parent_id else None
                scores = {name: _float(source.get(name)) for name in schema.SCORES}
                grouped = bool(_text(source.get(REVIEW_GROUP)))
                rows.append(
                    {
                        "comment_id": comment_id,
                        "position": len(rows),
                        "thread_id": thread,
                        "parent_id": parent_id,
                        "author": _text(source.get(schema.AUTHOR)),
                        "text": _text(source.get(schema.TEXT)),
                        "parent_text": "" if parent_at is None else texts.iloc[parent_at],
                        **scores,
                        "action": _text(source[schema.ACTION]),
                        "priority": int(source[schema.PRIORITY]),
                        "reasons": _text(source.get(schema.REASONS)),
                        "flagged": " ".join(_flagged(scores, thresholds, grouped)),
                    }
                )
            out.append(rows)
        return out

    @staticmethod
    def _item_values(
        row: Mapping[Any, Any], rows: list[dict[str, Any]], now: dt.datetime
    ) -> dict[str, Any]:
        lead = rows[0]
        group = _text(row.get(REVIEW_GROUP))
        member_ids = [r["comment_id"] for r in rows]
        key = item_key(
            lead["thread_id"],
            group or lead["comment_id"],
            lead["text"],
            members=member_ids if group else (),
        )
        scores = {name: _float(row.get(name)) for name in schema.SCORES}
        flagged = dict.fromkeys(label for r in rows for label in r["flagged"].split())
        return {
            "item_key": key,
            "kind": "subthread" if group else "comment",
            "thread_id": lead["thread_id"],
            "comment_id": lead["comment_id"],
            "review_group": group,
            "author": lead["author"],
            "text": lead["text"],
            "parent_id": lead["parent_id"],
            "parent_text": lead["parent_text"],
            **scores,
            "top_score": max((v for v in scores.values() if v is not None), default=0.0),
            "action": _text(row[schema.ACTION]),
            "priority": int(row[schema.PRIORITY]),
            "reasons": _text(row.get(schema.REASONS)),
            "flagged": " ".join(flagged),
            "comment_ids": " ".join(member_ids),
            "item_size": len(member_ids) if group else int(row.get(ITEM_SIZE, 1) or 1),
            "first_seen_at": now,
            "last_seen_at": now,
        }

    # ---------------------------------------------------------------- reading

    def list_items(
        self,
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
            ``thread_id``, ``comment_id``, ``item_size``, ``author``, ``text``, ``reasons``,
            ``flagged``, ``decided_by``, ``decided_at``, ``version``.
        """
        if status is not None and status not in STATUSES:
            raise QueueError(f"unknown status '{status}'; use one of {', '.join(STATUSES)}")
        actions = [a.value for a in schema.Action]
        if action is not None and action not in actions:
            raise QueueError(f"unknown action '{action}'; use one of {', '.join(actions)}")
        severity = sa.case(_SEVERITY, value=items.c.action, else_=0)
        columns = [
            items.c.id,
            items.c.status,
            items.c.action,
            items.c.priority,
            items.c.top_score,
            items.c.thread_id,
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
        query = sa.select(*columns).order_by(
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
        with self._errors(), self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in columns])
        frame["decided_at"] = [_utc(v) for v in frame["decided_at"]]
        return frame

    def item(self, item_id: int) -> QueueItem:
        """One item with its comments (in thread order) and its decision history.

        Raises
        ------
        ItemNotFound
            If no item has this id.
        """
        with self._errors(), self.engine.connect() as conn:
            row = conn.execute(sa.select(items).where(items.c.id == item_id)).mappings().first()
            if row is None:
                raise self._not_found(conn, item_id)
            members = (
                conn.execute(
                    sa.select(comments)
                    .where(comments.c.item_id == item_id)
                    .order_by(comments.c.position)
                )
                .mappings()
                .all()
            )
            history = self._history(conn, item_id)
        record = dict(row)
        for name in ("decided_at", "first_seen_at", "last_seen_at"):
            record[name] = _utc(record[name])
        record["labels"] = json.loads(record["labels"]) if record["labels"] else {}
        frame = pd.DataFrame([dict(m) for m in members], columns=[c.name for c in comments.c])
        return QueueItem(record, frame, history)

    def history(self, item_id: int | None = None) -> list[DecisionRecord]:
        """The audit trail, oldest first; of one item, or of the whole queue."""
        with self._errors(), self.engine.connect() as conn:
            return self._history(conn, item_id)

    @staticmethod
    def _history(conn: Connection, item_id: int | None) -> list[DecisionRecord]:
        query = sa.select(decisions).order_by(decisions.c.id)
        if item_id is not None:
            query = query.where(decisions.c.item_id == item_id)
        return [_record(r) for r in conn.execute(query).mappings()]

    def _not_found(self, conn: Connection, item_id: int) -> ItemNotFound:
        top = conn.execute(sa.select(sa.func.max(items.c.id))).scalar()
        known = f"ids run from 1 to {top}" if top else "the queue is empty"
        return ItemNotFound(f"no review item {item_id} in {self.display_url} ({known})")

    # ---------------------------------------------------------------- deciding

    def decide(
        self,
        item_id: int,
        decision: str,
        *,
        moderator: str,
        labels: Mapping[str, int] | None = None,
        note: str = "",
        expected_version: int | None = None,
        override: bool = False,
    ) -> DecisionRecord:
        """Record a moderator's decision on an item; the first committed decision wins.

        The decision is applied with a compare-and-set on the item's ``version``: it
        succeeds only if nobody else decided the item since it was read (or since
        ``expected_version``, e.g. the version a moderator's screen showed). Whether applied
        or not, the attempt is appended to the audit trail.

        Parameters
        ----------
        item_id : int
            The item (``id`` in `list`).
        decision : {"approve", "reject", "relabel"}
            ``approve``: the escalation was wrong (the flagged labels do not apply);
            ``reject``: it was right; ``relabel``: the moderator states the labels.
        moderator : str
            Who decides (recorded in the audit trail).
        labels : mapping of str to int, optional
            For ``relabel`` only: label → 0 or 1, labels from `EXPORT_LABELS`.
        note : str
            Free text kept with the decision.
        expected_version : int, optional
            Apply only if the item still has this version.
        override : bool
            Allow replacing an earlier decision (otherwise an already decided item is a
            conflict).

        Returns
        -------
        DecisionRecord
            The audit-trail row of the applied decision.

        Raises
        ------
        ItemNotFound
            If no item has this id.
        DecisionConflict
            If another decision holds; this attempt is recorded with outcome ``conflict``.
        QueueError
            For an unknown decision, a missing moderator name or bad labels.
        """
        clean = _check_decision(decision, moderator, labels)
        now = _now()
        with self._errors(), self.engine.begin() as conn:
            current = (
                conn.execute(
                    sa.select(
                        items.c.status,
                        items.c.version,
                        items.c.decision,
                        items.c.decided_by,
                        items.c.decided_at,
                    ).where(items.c.id == item_id)
                )
                .mappings()
                .first()
            )
            if current is None:
                raise self._not_found(conn, item_id)
            version = int(current["version"])
            stale = expected_version is not None and expected_version != version
            taken = current["status"] != PENDING and not override
            applied = False
            if not (stale or taken):
                applied = (
                    conn.execute(
                        items.update()
                        .where(items.c.id == item_id, items.c.version == version)
                        .values(
                            status=_STATUS_OF[decision],
                            version=version + 1,
                            decision=decision,
                            labels=json.dumps(clean, sort_keys=True) if clean else None,
                            decided_by=moderator,
                            decided_at=now,
                            note=note,
                        )
                    ).rowcount
                    == 1
                )
            if applied:
                detail = f"{_STATUS_OF[decision]} (version {version} -> {version + 1})"
            else:
                winner = conn.execute(
                    sa.select(items.c.decision, items.c.decided_by, items.c.decided_at).where(
                        items.c.id == item_id
                    )
                ).first()
                detail = _conflict_detail(item_id, winner, expected_version, version)
            new_id = conn.execute(
                decisions.insert()
                .values(
                    item_id=item_id,
                    decision=decision,
                    labels=json.dumps(clean, sort_keys=True),
                    moderator=moderator,
                    note=note,
                    decided_at=now,
                    based_on_version=expected_version if stale else version,
                    outcome=APPLIED if applied else CONFLICT,
                    detail=detail,
                )
                .returning(decisions.c.id)
            ).scalar_one()
            record = DecisionRecord(
                id=int(new_id),
                item_id=item_id,
                decision=decision,
                labels=clean,
                moderator=moderator,
                note=note,
                decided_at=now,
                outcome=APPLIED if applied else CONFLICT,
                detail=detail,
            )
            if not applied:
                last = (
                    conn.execute(
                        sa.select(decisions)
                        .where(decisions.c.item_id == item_id, decisions.c.outcome == APPLIED)
                        .order_by(decisions.c.id.desc())
                        .limit(1)
                    )
                    .mappings()
                    .first()
                )
        if applied:
            return record
        winner_record = _record(last) if last is not None else record
        raise DecisionConflict(
            f"item {item_id}: your {decision} was not applied: {detail}. It is recorded in the "
            "audit trail; pass --override to replace the earlier decision",
            item_id,
            winner_record,
            record,
        )

    # ---------------------------------------------------------------- feedback

    def export_labels(self) -> pd.DataFrame:
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
        with self._errors(), self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        base = [
            "item_id", "comment_id", "thread_id", "parent_id", "author", "text", "parent_text",
            "decision", "moderator", "decided_at", "note",
        ]  # fmt: skip
        out = []
        for row in rows:
            values = dict.fromkeys(EXPORT_LABELS, np.nan)
            if row["decision"] == RELABEL:
                values.update({k: float(v) for k, v in json.loads(row["labels"] or "{}").items()})
            else:
                truth = 1.0 if row["decision"] == REJECT else 0.0
                values.update(dict.fromkeys(row["flagged"].split(), truth))
            stamp = _utc(row["decided_at"])
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

    def author_history(self) -> pd.DataFrame:
        """Per author: comments escalated into the queue and comments in rejected items.

        For rules on an author's history (``author: escalated in the queue``).

        Returns
        -------
        DataFrame
            ``author``, ``escalated``, ``rejected`` (int), one row per non-empty author.
        """
        rejected = sa.case((items.c.status == "rejected", 1), else_=0)
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
        with self._errors(), self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        frame = pd.DataFrame(rows, columns=["author", "escalated", "rejected"])
        return frame.astype({"escalated": "int64", "rejected": "int64"})


# --------------------------------------------------------------------------- helpers


def _flagged(
    scores: Mapping[str, float | None], thresholds: Mapping[str, float], grouped: bool
) -> list[str]:
    """Labels a comment was flagged for: scores at their threshold, else the likeliest one.

    A comment escalated by a word or thread rule may have no score over its threshold; the
    decision is then about the label it scored highest (relative to its threshold), or about
    ``off_topic`` for a comment escalated as part of a derailed sub-thread.
    """
    known = {k: v for k, v in scores.items() if v is not None}
    limits = {k: float(thresholds.get(k, DEFAULT_FLAG_AT)) or DEFAULT_FLAG_AT for k in known}
    hit = [k for k in schema.SCORES if k in known and known[k] >= limits[k]]
    if grouped and schema.OFF_TOPIC not in hit:
        hit.append(schema.OFF_TOPIC)
    if hit or not known:
        return hit
    return [max(known, key=lambda k: known[k] / limits[k])]


def _check_decision(
    decision: str, moderator: str, labels: Mapping[str, int] | None
) -> dict[str, int]:
    if decision not in DECISIONS:
        raise QueueError(f"unknown decision '{decision}'; use one of {', '.join(DECISIONS)}")
    if not moderator or not moderator.strip():
        raise QueueError("a decision needs the moderator's name (--moderator NAME)")
    if decision != RELABEL:
        if labels:
            raise QueueError(f"{decision} takes no labels; use relabel to state labels")
        return {}
    if not labels:
        raise QueueError("relabel needs labels, e.g. toxicity=0,insult=1")
    unknown = [k for k in labels if k not in EXPORT_LABELS]
    if unknown:
        raise QueueError(
            f"unknown label(s) {', '.join(unknown)}; labels are {', '.join(EXPORT_LABELS)}"
        )
    bad = [f"{k}={v}" for k, v in labels.items() if v not in (0, 1)]
    if bad:
        raise QueueError(f"labels must be 0 or 1, got {', '.join(bad)}")
    return {k: int(labels[k]) for k in EXPORT_LABELS if k in labels}


def _conflict_detail(item_id: int, winner: Any, expected_version: int | None, version: int) -> str:
    if expected_version is not None and expected_version != version:
        return f"item {item_id} changed since version {expected_version} (now {version})"
    if winner is None or winner.decision is None:
        return f"item {item_id} was decided concurrently"
    stamp = _utc(winner.decided_at)
    when = stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else "earlier"
    return f"already {_STATUS_OF[winner.decision]} by {winner.decided_by} at {when}"


def _record(row: Mapping[Any, Any]) -> DecisionRecord:
    stamp = _utc(row["decided_at"])
    assert stamp is not None  # the column is NOT NULL
    return DecisionRecord(
        id=int(row["id"]),
        item_id=int(row["item_id"]),
        decision=str(row["decision"]),
        labels=json.loads(row["labels"] or "{}"),
        moderator=str(row["moderator"]),
        note=str(row["note"]),
        decided_at=stamp,
        outcome=str(row["outcome"]),
        detail=str(row["detail"]),
    )
