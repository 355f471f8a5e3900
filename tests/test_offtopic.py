"""Off-topic scorer: similarity features, swapped-context pairs, NaN without context."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from moderation.offtopic import FEATURES, OffTopicScorer, make_pairs

THREADS = [
    (
        "budget",
        "City council approves the new budget for schools and roads",
        "The school budget finally gets the roads fixed",
        "Council should spend more on schools",
    ),
    (
        "football",
        "Local football team wins the cup final after penalties",
        "What a final, the penalties were tense",
        "The team deserved the cup this season",
    ),
    (
        "weather",
        "Storm brings heavy rain and flooding to the coast",
        "The flooding on the coast road is terrible",
        "Heavy rain again, stay safe near the coast",
    ),
    (
        "election",
        "Mayor announces re-election campaign and new transit plan",
        "The transit plan sounds expensive for the mayor",
        "A campaign promise about transit again",
    ),
]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    out = []
    for key, article, reply, reply2 in THREADS * 3:
        out.append({"thread": key, "text": reply, "topic": article, "parent": ""})
        out.append({"thread": key, "text": reply2, "topic": article, "parent": reply})
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def scorer(rows: pd.DataFrame) -> OffTopicScorer:
    vec = TfidfVectorizer(sublinear_tf=True).fit([t for row in THREADS for t in row[1:]])
    fitted = OffTopicScorer(vec, LogisticRegression())
    pairs = make_pairs(rows, seed=0)
    feats = fitted.features(pairs["text"], pairs["topic"], pairs["parent"])
    fitted.classifier.fit(feats[list(FEATURES)].to_numpy(), pairs["label"].to_numpy())
    return fitted


def test_pairs_swap_context_from_another_thread(rows: pd.DataFrame) -> None:
    pairs = make_pairs(rows, seed=3)
    assert (pairs["label"] == 0).sum() == (pairs["label"] == 1).sum() == len(rows)
    swapped = pairs[pairs["label"] == 1].reset_index(drop=True)
    own_topic = rows.reset_index(drop=True)["topic"]
    assert (swapped["topic"] != own_topic).all()
    assert (swapped["text"] == rows["text"].to_numpy()).all()


def test_reply_under_its_own_article_is_less_off_topic(scorer: OffTopicScorer) -> None:
    text = "The flooding on the coast road is terrible"
    own = scorer.score([text], ["Storm brings heavy rain and flooding to the coast"], [""])
    other = scorer.score([text], ["City council approves the new budget for schools"], [""])
    assert own[0] < other[0]


def test_learned_weights_make_topic_similarity_count(scorer: OffTopicScorer) -> None:
    weights = dict(zip(FEATURES, scorer.classifier.coef_[0], strict=True))
    assert weights["sim_topic"] < 0


def test_no_context_or_no_text_is_nan(scorer: OffTopicScorer) -> None:
    out = scorer.score(["a comment", "", "a reply"], ["", "article", ""], ["", "", "parent text"])
    assert math.isnan(out[0]) and math.isnan(out[1]) and not math.isnan(out[2])
    assert ((out[2] >= 0) & (out[2] <= 1)).all()


def test_scores_keep_length_and_order(scorer: OffTopicScorer) -> None:
    texts = [r[2] for r in THREADS]
    topics = [r[1] for r in THREADS]
    forward = scorer.score(texts, topics, [""] * 4)
    backward = scorer.score(texts[::-1], topics[::-1], [""] * 4)
    np.testing.assert_allclose(forward, backward[::-1])
