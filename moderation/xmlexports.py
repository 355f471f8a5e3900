"""WordPress (WXR) and Disqus XML exports, parsed safely and incrementally.

Part of **read** (see `moderation.io`, the front door). Both formats are XML
files that can run to gigabytes and come from outside, so they are parsed

- with `defusedxml`, which refuses entity declarations and external entities
  (the "billion laughs" expansion bomb and file-reading XXE attacks) instead of
  relying on hand-written checks;
- incrementally, with a pull parser: each comment is turned into a `Record` as
  soon as its element closes and is then removed from the tree, so memory holds
  one comment (plus the current post's header), not the file.

Comment bodies are HTML; ``text`` gets the plain text the models score and
``text_html`` keeps the original for moderators. Errors name the file, line
and column.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import IO

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, iterparse

from moderation.errors import InputError
from moderation.formats import ARTICLE, COMMENT, Record, html_to_text

__all__ = [
    "DISQUS_COMMENT_FIELDS",
    "WXR_COMMENT_FIELDS",
    "XML_ARTICLE_FIELDS",
    "read_disqus",
    "read_wxr",
]

XML_ARTICLE_FIELDS = ("thread_id", "title", "body", "url", "body_html")
"""Article columns both XML formats produce."""
WXR_COMMENT_FIELDS = (
    "comment_id",
    "thread_id",
    "parent_id",
    "author",
    "text",
    "created_at",
    "status",
    "type",
    "text_html",
)
"""Comment columns of a WordPress export, canonical first."""
DISQUS_COMMENT_FIELDS = (
    "comment_id",
    "thread_id",
    "parent_id",
    "author",
    "text",
    "created_at",
    "status",
    "author_name",
    "text_html",
)
"""Comment columns of a Disqus export, canonical first."""

# WordPress ``comment_approved`` -> status. "0" is held for moderation.
_WP_STATUS = {"1": "approved", "0": "pending", "spam": "spam", "trash": "trash"}
_WP_STATUS["post-trashed"] = "trash"
_WP_NAMESPACE = "wordpress.org/export"
_CONTENT_NAMESPACE = "purl.org/rss/1.0/modules/content"
# Items that are not discussions: skipped unless someone commented on them.
_WP_NOT_ARTICLES = frozenset({"attachment", "nav_menu_item", "wp_block", "wp_navigation"})
_WP_ZERO_DATE = "0000-00-00 00:00:00"
_DSQ_ID = "{http://disqus.com/disqus-internals}id"


def read_wxr(stream: IO[bytes], source: str) -> Iterator[Record]:
    """Yield the comments and articles of a WordPress export (WXR 1.0 - 1.2).

    Each ``<item>`` (post or page) becomes an article: its ``wp:post_id``,
    title, link and ``content:encoded``. Each ``<wp:comment>`` in it becomes a
    comment of that thread. Comments marked spam or trash are kept, with
    ``status`` saying so; pingbacks and trackbacks are kept with their
    ``type``. ``comment_parent`` 0 means top level and becomes "".

    Parameters
    ----------
    stream : binary file
        The export, positioned at its start.
    source : str
        The file name, for error messages.

    Yields
    ------
    Record
        Each comment as it closes, then its post as an article.

    Raises
    ------
    InputError
        On XML that is malformed, truncated or declares entities.
    """
    for element, parent in _elements(stream, source, container_depth=2):
        name = _local(element.tag)
        if name == "comment" and _WP_NAMESPACE in element.tag and parent is not None:
            yield COMMENT, _wxr_comment(element, parent)
        elif name == "item":
            post_type = _text(element, "post_type", _WP_NAMESPACE)
            has_comments = any(_local(child.tag) == "comment" for child in element)
            if post_type not in _WP_NOT_ARTICLES or has_comments:
                content = _text(element, "encoded", _CONTENT_NAMESPACE)
                yield (
                    ARTICLE,
                    {
                        "thread_id": _text(element, "post_id", _WP_NAMESPACE),
                        "title": html_to_text(_text(element, "title")),
                        "body": html_to_text(content),
                        "url": _text(element, "link"),
                        "body_html": content,
                    },
                )


def _wxr_comment(comment: ET.Element, item: ET.Element) -> dict[str, str]:
    content = _text(comment, "comment_content", _WP_NAMESPACE)
    parent = _text(comment, "comment_parent", _WP_NAMESPACE).strip()
    approved = _text(comment, "comment_approved", _WP_NAMESPACE).strip()
    date = _text(comment, "comment_date_gmt", _WP_NAMESPACE).strip()
    zone = "Z"
    if not date or date == _WP_ZERO_DATE:  # drafts and some pending comments have no GMT date
        date, zone = _text(comment, "comment_date", _WP_NAMESPACE).strip(), ""
    return {
        "comment_id": _text(comment, "comment_id", _WP_NAMESPACE).strip(),
        "thread_id": _text(item, "post_id", _WP_NAMESPACE).strip(),
        "parent_id": "" if parent == "0" else parent,
        "author": _text(comment, "comment_author", _WP_NAMESPACE),
        "text": html_to_text(content),
        "created_at": f"{date.replace(' ', 'T')}{zone}" if date else "",
        "status": _WP_STATUS.get(approved, approved),
        "type": _text(comment, "comment_type", _WP_NAMESPACE).strip() or "comment",
        "text_html": content,
    }


def read_disqus(stream: IO[bytes], source: str) -> Iterator[Record]:
    """Yield the comments and articles of a Disqus XML export.

    ``<thread>`` elements become articles (``dsq:id``, title, link, message);
    ``<post>`` elements become comments whose ``thread_id`` and ``parent_id``
    are the ``dsq:id`` of the ``<thread>`` and ``<parent>`` they reference.
    ``isSpam`` / ``isDeleted`` become ``status`` spam / deleted; such posts are
    kept. A post whose thread is not in the export (Disqus writes every thread
    before the posts) keeps its place with the problem stated.

    Parameters
    ----------
    stream : binary file
        The export, positioned at its start.
    source : str
        The file name, for error messages.

    Yields
    ------
    Record
        Threads and posts, in file order.

    Raises
    ------
    InputError
        On XML that is malformed, truncated or declares entities.
    """
    threads: set[str] = set()
    for element, _parent in _elements(stream, source, container_depth=1):
        name = _local(element.tag)
        if name == "thread":
            thread_id = element.get(_DSQ_ID, "")
            threads.add(thread_id)
            message = _text(element, "message")
            yield (
                ARTICLE,
                {
                    "thread_id": thread_id,
                    "title": html_to_text(_text(element, "title")),
                    "body": html_to_text(message),
                    "url": _text(element, "link").strip(),
                    "body_html": message,
                },
            )
        elif name == "post":
            record = _disqus_post(element)
            if record["thread_id"] not in threads:
                record["problems"] = f"thread '{record['thread_id']}' not found in this export"
            yield COMMENT, record


def _disqus_post(post: ET.Element) -> dict[str, str]:
    message = _text(post, "message")
    author = _child(post, "author")
    name = _text(author, "name") if author is not None else ""
    username = _text(author, "username") if author is not None else ""
    parent = _child(post, "parent")
    thread = _child(post, "thread")
    if _text(post, "isSpam").strip() == "true":
        status = "spam"
    elif _text(post, "isDeleted").strip() == "true":
        status = "deleted"
    else:
        status = "approved"
    return {
        "comment_id": post.get(_DSQ_ID, ""),
        "thread_id": thread.get(_DSQ_ID, "") if thread is not None else "",
        "parent_id": parent.get(_DSQ_ID, "") if parent is not None else "",
        "author": username or name,
        "text": html_to_text(message),
        "created_at": _text(post, "createdAt").strip(),
        "status": status,
        "author_name": name,
        "text_html": message,
    }


# Incremental, defused parsing -----------------------------------------------------------------


def _elements(
    stream: IO[bytes], source: str, *, container_depth: int
) -> Iterator[tuple[ET.Element, ET.Element | None]]:
    """Yield each element just below the containers as it closes, then free it.

    Elements at depth `container_depth` (children of ``channel`` in WXR, of
    ``disqus`` in Disqus) and ``wp:comment`` elements inside them are yielded
    with their parent and removed from the tree afterwards, which is what keeps
    memory flat: the tree never holds more than the record being read.
    """
    parser = DefusedXMLParser(target=ET.TreeBuilder())
    stack: list[ET.Element] = []
    try:
        for event, element in iterparse(stream, events=("start", "end"), parser=parser):
            if event == "start":
                stack.append(element)
                continue
            stack.pop()
            depth = len(stack)
            nested_comment = depth == container_depth + 1 and _local(element.tag) == "comment"
            if depth == container_depth or nested_comment:
                parent = stack[-1] if stack else None
                yield element, parent
                if parent is not None:
                    parent.remove(element)
    except ET.ParseError as exc:
        line, column = exc.position[0], exc.position[1] + 1  # expat counts columns from 0
        reason = str(exc).split(":", 1)[0]
        raise InputError(
            f"{source}, line {line}, column {column}: not valid XML: {reason}"
        ) from exc
    except DefusedXmlException as exc:
        expat = parser.parser
        where = f"line {expat.CurrentLineNumber}, column {expat.CurrentColumnNumber + 1}"
        raise InputError(
            f"{source}, {where}: refused: the XML declares entities ({exc!r}); exports never "
            "need them and they are how entity-expansion and external-file attacks work"
        ) from exc
    except (ValueError, LookupError) as exc:
        raise InputError(f"{source}: cannot read as XML: {exc}") from exc
    if stack:
        raise InputError(f"{source}: the XML ends inside <{_local(stack[-1].tag)}>")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str, namespace: str = "") -> ET.Element | None:
    for child in element:
        tag = child.tag
        if _local(tag) == name and (not namespace or namespace in tag):
            return child
    return None


def _text(element: ET.Element, name: str, namespace: str = "") -> str:
    """Text of the first child named `name` (in a namespace containing `namespace`), or ""."""
    child = _child(element, name, namespace)
    return (child.text or "") if child is not None else ""
