"""Read comment exports and articles files; write scored tables.

The flow is **read** → validate → thread context → features → models → rules →
**write**. This is the front door of reading: it recognises the format (see
`moderation.formats.detect_format`), hands the file to the reader for that
format (plain tables in `moderation.tables`; WordPress and Disqus XML in
`moderation.xmlexports` and Reddit in `moderation.reddit`, batched by
`moderation.platforms`) and returns what they give as frames of strings.
Nothing is type-guessed (an id ``007`` stays ``007``) and no row is dropped:
per-comment problems go to the ``problems`` column, and only a file that cannot
be read at all raises `InputError`.

Platform exports hold articles as well as comments, so `read_export` returns
both; `iter_export` yields them in chunks so that a multi-gigabyte export of any
format, tables included, is read in bounded memory. Writing is atomic so that a
failed run never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from moderation.errors import InputError
from moderation.formats import (
    FORMATS,
    PLATFORM_FORMATS,
    READ_FORMATS,
    TABLE_FORMATS,
    detect_format,
    format_of,
)
from moderation.platforms import iter_platform
from moderation.schema import (
    ARTICLE_COLUMNS,
    PROBLEMS,
    REQUIRED_COLUMNS,
    THREAD_ID,
    require_columns,
)
from moderation.tables import (
    ColumnMap,
    article_table,
    iter_table,
    join_problems,
    read_column_map,
    read_table,
)
from moderation.tablewriter import WRITE_FORMATS, TableWriter, line_end
from moderation.tablewriter import write_rows as _write

__all__ = [
    "FORMATS",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "ColumnMap",
    "Export",
    "TableWriter",
    "convert_export",
    "detect_format",
    "iter_export",
    "read_articles",
    "read_column_map",
    "read_comments",
    "read_export",
    "write_table",
]

logger = logging.getLogger(__name__)

CHUNK_ROWS = 10_000
"""Comments per chunk of `iter_export`."""


@dataclass(frozen=True)
class Export:
    """What an export holds: its comments and, for platform exports, its articles.

    Attributes
    ----------
    comments : DataFrame
        As `read_comments` returns them, ``problems`` last.
    articles : DataFrame or None
        ``thread_id``, ``title``, ``body`` then ``url`` and ``body_html`` (the
        original markup); None for plain tables, which hold no articles.
    format : str
        The format read, one of `FORMATS`.
    """

    comments: pd.DataFrame
    articles: pd.DataFrame | None
    format: str


def read_export(
    path: str | Path, *, format: str | None = None, columns: Mapping[str, str] | None = None
) -> Export:
    """Read any supported export: comments, and articles when the export has them.

    Parameters
    ----------
    path : str or Path
        A WordPress WXR, Disqus XML, Reddit listing JSON or Reddit NDJSON dump
        (recognised from the content, optionally gzip-compressed), or a table:
        ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``, ``.parquet`` (by extension).
    format : str, optional
        Force a format, one of `FORMATS`, instead of detecting it.
    columns : mapping of str to str, optional
        Canonical name -> name in the file, for tables only (platform exports
        have fixed fields).

    Returns
    -------
    Export
        ``comments`` one row per comment in file order with canonical columns
        (``comment_id``, ``thread_id``, ``parent_id``, ``author``, ``text``,
        ``created_at``), format-specific pass-through columns such as ``status``
        (approved, pending, spam, trash, deleted, removed) and ``text_html`` (the
        original markup; ``text`` is its plain text), then ``problems``.
        ``articles`` one row per thread (first occurrence wins), or None.

    Raises
    ------
    InputError
        If the file is missing, of an unknown format, malformed (the message
        names the file and the line and column), refused as unsafe XML, or
        lacks ``comment_id`` / ``text``.
    """
    source = Path(path)
    kind = _resolve_format(source, format)
    # A table is read as one chunk (one pass, no concatenation); platform records are
    # batched, because a frame holds them in far less memory than their dicts.
    chunks = list(_chunks(source, kind, columns, None if kind in TABLE_FORMATS else CHUNK_ROWS))
    if len(chunks) == 1:
        comments = chunks[0].comments
    else:
        comments = pd.concat([chunk.comments for chunk in chunks], ignore_index=True)
    if kind not in PLATFORM_FORMATS:
        return Export(comments, None, kind)
    parts = [chunk.articles for chunk in chunks if chunk.articles is not None]
    articles = pd.concat(parts, ignore_index=True)
    repeated = articles[THREAD_ID].duplicated()
    if repeated.any():
        logger.warning("%s: %d repeated threads ignored", path, int(repeated.sum()))
        articles = articles[~repeated].reset_index(drop=True)
    return Export(comments, articles, kind)


def iter_export(
    path: str | Path,
    *,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Export]:
    """Read an export in chunks of `chunk_rows` comments, for exports of any size.

    Every format is read incrementally: memory holds one chunk, however large
    the file. Platform exports are parsed as a stream, and each chunk carries
    the articles that closed while it was read (a thread may reach the comments
    only in a later chunk). Tables come in chunks of at most `chunk_rows` rows,
    all with the same columns, each indexed from 0: CSV and TSV through pandas'
    chunked parser, JSONL line by line (a file longer than one chunk is read
    twice, first for its keys, so that every chunk has every column), Parquet
    by record batches (one row group in memory). Header checks and column
    mappings happen before the first chunk; a malformed row further on raises
    `InputError` when its chunk is reached, naming the line. Parameters and
    errors as `read_export`; always yields at least one chunk.

    Raises
    ------
    ValueError
        If `chunk_rows` is less than 1.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    source = Path(path)
    yield from _chunks(source, _resolve_format(source, format), columns, chunk_rows)


def _chunks(
    source: Path, kind: str, columns: Mapping[str, str] | None, chunk_rows: int | None
) -> Iterator[Export]:
    """`iter_export` of a resolved format; None reads a table whole and a platform export whole."""
    if kind in TABLE_FORMATS:
        chunks = iter_table(source, kind, _gzipped(source), columns, chunk_rows)
        for number, (frame, problems) in enumerate(chunks):
            if number == 0:
                require_columns(frame, REQUIRED_COLUMNS, source=str(source))
            frame[PROBLEMS] = join_problems(frame, problems)
            yield Export(frame, None, kind)
        return
    if columns:
        raise InputError(
            f"{source}: column mappings apply to CSV, TSV, JSONL and Parquet; a {kind} export "
            "has fixed fields"
        )
    for comments, articles in iter_platform(source, kind, chunk_rows):
        yield Export(comments, articles, kind)


def read_comments(
    path: str | Path, *, columns: Mapping[str, str] | None = None, format: str | None = None
) -> pd.DataFrame:
    """Read the comments of an export, every value as a string.

    Parameters
    ----------
    path : str or Path
        Any export `read_export` reads; CSV, TSV and JSONL may be gzipped.
    columns : mapping of str to str, optional
        Canonical name -> name in the file, e.g. ``{"text": "body"}``. Mapped
        columns are renamed; all other columns pass through untouched.
    format : str, optional
        Force a format, one of `FORMATS`.

    Returns
    -------
    DataFrame
        One ``str`` column per file column (or per platform field), in file
        order, plus ``problems`` (``"; "``-joined read problems, "" when none).
        Rows keep file order. Empty CSV cells and JSON nulls are ""; JSON
        numbers keep their JSON text.

    Raises
    ------
    InputError
        If the file is missing, has an unknown format or cannot be parsed, if
        a mapped column is not in the file, or if ``comment_id`` or ``text`` is
        missing. The message names the file and the line or column.
    """
    return read_export(path, format=format, columns=columns).comments


def read_articles(
    path: str | Path, *, columns: Mapping[str, str] | None = None, format: str | None = None
) -> pd.DataFrame:
    """Read an articles file, or the articles of a platform export, for off-topic scoring.

    Parameters
    ----------
    path : str or Path
        A table (same formats as `read_comments`) or a platform export, whose
        posts / threads / submissions are its articles.
    columns : mapping of str to str, optional
        Canonical name -> name in the file, e.g. ``{"body": "content"}``.
    format : str, optional
        Force a format, one of `FORMATS`.

    Returns
    -------
    DataFrame
        ``thread_id``, ``title``, ``body`` (the last two "" when absent from the
        file), then any other columns, all ``str``.

    Raises
    ------
    InputError
        As `read_comments`, and if a table lacks ``thread_id`` or repeats one
        (the message names the rows).
    """
    source = Path(path)
    kind = _resolve_format(source, format)
    if kind in PLATFORM_FORMATS:
        articles = read_export(source, format=kind).articles
        assert articles is not None  # platform exports always give a frame
        return articles
    frame, problems = read_table(source, kind, _gzipped(source), columns)
    return article_table(frame, problems, source)


def convert_export(
    path: str | Path,
    output: str | Path,
    *,
    articles_output: str | Path | None = None,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[int, int]:
    """Write an export's comments (and articles) as canonical tables, chunk by chunk.

    For inspecting what was read and for handing platform exports to other
    tools. Every input format is read in chunks (see `iter_export`) and every
    output format is written chunk by chunk, so memory stays bounded whatever
    the size of the export; both files are written atomically (a file that
    turns out malformed halfway leaves no output behind).

    Returns
    -------
    tuple of int
        Comments written, articles written (0 without `articles_output`).

    Raises
    ------
    InputError
        As `read_export`.
    OutputError
        As `write_table`.
    """
    seen: set[str] = set()
    counts = [0, 0]
    with contextlib.ExitStack() as stack:
        comments_out = stack.enter_context(TableWriter(output))
        articles_out = (
            stack.enter_context(TableWriter(articles_output)) if articles_output else None
        )
        for chunk in iter_export(path, format=format, columns=columns, chunk_rows=chunk_rows):
            comments_out.write(chunk.comments)
            counts[0] += len(chunk.comments)
            if articles_out is None:
                continue
            articles = chunk.articles
            if articles is None:  # a plain table holds no articles: write the header only
                articles = pd.DataFrame({name: [] for name in ARTICLE_COLUMNS}, dtype="str")
            keep = ~articles[THREAD_ID].isin(seen) & ~articles[THREAD_ID].duplicated()
            articles = articles[keep]
            seen.update(articles[THREAD_ID].tolist())
            articles_out.write(articles)
            counts[1] += len(articles)
    return counts[0], counts[1]


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write `frame` as CSV, TSV, JSONL or Parquet, chosen by extension.

    The table is written to a temporary file next to `path` and moved into place
    with `os.replace`, so readers never see a half-written file and a failed
    write leaves any existing output untouched.

    Parameters
    ----------
    frame : DataFrame
        Table to write; the index is not written.
    path : str or Path
        Output file, or ``-`` for CSV on standard output. JSONL has one UTF-8
        object per line with missing values as ``null``.

    Raises
    ------
    OutputError
        If the extension is unknown or the directory does not exist (before
        anything is written), or if writing fails.
    """
    if str(path) == "-":
        frame.to_csv(sys.stdout, index=False, lineterminator=line_end(frame))
        return
    with TableWriter(path, rows=_write) as writer:
        writer.write(frame)
    logger.debug("wrote %d rows to %s", len(frame), path)


# Reading ------------------------------------------------------------------------------------


def _resolve_format(source: Path, format: str | None) -> str:
    if format is None or format == "auto":
        return detect_format(source)
    if format not in FORMATS:
        raise InputError(f"{source}: unknown format '{format}'; known: {', '.join(FORMATS)}")
    if not source.is_file():
        raise InputError(f"{source}: {'not a file' if source.exists() else 'file not found'}")
    return format


def _gzipped(source: Path) -> bool:
    """Gzipped by name (as before) or by content (a forced format on any name)."""
    with contextlib.suppress(InputError):
        if format_of(source)[1]:
            return True
    try:
        with source.open("rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError:
        return False
