"""The names the product contract fixes, importable without pandas.

Column names, labels and actions are plain strings and an enum, defined once here;
:mod:`moderation.schema` and :mod:`moderation.dynamics` re-export them beside their pandas code.
The rules layer, bundle loading and the single-comment path (:mod:`moderation.single`) import
them from here, so that ``import moderation``, ``Moderator.load()`` and ``score_one`` never import
pandas (``tests/test_single_imports.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Canonical input columns of a comment export.
COMMENT_ID = "comment_id"
THREAD_ID = "thread_id"
PARENT_ID = "parent_id"
AUTHOR = "author"
TEXT = "text"

# Hostility labels, in output order, and every score column.
TOXICITY = "toxicity"
SEVERE_TOXICITY = "severe_toxicity"
INSULT = "insult"
THREAT = "threat"
IDENTITY_ATTACK = "identity_attack"
PROFANITY = "profanity"
LABELS = (TOXICITY, SEVERE_TOXICITY, INSULT, THREAT, IDENTITY_ATTACK, PROFANITY)
OFF_TOPIC = "off_topic"
SCORES = (*LABELS, OFF_TOPIC)

# Thread context (schema.CONTEXT_COLUMNS).
PARENT_TEXT = "parent_text"
ROOT_ID = "root_id"
ROOT_TEXT = "root_text"
DEPTH = "depth"
THREAD_PATH = "thread_path"
SIBLING_INDEX = "sibling_index"
ARTICLE_TITLE = "article_title"
ARTICLE_BODY = "article_body"
ARTICLE_AUTHOR = "article_author"

# Decision columns.
ACTION = "action"
PRIORITY = "priority"
REASONS = "reasons"
PROBLEMS = "problems"

#: Texts longer than this are scored on their first ``MAX_TEXT_CHARS`` characters.
MAX_TEXT_CHARS = 20_000
#: Joins the problems of one row.
PROBLEM_SEPARATOR = "; "

# Thread dynamics (dynamics.DYNAMICS_COLUMNS) and per-comment signals (dynamics.SIGNAL_COLUMNS).
DERAILED_AT = "derailed_at"
DERAILED = "derailed"
BACK_AND_FORTH = "back_and_forth"
PARTICIPANTS = "participants"
HOSTILITY_TREND = "hostility_trend"
USER_DIRECTED_INSULT = "user_directed_insult"
#: Words that can carry a topic (English stop words left out); NaN where ``off_topic`` is unknown.
TOPIC_WORDS = "topic_words"
#: The numeric dynamics rules may test.
DYNAMICS_RULE_COLUMNS = (
    DERAILED,
    BACK_AND_FORTH,
    PARTICIPANTS,
    HOSTILITY_TREND,
    USER_DIRECTED_INSULT,
    TOPIC_WORDS,
)
IS_REPLY = "is_reply"
LINKS = "links"
MENTIONS = "mentions"
CAPS_RATIO = "caps_ratio"
AUTHOR_COMMENTS = "author_comments"
AUTHOR_FLAGGED = "author_flagged"
AUTHOR_FIRST = "author_first"
AUTHOR_IS_ARTICLE_AUTHOR = "author_is_article_author"
AUTHOR_ESCALATED = "author_escalated"
AUTHOR_QUEUE_ESCALATED = "author_queue_escalated"
AUTHOR_QUEUE_REJECTED = "author_queue_rejected"
PARENT_SCORES = tuple(f"parent_{label}" for label in SCORES)
SIGNAL_COLUMNS = (
    IS_REPLY,
    LINKS,
    MENTIONS,
    CAPS_RATIO,
    AUTHOR_COMMENTS,
    AUTHOR_FLAGGED,
    AUTHOR_FIRST,
    AUTHOR_IS_ARTICLE_AUTHOR,
    AUTHOR_ESCALATED,
    AUTHOR_QUEUE_ESCALATED,
    AUTHOR_QUEUE_REJECTED,
    *PARENT_SCORES,
)


class Action(StrEnum):
    """What the rules decide for a comment, from least to most severe."""

    ALLOW = "allow"
    REVIEW = "review"
    HOLD = "hold"
    REMOVE = "remove"

    @property
    def severity(self) -> int:
        """Rank used to pick the strongest action (allow=0 ... remove=3)."""
        return list(Action).index(self)


@dataclass(frozen=True)
class Span:
    """A piece of the original text and its score: ``text[begin:end]``, score in [0, 1].

    Perspective-style ``begin`` / ``end`` / ``score``, as both scoring paths report them.
    """

    begin: int
    end: int
    score: float

    def to_dict(self) -> dict[str, int | float]:
        """``{"begin": ..., "end": ..., "score": ...}`` (score rounded to 4 digits)."""
        return {"begin": self.begin, "end": self.end, "score": round(self.score, 4)}
