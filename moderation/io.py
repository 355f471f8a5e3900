"""Read comment exports and articles files; write scored tables.

The flow is **read** → validate → thread context → features → models → rules →
**write**. Reading turns a file into a frame of strings and nothing more: no
type guessing (an id ``007`` stays ``007``), no dropped rows. Bytes that are not
UTF-8 are replaced cell by cell and stated in the ``problems`` column, because
one bad byte in a million-row export must not cost the other rows. Only a file
that cannot be parsed at all raises `InputError`. Writing is atomic so that a
failed run never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import json
import logging
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderation.errors import InputError, OutputError
from moderation.schema import (
    ARTICLE_COLUMNS,
    BODY,
    PROBLEM_SEPARATOR,
    PROBLEMS,
    REQUIRED_COLUMNS,
    THREAD_ID,
    TITLE,
    has_surrogates,
    invalid_text_problem,
    replace_surrogates,
    require_columns,
)

__all__ = ["READ_FORMATS", "WRITE_FORMATS", "read_articles", "read_comments", "write_table"]

logger = logging.getLogger(__name__)

READ_FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".csv.gz", ".tsv.gz", ".jsonl.gz")
"""File extensions `read_comments` and `read_articles` understand."""
WRITE_FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".csv.gz", ".jsonl.gz")
"""File extensions `write_table` understands (``-`` writes CSV to stdout)."""

_BOM = b"\xef\xbb\xbf"
_CHUNK_ROWS = 10_000


def read_comments(path: str | Path, *, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a comment export, every value as a string.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson`` or ``.parquet`` file; CSV, TSV
        and JSONL may be gzip-compressed (``.csv.gz``).
    columns : mapping of str to str, optional
        Canonical name -> name in the file, e.g. ``{"text": "body"}``. Mapped
        columns are renamed; all other columns pass through untouched.

    Returns
    -------
    DataFrame
        One ``str`` column per file column, in file order, plus ``problems``
        (``"; "``-joined read problems, "" when none). Rows keep file order.
        Empty CSV cells and JSON nulls are ""; JSON numbers keep their JSON text.

    Raises
    ------
    InputError
        If the file is missing, has an unknown extension or cannot be parsed, if
        a mapped column is not in the file, or if ``comment_id`` or ``text`` is
        missing. The message names the file and the line or column.
    """
    frame, problems = _read(Path(path), columns)
    require_columns(frame, REQUIRED_COLUMNS, source=str(path))
    frame[PROBLEMS] = _join_problems(frame, problems)
    return frame


def read_articles(path: str | Path, *, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read an articles file: what each thread is about, for off-topic scoring.

    Parameters
    ----------
    path : str or Path
        Same formats as `read_comments`.
    columns : mapping of str to str, optional
        Canonical name -> name in the file, e.g. ``{"body": "content"}``.

    Returns
    -------
    DataFrame
        ``thread_id``, ``title``, ``body`` (the last two "" when absent from the
        file), then any other columns, all ``str``.

    Raises
    ------
    InputError
        As `read_comments`, and if ``thread_id`` is missing or repeats (the
        message names the rows).
    """
    frame, problems = _read(Path(path), columns)
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
        frame.to_csv(sys.stdout, index=False, lineterminator=_line_end(frame))
        return
    target = Path(path)
    kind, compressed = _format_of(target, WRITE_FORMATS, OutputError)
    if not target.parent.is_dir():
        raise OutputError(f"{target}: directory {target.parent} does not exist")
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as raw:
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="wb") as zipped:
                    _write(frame, kind, zipped)
            else:
                _write(frame, kind, raw)
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(exc, OSError | ValueError | TypeError | NotImplementedError):
            raise OutputError(f"{target}: cannot write {kind}: {exc}") from exc
        raise
    logger.debug("wrote %d rows to %s", len(frame), target)


# Reading ------------------------------------------------------------------------------------


def _read(
    path: Path, columns: Mapping[str, str] | None
) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Read any supported file into ``str`` columns renamed per `columns`, and its row problems."""
    if not path.is_file():
        raise InputError(f"{path}: {'not a file' if path.exists() else 'file not found'}")
    kind, compressed = _format_of(path, READ_FORMATS, InputError)
    if kind == "parquet":
        names, values = _parse_parquet(path)
    else:
        data = _read_bytes(path, compressed)
        if kind == "jsonl":
            names, values = _parse_jsonl(data, path)
        else:
            names, values = _parse_delimited(data, path, "\t" if kind == "tsv" else ",")
    names = _rename([replace_surrogates(name) for name in names], columns, path)
    if len(set(names)) < len(names):
        raise InputError(f"{path}: column names repeat after mapping: {', '.join(names)}")
    problems = _repair_cells(names, values)
    n = len(values[0]) if values else 0
    frame = pd.DataFrame(
        {name: pd.Series(column, dtype="str") for name, column in zip(names, values, strict=True)},
        index=pd.RangeIndex(n),
    )
    return frame, problems


def _format_of(path: Path, known: tuple[str, ...], error: type[Exception]) -> tuple[str, bool]:
    """Return the format (csv, tsv, jsonl, parquet) and whether the file is gzipped."""
    name = path.name.lower()
    for extension in sorted(known, key=len, reverse=True):
        if name.endswith(extension):
            compressed = extension.endswith(".gz")
            kind = extension.removesuffix(".gz").lstrip(".")
            return ("jsonl" if kind == "ndjson" else kind), compressed
    raise error(
        f"{path}: unknown file type '{''.join(path.suffixes) or path.name}'; "
        f"supported: {', '.join(known)}"
    )


def _read_bytes(path: Path, compressed: bool) -> bytes:
    try:
        data = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    return data.removeprefix(_BOM)


def _parse_delimited(data: bytes, path: Path, sep: str) -> tuple[list[str], list[list[Any]]]:
    """Parse CSV/TSV bytes; undecodable bytes survive as surrogates for `_repair_cells`."""
    kind = "TSV" if sep == "\t" else "CSV"
    if not data.strip():
        raise InputError(f"{path}: file is empty; expected a header row")
    try:
        # header=None: pandas would otherwise silently turn a surplus first field into the index.
        raw = pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            header=None,
            dtype=object,
            na_filter=False,
            keep_default_na=False,
            encoding="utf-8",
            encoding_errors="surrogateescape",
            engine="c",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        raise InputError(f"{path}: cannot parse as {kind}: {reason}") from exc
    if raw.empty:
        raise InputError(f"{path}: file is empty; expected a header row")
    columns = [raw[position].tolist() for position in raw.columns]
    header = [column.pop(0) for column in columns]
    return _unique_names([str(name) for name in header]), columns


def _unique_names(header: list[str]) -> list[str]:
    """Strip header cells, name blank ones and suffix repeats, as pandas does (``a``, ``a.1``)."""
    names: list[str] = []
    taken: set[str] = set()
    for position, name in enumerate(header):
        base = name.strip() or f"Unnamed: {position}"
        candidate, suffix = base, 0
        while candidate in taken:
            suffix += 1
            candidate = f"{base}.{suffix}"
        taken.add(candidate)
        names.append(candidate)
    return names


def _parse_jsonl(data: bytes, path: Path) -> tuple[list[str], list[list[Any]]]:
    """Parse one JSON object per line; blank lines are skipped, keys may differ by line."""
    text = data.decode("utf-8", "surrogateescape")
    records: list[dict[str, Any]] = []
    # Split on "\n" only: str.splitlines would also split on U+2028 inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            where = f", column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise InputError(f"{path}, line {number}{where}: not valid JSON: {reason}") from exc
        if not isinstance(record, dict):
            raise InputError(
                f"{path}, line {number}: expected a JSON object, found {_json_kind(record)}"
            )
        records.append(record)
    names = list(dict.fromkeys(key for record in records for key in record))
    values = [[_json_text(record.get(name)) for record in records] for name in names]
    return names, values


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _json_text(value: object) -> str:
    """JSON value as text: null -> "", numbers and booleans as written, nested as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _parse_parquet(path: Path) -> tuple[list[str], list[list[Any]]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise InputError(f"{path}: cannot read as Parquet: {exc}") from exc
    values: list[list[Any]] = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            cells = column.to_pylist()
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            cells = [
                None if cell is None else cell.decode("utf-8", "surrogateescape")
                for cell in column.to_pylist()
            ]
        else:
            try:
                cells = pc.cast(column, pa.string()).to_pylist()
            except (pa.ArrowException, NotImplementedError):
                cells = [
                    None if cell is None else json.dumps(cell, ensure_ascii=False, default=str)
                    for cell in column.to_pylist()
                ]
        values.append(["" if cell is None else cell for cell in cells])
    return [str(name) for name in table.column_names], values


def _repair_cells(names: list[str], values: list[list[Any]]) -> dict[int, list[str]]:
    """Replace undecodable bytes in place; return the problem of each row touched."""
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


def _join_problems(frame: pd.DataFrame, problems: dict[int, list[str]]) -> pd.Series:
    """Read problems, appended to a ``problems`` column the file may already have."""
    if PROBLEMS in frame.columns:
        existing: list[str] = frame[PROBLEMS].tolist()
    else:
        existing = [""] * len(frame)
    for position, found in problems.items():
        parts = [part for part in existing[position].split(PROBLEM_SEPARATOR) if part]
        existing[position] = PROBLEM_SEPARATOR.join([*parts, *found])
    return pd.Series(existing, index=frame.index, dtype="str")


# Writing ------------------------------------------------------------------------------------


def _write(frame: pd.DataFrame, kind: str, handle: io.BufferedIOBase) -> None:
    if kind == "parquet":
        frame.to_parquet(handle, index=False)
        return
    if kind == "jsonl":
        _write_jsonl(frame, handle)
        return
    sep = "\t" if kind == "tsv" else ","
    end = _line_end(frame)
    for start in range(0, max(len(frame), 1), _CHUNK_ROWS):
        chunk = frame.iloc[start : start + _CHUNK_ROWS]
        text = chunk.to_csv(index=False, header=start == 0, sep=sep, lineterminator=end)
        handle.write(text.encode("utf-8"))


def _line_end(frame: pd.DataFrame) -> str:
    """ "\n", or "\r\n" when a cell holds "\r".

    Python's csv writer quotes only fields holding characters of the line
    terminator, so a lone "\r" in a "\n"-terminated file would be read back as a
    line break and split the row.
    """
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        textual = values.dtype == object or isinstance(values.dtype, pd.StringDtype)
        if textual and values.astype("str").str.contains("\r", regex=False).any():
            return "\r\n"
    return "\n"


def _write_jsonl(frame: pd.DataFrame, handle: io.BufferedIOBase) -> None:
    """One object per line, in chunks so memory stays flat on large tables."""
    for start in range(0, len(frame), _CHUNK_ROWS):
        chunk = frame.iloc[start : start + _CHUNK_ROWS].astype(object)
        chunk = chunk.where(chunk.notna(), None)
        lines = [
            json.dumps(record, ensure_ascii=False, allow_nan=False, default=_json_default)
            for record in chunk.to_dict(orient="records")
        ]
        handle.write(("\n".join(lines) + "\n").encode("utf-8"))


def _json_default(value: object) -> object:
    """Make numpy scalars, timestamps and other cell values JSON-serialisable."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
