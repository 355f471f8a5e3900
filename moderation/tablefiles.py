"""Plain table files parsed chunk by chunk: CSV, TSV, JSON Lines and Parquet.

Part of **read** (see `moderation.io`, the front door, and `moderation.tables`,
which turns what this module yields into frames). A parser here yields raw
chunks: the column names as the file writes them and one list of cells per
column. Cells are text; bytes that are not UTF-8 survive as surrogates
(``surrogateescape``) so that the frame builder can replace them cell by cell
and name the row. Memory holds one chunk, so a multi-gigabyte dump reads in
bounded memory:

- CSV / TSV through pandas' C parser, ``chunk_rows`` rows at a time;
- JSON Lines line by line; every chunk has the columns of the whole file (keys
  may differ by line), so a file larger than one chunk is read twice: once for
  its keys and errors, once for its rows;
- Parquet by record batches (memory holds one row group, as the writer chose).

Every chunk of a file has the same names, and every parser yields at least one
chunk (an empty one for a file with a header and no rows).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import pandas as pd

from moderation.errors import InputError
from moderation.formats import json_text

__all__ = ["RawChunk", "iter_raw"]

RawChunk = tuple[list[str], list[list[Any]]]
"""Column names as in the file, and one list of ``str`` cells per column."""

_BOM = b"\xef\xbb\xbf"
_BLOCK = 64 * 1024
_READ_ERRORS = (OSError, EOFError, zlib.error)  # a broken gzip stream, a failing disk


def iter_raw(path: Path, kind: str, compressed: bool, chunk_rows: int | None) -> Iterator[RawChunk]:
    """Yield the chunks of a table file, at most `chunk_rows` rows each (None: one chunk).

    Parameters
    ----------
    path : Path
        The file.
    kind : str
        ``csv``, ``tsv``, ``jsonl`` or ``parquet``.
    compressed : bool
        Whether to gunzip first (ignored for Parquet, which compresses itself).
    chunk_rows : int, optional
        Rows per chunk; None reads the file as one chunk.

    Raises
    ------
    InputError
        If the file cannot be read or parsed as `kind`; the message names the
        file and the line (or column) where parsing stopped. CSV and Parquet
        errors past the first chunk are raised when that chunk is reached.
    """
    if chunk_rows is not None and chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    if kind == "parquet":
        return _iter_parquet(path, chunk_rows)
    if kind == "jsonl":
        return _iter_jsonl(path, compressed, chunk_rows)
    return _iter_delimited(path, compressed, "\t" if kind == "tsv" else ",", chunk_rows)


def _open(path: Path, compressed: bool) -> BinaryIO:
    """Open past a UTF-8 byte order mark."""
    handle = _open_raw(path, compressed)
    try:
        if handle.read(len(_BOM)) != _BOM:
            handle.seek(0)
    except _READ_ERRORS as exc:
        handle.close()
        raise InputError(f"{path}: cannot read: {exc}") from exc
    return handle


def _open_raw(path: Path, compressed: bool) -> BinaryIO:
    try:
        return cast(BinaryIO, gzip.open(path, "rb")) if compressed else path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


def _is_blank(path: Path, compressed: bool) -> bool:
    """Whether the file holds only whitespace (usually decided by its first block)."""
    with _open(path, compressed) as handle:
        try:
            while block := handle.read(_BLOCK):
                if block.strip():
                    return False
        except _READ_ERRORS as exc:
            raise InputError(f"{path}: cannot read: {exc}") from exc
    return True


# CSV / TSV ----------------------------------------------------------------------------------


def _iter_delimited(
    path: Path, compressed: bool, sep: str, chunk_rows: int | None
) -> Iterator[RawChunk]:
    """Parse CSV/TSV; the first row is the header, validated before any row is yielded."""
    kind = "TSV" if sep == "\t" else "CSV"
    if _is_blank(path, compressed):
        raise InputError(f"{path}: file is empty; expected a header row")
    with _open(path, compressed) as handle:

        def read(rows: int | None) -> pd.DataFrame | None:
            try:
                return reader.get_chunk(rows)
            except StopIteration:
                return None
            except (ValueError, *_READ_ERRORS) as exc:  # pandas' ParserError is a ValueError
                raise _refusal(exc, path, kind) from exc

        try:
            # header=None: pandas would otherwise silently turn a surplus first field into
            # the index. Line numbers in its errors count from the start of the file.
            reader = pd.read_csv(
                handle,
                sep=sep,
                header=None,
                dtype=object,
                na_filter=False,
                keep_default_na=False,
                encoding="utf-8",
                encoding_errors="surrogateescape",
                engine="c",
                iterator=True,
            )
        except (ValueError, *_READ_ERRORS) as exc:  # the parser reads ahead as it starts
            raise _refusal(exc, path, kind) from exc
        with reader:
            first = read(1)
            if first is None or first.empty:
                raise InputError(f"{path}: file is empty; expected a header row")
            names = _unique_names([str(name) for name in first.iloc[0].tolist()])
            yielded = False
            while (raw := read(chunk_rows)) is not None and not raw.empty:
                yielded = True
                yield names, _columns(raw, len(names))
            if not yielded:
                yield names, [[] for _ in names]


def _refusal(exc: BaseException, path: Path, kind: str) -> InputError:
    if isinstance(exc, _READ_ERRORS):
        return InputError(f"{path}: cannot read: {exc}")
    reason = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
    return InputError(f"{path}: cannot parse as {kind}: {reason}")


def _columns(raw: pd.DataFrame, width: int) -> list[list[Any]]:
    columns = [raw[position].tolist() for position in raw.columns]
    return columns + [[""] * len(raw) for _ in range(width - len(columns))]


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


# JSON Lines ---------------------------------------------------------------------------------


def _iter_jsonl(path: Path, compressed: bool, chunk_rows: int | None) -> Iterator[RawChunk]:
    """One JSON object per line; blank lines are skipped, keys may differ by line.

    The first pass checks every line and collects the keys in file order while
    keeping the first chunk; only a file with more rows is read a second time.
    """
    names: dict[str, None] = {}
    first: list[dict[str, Any]] = []
    last_line = 0  # of the first chunk
    more = False
    for number, record in _records(path, compressed, after=0):
        names.update(dict.fromkeys(record))
        if chunk_rows is None or len(first) < chunk_rows:
            first.append(record)
            last_line = number
        else:
            more = True
    yield _record_columns(list(names), first)
    if not more or chunk_rows is None:
        return
    first.clear()
    batch: list[dict[str, Any]] = []
    for _, record in _records(path, compressed, after=last_line):
        batch.append(record)
        if len(batch) == chunk_rows:
            yield _record_columns(list(names), batch)
            batch = []
    if batch:
        yield _record_columns(list(names), batch)


def _records(path: Path, compressed: bool, *, after: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line past line `after`."""
    with _open(path, compressed) as handle:
        lines = enumerate(handle, start=1)  # binary lines split on b"\n" only, as JSON needs
        while True:
            try:
                number, raw = next(lines)
            except StopIteration:
                return
            except _READ_ERRORS as exc:
                raise InputError(f"{path}: cannot read: {exc}") from exc
            if number <= after:
                continue
            line = raw.decode("utf-8", "surrogateescape")
            if not line.strip():
                continue
            yield number, _parse_line(line, number, path)


def _parse_line(line: str, number: int, path: Path) -> dict[str, Any]:
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
    return record


def _record_columns(names: list[str], records: list[dict[str, Any]]) -> RawChunk:
    return names, [[json_text(record.get(name)) for record in records] for name in names]


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


# Parquet ------------------------------------------------------------------------------------


def _iter_parquet(path: Path, chunk_rows: int | None) -> Iterator[RawChunk]:
    """Read record batches of at most `chunk_rows` rows (a batch never spans row groups)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    errors = (OSError, pa.ArrowException, ValueError)
    try:
        if chunk_rows is None:
            table = pq.read_table(path)
            yield [str(name) for name in table.column_names], _arrow_columns(table.columns)
            return
        # pre_buffer would cache the column chunks of every row group ahead of the batches.
        with pq.ParquetFile(path, pre_buffer=False) as parquet:
            names = [str(name) for name in parquet.schema_arrow.names]
            yielded = False
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yielded = True
                yield names, _arrow_columns(batch.columns)
            if not yielded:
                yield names, [[] for _ in names]
    except errors as exc:
        raise InputError(f"{path}: cannot read as Parquet: {exc}") from exc


def _arrow_columns(arrays: list[Any]) -> list[list[Any]]:
    """Arrow columns as text: strings as they are, binary decoded, other types cast or JSON."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values: list[list[Any]] = []
    for column in arrays:
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
    return values
