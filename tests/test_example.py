"""The user's own example thread, scored with the bundled model and default rules.

The human notes in data/examples/README.md say which comments are hostile and which
form the derailed naming-dispute chain; these tests hold the shipped model to them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from moderation import Moderator, build_queue, schema
from moderation.io import read_articles, read_comments

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "azerbaijan-csto"
HOSTILE = ["c08", "c10", "c16"]  # insults: 'insane person', 'Zionist troll', 'puppet state'
BORDERLINE = ["c13"]  # inflammatory slogan, no insult
DERAILED = [f"c{i:02d}" for i in range(2, 13)]  # the naming dispute, c02 … c12
ON_TOPIC = ["c01", "c14", "c15", "c17"]


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator.load()


@pytest.fixture(scope="module")
def scored(moderator: Moderator) -> pd.DataFrame:
    comments = read_comments(EXAMPLE / "comments.csv")
    articles = read_articles(EXAMPLE / "articles.csv")
    return moderator.score(comments, articles).set_index("comment_id", drop=False)


def test_one_row_per_comment_in_order(scored: pd.DataFrame) -> None:
    source = pd.read_csv(EXAMPLE / "comments.csv", dtype=str, keep_default_na=False)
    assert scored["comment_id"].tolist() == source["comment_id"].tolist()
    assert (scored[schema.PROBLEMS] == "").all()


def test_hostile_replies_rank_above_civil_ones_on_toxicity(scored: pd.DataFrame) -> None:
    civil = scored.drop(index=HOSTILE + BORDERLINE)
    assert scored.loc[HOSTILE, "toxicity"].min() > civil["toxicity"].max()


def test_derailed_chain_is_more_off_topic_than_on_topic_comments(scored: pd.DataFrame) -> None:
    derailed = scored.loc[DERAILED, "off_topic"]
    on_topic = scored.loc[ON_TOPIC, "off_topic"]
    assert derailed.mean() > on_topic.mean()
    assert derailed.median() > on_topic.max()


C08_BELOW_INSULT_RULE = pytest.mark.xfail(
    strict=True,
    reason=(
        "known model limit: c08 ('some insane person') scores insult 0.335 with "
        "hostility-2026-11-30e, just under the default insult rule's precision-0.6 threshold "
        "(0.337); it reaches the review list only with its derailed sub-thread, whose reason "
        "is the derailment, not the insult"
    ),
)


@pytest.mark.parametrize(
    "comment_id",
    [pytest.param(c, marks=C08_BELOW_INSULT_RULE) if c == "c08" else c for c in HOSTILE],
)
def test_review_list_has_hostile_replies_with_readable_reasons(
    scored: pd.DataFrame, comment_id: str
) -> None:
    escalated = scored[scored[schema.ACTION] != "allow"]
    assert comment_id in escalated.index, scored.loc[comment_id, list(schema.SCORES)]
    reasons = escalated.loc[comment_id, schema.REASONS]
    # A hostility rule fired and the words behind that label are quoted.
    assert "words:" in reasons, reasons


def test_nothing_in_the_example_is_removed(scored: pd.DataFrame) -> None:
    assert (scored[schema.ACTION] != "remove").all()  # nothing here is near-certain abuse


def test_reasons_quote_the_words_of_the_label_that_escalated(scored: pd.DataFrame) -> None:
    # c10's insult (0.35) is under 0.5 but over the insult rule's threshold: its words are quoted.
    reasons = scored.loc["c10", schema.REASONS]
    assert "Possible insult" in reasons and "words: insult:" in reasons, reasons


def test_score_one_matches_the_batch(moderator: Moderator, scored: pd.DataFrame) -> None:
    comments = read_comments(EXAMPLE / "comments.csv").set_index("comment_id", drop=False)
    one = moderator.score_one(comments.loc["c16", "text"])
    assert one.scores["toxicity"] == pytest.approx(scored.loc["c16", "toxicity"])
    assert one.action == scored.loc["c16", "action"] != "allow"
    assert one.terms


def test_score_one_escalates_a_mild_insult_in_a_long_reply(moderator: Moderator) -> None:
    comments = read_comments(EXAMPLE / "comments.csv").set_index("comment_id", drop=False)
    one = moderator.score_one(comments.loc["c10", "text"], parent=comments.loc["c09", "text"])
    assert one.action != "allow"


def test_naming_dispute_is_one_derailed_sub_thread(scored: pd.DataFrame) -> None:
    on_topic = scored.loc[[*ON_TOPIC, "c16"], "derailed_at"]
    assert (on_topic == "").all(), on_topic
    chain = scored.loc[DERAILED, "derailed_at"]
    start = chain[chain != ""].mode().iloc[0]
    assert start in DERAILED
    assert (chain == start).mean() >= 0.8, chain


def test_derailed_sub_thread_is_one_review_item(scored: pd.DataFrame) -> None:
    queue = build_queue(scored)
    items = queue[queue["item_size"] > 1]
    assert len(items) == 1
    members = set(items.iloc[0]["item_comments"].split())
    assert members <= set(DERAILED)
    assert len(members) >= 0.8 * len(DERAILED)
    assert "off-topic: similarity to article" in items.iloc[0][schema.REASONS]
