"""Our own JSON API: many comments at once (``POST /v1/score``) and whole threads (``/v1/thread``).

Both run the library's `Moderator.score` on the request as one export, so a reply is scored
with its parent, its article and its thread (``derailed_at``, back-and-forth, ...), exactly as
``moderation score`` would score the same rows. Limits are checked before scoring and
answered with a clear message: too many comments -> 413, a text too long or a bad extra
column name -> 400 (an oversized body is refused with 413 before it is even parsed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from moderation import schema
from moderation.service.scoring import (
    CleanStr,
    ServiceState,
    api_key_matches,
    row_result,
    service_state,
)

__all__ = [
    "ArticleIn",
    "CommentIn",
    "CommentResult",
    "ScoreRequest",
    "ScoreResponse",
    "ThreadRequest",
    "ThreadResponse",
    "router",
]

#: Names allowed for extra columns (``fields``), which rules can scope on.
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_RESERVED = {*schema.INPUT_COLUMNS, schema.PROBLEMS}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommentIn(_Model):
    """One comment of a batch, in the canonical columns of a comment export."""

    comment_id: CleanStr = Field(min_length=1)
    thread_id: CleanStr = ""
    parent_id: CleanStr = ""
    author: CleanStr = ""
    text: CleanStr = ""
    created_at: CleanStr = ""
    fields: dict[CleanStr, CleanStr] = Field(
        default_factory=dict,
        description="Extra columns (e.g. site) that rules can scope on; names are identifiers.",
    )


class ThreadCommentIn(_Model):
    """One comment of a thread (the thread id is the request's)."""

    comment_id: CleanStr = Field(min_length=1)
    parent_id: CleanStr = ""
    author: CleanStr = ""
    text: CleanStr = ""
    created_at: CleanStr = ""
    fields: dict[CleanStr, CleanStr] = Field(default_factory=dict)


class ArticleIn(_Model):
    """The article a thread belongs to."""

    thread_id: CleanStr
    title: CleanStr = ""
    body: CleanStr = ""


class ArticleText(_Model):
    """The article of a thread request."""

    title: CleanStr = ""
    body: CleanStr = ""


class ScoreRequest(_Model):
    """Many comments, from one or many threads, with their articles."""

    comments: list[CommentIn]
    articles: list[ArticleIn] = Field(default_factory=list)
    doNotStore: bool = Field(
        default=False, description="Do not add escalated comments to the review queue."
    )


class ThreadRequest(_Model):
    """One whole thread: its article and every comment with its parent."""

    thread_id: CleanStr = Field(default="thread", min_length=1)
    article: ArticleText | None = None
    comments: list[ThreadCommentIn]
    doNotStore: bool = False


class CommentResult(BaseModel):
    """The scores, decision and thread fields of one comment (null score: empty text)."""

    comment_id: str
    scores: dict[str, float | None]
    action: str
    priority: int
    reasons: list[str]
    spans: dict[str, list[dict[str, int | float]]]
    depth: int
    root_id: str
    derailed_at: str | None
    back_and_forth: int
    participants: int
    hostility_trend: float | None
    user_directed_insult: float | None
    problems: list[str]


class ScoreResponse(BaseModel):
    """One result per comment, in request order."""

    results: list[CommentResult]


class ThreadResponse(BaseModel):
    """Per-comment results plus what a moderator wants to know about the thread."""

    thread_id: str
    comments: list[CommentResult]
    derailed_at: list[str] = Field(
        description="Comments where a sub-thread left the article, in thread order."
    )
    actions: dict[str, int] = Field(description="How many comments got each action.")


def _check_key(request: Request) -> None:
    if not api_key_matches(request, service_state(request).settings.api_key):
        raise HTTPException(403, "invalid or missing API key: pass ?key=KEY or X-Goog-Api-Key")


router = APIRouter(prefix="/v1", dependencies=[Depends(_check_key)], tags=["Batch"])

_LIMITS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A text too long or a bad extra column name"},
    403: {"description": "Invalid or missing API key (when one is configured)"},
    413: {"description": "Too many comments, or a body larger than the limit"},
}


def _check(comments: Sequence[CommentIn | ThreadCommentIn], state: ServiceState) -> None:
    limit = state.settings.max_comments
    if len(comments) > limit:
        raise HTTPException(
            413, f"{len(comments)} comments in one request; the limit is {limit}: split it"
        )
    longest = state.settings.max_text_chars
    for i, comment in enumerate(comments):
        if len(comment.text) > longest:
            raise HTTPException(
                400,
                f"comments[{i}] (comment_id {comment.comment_id!r}): text has "
                f"{len(comment.text)} characters; the limit is {longest}",
            )
        for name in comment.fields:
            if not FIELD_NAME.fullmatch(name) or name in _RESERVED:
                raise HTTPException(
                    400,
                    f"comments[{i}].fields: {name[:70]!r} is not a usable column name "
                    "(an identifier that is not a canonical column)",
                )


def _rows(comments: Sequence[CommentIn | ThreadCommentIn], thread_id: str | None) -> pd.DataFrame:
    rows = []
    for comment in comments:
        row = comment.fields | comment.model_dump(exclude={"fields"})
        if thread_id is not None:
            row[schema.THREAD_ID] = thread_id
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def _results(scored: pd.DataFrame) -> list[CommentResult]:
    return [CommentResult(**row_result(row)) for _, row in scored.iterrows()]


@router.post("/score", response_model=ScoreResponse, responses=_LIMITS)
def score_batch(
    body: ScoreRequest, state: Annotated[ServiceState, Depends(service_state)]
) -> ScoreResponse:
    """Score many comments at once, each with its thread context; results in request order."""
    _check(body.comments, state)
    if not body.comments:
        return ScoreResponse(results=[])
    articles = pd.DataFrame([a.model_dump() for a in body.articles]) if body.articles else None
    scored = state.score(_rows(body.comments, None), articles, store=not body.doNotStore)
    return ScoreResponse(results=_results(scored))


@router.post("/thread", response_model=ThreadResponse, responses=_LIMITS)
def score_thread(
    body: ThreadRequest, state: Annotated[ServiceState, Depends(service_state)]
) -> ThreadResponse:
    """Score a whole thread: per-comment scores and actions, and where sub-threads derailed."""
    _check(body.comments, state)
    if not body.comments:
        return ThreadResponse(thread_id=body.thread_id, comments=[], derailed_at=[], actions={})
    articles = None
    if body.article is not None:
        articles = pd.DataFrame([{schema.THREAD_ID: body.thread_id, **body.article.model_dump()}])
    scored = state.score(_rows(body.comments, body.thread_id), articles, store=not body.doNotStore)
    results = _results(scored)
    derailed = list(dict.fromkeys(r.derailed_at for r in results if r.derailed_at))
    counts = scored[schema.ACTION].value_counts()
    return ThreadResponse(
        thread_id=body.thread_id,
        comments=results,
        derailed_at=derailed,
        actions={str(action): int(n) for action, n in counts.items()},
    )
