"""Coral Talk's External Moderation Phase: a signed webhook answered with actions and a status.

Coral posts each new or edited comment (``{action, comment: {body, parentID}, author, story,
site, tenantID, tenantDomain}``) and waits, within its timeout, for ``204`` (no opinion) or
``200 {"actions": [...], "status": ...}``. The request is signed with the phase's shared
secret: ``X-Coral-Signature: sha256=<hex HMAC-SHA256 of the raw body>``, several comma-separated
while secrets rotate. A sender may also put ``t=<unix seconds>`` in the header; the HMAC then
covers ``"<t>.<body>"`` and a signature older (or newer) than ``settings.coral_tolerance``
seconds is refused, which stops replays. The body is verified *before* it is parsed, and the
route refuses everything when no secret is configured: it never runs unsigned.

Our rules decide the answer: ``allow`` -> 204; ``review`` -> flag the comment
(``COMMENT_DETECTED_TOXIC``) and leave its status to Coral; ``hold`` -> flag and
``SYSTEM_WITHHELD`` (pre-moderated until a person looks); ``remove`` -> flag and ``REJECTED``.
Coral keeps its own moderation queue, so these comments are not added to ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from moderation import schema
from moderation.service.scoring import CleanStr, ServiceState, service_state

__all__ = [
    "SIGNATURE_HEADER",
    "CoralRequest",
    "CoralResponse",
    "SignatureError",
    "coral_answer",
    "router",
    "sign",
    "verify_signature",
]

#: Header carrying the signature(s).
SIGNATURE_HEADER = "X-Coral-Signature"
FlagReason = Literal["COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"]
CoralStatus = Literal["NONE", "APPROVED", "REJECTED", "PREMOD", "SYSTEM_WITHHELD"]
#: The flag reason our escalations carry (Coral's system reasons: TOXIC or SPAM).
FLAG_REASON: FlagReason = "COMMENT_DETECTED_TOXIC"
#: Coral status for each of our actions (``allow`` answers 204, ``review`` sets none).
STATUS: dict[str, CoralStatus] = {
    schema.Action.HOLD.value: "SYSTEM_WITHHELD",
    schema.Action.REMOVE.value: "REJECTED",
}


class SignatureError(Exception):
    """The request is unsigned (401) or its signature is wrong or stale (403)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Coral-Signature`` value for ``body`` (with ``t=`` when a timestamp is given)."""
    message = body if timestamp is None else f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}" if timestamp is None else f"t={timestamp},sha256={digest}"


def verify_signature(
    header: str | None, body: bytes, secret: str, *, now: float, tolerance: float
) -> None:
    """Raise `SignatureError` unless ``header`` signs ``body`` with ``secret`` (see module doc)."""
    if not header or not header.strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header: the request is not signed", 401)
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(
                    f"{SIGNATURE_HEADER}: t={value!r} is not a Unix time in seconds", 401
                ) from None
        elif key == "sha256":
            candidates.append(value.strip().lower())
    if not candidates:
        raise SignatureError(
            f"{SIGNATURE_HEADER} has no sha256=<hex> signature (got {header[:80]!r})", 401
        )
    if timestamp is not None and abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"{SIGNATURE_HEADER} is stale: signed at {timestamp}, {now - timestamp:+.0f} s from "
            f"now; the tolerance is {tolerance:.0f} s",
            403,
        )
    expected = sign(secret, body, timestamp).rsplit("sha256=", 1)[1]
    # Compare with every candidate (no early exit), in constant time each.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode("ascii", "replace"), expected.encode())
    if not matched:
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body and shared secret", 403)


class CoralComment(BaseModel):
    """The comment being moderated."""

    model_config = ConfigDict(extra="allow")
    id: CleanStr | None = None
    body: CleanStr
    parentID: CleanStr | None = None


class CoralAuthor(BaseModel):
    """Its author."""

    model_config = ConfigDict(extra="allow")
    id: CleanStr | None = None
    role: CleanStr | None = None


class CoralStory(BaseModel):
    """The story (article) it was posted on."""

    model_config = ConfigDict(extra="allow")
    id: CleanStr | None = None
    url: CleanStr | None = None


class CoralRequest(BaseModel):
    """Body of Coral's external moderation request (fields Coral adds later are ignored)."""

    model_config = ConfigDict(extra="allow")
    action: Literal["NEW", "EDIT"] = "NEW"
    comment: CoralComment
    author: CoralAuthor | None = None
    story: CoralStory | None = None
    tenantID: CleanStr | None = None
    tenantDomain: CleanStr | None = None


class CoralAction(BaseModel):
    """An action Coral applies: a system flag with its reason."""

    actionType: Literal["FLAG"] = "FLAG"
    reason: FlagReason = FLAG_REASON


class CoralResponse(BaseModel):
    """Body of a 200 answer."""

    actions: list[CoralAction] = Field(default_factory=list)
    status: CoralStatus | None = None


def coral_answer(action: str) -> CoralResponse | None:
    """What to tell Coral for one of our actions (``None``: answer 204, no opinion)."""
    if action == schema.Action.ALLOW.value:
        return None
    return CoralResponse(actions=[CoralAction()], status=STATUS.get(action))


def _score(state: ServiceState, request: CoralRequest) -> str:
    frame = pd.DataFrame(
        [
            {
                schema.COMMENT_ID: request.comment.id or "coral",
                schema.THREAD_ID: (request.story.id if request.story else None) or "coral",
                schema.AUTHOR: (request.author.id if request.author else None) or "",
                schema.TEXT: request.comment.body,
            }
        ]
    )
    scored = state.score(frame, store=False)
    return str(scored[schema.ACTION].iloc[0])


router = APIRouter(tags=["Coral"])


@router.post(
    "/coral/moderate",
    summary="Coral Talk external moderation phase",
    response_model=CoralResponse,
    response_model_exclude_none=True,
    responses={
        204: {"description": "No opinion: the comment is allowed"},
        400: {"description": "Body is not a Coral moderation request"},
        401: {"description": "Missing or malformed signature"},
        403: {"description": "Wrong or stale signature, or no shared secret configured"},
        413: {"description": "Comment too long"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CoralRequest.model_json_schema()}},
        }
    },
)
async def coral_moderate(request: Request) -> Any:
    """Verify Coral's signature, score the comment and answer with actions and a status."""
    state = service_state(request)
    secret = state.settings.coral_secret
    if not secret:
        raise HTTPException(
            403, "the Coral webhook is off: start the service with MODERATION_CORAL_SECRET set"
        )
    body = await request.body()
    try:
        verify_signature(
            request.headers.get(SIGNATURE_HEADER),
            body,
            secret,
            now=time.time(),
            tolerance=state.settings.coral_tolerance,
        )
    except SignatureError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
    try:
        parsed = CoralRequest.model_validate(json.loads(body))
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise HTTPException(
            400, f"not a Coral moderation request: {where}: {first['msg']}"
        ) from None
    except ValueError as exc:  # not JSON, or not UTF-8
        raise HTTPException(400, f"not a Coral moderation request: {exc}") from None
    if len(parsed.comment.body) > state.settings.max_text_chars:
        raise HTTPException(
            413,
            f"comment.body has {len(parsed.comment.body)} characters; the limit is "
            f"{state.settings.max_text_chars}",
        )
    answer = coral_answer(await run_in_threadpool(_score, state, parsed))
    if answer is None:
        return Response(status_code=204)
    return answer
