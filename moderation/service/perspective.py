"""Perspective API's ``comments:analyze`` and ``comments:suggestscore``, served offline.

A client that speaks Perspective (``POST /v1alpha1/comments:analyze``) switches to this service
by changing its base URL: the request and response shapes are Perspective's, the six
hostility attributes map to our labels, and errors use Google's error shape (``{"error":
{"code", "message", "status", "details"}}``, HTTP 400 ``INVALID_ARGUMENT``). Unlike
Perspective, ``OFF_TOPIC`` is scored, from the article and parent given as context.

Context: ``context.articleAndParentComment`` names the article and parent explicitly; with
``context.entries`` the first entry is the article and, when there are two or more, the last
is the parent comment (entries in between are not used).

``comments:suggestscore`` appends the suggestion to ``<feedback_dir>/suggestions.jsonl`` as
a labelled comment that ``moderation train --feedback`` reads directly (a suggested value of
0.5 or more is label 1, below is 0; attributes not suggested stay unknown).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from moderation import schema
from moderation.formats import html_to_text
from moderation.normalize import normalize_text
from moderation.service.scoring import CleanStr, ServiceState, api_key_matches, service_state

__all__ = [
    "ATTRIBUTES",
    "FEEDBACK_FILE",
    "AnalyzeRequest",
    "AnalyzeResponse",
    "PerspectiveError",
    "SuggestRequest",
    "SuggestResponse",
    "error_body",
    "router",
    "validation_error",
]

#: Perspective attribute -> our score column.
ATTRIBUTES = {
    "TOXICITY": schema.TOXICITY,
    "SEVERE_TOXICITY": schema.SEVERE_TOXICITY,
    "INSULT": schema.INSULT,
    "THREAT": schema.THREAT,
    "IDENTITY_ATTACK": schema.IDENTITY_ATTACK,
    "PROFANITY": schema.PROFANITY,
    "OFF_TOPIC": schema.OFF_TOPIC,
}
#: The only score type (Perspective's default): a probability in [0, 1].
PROBABILITY = "PROBABILITY"
#: The bundled models are trained on English comments.
LANGUAGES = ("en",)
#: Where suggestions go, inside ``settings.feedback_dir``.
FEEDBACK_FILE = "suggestions.jsonl"
#: Suggested values at or above this are label 1 in the feedback file.
LABEL_AT = 0.5
#: Share of a text's letters that must be Latin script for it to count as English.
LATIN_SHARE = 0.5

_ERROR_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_FEEDBACK_LOCK = threading.Lock()


class PerspectiveError(Exception):
    """An error answered in Google's shape: HTTP ``code``, ``status``, ``message``, ``details``."""

    def __init__(
        self,
        message: str,
        *,
        code: int = 400,
        status: str = "INVALID_ARGUMENT",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details or []


def _field_error(field: str, description: str) -> PerspectiveError:
    """A 400 naming the request field at fault (``google.rpc.BadRequest``)."""
    return PerspectiveError(
        f"{field}: {description}",
        details=[
            {
                "@type": _BAD_REQUEST,
                "fieldViolations": [{"field": field, "description": description}],
            }
        ],
    )


def error_body(exc: PerspectiveError) -> dict[str, Any]:
    """Google's error shape for `exc`."""
    return {
        "error": {
            "code": exc.code,
            "message": exc.message,
            "status": exc.status,
            "details": exc.details,
        }
    }


def validation_error(exc: RequestValidationError) -> PerspectiveError:
    """A malformed Perspective request (bad JSON, unknown field, wrong type) as a 400."""
    violations = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        violations.append(
            {"field": ".".join(location) or "body", "description": str(error.get("msg", ""))}
        )
    first = violations[0] if violations else {"field": "body", "description": "invalid request"}
    return PerspectiveError(
        f"Invalid JSON payload received. {first['field']}: {first['description']}",
        details=[{"@type": _BAD_REQUEST, "fieldViolations": violations}],
    )


# Documented in the OpenAPI schema; other names and languages are answered with a 400.
_ATTRIBUTE_NAMES: dict[str, Any] = {"propertyNames": {"enum": list(ATTRIBUTES)}, "minProperties": 1}
_LANGUAGE_TAGS: dict[str, Any] = {
    "items": {"type": "string", "pattern": "^[Ee][Nn](-[A-Za-z0-9]+)*$"}
}


class _Model(BaseModel):
    # Google APIs refuse unknown fields ("Unknown name ..."), so a typo is an error here too.
    model_config = ConfigDict(extra="forbid")


class TextEntry(_Model):
    """A piece of text: the comment, or a context entry."""

    text: CleanStr = ""
    type: Literal["PLAIN_TEXT", "HTML", "TEXT_TYPE_UNSPECIFIED"] = "PLAIN_TEXT"


class ArticleAndParentComment(_Model):
    """Perspective's explicit context: the article and the comment replied to."""

    article: TextEntry | None = None
    parentComment: TextEntry | None = None


class Context(_Model):
    """What the comment is about: used for ``OFF_TOPIC`` only."""

    entries: list[TextEntry] = Field(default_factory=list)
    articleAndParentComment: ArticleAndParentComment | None = None


class AttributeParameters(_Model):
    """Per-attribute options of a request."""

    scoreType: CleanStr | None = None
    scoreThreshold: float | None = Field(default=None, ge=0.0, le=1.0)


class AnalyzeRequest(_Model):
    """Body of ``comments:analyze`` (Perspective's ``AnalyzeCommentRequest``)."""

    comment: TextEntry
    context: Context | None = None
    requestedAttributes: dict[CleanStr, AttributeParameters] = Field(
        json_schema_extra=_ATTRIBUTE_NAMES
    )
    spanAnnotations: bool = False
    languages: list[CleanStr] | None = Field(default=None, json_schema_extra=_LANGUAGE_TAGS)
    doNotStore: bool = False
    clientToken: CleanStr | None = None
    sessionId: CleanStr | None = None
    communityId: CleanStr | None = None


class Score(BaseModel):
    """A score and its type."""

    value: float
    type: str = PROBABILITY


class SpanScore(BaseModel):
    """A score for ``text[begin:end]`` (character offsets of the comment as sent)."""

    begin: int
    end: int
    score: Score


class AttributeScores(BaseModel):
    """The score of one attribute for the whole comment and, if asked, per sentence."""

    summaryScore: Score | None = None
    spanScores: list[SpanScore] | None = None


class AnalyzeResponse(BaseModel):
    """Body of a ``comments:analyze`` answer (Perspective's ``AnalyzeCommentResponse``)."""

    attributeScores: dict[str, AttributeScores]
    languages: list[str]
    detectedLanguages: list[str] | None = None
    clientToken: str | None = None


class SuggestRequest(_Model):
    """Body of ``comments:suggestscore`` (Perspective's ``SuggestCommentScoreRequest``)."""

    comment: TextEntry
    context: Context | None = None
    attributeScores: dict[CleanStr, AttributeScores] = Field(json_schema_extra=_ATTRIBUTE_NAMES)
    languages: list[CleanStr] | None = Field(default=None, json_schema_extra=_LANGUAGE_TAGS)
    communityId: CleanStr | None = None
    clientToken: CleanStr | None = None
    sessionId: CleanStr | None = None


class SuggestResponse(BaseModel):
    """Body of a ``comments:suggestscore`` answer."""

    detectedLanguages: list[str] | None = None
    requestedLanguages: list[str] | None = None
    clientToken: str | None = None


def _check_key(request: Request) -> None:
    state = service_state(request)
    if not api_key_matches(request, state.settings.api_key):
        raise PerspectiveError(
            "API key not valid. Please pass a valid API key.",
            details=[{"@type": _BAD_REQUEST, "fieldViolations": [{"field": "key"}]}],
        )


router = APIRouter(dependencies=[Depends(_check_key)], tags=["Perspective"])


def _plain(entry: TextEntry) -> str:
    return html_to_text(entry.text) if entry.type == "HTML" else entry.text


def _context(context: Context | None) -> tuple[str | None, str | None]:
    """``(article, parent)`` texts from the request's context (see the module docstring)."""
    if context is None:
        return None, None
    explicit = context.articleAndParentComment
    if explicit is not None and (explicit.article or explicit.parentComment):
        article = _plain(explicit.article) if explicit.article else None
        parent = _plain(explicit.parentComment) if explicit.parentComment else None
        return article or None, parent or None
    entries = [_plain(entry) for entry in context.entries]
    article = entries[0] if entries else None
    parent = entries[-1] if len(entries) >= 2 else None
    return article or None, parent or None


def _looks_latin(text: str) -> bool:
    """Whether most letters are Latin script after de-obfuscation (look-alikes folded)."""
    letters = [c for c in normalize_text(text) if c.isalpha()]
    if not letters:
        return True
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin >= LATIN_SHARE * len(letters)


def _languages(requested: list[str] | None, text: str, attribute: str) -> tuple[list[str], bool]:
    """The languages to answer with and whether they were detected (not given)."""
    if requested:
        for language in requested:
            if language.split("-")[0].lower() not in LANGUAGES:
                raise _language_error(attribute, requested)
        return list(requested), False
    if not _looks_latin(text):
        raise _language_error(attribute, ["und"])
    return ["en"], True


def _language_error(attribute: str, languages: list[str]) -> PerspectiveError:
    shown = ",".join(languages)
    return PerspectiveError(
        f"Attribute {attribute} does not support request languages: {shown}",
        details=[
            {
                "@type": _ERROR_TYPE,
                "errorType": "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                "languageNotSupportedByAttributeError": {
                    "detectedLanguages": languages,
                    "attribute": attribute,
                },
            }
        ],
    )


def _check_attributes(names: list[str]) -> None:
    if not names:
        raise _field_error("requestedAttributes", "name at least one attribute")
    for name in names:
        if name not in ATTRIBUTES:
            known = ", ".join(ATTRIBUTES)
            raise PerspectiveError(
                f"Unknown attribute: {name}. Supported attributes: {known}",
                details=[
                    {
                        "@type": _BAD_REQUEST,
                        "fieldViolations": [
                            {
                                "field": f"requestedAttributes.{name}",
                                "description": f"not supported; use one of {known}",
                            }
                        ],
                    }
                ],
            )


def _check_text(text: str, limit: int) -> None:
    if not text.strip():
        raise _field_error("comment.text", "Comment must be non-empty.")
    if len(text) > limit:
        raise _field_error(
            "comment.text", f"Comment text too long: {len(text)} characters, the limit is {limit}."
        )


def _frame(text: str, parent: str | None, comment_id: str, thread_id: str) -> pd.DataFrame:
    rows = [{schema.COMMENT_ID: comment_id, schema.THREAD_ID: thread_id, schema.TEXT: text}]
    if parent is not None:
        rows[0][schema.PARENT_ID] = f"{comment_id}:parent"
        rows.insert(
            0,
            {
                schema.COMMENT_ID: f"{comment_id}:parent",
                schema.THREAD_ID: thread_id,
                schema.TEXT: parent,
            },
        )
    return pd.DataFrame(rows).fillna("")


def _score_comment(
    state: ServiceState,
    text: str,
    article: str | None,
    parent: str | None,
    *,
    store: bool,
    comment_id: str,
    thread_id: str,
) -> pd.Series:
    """Score one comment with its context; queue it (never its parent) if it escalates."""
    frame = _frame(text, parent, comment_id, thread_id)
    articles = None
    if article is not None:
        articles = pd.DataFrame(
            {schema.THREAD_ID: [thread_id], schema.TITLE: [""], schema.BODY: [article]}
        )
    scored = state.score(frame, articles, store=store, queue_ids=[comment_id])
    return scored.iloc[-1]


@router.post(
    "/v1alpha1/comments:analyze",
    response_model=AnalyzeResponse,
    response_model_exclude_none=True,
    summary="Score a comment (Perspective AnalyzeComment)",
    responses={400: {"description": "Perspective-style error: unknown attribute, language, ..."}},
)
def analyze(
    body: AnalyzeRequest, state: Annotated[ServiceState, Depends(service_state)]
) -> AnalyzeResponse:
    """Perspective's ``AnalyzeComment``: attribute scores and, if asked, per-sentence spans."""
    names = list(body.requestedAttributes)
    _check_attributes(names)
    for name, options in body.requestedAttributes.items():
        if options.scoreType not in (None, "", PROBABILITY):
            raise _field_error(
                f"requestedAttributes.{name}.scoreType",
                f"unsupported score type {options.scoreType!r}; use {PROBABILITY}",
            )
    text = _plain(body.comment)
    _check_text(text, state.settings.max_text_chars)
    languages, detected = _languages(body.languages, text, names[0])
    article, parent = _context(body.context)
    if schema.OFF_TOPIC in {ATTRIBUTES[n] for n in names} and article is None:
        raise _field_error(
            "context",
            "OFF_TOPIC needs the article: give context.entries (article first, parent last) "
            "or context.articleAndParentComment",
        )
    token = body.clientToken or "analyze"
    row = _score_comment(
        state,
        text,
        article,
        parent,
        store=not body.doNotStore,
        comment_id=token,
        thread_id=body.communityId or "perspective",
    )
    spans: dict[str, list[SpanScore]] = {}
    hostility = [ATTRIBUTES[n] for n in names if ATTRIBUTES[n] in schema.LABELS]
    if body.spanAnnotations and body.comment.type != "HTML" and hostility:
        # Every sentence with its score, as Perspective returns them (threshold 0).
        found = state.moderator.bundle.hostility.span_map(
            text, hostility, dict.fromkeys(hostility, 0.0)
        )
        spans = {
            label: [
                SpanScore(begin=s.begin, end=s.end, score=Score(value=s.score))
                for s in parts["sentence"]
            ]
            for label, parts in found.items()
        }
    scores: dict[str, AttributeScores] = {}
    for name in names:
        label = ATTRIBUTES[name]
        value = float(row[label])
        threshold = body.requestedAttributes[name].scoreThreshold or 0.0
        if value != value or value < threshold:  # NaN or below the requested threshold
            continue
        kept = [s for s in spans.get(label, []) if s.score.value >= threshold]
        scores[name] = AttributeScores(
            summaryScore=Score(value=value),
            spanScores=kept if body.spanAnnotations and label in spans else None,
        )
    return AnalyzeResponse(
        attributeScores=scores,
        languages=languages,
        detectedLanguages=languages if detected else None,
        clientToken=body.clientToken,
    )


def _thread_of(article: str | None, text: str) -> str:
    """Feedback rows about one article share a thread, so held-out splits keep them together."""
    return "suggest-" + hashlib.sha256((article or text).encode("utf-8")).hexdigest()[:16]


def feedback_row(body: SuggestRequest, text: str, now: dt.datetime) -> dict[str, Any]:
    """A suggestion as a labelled comment in the columns ``moderation train --feedback`` reads."""
    article, parent = _context(body.context)
    labels: dict[str, int | None] = dict.fromkeys(schema.SCORES)
    suggested: dict[str, float] = {}
    for name, scores in body.attributeScores.items():
        if scores.summaryScore is None:
            continue
        suggested[name] = scores.summaryScore.value
        labels[ATTRIBUTES[name]] = int(scores.summaryScore.value >= LABEL_AT)
    return {
        "text": text,
        "thread_id": _thread_of(article, text),
        "parent_text": parent or "",
        **labels,
        "source": "comments:suggestscore",
        "suggested_scores": suggested,
        "community_id": body.communityId or "",
        "client_token": body.clientToken or "",
        "session_id": body.sessionId or "",
        "suggested_at": now.isoformat(timespec="seconds"),
    }


def append_feedback(directory: Path, row: dict[str, Any]) -> Path:
    """Append one JSON line to ``directory/suggestions.jsonl`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FEEDBACK_FILE
    line = json.dumps(row, ensure_ascii=False) + "\n"
    with _FEEDBACK_LOCK, path.open("a", encoding="utf-8") as handle:
        handle.write(line)
    return path


@router.post(
    "/v1alpha1/comments:suggestscore",
    response_model=SuggestResponse,
    response_model_exclude_none=True,
    summary="Record a suggested score as feedback (Perspective SuggestCommentScore)",
    responses={400: {"description": "Perspective-style error"}},
)
def suggest_score(
    body: SuggestRequest, state: Annotated[ServiceState, Depends(service_state)]
) -> SuggestResponse:
    """Perspective's ``SuggestCommentScore``: keep the suggestion for retraining."""
    names = list(body.attributeScores)
    _check_attributes(names)
    if all(body.attributeScores[n].summaryScore is None for n in names):
        raise _field_error("attributeScores", "give a summaryScore for at least one attribute")
    for name in names:
        summary = body.attributeScores[name].summaryScore
        if summary is not None and not 0.0 <= summary.value <= 1.0:
            raise _field_error(
                f"attributeScores.{name}.summaryScore.value",
                f"{summary.value} is not a probability in [0, 1]",
            )
    text = _plain(body.comment)
    _check_text(text, state.settings.max_text_chars)
    languages, detected = _languages(body.languages, text, names[0])
    directory = state.settings.feedback_dir
    if directory is None:
        raise PerspectiveError(
            "Suggestions are not recorded: start the service with --feedback-dir "
            "(or MODERATION_FEEDBACK_DIR) to keep them for retraining.",
            status="FAILED_PRECONDITION",
        )
    try:
        append_feedback(directory, feedback_row(body, text, dt.datetime.now(dt.UTC)))
    except OSError as exc:  # the server's disk, not the caller, is at fault
        raise PerspectiveError(
            f"cannot record the suggestion in {directory / FEEDBACK_FILE}: {exc.strerror or exc}",
            code=500,
            status="INTERNAL",
        ) from exc
    return SuggestResponse(
        detectedLanguages=languages if detected else None,
        requestedLanguages=body.languages or None,
        clientToken=body.clientToken,
    )
