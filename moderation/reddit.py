"""Reddit comment listings (the JSON a comment page returns) and NDJSON dumps.

Part of **read** (see `moderation.io`, the front door). Reddit names things by
*fullname*: ``t1_<id>`` for a comment, ``t3_<id>`` for a submission. Comments
keep their fullname as ``comment_id``, their ``parent_id`` as Reddit gives it
and their ``link_id`` (the submission) as ``thread_id``; a parent equal to the
thread is a top-level comment (see `moderation.schema.validate_comments`), so
the reply structure needs no rewriting. The submission is the article.

Reddit escapes ``&``, ``<`` and ``>`` in ``body`` and ``title`` (``&gt;`` for a
quote), so those are unescaped. Bodies are Markdown, which reads as plain
text; ``body_html``, when present, is kept as ``text_html``. Deleted and
removed comments (``[deleted]`` / ``[removed]``) keep their place with empty
text and a ``status``.

A listing is one API response (at most a few hundred comments) and is read
whole; dumps are read a line at a time so they can be any size.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterator
from typing import IO, Any

from moderation.errors import InputError
from moderation.formats import ARTICLE, COMMENT, Record, iter_lines, json_text, unix_time

__all__ = [
    "REDDIT_ARTICLE_FIELDS",
    "REDDIT_COMMENT_FIELDS",
    "read_reddit_dump",
    "read_reddit_listing",
]

logger = logging.getLogger(__name__)

REDDIT_COMMENT_FIELDS = (
    "comment_id",
    "thread_id",
    "parent_id",
    "author",
    "text",
    "created_at",
    "status",
    "subreddit",
    "text_html",
)
"""Comment columns of both Reddit formats, canonical first."""
REDDIT_ARTICLE_FIELDS = ("thread_id", "title", "body", "url", "body_html")
"""Article columns of both Reddit formats."""

_GONE = {"[deleted]": "deleted", "[removed]": "removed"}
_MAX_LISTING_BYTES = 512 * 1024 * 1024


def read_reddit_listing(stream: IO[bytes], source: str) -> Iterator[Record]:
    """Yield the submission and comments of a Reddit comment listing.

    Accepts what ``/comments/<id>.json`` returns (an array of two listings: the
    submission, then the comment tree with nested ``replies``), a single
    listing, or a bare ``t1``/``t3`` object. Comments come out depth first, as
    Reddit shows them. ``more`` stubs (replies the listing did not load) are
    counted in a log warning; they hold no text to score.

    Raises
    ------
    InputError
        If the file is not JSON (with line and column) or holds no listing.
    """
    data = stream.read(_MAX_LISTING_BYTES + 1)
    if len(data) > _MAX_LISTING_BYTES:
        raise InputError(f"{source}: a listing over 512 MiB is not an API response; use a dump")
    try:
        document = json.loads(data.decode("utf-8", "surrogateescape"))
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InputError(f"{source}, {where}: not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise InputError(f"{source}: JSON nested too deeply to be a listing") from exc
    found = 0
    missing = 0
    # An explicit stack, not recursion: reply chains can be arbitrarily deep.
    pending: list[Any] = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        kind, data_ = node.get("kind"), node.get("data")
        if not isinstance(data_, dict):
            continue
        if kind == "Listing":
            children = data_.get("children")
            if isinstance(children, list):
                pending.extend(reversed(children))
        elif kind == "t3":
            found += 1
            yield ARTICLE, _submission(data_)
        elif kind == "t1":
            found += 1
            yield COMMENT, _comment(data_)
            replies = data_.get("replies")
            if isinstance(replies, dict):
                pending.append(replies)
        elif kind == "more":
            count = data_.get("count")
            missing += count if isinstance(count, int) and count > 0 else 0
    if not found:
        raise InputError(f"{source}: no Reddit comment (t1) or submission (t3) in the JSON")
    if missing:
        logger.warning(
            "%s: the listing omits %d replies ('more' links); not scored", source, missing
        )


def read_reddit_dump(stream: IO[bytes], source: str) -> Iterator[Record]:
    """Yield the comments and submissions of a newline-delimited Reddit dump.

    One JSON object per line, either raw (a comment has ``body`` and
    ``parent_id``, a submission has ``title``; the layout of the well-known
    archive dumps) or wrapped as ``{"kind": "t1", "data": {...}}``. Blank lines
    are skipped; ``\\r\\n`` line ends are fine. Memory stays flat: one line at a
    time.

    Raises
    ------
    InputError
        Naming the line of invalid JSON, a line that is not an object, or an
        object that is neither a comment nor a submission.
    """
    for number, line in iter_lines(stream):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            where = f"line {number}, column {exc.colno}"
            raise InputError(f"{source}, {where}: not valid JSON: {exc.msg}") from exc
        except RecursionError as exc:
            raise InputError(f"{source}, line {number}: JSON nested too deeply") from exc
        if isinstance(value, dict) and value.get("kind") in ("t1", "t3"):
            kind, value = value["kind"], value.get("data")
        else:
            kind = None
        if not isinstance(value, dict):
            raise InputError(f"{source}, line {number}: expected a JSON object")
        if kind == "t1" or (kind is None and "body" in value and "parent_id" in value):
            yield COMMENT, _comment(value)
        elif kind == "t3" or (kind is None and "title" in value):
            yield ARTICLE, _submission(value)
        else:
            raise InputError(
                f"{source}, line {number}: neither a Reddit comment (body, parent_id) "
                "nor a submission (title)"
            )


def _fullname(value: dict[str, Any], prefix: str) -> str:
    name = json_text(value.get("name"))
    if name:
        return name
    ident = json_text(value.get("id"))
    return ident if not ident or ident.startswith(prefix) else f"{prefix}{ident}"


def _comment(value: dict[str, Any]) -> dict[str, str]:
    body = html.unescape(json_text(value.get("body")))
    status = _GONE.get(body.strip(), "approved")
    link = json_text(value.get("link_id"))
    return {
        "comment_id": _fullname(value, "t1_"),
        "thread_id": link if not link or link.startswith("t3_") else f"t3_{link}",
        "parent_id": json_text(value.get("parent_id")),
        "author": json_text(value.get("author")),
        "text": "" if status != "approved" else body,
        "created_at": unix_time(value.get("created_utc", "")),
        "status": status,
        "subreddit": json_text(value.get("subreddit")),
        "text_html": html.unescape(json_text(value.get("body_html"))),
    }


def _submission(value: dict[str, Any]) -> dict[str, str]:
    permalink = json_text(value.get("permalink"))
    url = f"https://www.reddit.com{permalink}" if permalink.startswith("/") else permalink
    return {
        "thread_id": _fullname(value, "t3_"),
        "title": html.unescape(json_text(value.get("title"))),
        "body": html.unescape(json_text(value.get("selftext"))),
        "url": url or json_text(value.get("url")),
        "body_html": html.unescape(json_text(value.get("selftext_html"))),
    }
