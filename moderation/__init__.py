"""Score comment threads for hostile or off-topic replies and queue them for review.

>>> from moderation import Moderator
>>> m = Moderator.load()                                     # doctest: +SKIP
>>> scored = m.score(comments, articles=articles)            # doctest: +SKIP

Public names are imported on first use, so ``import moderation`` stays cheap: a command
that never scores never loads scikit-learn, and loading a moderator to score single comments
(``Moderator.load().score_one(...)``) imports neither pandas nor scikit-learn.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moderation.errors import (
        InputError,
        ModelLoadError,
        ModerationError,
        OutputError,
        RulesError,
        TrainingError,
    )
    from moderation.io import read_articles, read_comments, write_table
    from moderation.moderator import Explanation, Moderator, ScoredComment
    from moderation.review import build_queue
    from moderation.rules import Rules, apply_rules, check_rules, load_rules

_WHERE = {
    "InputError": "errors",
    "ModelLoadError": "errors",
    "ModerationError": "errors",
    "OutputError": "errors",
    "RulesError": "errors",
    "TrainingError": "errors",
    "read_articles": "io",
    "read_comments": "io",
    "write_table": "io",
    "Explanation": "moderator",
    "Moderator": "moderator",
    "ScoredComment": "moderator",
    "build_queue": "review",
    "Rules": "rules",
    "apply_rules": "rules",
    "check_rules": "rules",
    "load_rules": "rules",
}

__all__ = [
    "Explanation",
    "InputError",
    "ModelLoadError",
    "ModerationError",
    "Moderator",
    "OutputError",
    "Rules",
    "RulesError",
    "ScoredComment",
    "TrainingError",
    "apply_rules",
    "build_queue",
    "check_rules",
    "load_rules",
    "read_articles",
    "read_comments",
    "write_table",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # reading package metadata costs tens of milliseconds
        from importlib.metadata import version

        return version("moderation")
    if name in _WHERE:
        return getattr(import_module(f"moderation.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'moderation' has no attribute '{name}'")
