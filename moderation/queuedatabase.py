"""Reaching the review queue's database: URLs, engines, table creation and error messages.

Part of the review queue (:mod:`moderation.reviewqueue`): `QueueDatabase` opens a SQLite file
or a PostgreSQL server, creates the tables of `moderation.queuetables` (or checks their
version and adds the columns a queue made by an earlier release lacks), and turns driver
errors into one `QueueError` line that names the URL without its password.
`moderation.reviewqueue.ReviewQueue` is a `QueueDatabase`.

Concurrency: on SQLite every transaction starts with ``BEGIN IMMEDIATE`` (writers queue up
behind a busy timeout instead of failing on a lock upgrade) in WAL mode (readers never block).
On PostgreSQL, concurrent table creation and upgrades are serialised by an advisory lock.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from moderation.errors import ModerationError
from moderation.queuetables import ADDED_COLUMNS, SCHEMA_VERSION, items, meta, metadata

__all__ = [
    "DEFAULT_QUEUE_URL",
    "ItemNotFound",
    "QueueDatabase",
    "QueueError",
    "is_database_url",
    "safe_url",
]

log = logging.getLogger(__name__)

#: Where ``moderation review`` looks when no ``--queue`` is given: a SQLite file in the
#: working directory (the environment variable ``MODERATION_QUEUE`` overrides it in the CLI).
DEFAULT_QUEUE_URL = "sqlite:///moderation-queue.db"

_SQLITE_BUSY_SECONDS = 60
_PG_CONNECT_SECONDS = 10
#: Key of the PostgreSQL advisory lock that serialises concurrent table creation and upgrades.
_SCHEMA_LOCK = 0x6D6F6465


class QueueError(ModerationError):
    """The review queue database cannot be reached, read or written as asked."""


class ItemNotFound(QueueError, LookupError):
    """No review item has the given id."""


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


# --------------------------------------------------------------------------- the database


def _use_wal(cursor: Any) -> None:
    """Switch a SQLite file to WAL mode, waiting out other processes doing the same.

    Changing the journal mode needs a moment of exclusive access and SQLite does not
    apply its busy timeout to it, so several processes opening a new queue at once
    would see "database is locked": retry until the timeout instead.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _make_engine(url: URL) -> Engine:
    """An engine for the queue: SQLite in WAL mode with immediate transactions, or PostgreSQL."""
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(
            url, connect_args={"connect_timeout": _PG_CONNECT_SECONDS}, pool_pre_ping=True
        )
    engine = sa.create_engine(
        url, connect_args={"timeout": _SQLITE_BUSY_SECONDS}, poolclass=sa.NullPool
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that "begin" below can
        # start every transaction as BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_SECONDS * 1000}")
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class QueueDatabase:
    """The queue's database, its tables created or checked; `ReviewQueue` documents the API."""

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
        self.engine = _make_engine(self.url)
        with self._errors():
            self._prepare(create)

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

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading; driver errors become `QueueError`."""
        with self._errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in one transaction, committed on success; errors become `QueueError`."""
        with self._errors(), self.engine.begin() as conn:
            yield conn

    def rows(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        """The rows of a query, as dicts."""
        with self.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def not_found(self, conn: Connection, item_id: int) -> ItemNotFound:
        """The error for an unknown item id, saying which ids exist."""
        top = conn.execute(sa.select(sa.func.max(items.c.id))).scalar()
        known = f"ids run from 1 to {top}" if top else "the queue is empty"
        return ItemNotFound(f"no review item {item_id} in {self.display_url} ({known})")

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
                metadata.create_all(conn)
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
            self._add_columns(conn)

    def _add_columns(self, conn: Connection) -> None:
        """Add the `ADDED_COLUMNS` a queue made by an earlier release lacks (nullable: no rewrite).

        Runs inside `_prepare`'s transaction, which on SQLite holds the write lock (BEGIN
        IMMEDIATE) and on PostgreSQL the schema advisory lock, so processes opening the same
        old queue at once add each column exactly once; PostgreSQL's DDL is transactional.
        """
        inspector = sa.inspect(conn)
        present = {
            name: {c["name"] for c in inspector.get_columns(name)}
            for name in dict.fromkeys(c.table.name for c in ADDED_COLUMNS)
        }
        quote = conn.dialect.identifier_preparer.quote
        for column in ADDED_COLUMNS:
            table = column.table.name
            if column.name in present[table]:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column.name)} {kind}"
            )
            log.info("queue database %s: added column %s.%s", self.display_url, table, column.name)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
