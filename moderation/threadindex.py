"""An on-disk index of a comment export: its rows, its threads, and chunks of whole threads.

Scoring needs thread context (a reply is judged against its parent, a chain
against its article), so an export larger than memory cannot be cut anywhere:
`ThreadIndex.build` reads the export once, in chunks (`moderation.io.iter_export`),
into a SQLite file, then plans *chunks made of whole threads* that
`moderation.batch` scores one at a time and merges back into input order.

Threads are not always independent. Whatever `Moderator.score` resolves across
threads must land in one chunk, or a chunked run would differ from one call
over everything, so threads are joined into *components* when

- a comment's ``parent_id`` names a comment of another thread (the parent's
  text and the "is in thread …" problem need it),
- a ``comment_id`` repeats in another thread (ids resolve to their first
  occurrence; the duplicate is reported against it),
- and, only when the rules test them, one author writes in both
  (``author_comments``, ``author_flagged``, ``author_first`` and
  ``author_escalated`` count over the whole export).

Why SQLite rather than DuckDB: it ships with Python (no new dependency), and
the index is not where the time goes. Measured on the 2-core development
machine, a synthetic 1M-comment CSV (84 MB) was read, indexed and planned in
16 s while scoring it took 672 s, so a faster columnar engine could save at
most ~2 % of a run. The reads are keyed look-ups of one chunk's threads, which
a B-tree index serves well. Memory holds one read chunk plus a code per
distinct thread.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from moderation import schema

__all__ = ["ThreadIndex"]

logger = logging.getLogger(__name__)

#: Author-wide columns that count over the whole export; rules testing them link threads.
AUTHOR_WIDE = ("author_comments", "author_flagged", "author_first", "author_escalated")

_ROW = "pos"
_THREAD = "thread"
#: Scoring cost of a comment beyond its text, in characters of text. `Moderator.score` spends
#: about 100 µs per comment plus 1.6 µs per character (least squares over calls of 1,000 to
#: 6,000 training-split comments of short, middling, long and random lengths, 2-core
#: development machine), so a chunk's cost is about its characters plus 64 per comment. Chunks
#: split for workers are balanced on this weight: by rows alone, the chunks of the benchmark
#: export differed by 1.8x in scoring time (0.57 vs 1.00 MB of text for 5,250 comments each).
COMMENT_WEIGHT = 64


def _name(position: int) -> str:
    """SQL name of the export's column at `position` (file names may be anything)."""
    return f"c{position}"


@dataclass
class ThreadIndex:
    """An export indexed in a SQLite file, planned into chunks of whole threads.

    Attributes
    ----------
    path : Path
        The SQLite file.
    columns : list of str
        The export's comment columns, in file order (``problems`` included).
    article_columns : list of str
        Columns of the stored articles ([] when there are none).
    rows : int
        Comments in the export.
    chunks : int
        Chunks planned.
    """

    path: Path
    columns: list[str]
    article_columns: list[str]
    rows: int
    chunks: int

    @classmethod
    def build(
        cls,
        path: Path,
        exports: Iterable[tuple[pd.DataFrame, pd.DataFrame | None]],
        *,
        articles: pd.DataFrame | None = None,
        chunk_rows: int = 20_000,
        link_authors: bool = False,
        progress: Callable[[int], None] | None = None,
        min_chunks: int = 1,
        min_chunk_rows: int = 1,
    ) -> ThreadIndex:
        """Read `exports` (comment and article frames, in file order) into a new index at `path`.

        Parameters
        ----------
        path
            SQLite file to create (an existing file is replaced).
        exports
            ``(comments, articles)`` chunks as `moderation.io.iter_export` gives them.
        articles
            An articles file read separately (``--articles``); replaces the export's own.
        chunk_rows
            Comments per planned chunk; a component of threads larger than this is
            one chunk of its own.
        link_authors
            Keep each author's comments in one chunk (rules test export-wide author facts).
        progress
            Called with the number of comments after each chunk is read.
        min_chunks, min_chunk_rows
            When `chunk_rows` plans fewer than `min_chunks` chunks and the export has at
            least ``min_chunks * min_chunk_rows`` comments, plan `min_chunks` chunks of about
            equal scoring cost instead (characters of text plus `COMMENT_WEIGHT` per
            comment, cut at the quantiles of that weight in input order; rows per chunk
            still at most `chunk_rows` unless one group of linked threads is larger): worker
            processes get equal shares without a second read of the export.
        """
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            builder = _Builder(db, path, chunk_rows, link_authors, (min_chunks, min_chunk_rows))
            return builder.run(exports, articles, progress)
        finally:
            db.close()

    @classmethod
    def open(cls, path: Path) -> ThreadIndex | None:
        """The index at `path` if a build finished there, else None."""
        if not path.is_file():
            return None
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                found = dict(db.execute("SELECT key, value FROM meta").fetchall())
            finally:
                db.close()
        except sqlite3.DatabaseError:
            return None
        if found.get("complete") != "1":
            return None
        return cls(
            path,
            json.loads(found["columns"]),
            json.loads(found["article_columns"]),
            int(found["rows"]),
            int(found["chunks"]),
        )

    @property
    def has_threads(self) -> bool:
        return schema.THREAD_ID in self.columns

    def chunk_sizes(self) -> list[int]:
        """Comments in each chunk, by chunk number."""
        with self._connect() as db:
            found = dict(
                db.execute(
                    "SELECT chunk, SUM(rows) FROM threads GROUP BY chunk ORDER BY chunk"
                ).fetchall()
            )
        return [int(found.get(n, 0)) for n in range(self.chunks)]

    def chunk(self, number: int) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
        """The comments of chunk `number` in input order, and their positions in the export."""
        names = ", ".join(_name(i) for i in range(len(self.columns)))
        with self._connect() as db:
            rows = db.execute(
                f"SELECT c.{_ROW}, {names} FROM comments c "
                f"JOIN threads t ON t.code = c.{_THREAD} WHERE t.chunk = ? ORDER BY c.{_ROW}",
                (number,),
            ).fetchall()
        positions = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        frame = pd.DataFrame(
            {
                name: pd.array([r[i + 1] for r in rows], dtype="str")
                for i, name in enumerate(self.columns)
            },
            columns=self.columns,
        )
        return frame, positions

    def articles(self, number: int | None = None) -> pd.DataFrame | None:
        """The articles of chunk `number`'s threads (all of them for None), or None if none."""
        if not self.article_columns:
            return None
        names = ", ".join(f"a.{_name(i)}" for i in range(len(self.article_columns)))
        with self._connect() as db:
            if number is None or not self.has_threads:
                query = f"SELECT {names} FROM articles a ORDER BY a.rowid"
                rows = db.execute(query).fetchall()
            else:
                rows = db.execute(
                    f"SELECT {names} FROM articles a JOIN threads t "
                    "ON t.thread_id = a.thread_id WHERE t.chunk = ? ORDER BY a.rowid",
                    (number,),
                ).fetchall()
        return pd.DataFrame(
            {
                name: pd.array([r[i] for r in rows], dtype="str")
                for i, name in enumerate(self.article_columns)
            },
            columns=self.article_columns,
        )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)


class _Builder:
    """One pass over the export into the index, then components and the chunk plan."""

    def __init__(
        self,
        db: sqlite3.Connection,
        path: Path,
        chunk_rows: int,
        authors: bool,
        split: tuple[int, int] = (1, 1),
    ) -> None:
        self.db, self.path, self.chunk_rows, self.link_authors = db, path, chunk_rows, authors
        #: (min_chunks, min_chunk_rows) of `ThreadIndex.build`.
        self.min_chunks, self.min_chunk_rows = split
        self.codes: dict[str, int] = {}
        #: Scoring weight of each thread by code (see `COMMENT_WEIGHT`); grows with `codes`.
        self.weights = np.zeros(0, dtype=np.int64)
        self.columns: list[str] = []
        self.article_columns: list[str] = []
        self.rows = 0

    def run(
        self,
        exports: Iterable[tuple[pd.DataFrame, pd.DataFrame | None]],
        articles: pd.DataFrame | None,
        progress: Callable[[int], None] | None,
    ) -> ThreadIndex:
        db = self.db
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("CREATE TABLE ids (comment_id TEXT PRIMARY KEY, thread INTEGER) WITHOUT ROWID")
        db.execute(
            "CREATE TABLE authors (author TEXT, thread INTEGER, PRIMARY KEY (author, thread)) "
            "WITHOUT ROWID"
        )
        if articles is not None:
            self._add_articles(articles)
        for comments, own_articles in exports:
            self._add_comments(comments)
            if articles is None and own_articles is not None:
                self._add_articles(own_articles)
            if progress is not None:
                progress(self.rows)
        chunks = self._plan()
        meta = {
            "columns": json.dumps(self.columns),
            "article_columns": json.dumps(self.article_columns),
            "rows": str(self.rows),
            "chunks": str(chunks),
            "complete": "1",
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        db.commit()
        return ThreadIndex(self.path, self.columns, self.article_columns, self.rows, chunks)

    def _add_comments(self, comments: pd.DataFrame) -> None:
        db = self.db
        if not self.columns:
            self.columns = [str(c) for c in comments.columns]
            names = ", ".join(f"{_name(i)} TEXT" for i in range(len(self.columns)))
            db.execute(
                f"CREATE TABLE comments ({_ROW} INTEGER PRIMARY KEY, {_THREAD} INTEGER, {names})"
            )
        elif [str(c) for c in comments.columns] != self.columns:
            raise ValueError("every chunk of an export must have the same columns")
        n = len(comments)
        if n == 0:
            return
        values = {c: _strings(comments[c]) for c in self.columns}
        threads = values.get(schema.THREAD_ID, [""] * n)
        for thread in dict.fromkeys(threads):
            self.codes.setdefault(thread, len(self.codes))
        codes = [self.codes[t] for t in threads]
        self._add_weights(codes, values.get(schema.TEXT))
        positions = range(self.rows, self.rows + n)
        marks = ", ".join("?" * (len(self.columns) + 2))
        db.executemany(
            f"INSERT INTO comments VALUES ({marks})",
            zip(positions, codes, *(values[c] for c in self.columns), strict=True),
        )
        ids = values[schema.COMMENT_ID]
        db.executemany(
            "INSERT OR IGNORE INTO ids VALUES (?, ?)",
            ((i, c) for i, c in zip(ids, codes, strict=True) if i != ""),
        )
        if self.link_authors and schema.AUTHOR in values:
            db.executemany(
                "INSERT OR IGNORE INTO authors VALUES (?, ?)",
                ((a, c) for a, c in zip(values[schema.AUTHOR], codes, strict=True) if a != ""),
            )
        self.rows += n

    def _add_weights(self, codes: list[int], texts: list[str] | None) -> None:
        """Add each comment's scoring weight (its characters + `COMMENT_WEIGHT`) to its thread."""
        n = len(codes)
        weight = np.full(n, COMMENT_WEIGHT, dtype=np.int64)
        if texts is not None:
            weight += np.fromiter(map(len, texts), dtype=np.int64, count=n)
        if len(self.weights) < len(self.codes):
            grown = np.zeros(len(self.codes), dtype=np.int64)
            grown[: len(self.weights)] = self.weights
            self.weights = grown
        np.add.at(self.weights, np.asarray(codes, dtype=np.int64), weight)

    def _add_articles(self, articles: pd.DataFrame) -> None:
        if schema.THREAD_ID not in articles.columns or articles.empty:
            if not self.article_columns and articles.columns.size:
                self._create_articles([str(c) for c in articles.columns])
            return
        if not self.article_columns:
            self._create_articles([str(c) for c in articles.columns])
        frame = articles.reindex(columns=self.article_columns)
        values = [_strings(frame[c]) for c in self.article_columns]
        marks = ", ".join("?" * (len(self.article_columns) + 1))
        key = self.article_columns.index(schema.THREAD_ID)
        # First occurrence wins, as when an export's articles are read whole.
        self.db.executemany(
            f"INSERT OR IGNORE INTO articles VALUES ({marks})",
            ((row[key], *row) for row in zip(*values, strict=True)),
        )

    def _create_articles(self, columns: list[str]) -> None:
        self.article_columns = columns
        names = ", ".join(f"{_name(i)} TEXT" for i in range(len(columns)))
        self.db.execute(f"CREATE TABLE articles (thread_id TEXT PRIMARY KEY, {names})")

    def _plan(self) -> int:
        """Join linked threads into components and pack components into chunks."""
        db = self.db
        n = len(self.codes)
        if n == 0:  # an export without comments: nothing to chunk
            return 0
        db.execute(
            "CREATE TABLE threads (code INTEGER PRIMARY KEY, thread_id TEXT, rows INTEGER, "
            "first INTEGER, chunk INTEGER)"
        )
        parent = np.arange(n, dtype=np.int64)
        cid = _name(self.columns.index(schema.COMMENT_ID))
        links: list[Sequence[tuple[int, int]]] = [
            # A repeated comment_id in another thread resolves to the first occurrence.
            db.execute(
                f"SELECT DISTINCT c.{_THREAD}, i.thread FROM comments c "
                f"JOIN ids i ON i.comment_id = c.{cid} WHERE c.{_THREAD} != i.thread"
            ).fetchall()
        ]
        if schema.PARENT_ID in self.columns:
            pid = _name(self.columns.index(schema.PARENT_ID))
            links.append(
                db.execute(
                    f"SELECT DISTINCT c.{_THREAD}, i.thread FROM comments c "
                    f"JOIN ids i ON i.comment_id = c.{pid} WHERE c.{_THREAD} != i.thread"
                ).fetchall()
            )
        if self.link_authors:
            links.append(
                db.execute(
                    "SELECT a.thread, b.thread FROM authors a JOIN "
                    "(SELECT author, MIN(thread) AS thread FROM authors GROUP BY author) b "
                    "ON a.author = b.author WHERE a.thread != b.thread"
                ).fetchall()
            )
        for pairs in links:
            for a, b in pairs:
                _union(parent, int(a), int(b))
        component = np.array([_find(parent, i) for i in range(n)], dtype=np.int64)

        stats = db.execute(
            f"SELECT {_THREAD}, COUNT(*), MIN({_ROW}) FROM comments GROUP BY {_THREAD}"
        ).fetchall()
        sizes = np.zeros(n, dtype=np.int64)
        first = np.zeros(n, dtype=np.int64)
        for code, count, start in stats:
            sizes[code], first[code] = count, start
        comp_rows = np.bincount(component, weights=sizes, minlength=n).astype(np.int64)
        comp_first = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(comp_first, component, first)
        # Components in order of their first comment, packed greedily: early rows, early chunks.
        order = [int(c) for c in np.unique(component)]
        order.sort(key=lambda c: int(comp_first[c]))
        chunk_of, chunks = _pack(order, comp_rows, self.chunk_rows)
        wanted = self.min_chunks
        largest = int(comp_rows.max()) if n else 0
        if chunks < wanted and self.rows >= wanted * self.min_chunk_rows:
            comp_weight = np.bincount(component, weights=self.weights[:n], minlength=n)
            balanced, parts = _balance(order, comp_weight, wanted)
            rows_per_part = np.bincount(balanced[order], weights=comp_rows[order], minlength=parts)
            if rows_per_part.max() <= max(self.chunk_rows, largest):
                chunk_of, chunks = balanced, parts
                logger.debug(
                    "%d comments planned in %d chunks of equal weight (%s comments)",
                    self.rows,
                    chunks,
                    ", ".join(str(int(r)) for r in rows_per_part),
                )
            else:  # skewed lengths would make a chunk too long: equal rows instead
                smaller = -(-self.rows * 21 // (20 * wanted))  # 5% slack: no runt last chunk
                chunk_of, chunks = _pack(order, comp_rows, smaller)
                logger.debug("%d comments planned in %d chunks of %d", self.rows, chunks, smaller)
        if largest > self.chunk_rows:
            logger.debug(
                "largest group of linked threads: %d comments (one chunk, held in memory)", largest
            )
        names = {code: thread for thread, code in self.codes.items()}
        db.executemany(
            "INSERT INTO threads VALUES (?, ?, ?, ?, ?)",
            (
                (c, names[c], int(sizes[c]), int(first[c]), int(chunk_of[component[c]]))
                for c in range(n)
            ),
        )
        db.execute("CREATE INDEX threads_chunk ON threads (chunk)")
        db.execute(f"CREATE INDEX comments_thread ON comments ({_THREAD}, {_ROW})")
        return chunks


def _pack(
    order: list[int], comp_rows: npt.NDArray[np.int64], chunk_rows: int
) -> tuple[npt.NDArray[np.int64], int]:
    """Chunk number of each component (indexed by component) and the number of chunks."""
    chunk_of = np.zeros(len(comp_rows), dtype=np.int64)
    number, filled = 0, 0
    for comp in order:
        size = int(comp_rows[comp])
        if filled and filled + size > chunk_rows:
            number, filled = number + 1, 0
        chunk_of[comp] = number
        filled += size
    return chunk_of, number + 1


def _balance(
    order: list[int], weight: npt.NDArray[Any], parts: int
) -> tuple[npt.NDArray[np.int64], int]:
    """Chunk number of each component for `parts` chunks of about equal weight, in input order.

    A component goes to the chunk in which the middle of its weight falls, counted along
    `order`: every chunk then weighs ``total / parts`` give or take one component (a
    greedy fill leaves a light last chunk, a worker idle at the end).
    """
    chunk_of = np.zeros(len(weight), dtype=np.int64)
    ordered = np.asarray(weight, dtype=np.float64)[order]
    total = float(ordered.sum())
    if total <= 0:
        return chunk_of, 1
    middle = np.cumsum(ordered) - ordered / 2
    part = np.minimum((middle * parts / total).astype(np.int64), parts - 1)
    _, dense = np.unique(part, return_inverse=True)  # a heavy component may span parts
    chunk_of[np.asarray(order, dtype=np.int64)] = dense
    return chunk_of, int(dense.max()) + 1


def _strings(values: pd.Series) -> list[str]:
    """Cells as Python strings ("" for missing), which SQLite stores as TEXT."""
    return [
        "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)
        for v in values.tolist()
    ]


def _find(parent: npt.NDArray[np.int64], node: int) -> int:
    root = node
    while parent[root] != root:
        root = int(parent[root])
    while parent[node] != root:  # path compression
        parent[node], node = root, int(parent[node])
    return root


def _union(parent: npt.NDArray[np.int64], a: int, b: int) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)
