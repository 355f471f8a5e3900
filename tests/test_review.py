"""The review list: escalated rows only, most urgent first, nothing invented."""

from __future__ import annotations

import pandas as pd

from moderation import schema
from moderation.review import build_queue


def scored() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "comment_id": ["a", "b", "c", "d", "e"],
            "toxicity": [0.1, 0.7, 0.9, 0.95, 0.65],
            "action": ["allow", "review", "hold", "review", "review"],
            "priority": [0, 60, 90, 60, 60],
        },
        index=[4, 4, 2, 1, 0],  # duplicate labels must not confuse the ordering
    )


def test_only_escalated_rows_highest_priority_first() -> None:
    queue = build_queue(scored())
    assert queue["comment_id"].tolist() == ["c", "d", "b", "e"]


def test_limit() -> None:
    assert build_queue(scored(), limit=2)["comment_id"].tolist() == ["c", "d"]


def test_empty_queue_keeps_columns() -> None:
    frame = scored().assign(action=schema.Action.ALLOW.value)
    queue = build_queue(frame)
    assert queue.empty
    assert list(queue.columns)[: len(frame.columns)] == list(frame.columns)


def test_derailed_subthread_is_one_item() -> None:
    scored = pd.DataFrame(
        {
            "comment_id": ["a", "b", "c", "d", "e"],
            "toxicity": [0.1, 0.2, 0.9, 0.1, 0.1],
            "action": ["allow", "review", "hold", "review", "review"],
            "priority": [0, 25, 90, 25, 20],
            "review_group": ["", "b", "", "b", ""],
        }
    )
    queue = build_queue(scored)
    assert queue["comment_id"].tolist() == ["c", "b", "e"]
    sub = queue.set_index("comment_id").loc["b"]
    assert sub["item_comments"] == "b d"
    assert sub["item_size"] == 2
    assert queue.set_index("comment_id").loc["c", "item_comments"] == "c"


def test_subthread_item_takes_its_strongest_member() -> None:
    scored = pd.DataFrame(
        {
            "comment_id": ["x", "y"],
            "action": ["review", "hold"],
            "priority": [25, 40],
            "review_group": ["x", "x"],
        }
    )
    queue = build_queue(scored)
    assert len(queue) == 1
    assert queue.loc[0, "comment_id"] == "x"
    assert queue.loc[0, "action"] == "hold"
    assert queue.loc[0, "priority"] == 40
