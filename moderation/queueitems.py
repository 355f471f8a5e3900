"""Review items entering the queue: their identity (`item_key`) and idempotent upserts.

Part of the review queue (:mod:`moderation.reviewqueue`), the last step of the scoring flow
(… → rules → review list → **queue**). `moderation.review.build_queue` decides *what* a
moderator must look at; `add_items` (``ReviewQueue.add``) writes those items and their
comments, keyed by `item_key`, so re-scoring the same export updates pending items instead
of adding duplicates. Upserts use ``INSERT … ON CONFLICT`` on both SQLite and PostgreSQL.

Besides scores and verdicts, an item keeps what its moderator reads it by: the title of
the article its thread hangs under (the scored frame does not carry it, so the caller
passes the articles it scored with) and each comment's ``spans``, the words behind its
scores as the scorer found them, so the review page highlights them without a model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from moderation import schema
from moderation.queuedatabase import QueueDatabase
from moderation.queuetables import PENDING, comments, items, utc_now
from moderation.review import ITEM_COMMENTS, ITEM_SIZE, build_queue
from moderation.rules import REVIEW_GROUP

__all__ = ["DEFAULT_FLAG_AT", "SPANS", "AddResult", "add_items", "item_key"]

#: Score a label must reach to count as flagged when no thresholds are given.
DEFAULT_FLAG_AT = 0.5
#: The scored frame's spans column (`moderation.moderator.SPANS`; named here so that
#: writing the queue does not import the model code).
SPANS = "spans"


@dataclass(frozen=True)
class AddResult:
    """What `ReviewQueue.add` did: item counts and the ids of the items written or kept."""

    added: int
    updated: int
    already_decided: int
    item_ids: list[int]

    @property
    def items(self) -> int:
        """Items in the export's review list (added + updated + already decided)."""
        return self.added + self.updated + self.already_decided


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def item_key(thread_id: str, comment_id: str, text: str, *, members: Sequence[str] = ()) -> str:
    """The identity of a review item, stable across re-scoring runs.

    A single comment is identified by its thread, its id and a hash of its text: re-scoring
    the same export finds the same item, while an edited comment becomes a new item (the
    moderator decided on other words). A derailed sub-thread is identified by its thread,
    the comment where it left the article and its member ids, so the same sub-thread is one
    item however often it is scored; a sub-thread that grew is a new item holding all its
    comments.

    Parameters
    ----------
    thread_id, comment_id, text
        Of the comment (for a sub-thread: of the comment where it left the article; the
        text is then not part of the key).
    members
        Comment ids of a sub-thread item; empty for a single comment.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    if members:
        return _sha256("subthread", thread_id, comment_id, *sorted(members))
    return _sha256("comment", thread_id, comment_id, _sha256(text))


def add_items(
    queue: QueueDatabase,
    scored: pd.DataFrame,
    *,
    thresholds: Mapping[str, float] | None = None,
    articles: pd.DataFrame | None = None,
) -> AddResult:
    """Queue the escalated comments of a scored export; idempotent.

    Items come from `moderation.review.build_queue` (a derailed sub-thread is one item
    with all its comments). An item already in the queue (same `item_key`) is refreshed
    while it is pending (new scores, priority, reasons, spans; the title when known) and
    left alone once decided, so re-scoring an export never duplicates work or reopens a
    decision. Everything is written in one transaction: concurrent writers neither lose
    nor duplicate items.

    Parameters
    ----------
    scored : DataFrame
        The frame returned by `moderation.Moderator.score`. Its ``spans`` column, when
        present, is stored with each comment (a frame without it stores NULL, and the
        review page recomputes highlights); an ``article_title`` column, when present,
        gives titles for the threads ``articles`` does not cover.
    thresholds : mapping of str to float, optional
        Score at which each label counts as flagged (the bundle's thresholds);
        default `DEFAULT_FLAG_AT`. The flagged labels are what ``approve`` (wrong) and
        ``reject`` (right) say something about in `export_labels`.
    articles : DataFrame, optional
        The articles the export was scored with (``thread_id``, ``title``, as given to
        `moderation.Moderator.score`): each item stores its thread's title. Threads with
        no title store NULL, and a pending item keeps the title it already has.

    Returns
    -------
    AddResult
    """
    review = build_queue(scored)
    if review.empty:
        return AddResult(0, 0, 0, [])
    members = _members(scored, review, thresholds or {})
    titles = _titles(articles, review)
    now = utc_now()
    added = updated = decided = 0
    ids: list[int] = []
    insert = pg_dialect.insert if queue.dialect == "postgresql" else sqlite_dialect.insert
    with queue.begin() as conn:
        planned = [
            (_item_values(row, rows, now, title), rows)
            for row, rows, title in zip(review.to_dict("records"), members, titles, strict=True)
        ]
        # Every writer locks items in key order, so concurrent runs cannot deadlock.
        planned.sort(key=lambda pair: str(pair[0]["item_key"]))
        for values, rows in planned:
            statement = (
                insert(items).values(**values).on_conflict_do_nothing(index_elements=["item_key"])
            )
            new_id = conn.execute(statement.returning(items.c.id)).scalar()
            if new_id is not None:
                added += 1
                item_id = int(new_id)
            else:
                refresh = {
                    k: v
                    for k, v in values.items()
                    if k not in ("item_key", "first_seen_at", "kind")
                    and not (k == "article_title" and v is None)  # keep a known title
                }
                item_id = int(
                    conn.execute(
                        sa.select(items.c.id).where(items.c.item_key == values["item_key"])
                    ).scalar_one()
                )
                changed = conn.execute(
                    items.update()
                    .where(items.c.id == item_id, items.c.status == PENDING)
                    .values(**refresh, times_seen=items.c.times_seen + 1)
                ).rowcount
                if not changed:
                    decided += 1
                    ids.append(item_id)
                    continue
                updated += 1
            ids.append(item_id)
            comment_rows = [{**r, "item_id": item_id} for r in rows]
            upsert = insert(comments).values(comment_rows)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["item_id", "comment_id"],
                    set_={
                        **{
                            c.name: upsert.excluded[c.name]
                            for c in comments.columns
                            if c.name not in ("item_id", "comment_id")
                        },
                        # Scored without spans this time: keep the ones stored before.
                        SPANS: sa.func.coalesce(upsert.excluded[SPANS], comments.c.spans),
                    },
                )
            )
    return AddResult(added, updated, decided, ids)


def _members(
    scored: pd.DataFrame, review: pd.DataFrame, thresholds: Mapping[str, float]
) -> list[list[dict[str, Any]]]:
    """The comment rows of every item, with parent text and flagged labels."""
    frame = scored.reset_index(drop=True)
    threads = (
        frame[schema.THREAD_ID].map(_text)
        if schema.THREAD_ID in frame.columns
        else pd.Series("", index=frame.index)
    )
    ids = frame[schema.COMMENT_ID].map(_text)
    texts = frame[schema.TEXT].map(_text) if schema.TEXT in frame.columns else ids.map(str)
    has_spans = SPANS in frame.columns
    by_key: dict[tuple[str, str], int] = {}
    for pos, key in enumerate(zip(threads, ids, strict=True)):
        by_key.setdefault(key, pos)
    out: list[list[dict[str, Any]]] = []
    for row in review.to_dict("records"):
        thread = _text(row.get(schema.THREAD_ID))
        wanted = _text(row.get(ITEM_COMMENTS)).split() or [_text(row[schema.COMMENT_ID])]
        rows: list[dict[str, Any]] = []
        for comment_id in wanted:
            at = by_key.get((thread, comment_id))
            source: Mapping[Any, Any] = row if at is None else frame.iloc[at].to_dict()
            parent_id = _text(source.get(schema.PARENT_ID))
            parent_at = by_key.get((thread, parent_id)) if parent_id else None
            scores = _scores(source)
            grouped = bool(_text(source.get(REVIEW_GROUP)))
            rows.append(
                {
                    "comment_id": comment_id,
                    "position": len(rows),
                    "thread_id": thread,
                    "parent_id": parent_id,
                    "author": _text(source.get(schema.AUTHOR)),
                    "text": _text(source.get(schema.TEXT)),
                    "parent_text": "" if parent_at is None else texts.iloc[parent_at],
                    **scores,
                    **_verdict(source),
                    "flagged": " ".join(_flagged(scores, thresholds, grouped)),
                    SPANS: _spans_json(source.get(SPANS)) if has_spans else None,
                }
            )
        out.append(rows)
    return out


def _titles(articles: pd.DataFrame | None, review: pd.DataFrame) -> list[str | None]:
    """The article title of each item's thread: from ``articles``, else the scored frame.

    Matched as `moderation.thread.attach_context` matches them (thread ids as text, the
    first row of a repeated id wins, the only article is the article of comments without a
    thread id), so an item shows the title its comments were scored against.
    """
    threads = [_text(t) for t in review.get(schema.THREAD_ID, pd.Series("", index=review.index))]
    given: dict[str, str] = {}
    lone: str | None = None
    if articles is not None and {schema.THREAD_ID, schema.TITLE} <= set(articles.columns):
        keys, names = articles[schema.THREAD_ID].map(_text), articles[schema.TITLE].map(_text)
        for thread, title in zip(keys, names, strict=True):
            given.setdefault(thread, title.strip())
        if len(given) == 1:
            lone = next(iter(given.values()))
    scored = (
        review[schema.ARTICLE_TITLE].map(lambda v: _text(v).strip()).tolist()
        if schema.ARTICLE_TITLE in review.columns
        else [""] * len(review)
    )
    out: list[str | None] = []
    for thread, fallback in zip(threads, scored, strict=True):
        title = given.get(thread) or (lone if not thread else None) or fallback
        out.append(title or None)
    return out


def _spans_json(value: Any) -> str | None:
    """A comment's spans as stored: compact JSON of a mapping, "{}" when the scorer found none.

    `moderation.Moderator.score` writes "" for a comment without words over the thresholds.
    A missing cell (None, NaN: e.g. rows of a frame concatenated with one without spans) or
    a value that is not a JSON object is stored as NULL (unknown), so the review page
    recomputes highlights rather than trusting it.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        if not value.strip():
            return "{}"
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, Mapping):
        return None
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None


def _item_values(
    row: Mapping[Any, Any], rows: list[dict[str, Any]], now: dt.datetime, title: str | None
) -> dict[str, Any]:
    """The ``review_items`` row of an item: its lead comment, article, scores and verdict."""
    lead = rows[0]
    group = _text(row.get(REVIEW_GROUP))
    member_ids = [r["comment_id"] for r in rows]
    key = item_key(
        lead["thread_id"],
        group or lead["comment_id"],
        lead["text"],
        members=member_ids if group else (),
    )
    scores = _scores(row)
    flagged = dict.fromkeys(label for r in rows for label in r["flagged"].split())
    return {
        "item_key": key,
        "kind": "subthread" if group else "comment",
        "thread_id": lead["thread_id"],
        "comment_id": lead["comment_id"],
        "review_group": group,
        "author": lead["author"],
        "text": lead["text"],
        "parent_id": lead["parent_id"],
        "parent_text": lead["parent_text"],
        "article_title": title,
        **scores,
        "top_score": max((v for v in scores.values() if v is not None), default=0.0),
        **_verdict(row),
        "flagged": " ".join(flagged),
        "comment_ids": " ".join(member_ids),
        "item_size": len(member_ids) if group else int(row.get(ITEM_SIZE, 1) or 1),
        "first_seen_at": now,
        "last_seen_at": now,
    }


def _scores(source: Mapping[Any, Any]) -> dict[str, float | None]:
    """A scored row's label scores (None where missing or NaN)."""
    return {name: _float(source.get(name)) for name in schema.SCORES}


def _verdict(source: Mapping[Any, Any]) -> dict[str, Any]:
    """A scored row's action, priority and reasons, as the queue stores them."""
    return {
        "action": _text(source[schema.ACTION]),
        "priority": int(source[schema.PRIORITY]),
        "reasons": _text(source.get(schema.REASONS)),
    }


def _flagged(
    scores: Mapping[str, float | None], thresholds: Mapping[str, float], grouped: bool
) -> list[str]:
    """Labels a comment was flagged for: scores at their threshold, else the likeliest one.

    A comment escalated by a word or thread rule may have no score over its threshold; the
    decision is then about the label it scored highest (relative to its threshold), or about
    ``off_topic`` for a comment escalated as part of a derailed sub-thread.
    """
    known = {k: v for k, v in scores.items() if v is not None}
    limits = {k: float(thresholds.get(k, DEFAULT_FLAG_AT)) or DEFAULT_FLAG_AT for k in known}
    hit = [k for k in schema.SCORES if k in known and known[k] >= limits[k]]
    if grouped and schema.OFF_TOPIC not in hit:
        hit.append(schema.OFF_TOPIC)
    if hit or not known:
        return hit
    return [max(known, key=lambda k: known[k] / limits[k])]


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)
