"""Plain tables: CSV, TSV, JSON Lines and Parquet, read into ``str`` columns.

Part of **read** (see `moderation.io`, the front door). A table is read, whole
or chunk by chunk (parsing is in `moderation.tablefiles`), into columns of
strings and nothing more: no type guessing (an id ``007`` stays ``007``), no
dropped rows. Bytes that are not UTF-8 are replaced cell by cell
and stated per row, because one bad byte in a million-row export must not cost
the other rows. Only a file that cannot be parsed at all raises `InputError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from moderation.errors import InputError
from moderation.schema import (
    ARTICLE_COLUMNS,
    BODY,
    INPUT_COLUMNS,
    PROBLEM_SEPARATOR,
    PROBLEMS,
    THREAD_ID,
    TITLE,
    has_surrogates,
    invalid_text_problem,
    replace_surrogates,
    require_columns,
)
from moderation.tablefiles import iter_raw

__all__ = [
    "ColumnMap",
    "article_table",
    "iter_table",
    "join_problems",
    "read_column_map",
    "read_table",
    "repair_cells",
]

logger = logging.getLogger(__name__)


def iter_table(
    path: Path,
    kind: str,
    compressed: bool,
    columns: Mapping[str, str] | None,
    chunk_rows: int | None = None,
) -> Iterator[tuple[pd.DataFrame, dict[int, list[str]]]]:
    """Yield a table in frames of at most `chunk_rows` rows, with the problems of each row.

    The header is checked and `columns` applied before the first frame; every
    frame has the same ``str`` columns, its own index from 0, and its read
    problems keyed by position in that frame. Memory holds one chunk (see
    `moderation.tablefiles`).

    Parameters
    ----------
    path : Path
        The file.
    kind : str
        ``csv``, ``tsv``, ``jsonl`` or ``parquet``.
    compressed : bool
        Whether to gunzip first (ignored for Parquet, which compresses itself).
    columns : mapping of str to str, optional
        Canonical name -> name in the file.
    chunk_rows : int, optional
        Rows per frame; None reads the whole table as one frame.

    Yields
    ------
    DataFrame, dict of int to list of str
        A chunk, and the read problems (replaced bytes) of each row touched.

    Raises
    ------
    InputError
        If the file cannot be parsed as `kind`, or a mapping names a column the
        file does not have; the message names the file and the line or column.
    """
    names: list[str] | None = None
    for found, values in iter_raw(path, kind, compressed, chunk_rows):
        if names is None:
            names = _rename([replace_surrogates(name) for name in found], columns, path)
            if len(set(names)) < len(names):
                raise InputError(f"{path}: column names repeat after mapping: {', '.join(names)}")
        problems = repair_cells(names, values)
        n = len(values[0]) if values else 0
        frame = pd.DataFrame(
            {
                name: pd.Series(cells, dtype="str")
                for name, cells in zip(names, values, strict=True)
            },
            index=pd.RangeIndex(n),
        )
        yield frame, problems


def read_table(
    path: Path, kind: str, compressed: bool, columns: Mapping[str, str] | None
) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Read a whole table into ``str`` columns renamed per `columns`, and each row's problems.

    As `iter_table` with one chunk.
    """
    return next(iter_table(path, kind, compressed, columns))


def repair_cells(names: list[str], values: list[list[Any]]) -> dict[int, list[str]]:
    """Replace undecodable bytes in place; return the problem of each row touched.

    `values` holds one list of cells per name in `names`. Readers decode with
    ``surrogateescape`` so that a bad byte costs one cell, not the file.
    """
    problems: dict[int, list[str]] = {}
    for name, column in zip(names, values, strict=True):
        if not has_surrogates("".join(column)):  # one C-speed scan for the common clean case
            continue
        for position, cell in enumerate(column):
            if has_surrogates(cell):
                column[position] = replace_surrogates(cell)
                problems.setdefault(position, []).append(invalid_text_problem(name))
    return problems


def _rename(names: list[str], columns: Mapping[str, str] | None, path: Path) -> list[str]:
    if not columns:
        return names
    unknown = {canonical: name for canonical, name in columns.items() if name not in names}
    if unknown:
        canonical, name = next(iter(unknown.items()))
        found = ", ".join(f"'{column}'" for column in names) or "none"
        raise InputError(
            f"{path}: column '{name}' (mapped to '{canonical}') is not in the file; "
            f"columns found: {found}"
        )
    renamed = {name: canonical for canonical, name in columns.items()}
    return [renamed.get(name, name) for name in names]


def join_problems(frame: pd.DataFrame, problems: dict[int, list[str]]) -> pd.Series:
    """Read problems, appended to a ``problems`` column the file may already have."""
    if PROBLEMS in frame.columns:
        existing: list[str] = frame[PROBLEMS].tolist()
    else:
        existing = [""] * len(frame)
    for position, found in problems.items():
        parts = [part for part in existing[position].split(PROBLEM_SEPARATOR) if part]
        existing[position] = PROBLEM_SEPARATOR.join([*parts, *found])
    return pd.Series(existing, index=frame.index, dtype="str")


def article_table(frame: pd.DataFrame, problems: dict[int, list[str]], path: Path) -> pd.DataFrame:
    """Check a table read as articles and put ``thread_id``, ``title``, ``body`` first.

    Articles are looked up by thread, so a repeated ``thread_id`` is an error
    (which body would be right?) rather than a row problem; ``title`` and
    ``body`` are added as "" when the file lacks them.

    Raises
    ------
    InputError
        If ``thread_id`` is missing or repeats (naming the rows).
    """
    require_columns(frame, (THREAD_ID,), source=str(path))
    if problems:
        logger.warning("%s: replaced invalid UTF-8 in %d rows", path, len(problems))
    for name in (TITLE, BODY):
        if name not in frame.columns:
            frame[name] = pd.Series([""] * len(frame), index=frame.index, dtype="str")
    repeated = frame[THREAD_ID].duplicated(keep=False).to_numpy()
    if repeated.any():
        threads: list[str] = frame[THREAD_ID].tolist()
        rows: dict[str, list[int]] = {}
        for pos in repeated.nonzero()[0].tolist():
            rows.setdefault(threads[pos], []).append(pos + 1)
        described = "; ".join(
            f"'{thread}' at rows {', '.join(map(str, found))}"
            for thread, found in list(rows.items())[:5]
        )
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise InputError(
            f"{path}: duplicate thread_id {described}{more}; each article must appear once"
        )
    others = [column for column in frame.columns if column not in ARTICLE_COLUMNS]
    return frame[[*ARTICLE_COLUMNS, *others]]


@dataclass(frozen=True)
class ColumnMap:
    """Column names of a database dump, read from a mapping file (`read_column_map`)."""

    comments: dict[str, str] = field(default_factory=dict)
    articles: dict[str, str] = field(default_factory=dict)


def read_column_map(path: str | Path) -> ColumnMap:
    """Read a mapping file: how a database dump names the canonical columns.

    A YAML file with a ``comments`` and/or ``articles`` section of
    ``canonical: column_in_the_file`` pairs, so a dump can be scored without
    editing it and the mapping lives next to it::

        comments:
          comment_id: post_id
          thread_id: topic_id
          text: message
        articles:
          thread_id: topic_id
          body: first_post

    A file with only ``canonical: column`` pairs maps comments.

    Raises
    ------
    InputError
        If the file is missing or not YAML, a section is not a mapping, or a
        key is not a canonical column (the message lists the known ones).
    """
    source = Path(path)
    try:
        loaded = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{source}: cannot read the mapping file: {exc}") from exc
    if not isinstance(loaded, dict):
        raise InputError(f"{source}: expected 'comments:' / 'articles:' sections of name: column")
    if not set(loaded) & {"comments", "articles"}:
        loaded = {"comments": loaded}
    unknown = set(loaded) - {"comments", "articles"}
    if unknown:
        raise InputError(f"{source}: unknown section '{sorted(map(str, unknown))[0]}'")
    known = {"comments": INPUT_COLUMNS, "articles": ARTICLE_COLUMNS}
    sections: dict[str, dict[str, str]] = {}
    for section, allowed in known.items():
        pairs = loaded.get(section) or {}
        if not isinstance(pairs, dict):
            raise InputError(f"{source}: '{section}' must map canonical names to columns")
        for name, column in pairs.items():
            if name not in allowed:
                raise InputError(
                    f"{source}: '{name}' in '{section}' is not a canonical column; "
                    f"known: {', '.join(allowed)}"
                )
            if not isinstance(column, str | int) or isinstance(column, bool) or column == "":
                raise InputError(f"{source}: '{section}.{name}' must name a column")
        sections[section] = {str(name): str(column) for name, column in pairs.items()}
    return ColumnMap(sections["comments"], sections["articles"])
