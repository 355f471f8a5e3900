"""The review queue in a database: items to decide, their comments and an append-only audit trail.

Last step of the scoring flow (… → rules → review list → **queue**), and first step of the
feedback flow (**review decisions** → export labels → retrain). `moderation.review.build_queue`
decides *what* a moderator must look at; this module keeps it somewhere several moderators
and several scoring runs can share: a SQLite file by default, any PostgreSQL server for a
team, both through SQLAlchemy Core.

`ReviewQueue` is the front door; the work is done, one noun per module, by
:mod:`moderation.queuetables` (the four tables: ``review_items``, ``review_comments``, the
append-only audit trail ``review_decisions`` and ``review_meta``; see the README, "Review
queue"), :mod:`moderation.queuedatabase` (URLs, engines, table creation, error messages),
:mod:`moderation.queuedecisions` (compare-and-set, audit trail, conflicts),
:mod:`moderation.queueitems` (item keys, upserts) and :mod:`moderation.queuereader` (list,
show, export labels, author history). Every public name stays importable from here.

Concurrency: writes run in one transaction each. On SQLite every transaction starts with
``BEGIN IMMEDIATE`` (writers queue up behind a busy timeout instead of failing on a lock
upgrade) in WAL mode (readers never block). On PostgreSQL, upserts use ``INSERT … ON CONFLICT``
and a decision is an ``UPDATE … WHERE version = <version read>``: when two moderators decide
the same item at once, the first to commit wins, the other's UPDATE matches no row, and both
attempts land in the audit trail (the loser's as ``conflict``) before the loser gets
`DecisionConflict`.
"""

from __future__ import annotations

from moderation import queuedecisions, queueitems, queuereader
from moderation.queuedatabase import (
    DEFAULT_QUEUE_URL,
    ItemNotFound,
    QueueDatabase,
    QueueError,
    is_database_url,
    safe_url,
)
from moderation.queuedecisions import DecisionConflict, DecisionRecord
from moderation.queueitems import DEFAULT_FLAG_AT as DEFAULT_FLAG_AT
from moderation.queueitems import AddResult, item_key
from moderation.queuereader import QueueItem
from moderation.queuetables import APPLIED as APPLIED
from moderation.queuetables import APPROVE, DECISIONS, EXPORT_LABELS, REJECT, RELABEL, STATUSES
from moderation.queuetables import CONFLICT as CONFLICT
from moderation.queuetables import PENDING as PENDING
from moderation.queuetables import SCHEMA_VERSION as SCHEMA_VERSION
from moderation.queuetables import comments as comments
from moderation.queuetables import decisions as decisions
from moderation.queuetables import items as items
from moderation.queuetables import meta as meta

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


class ReviewQueue(QueueDatabase):
    """A review queue stored in a SQLite file or a PostgreSQL database.

    Parameters
    ----------
    url : str
        ``sqlite:///queue.db`` (relative path), ``sqlite:////abs/queue.db``, or
        ``postgresql://user:password@host:port/dbname`` (driven by psycopg 3).
    create : bool, default True
        Create the tables if they are missing (and, for SQLite, the file). With False, a
        missing SQLite file or a database without the tables is an error: reading commands
        should not leave an empty queue behind a typo. Either way, a queue made by an
        earlier release gets the nullable columns added since (article title, spans).

    Raises
    ------
    QueueError
        Bad or unsupported URL, unreachable database, missing queue (``create=False``), or a
        queue written by a newer version of moderation. Messages name the URL without its
        password.

    Examples
    --------
    >>> with ReviewQueue("sqlite:///queue.db") as queue:          # doctest: +SKIP
    ...     queue.add(scored, articles=articles)  # scored = Moderator.score(comments, articles)
    ...     first = queue.list_items(limit=1)
    ...     queue.decide(int(first.loc[0, "id"]), "reject", moderator="ana")
    """

    # Each method is a function of the module that holds its noun; the queue is its first
    # argument, so the functions also work on any `QueueDatabase`.
    add = queueitems.add_items
    list_items = queuereader.list_items
    item = queuereader.read_item
    history = queuereader.history
    decide = queuedecisions.decide
    export_labels = queuereader.export_labels
    author_history = queuereader.author_history
