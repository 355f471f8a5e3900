"""Export formats: their names, how a file's format is recognised, and shared helpers.

The flow is **read** → validate → thread context → …; this module is the first
half of reading. People score the files their platform gives them (a WordPress
export, a Disqus dump, Reddit JSON) and rarely know or care what the file is
called, so platform formats are recognised from the *content*: the root element
of an XML file, the shape of the first JSON value. Plain tables (CSV, TSV,
JSONL, Parquet) keep being chosen by extension, as before, because their content
is ambiguous (a CSV header can look like anything).

Platform readers yield `Record` pairs (``"comment"`` or ``"article"`` plus a
dict of strings) rather than frames, so that `moderation.io` can batch them into
frames of any size and memory stays flat on multi-gigabyte exports.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, BinaryIO, cast

from moderation.errors import InputError

__all__ = [
    "ARTICLE",
    "COMMENT",
    "FORMATS",
    "PLATFORM_FORMATS",
    "READ_FORMATS",
    "TABLE_FORMATS",
    "Record",
    "detect_format",
    "format_of",
    "html_to_text",
    "iter_lines",
    "json_text",
    "open_binary",
    "unix_time",
]

TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")
"""Plain tables, one row per comment; chosen by file extension (or ``format=``)."""
PLATFORM_FORMATS = ("wxr", "disqus", "reddit", "reddit-ndjson")
"""Platform exports holding comments *and* articles; recognised from the content."""
FORMATS = (*TABLE_FORMATS, *PLATFORM_FORMATS)
"""Every value ``format=`` / ``--format`` accepts."""
READ_FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".csv.gz", ".tsv.gz", ".jsonl.gz")
"""File extensions that select a table format."""

COMMENT = "comment"
ARTICLE = "article"
Record = tuple[str, dict[str, str]]
"""What platform readers yield: (`COMMENT` or `ARTICLE`, field name -> text)."""

HEAD_BYTES = 64 * 1024
"""How much of a file detection looks at; enough for any real export's preamble."""

_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_LISTING = re.compile(rb'"kind"\s*:\s*"Listing"')


def open_binary(path: Path) -> BinaryIO:
    """Open `path` for reading bytes, decompressing gzip when the content is gzip.

    Decided by the magic bytes, not the name: platform exports are often
    compressed by hand (``export.xml.gz``) or renamed on download.
    """
    try:
        with path.open("rb") as probe:
            compressed = probe.read(2) == _GZIP_MAGIC
        return cast(BinaryIO, gzip.open(path, "rb")) if compressed else path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


def _head(path: Path) -> bytes:
    try:
        with open_binary(path) as handle:
            data = handle.read(HEAD_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    return data.removeprefix(_BOM).lstrip()


def detect_format(path: str | Path) -> str:
    """Return the format of `path`: its content first, then its extension.

    Rules, in order (on the first 64 KiB, after gunzipping if the bytes are gzip):

    1. Parquet magic ``PAR1`` -> ``parquet``.
    2. XML whose root element is ``<rss>`` declaring a ``wordpress.org/export``
       namespace -> ``wxr``; root ``<disqus>`` -> ``disqus``.
    3. JSON starting with ``[`` or ``{`` that holds a ``"kind": "Listing"`` ->
       ``reddit``; one JSON object per line that looks like a Reddit comment or
       submission (``{"kind": "t1", "data": ...}``, or ``body`` with
       ``link_id``, or ``title`` with ``subreddit``) -> ``reddit-ndjson``.
    4. Otherwise the extension: ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``,
       ``.parquet`` (each but Parquet also ``.gz``).

    Raises
    ------
    InputError
        If the file is missing, or is none of the above (the message lists the
        extensions and says how to force a format).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {'not a file' if path.exists() else 'file not found'}")
    head = _head(path)
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    found = _xml_format(head) if head.startswith(b"<") else None
    if found is None and head[:1] in (b"[", b"{"):
        found = _json_format(head)
    return found or format_of(path)[0]


def format_of(path: Path) -> tuple[str, bool]:
    """Return the table format named by the extension and whether it says gzip.

    Raises
    ------
    InputError
        For an extension that names no table format.
    """
    name = path.name.lower()
    for extension in sorted(READ_FORMATS, key=len, reverse=True):
        if name.endswith(extension):
            kind = extension.removesuffix(".gz").lstrip(".")
            return ("jsonl" if kind == "ndjson" else kind), extension.endswith(".gz")
    raise InputError(
        f"{path}: unknown file type '{''.join(path.suffixes) or path.name}'; "
        f"supported: {', '.join(READ_FORMATS)}, or a WordPress, Disqus or Reddit export "
        f"(recognised from its content); force one with --format "
        f"(library: format=...) from {', '.join(FORMATS)}"
    )


def _xml_format(head: bytes) -> str | None:
    for match in _ROOT_TAG.finditer(head):
        root = match.group(1).rsplit(b":", 1)[-1]
        if root == b"rss" and b"wordpress.org/export" in head:
            return "wxr"
        return "disqus" if root == b"disqus" else None
    return None


def _json_format(head: bytes) -> str | None:
    first_line = head.split(b"\n", 1)[0]
    try:
        first = json.loads(first_line.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        first = None
    if isinstance(first, dict) and first.get("kind") != "Listing":
        return "reddit-ndjson" if _looks_like_reddit(first) else None
    return "reddit" if _LISTING.search(head) else None


def _looks_like_reddit(value: dict[str, object]) -> bool:
    if value.get("kind") in ("t1", "t3") and isinstance(value.get("data"), dict):
        return True
    return ("body" in value and "link_id" in value) or ("title" in value and "subreddit" in value)


def json_text(value: object) -> str:
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


def unix_time(value: object) -> str:
    """Seconds since the epoch (number or numeric string) as ISO 8601 UTC, else as given.

    Reddit stores times as epoch seconds; ISO text sorts and reads the same as
    every other format's ``created_at``.
    """
    try:
        seconds = float(str(value))
        moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        return json_text(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# HTML to text -------------------------------------------------------------------------------

_BLOCKS = frozenset(
    {"address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure"}
    | {"footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre"}
    | {"section", "table", "td", "th", "tr", "ul"}
)
_SKIPPED = frozenset({"script", "style", "template", "head"})
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextCollector(HTMLParser):
    """Collects character data, turning block elements into line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Return the text a reader sees in `markup`: tags dropped, entities decoded.

    Models were trained on plain text, so ``<strong>idiot</strong>`` and
    ``&lt;3`` must score like what they display. Block elements (``p``, ``br``,
    ``li``, ``blockquote``…) become line breaks; line breaks already in the text
    are kept, because WordPress and Disqus store paragraphs as bare newlines;
    runs of spaces collapse; link targets are dropped (the original markup is
    kept next to the text for moderators). Malformed markup never fails: the
    standard library parser treats what it cannot parse as text.
    """
    if "<" not in markup and "&" not in markup:
        text = markup
    else:
        collector = _TextCollector()
        collector.feed(markup)
        collector.close()
        text = "".join(collector.parts)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for each line, split on ``\\n`` only.

    ``str.splitlines`` would also split on U+2028 inside JSON strings; bytes
    that are not UTF-8 survive as surrogates for the frame builder to repair.
    """
    for number, raw in enumerate(stream, start=1):
        yield number, raw.decode("utf-8", "surrogateescape")
