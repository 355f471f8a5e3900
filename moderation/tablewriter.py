"""Write tables (scored comments, converted exports) atomically, whole or in chunks.

The last step of the flow: read → validate → … → rules → **write**. Output is
written to a temporary file next to the target and moved into place with
`os.replace`, so readers never see a half-written file and a failed run leaves
any existing output untouched. `TableWriter` accepts frame after frame, which
is how `moderation.io.convert_export` writes a multi-gigabyte export in
bounded memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from moderation.errors import OutputError

__all__ = [
    "WRITE_FORMATS",
    "FormattedRows",
    "RowWriter",
    "TableWriter",
    "format_rows",
    "line_end",
    "write_format",
    "write_rows",
]

logger = logging.getLogger(__name__)

WRITE_FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".csv.gz", ".jsonl.gz")
"""File extensions `write_table` understands (``-`` writes CSV to stdout)."""

_CHUNK_ROWS = 10_000

RowWriter = Callable[..., None]
"""Writes a frame's rows to a binary handle: ``(frame, kind, handle, header=True)``."""


class TableWriter:
    """Writes frames one after another to a temporary file, moved into place on success.

    Use as a context manager: the extension and directory are checked before
    anything is written; leaving the block without an error moves the file into
    place, leaving it with one deletes the temporary file. CSV gets its header
    once; Parquet row groups must share the first frame's schema. `newline` fixes the
    CSV/TSV line terminator for the whole file (default: chosen per frame by `line_end`),
    which a caller writing a file in pieces decides once from everything it will write.

    Examples
    --------
    >>> with TableWriter("out.csv") as writer:            # doctest: +SKIP
    ...     for frame in frames:
    ...         writer.write(frame)
    """

    def __init__(
        self, path: str | Path, *, rows: RowWriter | None = None, newline: str | None = None
    ) -> None:
        self.target = Path(path)
        self.write_rows = rows or write_rows
        self.newline = newline
        self.kind, self.compressed = _write_format(self.target)
        if not self.target.parent.is_dir():
            raise OutputError(f"{self.target}: directory {self.target.parent} does not exist")
        self.temporary = self.target.with_name(f".{self.target.name}.{secrets.token_hex(4)}.tmp")
        self.rows = 0
        self.started = False
        self.parquet: Any = None
        self.raw: IO[bytes] | None = None
        self.handle: Any = None

    def __enter__(self) -> TableWriter:
        try:
            descriptor = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot write {self.kind}: {exc}") from exc
        self.raw = os.fdopen(descriptor, "wb")
        self.handle = gzip.GzipFile(fileobj=self.raw, mode="wb") if self.compressed else self.raw
        return self

    def write(self, frame: pd.DataFrame) -> None:
        try:
            if self.kind == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                if self.parquet is None:
                    self.parquet = pq.ParquetWriter(self.handle, table.schema)
                self.parquet.write_table(table.cast(self.parquet.schema))
            else:
                extra: dict[str, Any] = {} if self.newline is None else {"newline": self.newline}
                if self.started:
                    extra["header"] = False
                self.write_rows(frame, self.kind, self.handle, **extra)
        except (OSError, ValueError, TypeError, NotImplementedError) as exc:  # pyarrow's too
            raise OutputError(f"{self.target}: cannot write {self.kind}: {exc}") from exc
        self.rows += len(frame)
        self.started = True

    def write_formatted(self, data: bytes, rows: int) -> None:
        """Append `rows` rows already formatted as this file's kind (`format_rows`).

        For CSV, TSV and JSON Lines: the caller writes the header itself, once, and
        gives each row this file's line end. Writing is then copying bytes, so the
        formatting can happen elsewhere (`moderation.batch` has worker processes do it).
        """
        if self.kind == "parquet":
            raise ValueError("write_formatted writes CSV, TSV or JSON Lines, not Parquet")
        try:
            self.handle.write(data)
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot write {self.kind}: {exc}") from exc
        self.rows += rows
        self.started = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc is None and self.kind == "parquet" and self.parquet is None:
                self.write(pd.DataFrame())
            if self.parquet is not None:
                self.parquet.close()
            if self.handle is not self.raw and self.handle is not None:
                self.handle.close()
            if self.raw is not None:
                self.raw.close()
            if exc is None:
                os.replace(self.temporary, self.target)
        except OSError as error:
            with contextlib.suppress(OSError):
                self.temporary.unlink()
            raise OutputError(f"{self.target}: cannot write {self.kind}: {error}") from error
        finally:
            if exc is not None:
                with contextlib.suppress(OSError):
                    self.temporary.unlink()


def write_format(path: str | Path) -> str:
    """The kind of table a path is written as: ``csv``, ``tsv``, ``jsonl`` or ``parquet``.

    Raises `OutputError` for an extension `TableWriter` does not know.
    """
    return _write_format(Path(path))[0]


def _write_format(path: Path) -> tuple[str, bool]:
    name = path.name.lower()
    for extension in sorted(WRITE_FORMATS, key=len, reverse=True):
        if name.endswith(extension):
            kind = extension.removesuffix(".gz").lstrip(".")
            return ("jsonl" if kind == "ndjson" else kind), extension.endswith(".gz")
    raise OutputError(
        f"{path}: unknown file type '{''.join(path.suffixes) or path.name}'; "
        f"supported: {', '.join(WRITE_FORMATS)}"
    )


def write_rows(
    frame: pd.DataFrame,
    kind: str,
    handle: IO[bytes],
    *,
    header: bool = True,
    newline: str | None = None,
) -> None:
    """Write `frame` as CSV, TSV or JSONL rows to `handle`, 10,000 rows at a time.

    `newline` is the CSV/TSV line terminator; None chooses it from `frame` (`line_end`).
    """
    for piece in _pieces(frame, kind, header=header, newline=newline):
        handle.write(piece)


def _pieces(
    frame: pd.DataFrame, kind: str, *, header: bool, newline: str | None
) -> Iterator[bytes]:
    """The bytes `write_rows` writes, 10,000 rows at a time (one source for `format_rows`)."""
    if kind == "jsonl":
        yield from _jsonl_pieces(frame)
        return
    sep = "\t" if kind == "tsv" else ","
    end = line_end(frame) if newline is None else newline
    for start in range(0, max(len(frame), 1), _CHUNK_ROWS):
        chunk = frame.iloc[start : start + _CHUNK_ROWS]
        text = chunk.to_csv(index=False, header=header and start == 0, sep=sep, lineterminator=end)
        yield text.encode("utf-8")


@dataclass(frozen=True)
class FormattedRows:
    """A frame's rows as `write_rows` writes them, and where each one ends.

    Knowing the row boundaries, rows formatted in several places (worker processes,
    each with a share of the rows) can be put back in any order by copying bytes.

    Attributes
    ----------
    kind : str
        ``csv``, ``tsv`` or ``jsonl``.
    newline : str
        The line end of every row (and of the header).
    header : bytes
        The CSV/TSV header row without its line end (``b""`` for JSON Lines).
    body : bytes
        The rows, each ended by `newline`.
    ends : numpy.ndarray
        Offset in `body` just past each row (int64, one per row of the frame).
    """

    kind: str
    newline: str
    header: bytes
    body: bytes
    ends: npt.NDArray[np.int64]


def format_rows(frame: pd.DataFrame, kind: str, *, newline: str | None = None) -> FormattedRows:
    """Format `frame` as `write_rows` would (header included) and find where its rows end.

    A CSV/TSV row ends at a line end outside quotes: the csv writer quotes every field
    holding a quote or a line-end character and doubles the quotes inside, so a newline
    byte preceded by an even number of quote bytes ends a record. JSON Lines rows never
    hold a raw newline.

    Raises
    ------
    ValueError
        For a kind other than CSV, TSV or JSONL, or (never expected) when the rows
        found do not match the frame's.
    UnicodeEncodeError
        For text that cannot be UTF-8 encoded, as `write_rows`.
    """
    if kind not in ("csv", "tsv", "jsonl"):
        raise ValueError(f"format_rows writes csv, tsv or jsonl, not {kind}")
    end = "\n" if kind == "jsonl" else line_end(frame) if newline is None else newline
    data = b"".join(_pieces(frame, kind, header=True, newline=end))
    ends = _row_ends(data, quoted=kind != "jsonl")
    headed = kind != "jsonl"
    if len(ends) != len(frame) + headed or (len(ends) and ends[-1] != len(data)):
        raise ValueError(f"{kind} rows could not be delimited ({len(ends)} for {len(frame)})")
    if not headed:
        return FormattedRows(kind, end, b"", data, ends)
    first = int(ends[0])
    header = data[: first - len(end)]
    return FormattedRows(kind, end, header, data[first:], ends[1:] - first)


def _row_ends(data: bytes, *, quoted: bool) -> npt.NDArray[np.int64]:
    """Offsets just past each record's newline byte (outside quotes when `quoted`)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    if quoted:
        quotes = np.flatnonzero(raw == ord('"'))
        if len(quotes):
            newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return (newlines + 1).astype(np.int64)


def line_end(frame: pd.DataFrame) -> str:
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


def _jsonl_pieces(frame: pd.DataFrame) -> Iterator[bytes]:
    """One object per line, in chunks so memory stays flat on large tables."""
    for start in range(0, len(frame), _CHUNK_ROWS):
        chunk = frame.iloc[start : start + _CHUNK_ROWS].astype(object)
        chunk = chunk.where(chunk.notna(), None)
        lines = [
            json.dumps(record, ensure_ascii=False, allow_nan=False, default=_json_default)
            for record in chunk.to_dict(orient="records")
        ]
        yield ("\n".join(lines) + "\n").encode("utf-8")


def _json_default(value: object) -> object:
    """Make numpy scalars, timestamps and other cell values JSON-serialisable."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
