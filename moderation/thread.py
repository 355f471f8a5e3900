"""Thread context: where each comment sits in its thread and what it replies to.

The flow is read → validate → **thread context** → features → models → rules →
write. Hostility and off-topic scores depend on context (a reply is judged
against its parent, a sub-thread against its root and the article), so this
step joins each comment to its parent, root and article by id. It only adds
columns (those in `schema.CONTEXT_COLUMNS`); it never changes or drops rows.

Everything is array- and dict-based: depth and root come from pointer doubling
(O(n log depth) numpy operations), paths from one pass in depth order, so a
million comments take seconds and parent cycles cannot hang it.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pandas as pd

from moderation.schema import (
    ARTICLE_AUTHOR,
    ARTICLE_BODY,
    ARTICLE_TITLE,
    AUTHOR,
    BODY,
    COMMENT_ID,
    CONTEXT_COLUMNS,
    DEPTH,
    MISSING_PARENT,
    PARENT_ID,
    PARENT_TEXT,
    ROOT_ID,
    ROOT_TEXT,
    SIBLING_INDEX,
    TEXT,
    THREAD_ID,
    THREAD_PATH,
    TITLE,
    TOP_LEVEL,
    find_cycles,
    resolve_parents,
)

__all__ = ["PATH_SEPARATOR", "attach_context"]

logger = logging.getLogger(__name__)

PATH_SEPARATOR = "/"
"""Joins the ids of `thread_path`."""

Ints = npt.NDArray[np.int64]


def attach_context(comments: pd.DataFrame, articles: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the thread context of each comment, aligned with `comments`.

    Parameters
    ----------
    comments : DataFrame
        Output of `moderation.schema.validate_comments`. Duplicate ids resolve
        to their first occurrence; without ``thread_id`` all comments are one
        thread.
    articles : DataFrame, optional
        ``thread_id``, ``title``, ``body`` per thread (first row wins if a
        thread repeats). When `comments` has no ``thread_id`` and there is
        exactly one article, every comment belongs to it.

    Returns
    -------
    DataFrame
        Same index and row order as `comments`, with only these columns:

        - ``parent_text``: text of the parent; "" for top-level comments and
          parents not in the export.
        - ``root_id``, ``root_text``: the top of the comment's chain. Itself for
          a top-level comment; the highest comment present when the chain ends
          at a missing parent; the last comment reached before a parent cycle
          repeats.
        - ``depth`` (int): number of ancestors; 0 at top level; a missing
          parent counts as one ancestor.
        - ``thread_path``: ids from ``root_id`` down to the comment, "/"-joined.
        - ``sibling_index`` (int): 1-based position among the comments of the
          same thread with the same ``parent_id``, in input order.
        - ``article_title``, ``article_body``, ``article_author``: "" where the
          thread has no article (or the articles file has no ``author``).
    """
    n = len(comments)
    ids = _column(comments, COMMENT_ID)
    texts = _column(comments, TEXT)
    threads = _column(comments, THREAD_ID)
    parents = resolve_parents(comments)

    depth, root, paths = _walk(ids, parents)
    # A comment that is its own parent gets no parent text: it is its own root at depth 0.
    has_parent = (parents >= 0) & (parents != np.arange(n))
    parent_text = np.full(n, "", dtype=object)
    parent_text[has_parent] = texts[parents[has_parent]]

    parent_key = np.where(parents == TOP_LEVEL, "", _column(comments, PARENT_ID))
    keys = pd.DataFrame({"thread": threads, "parent": parent_key})
    sibling = keys.groupby(["thread", "parent"], sort=False).cumcount().to_numpy() + 1

    title, body, article_author = _article_fields(
        threads, articles, has_threads=THREAD_ID in comments.columns
    )
    columns: dict[str, object] = {
        PARENT_TEXT: _text(parent_text),
        ROOT_ID: _text(ids[root]),
        ROOT_TEXT: _text(texts[root]),
        DEPTH: depth,
        THREAD_PATH: _text(paths),
        SIBLING_INDEX: sibling.astype(np.int64),
        ARTICLE_TITLE: _text(title),
        ARTICLE_BODY: _text(body),
        ARTICLE_AUTHOR: _text(article_author),
    }
    return pd.DataFrame(columns, index=comments.index, columns=list(CONTEXT_COLUMNS))


def _walk(ids: npt.NDArray[np.object_], parents: Ints) -> tuple[Ints, Ints, list[str]]:
    """Depth, root position and path of every comment.

    Walking up from a comment stops at a top-level comment, at a missing parent
    or just before a parent cycle would repeat. Those stopping points are
    "anchors" with known values; every other comment inherits from its parent
    (depth + 1, same root, path + own id).
    """
    n = len(ids)
    positions = np.arange(n, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    root = positions.copy()
    paths: list[str] = [str(cid) for cid in ids]
    anchor = parents < 0
    depth[parents == MISSING_PARENT] = 1

    for cycle in find_cycles(parents):
        anchor[cycle] = True
        names = [paths[pos] for pos in cycle]
        length = len(cycle)
        for offset, pos in enumerate(cycle):
            walk = names[offset:] + names[:offset]  # the comment, its parent, ... up the cycle
            depth[pos] = length - 1
            root[pos] = cycle[(offset - 1) % length]
            paths[pos] = PATH_SEPARATOR.join(reversed(walk))

    # Pointer doubling: jump to the nearest anchor above, adding up the steps.
    jump = np.where(anchor, positions, parents)
    steps = (~anchor).astype(np.int64)
    while not anchor[jump].all():
        steps = steps + steps[jump]
        jump = jump[jump]
    depth = np.where(anchor, depth, steps + depth[jump])
    root = root[jump]

    # Paths need the parent's path first: fill non-anchors in order of depth.
    inherit = np.flatnonzero(~anchor)
    order = inherit[np.argsort(depth[inherit], kind="stable")]
    parent_of = parents.tolist()
    for pos in order.tolist():
        paths[pos] = paths[parent_of[pos]] + PATH_SEPARATOR + paths[pos]
    return depth, root, paths


def _article_fields(
    threads: npt.NDArray[np.object_], articles: pd.DataFrame | None, *, has_threads: bool
) -> tuple[npt.NDArray[np.object_], ...]:
    """Title, body and author of each comment's article ("" where none)."""
    n = len(threads)
    names = (TITLE, BODY, AUTHOR)
    if articles is None or articles.empty or THREAD_ID not in articles.columns:
        return tuple(np.full(n, "", dtype=object) for _ in names)
    keys = _column(articles, THREAD_ID)
    fields = [_column(articles, name) for name in names]
    if not has_threads and len(articles) == 1:
        # An export of one page's comments, with that page as the only article.
        return tuple(np.full(n, values[0], dtype=object) for values in fields)
    first = ~pd.Series(keys).duplicated().to_numpy()
    if not first.all():
        logger.warning("articles: %d repeated thread_id rows ignored", int((~first).sum()))
    found = pd.Index(keys[first], dtype=object).get_indexer(pd.Index(threads, dtype=object))
    hit = found >= 0
    out = []
    for values in fields:
        column = np.full(n, "", dtype=object)
        column[hit] = values[first][found[hit]]
        out.append(column)
    return tuple(out)


def _column(frame: pd.DataFrame, name: str) -> npt.NDArray[np.object_]:
    """Values of a text column as an object array; "" for missing cells or a missing column."""
    if name not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    values: npt.NDArray[np.object_] = (
        frame[name].astype("str").fillna("").to_numpy(dtype=object, na_value="")
    )
    return values


def _text(values: npt.NDArray[np.object_] | list[str]) -> pd.api.extensions.ExtensionArray:
    # An array, not a Series: a Series would align on a RangeIndex instead of the input's.
    return pd.array(values, dtype="str")
