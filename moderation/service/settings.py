"""Service configuration: one frozen object built from flags or ``MODERATION_*`` variables.

Every part of the service (API routes, Coral webhook, review page) reads the same
:class:`ServiceSettings`, so a deployment is configured in one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServiceSettings"]

#: Environment variable of each setting (flags override them).
ENVIRONMENT = {
    "model": "MODERATION_MODEL",
    "rules": "MODERATION_RULES",
    "queue_url": "MODERATION_QUEUE",
    "coral_secret": "MODERATION_CORAL_SECRET",
    "users_file": "MODERATION_USERS",
    "session_secret": "MODERATION_SESSION_SECRET",
    "feedback_dir": "MODERATION_FEEDBACK_DIR",
    "api_key": "MODERATION_API_KEY",
}


@dataclass(frozen=True)
class ServiceSettings:
    """What `moderation serve` runs with.

    Attributes
    ----------
    model
        Model bundle directory; ``None`` = the bundled default.
    rules
        Rules file; ``None`` = the bundle's default rules.
    queue_url
        Review queue (``sqlite:///...`` or ``postgresql://...``) behind the review page and
        where escalated comments from the API are queued; ``None`` = no queue (the review page
        is then off).
    coral_secret
        Shared secret of Coral's external moderation phase; ``None`` = the Coral route refuses
        every request (it never runs unsigned).
    users_file
        Moderator accounts of the review page (one ``name:password-hash`` per line).
    session_secret
        Key that signs session cookies and CSRF tokens; ``None`` = a random key per process
        (sessions end when the server restarts).
    feedback_dir
        Where ``comments:suggestscore`` appends suggestions (JSONL) for retraining.
    host, port
        Bind address; loopback by default so nothing is exposed by accident.
    api_key
        Key the scoring API requires (``?key=`` as Perspective clients send it, or the
        ``X-Goog-Api-Key`` header); ``None`` = any key or none is accepted, which is safe only
        on loopback.
    max_comments
        Most comments one batch or thread request may carry (more: HTTP 413).
    max_text_chars
        Longest comment text accepted (longer: HTTP 400); Perspective's limit is 20 KB.
    max_body_bytes
        Largest request body read (larger: HTTP 413), checked before parsing.
    coral_tolerance
        Seconds a timestamped Coral signature stays valid (older or from the future: 403).
    """

    model: Path | None = None
    rules: Path | None = None
    queue_url: str | None = None
    coral_secret: str | None = None
    users_file: Path | None = None
    session_secret: str | None = None
    feedback_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str | None = None
    max_comments: int = 1000
    max_text_chars: int = 20_000
    max_body_bytes: int = 8_000_000
    coral_tolerance: float = 300.0

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ServiceSettings:
        """Settings from ``MODERATION_*`` variables (unset or empty = the default)."""
        env = os.environ if env is None else env

        def value(key: str) -> str | None:
            return env.get(ENVIRONMENT[key]) or None

        def path(key: str) -> Path | None:
            found = value(key)
            return Path(found) if found else None

        return cls(
            model=path("model"),
            rules=path("rules"),
            queue_url=value("queue_url"),
            coral_secret=value("coral_secret"),
            users_file=path("users_file"),
            session_secret=value("session_secret"),
            feedback_dir=path("feedback_dir"),
            api_key=value("api_key"),
        )
