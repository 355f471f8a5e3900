"""Moderator: the library contract on the bundled model (order, ranges, no row lost)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation import Moderator, schema
from moderation.rules import check_rules_text

OUTPUT_TAIL = [
    *schema.SCORES,
    schema.ACTION,
    schema.PRIORITY,
    schema.REASONS,
    "spans",
    "review_group",
    schema.DEPTH,
    schema.ROOT_ID,
    "derailed_at",
    "back_and_forth",
    "participants",
    "hostility_trend",
    "user_directed_insult",
    schema.PROBLEMS,
]


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator.load()


def test_output_columns_follow_the_input(moderator: Moderator) -> None:
    comments = pd.DataFrame(
        {"comment_id": ["1", "2"], "text": ["hello there", "thanks"], "extra": ["x", "y"]}
    )
    scored = moderator.score(comments)
    assert list(scored.columns) == ["comment_id", "text", "extra", *OUTPUT_TAIL]
    assert scored["extra"].tolist() == ["x", "y"]


def test_input_is_not_modified(moderator: Moderator) -> None:
    comments = pd.DataFrame({"comment_id": ["1"], "text": ["hello"]})
    before = comments.copy()
    moderator.score(comments)
    pd.testing.assert_frame_equal(comments, before)


def test_colliding_input_columns_are_kept_with_a_suffix(moderator: Moderator) -> None:
    comments = pd.DataFrame({"comment_id": ["1"], "text": ["hello"], "toxicity": ["from before"]})
    scored = moderator.score(comments)
    assert scored.loc[0, "toxicity_input"] == "from before"
    assert 0 <= scored.loc[0, "toxicity"] <= 1


def test_off_topic_is_unknown_without_context(moderator: Moderator) -> None:
    scored = moderator.score(pd.DataFrame({"comment_id": ["1"], "text": ["a top-level comment"]}))
    assert np.isnan(scored.loc[0, "off_topic"])


def test_off_topic_is_unknown_for_every_comment_with_nothing_around_it(
    moderator: Moderator,
) -> None:
    """Without an article, a comment alone in its thread (or reply chain) has no topic to leave."""
    texts = ["Eloquently put.", "After you, sir.", "Budget cuts hit the schools again."]
    flat = moderator.score(pd.DataFrame({"comment_id": ["1", "2", "3"], "text": texts}))
    assert flat["off_topic"].isna().all()
    assert not flat["reasons"].str.contains("off-topic").any()
    # A reply has its parent, a thread its other comments, an article its text: scored.
    replies = moderator.score(
        pd.DataFrame({"comment_id": ["1", "2", "3"], "parent_id": ["", "1", ""], "text": texts})
    )
    assert replies["off_topic"].notna().tolist() == [True, True, False]
    threads = moderator.score(
        pd.DataFrame({"comment_id": ["1", "2", "3"], "thread_id": ["a", "a", "b"], "text": texts})
    )
    assert threads["off_topic"].notna().tolist() == [True, True, False]
    articles = pd.DataFrame({"thread_id": ["b"], "title": ["Schools"], "body": ["Budget cuts."]})
    with_article = moderator.score(
        pd.DataFrame({"comment_id": ["1", "2", "3"], "thread_id": ["a", "a", "b"], "text": texts}),
        articles,
    )
    assert with_article["off_topic"].notna().all()


def test_with_rules_swaps_rules_only(moderator: Moderator) -> None:
    rules, _ = check_rules_text(
        "rules:\n  - {name: everything, when: {length: '>= 0'}, action: hold, priority: 5}\n"
    )
    strict = moderator.with_rules(rules)
    scored = strict.score(pd.DataFrame({"comment_id": ["1"], "text": ["lovely weather"]}))
    assert scored.loc[0, "action"] == "hold"
    assert strict.bundle is moderator.bundle


def test_score_one_returns_scores_action_and_terms(moderator: Moderator) -> None:
    one = moderator.score_one("You are a stupid idiot and everyone hates you.")
    assert set(one.scores) == set(schema.SCORES)
    assert one.scores["toxicity"] > 0.5
    assert one.action != "allow"
    assert one.reasons
    assert "toxicity" in one.terms


def test_load_a_bundle_by_path_and_rules_file(tmp_path: Path, moderator: Moderator) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n", encoding="utf-8")
    loaded = Moderator.load(moderator.bundle.path, rules=rules)
    assert loaded.rules.rules == ()


texts = st.lists(st.text(max_size=200), min_size=1, max_size=12)


@given(texts)
@settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_texts_keep_ids_order_and_score_range(moderator: Moderator, values: list[str]) -> None:
    ids = [f"id{i}" for i in range(len(values))]
    scored = moderator.score(pd.DataFrame({"comment_id": ids, "text": values}))
    assert scored["comment_id"].tolist() == ids
    for label in schema.SCORES:
        column = scored[label].dropna()
        assert ((column >= 0) & (column <= 1)).all()
    assert set(scored["action"]) <= {a.value for a in schema.Action}


def test_rules_can_count_an_authors_escalations_in_this_export(moderator: Moderator) -> None:
    rules, problems = check_rules_text(
        "rules:\n"
        "  - {name: rude, when: {text: {includes-word: [idiot]}}, action: review, priority: 50}\n"
        "  - {name: repeat, when: {author_escalated: '>= 2'}, action: hold, priority: 80}\n"
    )
    assert problems == []
    comments = pd.DataFrame(
        {
            "comment_id": ["1", "2", "3", "4"],
            "author": ["ann", "ann", "bob", "ann"],
            "text": ["you idiot", "idiot again", "you idiot", "a calm remark"],
        }
    )
    scored = moderator.with_rules(rules).score(comments)
    assert scored["action"].tolist() == ["hold", "hold", "review", "hold"]


def test_spans_point_at_the_offending_words(moderator: Moderator) -> None:
    text = (
        "Thanks for the article, it was a careful and balanced read on the budget. "
        "But you are a stupid idiot and everyone knows it."
    )
    scored = moderator.score(pd.DataFrame({"comment_id": ["1", "2"], "text": [text, "Nice day"]}))
    spans = json.loads(scored.loc[0, "spans"])
    assert "toxicity" in spans
    pieces = [text[s["begin"] : s["end"]] for s in spans["toxicity"]]
    assert any("idiot" in p for p in pieces)
    assert all("article" not in p for p in pieces)
    assert scored.loc[1, "spans"] == ""


def test_an_empty_export_scores_to_an_empty_frame_with_every_column(
    moderator: Moderator,
) -> None:
    empty = pd.DataFrame({c: pd.Series([], dtype=str) for c in ("comment_id", "text")})
    out = moderator.score(empty)
    assert len(out) == 0
    assert {*schema.SCORES, schema.ACTION, schema.REASONS, schema.PROBLEMS} <= set(out.columns)
