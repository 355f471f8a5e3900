"""Platform exports (WordPress WXR, Disqus XML, Reddit) batched into frames of strings.

Part of **read** (see `moderation.io`, the front door). The platform readers
(`moderation.xmlexports`, `moderation.reddit`) yield one `Record` at a time
while they parse; this module gathers them into a frame of comments and a frame
of the articles that closed meanwhile, `chunk_rows` comments at a time, so that
memory holds one chunk however large the export. Replaced bytes and the
readers' own per-comment problems go to the ``problems`` column.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from moderation.errors import InputError
from moderation.formats import ARTICLE, Record, open_binary
from moderation.reddit import (
    REDDIT_ARTICLE_FIELDS,
    REDDIT_COMMENT_FIELDS,
    read_reddit_dump,
    read_reddit_listing,
)
from moderation.schema import PROBLEMS
from moderation.tables import join_problems, repair_cells
from moderation.xmlexports import (
    DISQUS_COMMENT_FIELDS,
    WXR_COMMENT_FIELDS,
    XML_ARTICLE_FIELDS,
    read_disqus,
    read_wxr,
)

__all__ = ["iter_platform"]

Reader = Callable[[IO[bytes], str], Iterator[Record]]
# Platform format -> (reader, comment columns, article columns).
_PLATFORMS: dict[str, tuple[Reader, tuple[str, ...], tuple[str, ...]]] = {
    "wxr": (read_wxr, WXR_COMMENT_FIELDS, XML_ARTICLE_FIELDS),
    "disqus": (read_disqus, DISQUS_COMMENT_FIELDS, XML_ARTICLE_FIELDS),
    "reddit": (read_reddit_listing, REDDIT_COMMENT_FIELDS, REDDIT_ARTICLE_FIELDS),
    "reddit-ndjson": (read_reddit_dump, REDDIT_COMMENT_FIELDS, REDDIT_ARTICLE_FIELDS),
}


def iter_platform(
    source: Path, kind: str, chunk_rows: int | None
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Yield (comments, articles) frames of a platform export, `chunk_rows` comments each.

    None gathers the whole export into one pair. Always yields at least once.

    Raises
    ------
    InputError
        If the file cannot be read or parsed (the readers name the position).
    """
    reader, comment_fields, article_fields = _PLATFORMS[kind]
    comments: list[dict[str, str]] = []
    articles: list[dict[str, str]] = []
    with open_binary(source) as stream:
        records = reader(stream, str(source))
        while True:
            try:
                record_kind, record = next(records)
            except StopIteration:
                break
            except (OSError, EOFError, zlib.error) as exc:  # a broken gzip stream, a failing disk
                raise InputError(f"{source}: cannot read: {exc}") from exc
            (articles if record_kind == ARTICLE else comments).append(record)
            if chunk_rows is not None and len(comments) >= chunk_rows:
                yield _chunk(comments, articles, comment_fields, article_fields)
                comments, articles = [], []
    yield _chunk(comments, articles, comment_fields, article_fields)


def _chunk(
    comments: list[dict[str, str]],
    articles: list[dict[str, str]],
    comment_fields: tuple[str, ...],
    article_fields: tuple[str, ...],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        _frame(comments, comment_fields, problems=True),
        _frame(articles, article_fields, problems=False),
    )


def _frame(
    records: list[dict[str, str]], fields: tuple[str, ...], *, problems: bool
) -> pd.DataFrame:
    """Records -> ``str`` columns; replaced bytes and reader problems go to ``problems``."""
    values: list[list[Any]] = [[record.get(name, "") for record in records] for name in fields]
    found = repair_cells(list(fields), values)
    for position, record in enumerate(records):
        if record.get(PROBLEMS):
            found.setdefault(position, []).insert(0, record[PROBLEMS])
    data = {
        name: pd.Series(column, dtype="str") for name, column in zip(fields, values, strict=True)
    }
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(records)))
    if problems:
        frame[PROBLEMS] = join_problems(frame, found)
    return frame
