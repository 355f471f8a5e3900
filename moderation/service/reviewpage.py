"""The moderators' review page: the queue by priority, one item in context, and decisions.

Plain server-rendered HTML (Jinja2, autoescaped) plus one stylesheet, so it needs no build
step and runs no script: comment text is attacker-controlled, and the page's
Content-Security-Policy forbids every script. `install_review` adds it under ``/review`` to
the service's app when a queue is configured; decisions go through the same
`ReviewQueue.decide` as ``moderation review decide`` (audit trail, compare-and-set on the
version the moderator saw).

Every page needs a signed-in moderator (accounts in ``settings.users_file``, see
:mod:`moderation.service.auth`); every form carries the session's CSRF token.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation import schema
from moderation.errors import ModerationError
from moderation.reviewqueue import (
    DECISIONS,
    EXPORT_LABELS,
    RELABEL,
    STATUSES,
    DecisionConflict,
    ItemNotFound,
    QueueError,
    QueueItem,
    ReviewQueue,
)
from moderation.service.auth import (
    AccountError,
    Session,
    SessionSigner,
    SignInThrottle,
    read_users,
    verify_user,
)
from moderation.service.scoring import ServiceState
from moderation.service.settings import ServiceSettings

if TYPE_CHECKING:
    from moderation.bundle import Bundle

__all__ = ["COOKIE", "PREFIX", "SECURITY_HEADERS", "Piece", "highlight", "install_review"]

log = logging.getLogger(__name__)

#: Where the page lives in the service.
PREFIX = "/review"
#: The session cookie (scoped to `PREFIX`).
COOKIE = "moderation_review"
#: Items shown on the queue page (most urgent first).
PAGE_SIZE = 200
#: Characters of an item's text shown in the queue list.
EXCERPT = 280

_HERE = Path(__file__).resolve().parent
#: A form field (module level: FastAPI resolves the routes' string annotations here).
FormText = Annotated[str, Form()]
FormList = Annotated[list[str] | None, Form()]

#: Sent with every response under `PREFIX`: no script at all, no framing, no sniffing.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
}


class _SecurityHeaders:
    """ASGI middleware adding `SECURITY_HEADERS` to responses under a path prefix.

    Applied outside the routes, so error pages, redirects and static files get them too,
    while the API routes of the same app keep their own headers.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in SECURITY_HEADERS.items()
                    if k.encode("latin-1") not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------- highlighting


@dataclass(frozen=True)
class Piece:
    """A run of a comment's text; ``labels`` non-empty = highlighted (a span of those labels)."""

    text: str
    labels: tuple[str, ...] = ()
    score: float = 0.0


def _spans_of(value: Any) -> dict[str, list[tuple[int, int, float]]]:
    """``{label: [(begin, end, score)]}`` from the ``spans`` JSON; anything malformed is dropped."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            return {}
    if not isinstance(value, Mapping):
        return {}
    found: dict[str, list[tuple[int, int, float]]] = {}
    for label, spans in value.items():
        if not isinstance(spans, list):
            continue
        for span in spans:
            if not isinstance(span, Mapping):
                continue
            begin, end = _offset(span.get("begin")), _offset(span.get("end"))
            if begin is None or end is None:
                continue
            score = span.get("score")
            number = float(score) if isinstance(score, int | float) else 0.0
            found.setdefault(str(label), []).append((begin, end, number))
    return found


def _offset(value: Any) -> int | None:
    """A span offset: an int (JSON booleans are ints in Python, and are not offsets)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def highlight(text: str, spans: Any) -> list[Piece]:
    """Cut ``text`` into plain and highlighted pieces from ``{label: [{begin, end, score}]}``.

    Offsets are clamped to the text and overlapping spans (of one label or several) merge,
    so any ``spans`` value, however wrong, yields pieces that put ``text`` back together
    exactly. The pieces are escaped by the template, never joined into markup here.
    """
    marks: list[tuple[int, int, str, float]] = []
    for label, found in _spans_of(spans).items():
        for begin, end, score in found:
            begin, end = max(0, begin), min(len(text), end)
            if begin < end:
                marks.append((begin, end, label, score if math.isfinite(score) else 0.0))
    marks.sort()
    merged: list[tuple[int, int, set[str], float]] = []
    for begin, end, label, score in marks:
        if merged and begin < merged[-1][1]:
            first, last, labels, best = merged[-1]
            merged[-1] = (first, max(last, end), labels | {label}, max(best, score))
        else:
            merged.append((begin, end, {label}, score))
    pieces: list[Piece] = []
    at = 0
    for begin, end, labels, score in merged:
        if at < begin:
            pieces.append(Piece(text[at:begin]))
        pieces.append(Piece(text[begin:end], tuple(sorted(labels)), score))
        at = end
    if at < len(text) or not pieces:
        pieces.append(Piece(text[at:]))
    return pieces


# --------------------------------------------------------------------------- view models


@dataclass
class _Comment:
    """One comment of an item as the item page shows it."""

    comment_id: str
    parent_id: str
    author: str
    parent_text: str
    pieces: list[Piece]
    scores: list[tuple[str, float, bool]]
    reasons: list[str]
    action: str
    lead: bool = False


@dataclass
class _Spans:
    """Highlights for comments the queue holds no spans for: recomputed with the model bundle."""

    model: Path | None
    bundle: Bundle | None = None
    error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def compute(self, texts: list[str], labels: list[list[str]]) -> list[dict[str, Any]]:
        """Word spans of each text for its flagged hostility labels (as `Moderator` scores).

        Only for comments queued without spans (by an earlier release, or from a frame
        without the ``spans`` column): recomputed from the stored text by the served bundle.
        A bundle that cannot be loaded leaves the text plain and says so on the page
        instead of failing it.
        """
        wanted = sorted({label for row in labels for label in row})
        if not wanted or not texts:
            return [{} for _ in texts]
        with self._lock:
            if self.bundle is None:
                try:
                    self.bundle = _load_bundle(self.model)
                except ModerationError as exc:
                    self.error = f"highlights unavailable: {exc}"
                    return [{} for _ in texts]
            bundle = self.bundle
        found = bundle.hostility.span_maps(texts, wanted, bundle.thresholds)
        return [
            {label: [s.to_dict() for s in spans[label]["word"]] for label in row}
            for row, spans in zip(labels, found, strict=True)
        ]


@functools.cache
def _load_bundle(path: Path | None) -> Bundle:
    """The model bundle behind the highlights when the app has none loaded: once per path."""
    from moderation.bundle import default_bundle_path, load_bundle

    return load_bundle(default_bundle_path() if path is None else path)


def _reasons(text: Any) -> list[str]:
    return [part.strip() for part in str(text or "").split("; ") if part.strip()]


def _text(value: Any) -> str:
    """A stored text cell as a string (None and NaN are empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _score_list(row: Mapping[str, Any], flagged: set[str]) -> list[tuple[str, float, bool]]:
    out = []
    for label in schema.SCORES:
        value = row.get(label)
        if isinstance(value, int | float) and math.isfinite(value):
            out.append((label, float(value), label in flagged))
    return out


def _stored_spans(value: Any) -> Any:
    """A comment's stored ``spans``, or None where the queue holds none (NULL, NaN, absent).

    A stored "{}" is an answer (the scorer found no words over the thresholds), not a gap.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _comments(item: QueueItem, spans: _Spans) -> list[_Comment]:
    """The item's comments, in thread order, with highlight pieces and scores.

    Highlights are the spans stored with each comment at scoring time; the model is asked
    only for the comments stored without them.
    """
    rows = [{str(k): v for k, v in row.items()} for row in item.comments.to_dict("records")]
    texts = [_text(r.get("text")) for r in rows]
    stored = [_stored_spans(r.get("spans")) for r in rows]
    missing = [i for i, found in enumerate(stored) if found is None]
    if missing:
        flagged = [
            [f for f in _text(rows[i].get("flagged")).split() if f in schema.LABELS]
            for i in missing
        ]
        computed = spans.compute([texts[i] for i in missing], flagged)
        for i, found in zip(missing, computed, strict=True):
            stored[i] = found
    lead = _text(item.item.get("comment_id"))
    return [
        _Comment(
            comment_id=_text(row.get("comment_id")),
            parent_id=_text(row.get("parent_id")),
            author=_text(row.get("author")),
            parent_text=_text(row.get("parent_text")),
            pieces=highlight(text, found),
            scores=_score_list(row, set(_text(row.get("flagged")).split())),
            reasons=_reasons(row.get("reasons")),
            action=_text(row.get("action")),
            lead=_text(row.get("comment_id")) == lead,
        )
        for row, text, found in zip(rows, texts, stored, strict=True)
    ]


# --------------------------------------------------------------------------- the page


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,  # every template is HTML; comment text is never trusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["prefix"] = PREFIX
    return env


def _safe_next(target: str) -> str:
    """A post-sign-in destination: a page of the review app, never another site."""
    if target.startswith(PREFIX) and ".." not in target and "\\" not in target:
        rest = target[len(PREFIX) :]
        if rest == "" or rest.startswith(("/", "?")):
            return target
    return PREFIX


class _ReviewPage:
    """Routes and state of the review page of one app."""

    def __init__(self, settings: ServiceSettings, shared: ServiceState | None = None) -> None:
        if settings.queue_url is None:
            raise QueueError("the review page needs a review queue (settings.queue_url)")
        self.settings = settings
        self.queue_url = settings.queue_url
        self.signer = SessionSigner(settings.session_secret)
        self.throttle = SignInThrottle()
        self.templates = _environment()
        # In `moderation serve` the API has loaded the bundle and opened the queue already:
        # share them rather than hold a second model in memory and a second engine.
        self.spans = _Spans(settings.model, shared.moderator.bundle if shared else None)
        self._queue: ReviewQueue | None = shared.queue if shared else None
        self._queue_lock = threading.Lock()

    # -- plumbing

    def queue(self) -> ReviewQueue:
        """The queue, opened on first use (a queue down at start-up does not stop the API)."""
        with self._queue_lock:
            if self._queue is None:
                self._queue = ReviewQueue(self.queue_url)
            return self._queue

    def session(self, request: Request) -> Session | None:
        return self.signer.loads(request.cookies.get(COOKIE))

    def user(self, request: Request) -> Session | None:
        """The signed-in moderator's session, or None (also once the account is removed)."""
        session = self.session(request)
        if session is None or not session.user:
            return None
        try:
            accounts = read_users(self.settings.users_file)
        except AccountError:
            return None
        return session if session.user in accounts else None

    def render(
        self,
        template: str,
        session: Session | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        page = self.templates.get_template(template).render(
            user=session.user if session else "",
            csrf=session.csrf if session else "",
            **context,
        )
        return HTMLResponse(page, status_code=status_code)

    def set_cookie(self, response: Response, request: Request, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.signer.dumps(session),
            max_age=int(self.signer.max_age),
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def to_sign_in(self, request: Request, target: str | None = None) -> RedirectResponse:
        """To the sign-in form, which comes back to ``target`` (default: this page)."""
        if target is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target, safe='')}", 303)

    def forbidden(self, session: Session | None) -> HTMLResponse:
        return self.render(
            "error.html",
            session,
            403,
            title="Form refused",
            message="This form has expired or was not sent from the review page. "
            "Reload the page and try again.",
        )

    def unavailable(self, session: Session | None, exc: Exception) -> HTMLResponse:
        return self.render(
            "error.html", session, 503, title="Review queue unavailable", message=str(exc)
        )

    # -- routes

    def queue_page(self, request: Request, status: str = "pending", decided: str = "") -> Response:
        session = self.user(request)
        if session is None:
            return self.to_sign_in(request)
        if status not in (*STATUSES, "all"):
            return self.render(
                "error.html",
                session,
                400,
                title="Unknown status",
                message=f"status must be one of {', '.join((*STATUSES, 'all'))}",
            )
        try:
            listed = self.queue().list_items(
                status=None if status == "all" else status, limit=PAGE_SIZE
            )
        except QueueError as exc:
            return self.unavailable(session, exc)
        rows = []
        for row in listed.to_dict("records"):
            text = _text(row["text"])
            rows.append(
                {
                    **row,
                    "excerpt": text if len(text) <= EXCERPT else text[:EXCERPT] + "…",
                    "reasons": _reasons(row["reasons"]),
                    "article_title": _text(row.get("article_title")),
                }
            )
        notice = ""
        if decided.isdigit():
            notice = f"Item {int(decided)} decided."
        return self.render(
            "queue.html",
            session,
            items=rows,
            status=status,
            statuses=(*STATUSES, "all"),
            notice=notice,
            page_size=PAGE_SIZE,
        )

    def item_page(
        self,
        request: Request,
        item_id: int,
        *,
        session: Session | None = None,
        status_code: int = 200,
        error: str = "",
    ) -> Response:
        session = session or self.user(request)
        if session is None:
            return self.to_sign_in(request)
        try:
            item = self.queue().item(item_id)
        except ItemNotFound as exc:
            return self.render("error.html", session, 404, title="No such item", message=str(exc))
        except QueueError as exc:
            return self.unavailable(session, exc)
        comments = _comments(item, self.spans)
        flagged = set(_text(item.item.get("flagged")).split())
        return self.render(
            "item.html",
            session,
            status_code,
            item=item.item,
            article_title=_text(item.item.get("article_title")),
            reasons=_reasons(item.item.get("reasons")),
            comments=comments,
            history=item.history,
            labels=EXPORT_LABELS,
            flagged=flagged,
            current_labels=item.item.get("labels") or {},
            error=error,
            spans_error=self.spans.error,
        )

    def decide(
        self,
        request: Request,
        item_id: int,
        decision: str,
        version: str,
        labels: list[str],
        note: str,
        override: str,
        csrf_token: str,
    ) -> Response:
        session = self.user(request)
        if session is None:  # back to the item afterwards: the form's URL only takes POST
            return self.to_sign_in(request, f"{PREFIX}/items/{item_id}")
        if not session.csrf_matches(csrf_token):
            return self.forbidden(session)
        problem = ""
        if decision not in DECISIONS:
            problem = f"unknown decision {decision!r}; use one of {', '.join(DECISIONS)}"
        elif not version.isdigit():
            problem = "the form lost the item's version; reload the item and decide again"
        elif any(label not in EXPORT_LABELS for label in labels):
            problem = f"labels are {', '.join(EXPORT_LABELS)}"
        elif len(note) > 2000:
            problem = "a note has at most 2000 characters"
        if problem:
            return self.item_page(request, item_id, session=session, status_code=400, error=problem)
        chosen = {label: int(label in labels) for label in EXPORT_LABELS}
        try:
            self.queue().decide(
                item_id,
                decision,
                moderator=session.user,
                labels=chosen if decision == RELABEL else None,
                note=note.strip(),
                expected_version=int(version),
                override=override == "yes",
            )
        except DecisionConflict as exc:
            return self.item_page(
                request,
                item_id,
                session=session,
                status_code=409,
                error=f"Your {decision} was not applied: {exc.attempt.detail}. "
                "It is recorded in the history below.",
            )
        except ItemNotFound as exc:
            return self.render("error.html", session, 404, title="No such item", message=str(exc))
        except QueueError as exc:
            return self.unavailable(session, exc)
        return RedirectResponse(f"{PREFIX}?decided={item_id}", 303)

    def sign_in_page(self, request: Request, next: str = PREFIX) -> Response:
        if self.user(request) is not None:
            return RedirectResponse(_safe_next(next), 303)
        session = self.session(request) or Session.new()
        response = self.render("sign-in.html", session, next=_safe_next(next), error="")
        self.set_cookie(response, request, session)
        return response

    def sign_in(
        self, request: Request, name: str, password: str, csrf_token: str, next: str
    ) -> Response:
        before = self.session(request)
        if before is None or not before.csrf_matches(csrf_token):
            return self.forbidden(None)
        address = request.client.host if request.client else ""
        wait = self.throttle.retry_after(address)
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            refused = self.render(
                "sign-in.html",
                before,
                429,
                next=_safe_next(next),
                error=f"Too many failed sign-ins from your address; try again in {minutes} min.",
                name=name,
            )
            refused.headers["retry-after"] = str(math.ceil(wait))
            return refused
        try:
            known = verify_user(self.settings.users_file, name.strip(), password)
        except AccountError as exc:
            # The details (a path, a line) are for the operator, not for whoever is outside.
            log.error("review page sign-in: %s", exc)
            return self.render(
                "error.html",
                None,
                503,
                title="Sign-in unavailable",
                message="The server cannot read its moderator accounts; the server log says why.",
            )
        if not known:
            self.throttle.failed(address)
            return self.render(
                "sign-in.html",
                before,
                401,
                next=_safe_next(next),
                error="Wrong name or password.",
                name=name,
            )
        self.throttle.succeeded(address)
        self.signer.revoke(before)
        session = Session.new(name.strip())  # a new id and token: no session fixation
        redirect = RedirectResponse(_safe_next(next), 303)
        self.set_cookie(redirect, request, session)
        return redirect

    def sign_out(self, request: Request, csrf_token: str) -> Response:
        session = self.session(request)
        if session is None:
            return RedirectResponse(f"{PREFIX}/sign-in", 303)
        if not session.csrf_matches(csrf_token):
            return self.forbidden(session)
        self.signer.revoke(session)
        response = RedirectResponse(f"{PREFIX}/sign-in", 303)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="lax")
        return response


def _router(page: _ReviewPage) -> APIRouter:
    """The page's routes (left out of the OpenAPI schema: they serve HTML forms, not an API)."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("", response_class=HTMLResponse)
    def queue_page(request: Request, status: str = "pending", decided: str = "") -> Response:
        return page.queue_page(request, status, decided)

    @router.get("/items/{item_id}", response_class=HTMLResponse)
    def item_page(request: Request, item_id: int) -> Response:
        return page.item_page(request, item_id)

    @router.post("/items/{item_id}/decision")
    def decide(
        request: Request,
        item_id: int,
        decision: FormText = "",
        version: FormText = "",
        labels: FormList = None,
        note: FormText = "",
        override: FormText = "",
        csrf_token: FormText = "",
    ) -> Response:
        return page.decide(
            request, item_id, decision, version, labels or [], note, override, csrf_token
        )

    @router.get("/sign-in", response_class=HTMLResponse)
    def sign_in_page(request: Request, next: str = PREFIX) -> Response:
        return page.sign_in_page(request, next)

    @router.post("/sign-in")
    def sign_in(
        request: Request,
        name: FormText = "",
        password: FormText = "",
        csrf_token: FormText = "",
        next: FormText = PREFIX,
    ) -> Response:
        return page.sign_in(request, name, password, csrf_token, next)

    @router.post("/sign-out")
    def sign_out(request: Request, csrf_token: FormText = "") -> Response:
        return page.sign_out(request, csrf_token)

    return router


def install_review(app: FastAPI, settings: ServiceSettings) -> None:
    """Add the review page under ``/review`` to ``app`` (``create_app`` calls it with a queue).

    Raises
    ------
    QueueError
        If ``settings.queue_url`` is None: without a queue there is nothing to review.
    """
    shared = getattr(app.state, "service", None)
    page = _ReviewPage(settings, shared if isinstance(shared, ServiceState) else None)
    app.include_router(_router(page))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=_HERE / "static"), name="review-static")
    app.add_middleware(_SecurityHeaders, prefix=PREFIX)
    app.state.review_page = page
