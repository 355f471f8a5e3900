"""Column names and vocabularies shared by every step of the flow.

The contract users rely on lives here: canonical input columns, the score
columns, the decision columns and the actions. Steps refer to these constants
rather than spelling column names out.
"""

from __future__ import annotations

from enum import StrEnum

# Canonical input columns of a comment export.
COMMENT_ID = "comment_id"
THREAD_ID = "thread_id"
PARENT_ID = "parent_id"
AUTHOR = "author"
TEXT = "text"
CREATED_AT = "created_at"
INPUT_COLUMNS = (COMMENT_ID, THREAD_ID, PARENT_ID, AUTHOR, TEXT, CREATED_AT)
REQUIRED_COLUMNS = (COMMENT_ID, TEXT)

# Canonical columns of an articles file.
TITLE = "title"
BODY = "body"
ARTICLE_COLUMNS = (THREAD_ID, TITLE, BODY)

# Hostility labels, in output order. Each has one classifier in a model bundle.
TOXICITY = "toxicity"
SEVERE_TOXICITY = "severe_toxicity"
INSULT = "insult"
THREAT = "threat"
IDENTITY_ATTACK = "identity_attack"
PROFANITY = "profanity"
LABELS = (TOXICITY, SEVERE_TOXICITY, INSULT, THREAT, IDENTITY_ATTACK, PROFANITY)
OFF_TOPIC = "off_topic"
SCORES = (*LABELS, OFF_TOPIC)

# Thread context added by `thread.attach_context` (internal; only some reach the output).
PARENT_TEXT = "parent_text"
ROOT_ID = "root_id"
ROOT_TEXT = "root_text"
DEPTH = "depth"
THREAD_PATH = "thread_path"
SIBLING_INDEX = "sibling_index"
ARTICLE_TITLE = "article_title"
ARTICLE_BODY = "article_body"

# Decision columns added by the rules layer.
ACTION = "action"
PRIORITY = "priority"
REASONS = "reasons"
PROBLEMS = "problems"


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
