"""What every scoring route shares: the loaded model, the queue, input checks, JSON-safe rows.

The model is loaded once per process (`ServiceState.load`) and every route scores through
`ServiceState.score`, which runs the library's `Moderator.score` -- the same thread context,
rules and reasons as ``moderation score`` -- and queues the escalated comments when a queue is
configured and the caller did not ask otherwise. Route handlers are plain ``def`` functions:
FastAPI runs them in its thread pool, so CPU-bound scoring never blocks the event loop.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

import pandas as pd
from fastapi import Request
from pydantic import AfterValidator

from moderation import schema
from moderation.moderator import Moderator
from moderation.reviewqueue import ReviewQueue
from moderation.service.settings import ServiceSettings

__all__ = [
    "CleanStr",
    "ServiceState",
    "api_key_matches",
    "no_surrogates",
    "row_result",
    "service_state",
    "split_reasons",
]

#: Thread fields of a scored row that the JSON results carry.
THREAD_FIELDS = (
    schema.DEPTH,
    schema.ROOT_ID,
    "derailed_at",
    "back_and_forth",
    "participants",
    "hostility_trend",
    "user_directed_insult",
)


def no_surrogates(value: str) -> str:
    """Refuse lone UTF-16 surrogates (``"\\ud800"`` is valid JSON but not text).

    They cannot be encoded in the UTF-8 response, so without this check a crafted request
    would end in a server error instead of a clear 400.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains an unpaired surrogate (\\u{ord(value[exc.start]):04x} at {exc.start}); "
            "send valid Unicode text"
        ) from None
    return value


#: A request string that can be echoed back as UTF-8.
CleanStr = Annotated[str, AfterValidator(no_surrogates)]


def split_reasons(value: Any) -> list[str]:
    """The ``reasons`` / ``problems`` cell (``"a; b"``) as a list."""
    return [part for part in value.split("; ") if part] if isinstance(value, str) else []


def _number(value: Any) -> float | None:
    """A score as JSON allows it: NaN (empty text, no article) becomes null."""
    number = float(value)
    return None if math.isnan(number) else number


def row_result(row: pd.Series) -> dict[str, Any]:
    """One scored row (`Moderator.score`) as the JSON the batch and thread routes return."""
    spans = row.get("spans", "")
    return {
        "comment_id": str(row[schema.COMMENT_ID]),
        "scores": {label: _number(row[label]) for label in schema.SCORES},
        "action": str(row[schema.ACTION]),
        "priority": int(row[schema.PRIORITY]),
        "reasons": split_reasons(row[schema.REASONS]),
        "spans": json.loads(spans) if isinstance(spans, str) and spans else {},
        "depth": int(row[schema.DEPTH]),
        "root_id": str(row[schema.ROOT_ID]),
        "derailed_at": str(row["derailed_at"]) or None,
        "back_and_forth": int(row["back_and_forth"]),
        "participants": int(row["participants"]),
        "hostility_trend": _number(row["hostility_trend"]),
        "user_directed_insult": _number(row["user_directed_insult"]),
        "problems": split_reasons(row[schema.PROBLEMS]),
    }


@dataclass
class ServiceState:
    """The loaded model, the optional review queue and the settings of one running service."""

    settings: ServiceSettings
    moderator: Moderator
    queue: ReviewQueue | None = None

    @classmethod
    def load(cls, settings: ServiceSettings) -> ServiceState:
        """Load the bundle and rules once (errors surface before the server listens)."""
        moderator = Moderator.load(settings.model, rules=settings.rules)
        queue = ReviewQueue(settings.queue_url) if settings.queue_url else None
        return cls(settings, moderator, queue)

    def score(
        self,
        comments: pd.DataFrame,
        articles: pd.DataFrame | None = None,
        *,
        store: bool = True,
        queue_ids: Collection[str] | None = None,
    ) -> pd.DataFrame:
        """Score a comment frame and queue its escalated comments unless ``store`` is false.

        ``queue_ids`` limits queueing to those comments: the others are context (a parent sent
        along with the comment to judge) and must not become review items themselves.
        """
        scored = self.moderator.score(comments, articles)
        if store and self.queue is not None:
            to_queue = scored
            if queue_ids is not None:
                to_queue = scored.copy()
                context = ~to_queue[schema.COMMENT_ID].astype(str).isin(list(queue_ids))
                to_queue.loc[context, schema.ACTION] = schema.Action.ALLOW.value
            self.queue.add(to_queue, thresholds=self.moderator.bundle.thresholds, articles=articles)
        return scored

    def close(self) -> None:
        """Release the queue's database connections."""
        if self.queue is not None:
            self.queue.close()


def service_state(request: Request) -> ServiceState:
    """The state `moderation.service.app.create_app` put on the application."""
    state: ServiceState = request.app.state.service
    return state


def api_key_matches(request: Request, expected: str | None) -> bool:
    """Whether the request carries the configured key (any request does when none is set).

    Perspective clients send ``?key=``; ``X-Goog-Api-Key`` is the header form Google's
    clients also use. Compared in constant time.
    """
    if expected is None:
        return True
    given = request.query_params.get("key") or request.headers.get("x-goog-api-key") or ""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
