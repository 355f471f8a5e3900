"""Score comment threads for hostile or off-topic replies and queue them for review.

>>> from moderation import Moderator
>>> m = Moderator.load()                                     # doctest: +SKIP
>>> scored = m.score(comments, articles=articles)            # doctest: +SKIP
"""

from importlib.metadata import version

from moderation.errors import (
    InputError,
    ModelLoadError,
    ModerationError,
    OutputError,
    RulesError,
    TrainingError,
)
from moderation.io import read_articles, read_comments, write_table
from moderation.moderator import Moderator, ScoredComment
from moderation.review import build_queue
from moderation.rules import Rules, apply_rules, check_rules, load_rules

__version__ = version("moderation")
__all__ = [
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
