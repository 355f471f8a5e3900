"""The ASGI application: the scoring API, Coral's webhook and, with a queue, the review page.

`create_app` loads the model bundle and rules once, before the server listens (a broken
bundle fails at start, not on the first request), and wires the routes:

- ``POST /v1alpha1/comments:analyze`` and ``:suggestscore`` -- Perspective's API
  (:mod:`moderation.service.perspective`), with its discovery document at ``/$discovery/rest``;
- ``POST /coral/moderate`` -- Coral's External Moderation Phase (:mod:`moderation.service.coral`);
- ``POST /v1/score`` and ``/v1/thread`` -- batches and whole threads (:mod:`.api`);
- ``GET /healthz`` and ``GET /openapi.json``;
- ``/review`` -- the moderators' page, when ``settings.queue_url`` is set.

Every error a caller can fix is answered below 500, with a message that says what to change;
request bodies over ``settings.max_body_bytes`` are refused before they are read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from moderation import __version__
from moderation.errors import ModerationError
from moderation.service import api, coral, discovery, perspective
from moderation.service.limits import BodyLimit
from moderation.service.scoring import ServiceState
from moderation.service.settings import ServiceSettings

__all__ = [
    "SETTINGS_VARIABLE",
    "SafeJSONResponse",
    "app_from_environment",
    "create_app",
    "settings_from_json",
    "settings_to_json",
]

_PERSPECTIVE_PREFIX = "/v1alpha1/"
#: How `moderation serve --workers N` hands its settings to the worker processes it starts.
SETTINGS_VARIABLE = "MODERATION_SERVICE_SETTINGS"


class SafeJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: an echoed lone surrogate can never break the encoding."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith(_PERSPECTIVE_PREFIX):
        error = perspective.validation_error(exc)
        return SafeJSONResponse(perspective.error_body(error), status_code=error.code)
    errors = [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()]
    return SafeJSONResponse({"detail": errors}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return SafeJSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )


async def _moderation_error(request: Request, exc: Exception) -> Response:
    # Input the library refuses (e.g. a malformed export) is the caller's to fix.
    return SafeJSONResponse({"detail": str(exc)}, status_code=400)


async def _perspective_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, perspective.PerspectiveError)
    return SafeJSONResponse(perspective.error_body(exc), status_code=exc.code)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: `ServiceSettings.from_environment`).

    Loads the model bundle and rules now, so a missing or altered bundle raises
    `moderation.errors.ModelLoadError` here rather than on the first request.
    """
    settings = settings or ServiceSettings.from_environment()
    state = ServiceState.load(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="moderation",
        version=__version__,
        summary="Score comment threads for hostile and off-topic replies.",
        description=(
            "A Perspective-compatible `comments:analyze`, Coral Talk's external moderation "
            "phase, batch and thread scoring, and a review page for moderators."
        ),
        default_response_class=SafeJSONResponse,
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: an offline service
        # should not send its users' browsers elsewhere. The schema stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = state
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ModerationError, _moderation_error)
    app.add_exception_handler(perspective.PerspectiveError, _perspective_error)
    app.include_router(perspective.router)
    app.include_router(discovery.router)
    app.include_router(coral.router)
    app.include_router(api.router)

    @app.get("/healthz", tags=["Service"], summary="Liveness and what is loaded")
    def healthz() -> dict[str, Any]:
        """``ok`` with the model's labels and which optional parts are on."""
        return {
            "status": "ok",
            "version": __version__,
            "labels": list(perspective.ATTRIBUTES),
            "queue": state.queue is not None,
            "coral": bool(settings.coral_secret),
            "feedback": settings.feedback_dir is not None,
        }

    if settings.queue_url:
        from moderation.service.reviewpage import install_review

        install_review(app, settings)
    return app


def settings_to_json(settings: ServiceSettings) -> str:
    """``settings`` as JSON (paths as strings), for `settings_from_json` in another process."""
    values = dataclasses.asdict(settings)
    return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in values.items()})


def settings_from_json(raw: str) -> ServiceSettings:
    """The settings `settings_to_json` wrote (fields typed ``Path`` become paths again)."""
    values = json.loads(raw)
    hints = typing.get_type_hints(ServiceSettings)
    for name, value in values.items():
        if value is not None and Path in typing.get_args(hints.get(name)):
            values[name] = Path(value)
    return ServiceSettings(**values)


def app_from_environment() -> FastAPI:
    """The app of one worker process (uvicorn's factory for ``serve --workers N``).

    Reads the settings ``moderation serve`` put in `SETTINGS_VARIABLE`, else the
    ``MODERATION_*`` variables, so ``uvicorn --factory
    moderation.service.app:app_from_environment`` also works on its own.
    """
    raw = os.environ.get(SETTINGS_VARIABLE)
    return create_app(settings_from_json(raw) if raw else ServiceSettings.from_environment())
