"""Off-topic scorer: thread-aware similarity features, intruder data, NaN without context."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer

from moderation.offtopic import (
    BASE_FEATURES,
    OffTopicScorer,
    ThreadTable,
    balanced_weights,
    build_worlds,
    featurize_worlds,
    fit_classifier,
    heldout_intruders,
    similar_threads,
    training_texts,
)
from moderation.schema import validate_comments
from moderation.thread import attach_context

THREADS = [
    ("budget", "City council approves the new budget for schools and roads",
     ["The school budget finally gets the roads fixed", "Council should spend more on schools",
      "Roads first, then schools, the budget is tight"]),
    ("football", "Local football team wins the cup final after penalties",
     ["What a final, the penalties were tense", "The team deserved the cup this season",
      "Penalties are a cruel way to win a final"]),
    ("weather", "Storm brings heavy rain and flooding to the coast",
     ["The flooding on the coast road is terrible", "Heavy rain again, stay safe near the coast",
      "The storm flooded my basement"]),
    ("election", "Mayor announces re-election campaign and new transit plan",
     ["The transit plan sounds expensive for the mayor", "A campaign promise about transit again",
      "The mayor will win re-election easily"]),
]  # fmt: skip


SHARED_ARTICLE = "Azerbaijan weighs joining the security treaty organisation"
SHARED_TEXTS = [
    "Azerbaijan should join the treaty for security",
    "Azerbaijan has always been historically named otherwise",
    "Azerbaijan food is great",
    "Azerbaijan weather in spring is lovely",
]


@pytest.fixture(scope="module")
def scorer() -> OffTopicScorer:
    texts = [t for _, a, cs in THREADS for t in [a, *cs]] + [SHARED_ARTICLE, *SHARED_TEXTS]
    fitted = OffTopicScorer(
        TfidfVectorizer(sublinear_tf=True, stop_words="english").fit(texts),
        HistGradientBoostingClassifier(max_iter=30, min_samples_leaf=2, random_state=0),
    )
    rows = featurize_worlds(fitted, build_worlds(THREADS * 3, chains=set(), seed=0, worlds=3))
    fit_classifier(fitted.classifier, rows)
    return fitted


def table(
    texts: list[str], articles: list[str], thread: list[int], parent: list[int]
) -> ThreadTable:
    parents = np.array(parent, dtype=np.int64)
    return ThreadTable(texts, np.array(thread, dtype=np.int64), parents, parents.copy(), articles)


def test_worlds_hold_real_comments_and_intruders_from_other_threads() -> None:
    rows = build_worlds(THREADS, chains=set(), seed=3, worlds=2)
    real = rows[(rows["world"] == 0)]
    assert (real["label"] == 0).all()
    assert len(real) == sum(len(cs) for _, _, cs in THREADS)
    later = rows[(rows["world"] > 0) & rows["keep"]]
    assert (later["label"] == 1).all()
    own = {t: set(cs) for t, (_, _, cs) in enumerate(THREADS)}
    intruders = later[~later.apply(lambda r: r["text"] in own[r["thread"]], axis=1)]
    assert len(intruders) > 0


def test_similar_threads_share_names_on_the_same_platform() -> None:
    threads = [
        ("reddit-a", "Azerbaijan weighs joining the treaty", ["Azerbaijan and Armenia talks"]),
        ("reddit-b", "Azerbaijan football league results", ["Armenia lost to Azerbaijan"]),
        ("reddit-c", "Cat food prices rise", ["my cat eats fish"]),
        ("other-d", "Azerbaijan and Armenia border", ["Azerbaijan Armenia again"]),
        ("reddit-e", "Azerbaijan weighs joining the treaty", ["the treaty again"]),
    ]
    vectorizer = TfidfVectorizer().fit([" ".join([a, *cs]) for _, a, cs in threads])
    near = similar_threads(vectorizer, threads, k=2)
    assert near[0] == [1]  # same names, other subject; not itself, not another platform,
    assert 3 not in near[1] and 0 in near[1]  # and not the same article (reddit-e)
    assert near[2] == []  # shares no word with anything on its platform


def test_an_intruding_reply_can_lead_a_derailed_sub_thread() -> None:
    donor = ("donor", "Penalties decide the final", ["one", "two", "three", "four"])
    rows = build_worlds([THREADS[0], donor], chains={"donor"}, seed=1, worlds=6, follow_on=1.0)
    rows = rows[rows["world"] > 0]
    real = set(THREADS[0][2])
    followers = 0
    for _, world in rows.groupby("world"):
        world = world.reset_index(drop=True)
        for i, parent in enumerate(world["parent"]):
            grand = world["parent"][parent] if parent >= 0 else -1
            if parent >= 0 and grand >= 0 and world["text"][grand] in real:
                assert world["label"][i] == world["label"][parent] == 1
                assert world["thread"][i] == 0 and world["keep"][i]
                followers += 1
    assert followers > 0


def test_balanced_weights_even_out_labels_within_each_stratum() -> None:
    rows = pd.DataFrame(
        {
            "is_reply": [1, 1, 1, 1, 0, 0, 0],
            "has_article": [1, 1, 1, 1, 1, 1, 1],
            "label": [1, 1, 1, 0, 0, 0, 1],
        }
    )
    weight = balanced_weights(rows)
    for _, group in rows.assign(w=weight).groupby("is_reply"):
        by_label = group.groupby("label")["w"].sum()
        assert by_label[0] == pytest.approx(by_label[1])
        assert by_label.sum() == pytest.approx(len(group))


def test_held_out_metrics_report_pooled_and_within_strata(scorer: OffTopicScorer) -> None:
    out = heldout_intruders(scorer, THREADS * 2, chains=set(), seed=5)
    assert set(out) == {
        "intruders_heldout",
        "intruders_heldout_random",
        "intruders_heldout_similar",
    }
    for metrics in out.values():
        assert 0 <= metrics["roc_auc"] <= 1
        assert 0 <= metrics["roc_auc_within_strata"] <= 1


def test_comment_under_its_own_article_is_less_off_topic(scorer: OffTopicScorer) -> None:
    text = "The flooding on the coast road is terrible"
    own = scorer.score_table(table([text], ["Storm brings heavy rain and flooding"], [0], [-1]))
    other = scorer.score_table(table([text], ["City council approves the new budget"], [0], [-1]))
    assert own[0] < other[0]


def test_a_word_the_whole_thread_shares_stops_counting(scorer: OffTopicScorer) -> None:
    feats = scorer.features(table(SHARED_TEXTS, [SHARED_ARTICLE], [0, 0, 0, 0], [-1, -1, -1, -1]))
    raw, discounted = feats["sim_article_raw"], feats["sim_article"]
    assert discounted[1] == pytest.approx(0.0)  # only the shared name overlapped
    assert raw[1] > 0
    assert discounted[0] > discounted[1]


def test_content_features_say_how_much_topic_a_comment_can_carry(
    scorer: OffTopicScorer,
) -> None:
    texts = ["the penalties and the flooding", "the council", "", "zzz qqq"]
    feats = scorer.features(table(texts, ["Storm"], [0, 0, 0, 0], [-1, -1, -1, -1]))
    vec = scorer.vectorizer
    idf = dict(zip(vec.get_feature_names_out(), vec.idf_, strict=True))
    assert feats.loc[0, "max_idf"] == pytest.approx(max(idf["penalties"], idf["flooding"]))
    assert feats.loc[0, "idf_mass"] == pytest.approx(math.log1p(idf["penalties"] + idf["flooding"]))
    assert feats.loc[1, "max_idf"] == pytest.approx(idf["council"])
    max_idf = feats["max_idf"].to_numpy(dtype=float)
    assert max_idf[2] == max_idf[3] == 0.0  # no known word
    assert feats.loc[3, "idf_mass"] == 0.0


def test_a_scorer_pickled_before_feature_names_keeps_its_features(
    scorer: OffTopicScorer,
) -> None:
    old = OffTopicScorer(
        scorer.vectorizer,
        HistGradientBoostingClassifier(max_iter=5, min_samples_leaf=2, random_state=0),
    )
    rows = featurize_worlds(old, build_worlds(THREADS * 3, chains=set(), seed=0, worlds=2))
    fit_classifier(old.classifier, rows, features=BASE_FEATURES)
    del old.__dict__["feature_names"]  # what a scorer pickled by the earlier code holds
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.feature_names == BASE_FEATURES
    out = loaded.score_table(table(["the flooding"], ["Storm and flooding"], [0], [-1]))
    assert 0 <= out[0] <= 1


def test_the_vocabulary_never_sees_a_held_out_thread() -> None:
    train = [("a", "Train article", ["train comment"])]
    test = [("b", "Held &amp; out article", ["held out comment", "shared"])]
    background = ["background text", "Held & out article", " held out comment ", "shared"]
    texts = training_texts(background, train, test)
    assert texts == ["background text", "Train article", "train comment"]


def test_missing_comparisons_are_nan_not_zero(scorer: OffTopicScorer) -> None:
    feats = scorer.features(table(["alone here"], [""], [0], [-1]))
    for name in ("sim_article", "sim_parent", "sim_root", "sim_thread", "article_terms"):
        assert math.isnan(feats[name].to_numpy(dtype=float)[0]), name


def test_no_context_or_no_text_is_nan(scorer: OffTopicScorer) -> None:
    out = scorer.score_table(
        table(["a comment", "", "a reply"], ["", "", "article"], [0, 1, 2], [-1, -1, -1])
    )
    assert math.isnan(out[0])
    assert math.isnan(out[1])
    assert 0 <= out[2] <= 1


def test_score_frame_from_validated_comments(scorer: OffTopicScorer) -> None:
    comments = validate_comments(
        pd.DataFrame(
            {
                "comment_id": ["a", "b", "c"],
                "thread_id": ["weather"] * 3,
                "parent_id": ["", "a", "b"],
                "text": [
                    "The storm flooded the coast",
                    "Rain again on the coast",
                    "My cat likes fish",
                ],
            }
        )
    )
    articles = pd.DataFrame(
        {"thread_id": ["weather"], "title": ["Storm floods coast"], "body": ["Heavy rain"]}
    )
    out = scorer.score_frame(comments, attach_context(comments, articles))
    assert list(out.columns) == ["off_topic", "sim_article", "sim_parent", "sim_thread"]
    assert out.index.equals(comments.index)
    assert out["off_topic"].between(0, 1).all()


def test_explain_names_words_shared_with_the_chain_not_the_article(scorer: OffTopicScorer) -> None:
    words = scorer.explain(
        "the penalties and the final", "budget for schools", ["the final had penalties"]
    )
    assert set(words) <= {"penalties", "final"}
    assert words


def test_article_author_replying_is_a_feature(scorer: OffTopicScorer) -> None:
    comments = validate_comments(
        pd.DataFrame(
            {
                "comment_id": ["a", "b"],
                "thread_id": ["q"] * 2,
                "author": ["asker", "helper"],
                "text": ["thanks all", "Try the coast road"],
            }
        )
    )
    articles = pd.DataFrame(
        {"thread_id": ["q"], "title": ["Best road?"], "body": ["Which road"], "author": ["asker"]}
    )
    table = ThreadTable.from_frames(comments, attach_context(comments, articles))
    assert table.by_author is not None
    assert table.by_author.tolist() == [1.0, 0.0]
    unknown = ThreadTable.from_frames(
        comments, attach_context(comments, articles.drop(columns="author"))
    )
    assert unknown.by_author is not None
    assert np.isnan(unknown.by_author).all()


def test_cross_domain_sets_read_their_real_schemas(scorer: OffTopicScorer, tmp_path: Path) -> None:
    from moderation.offtopic import evaluate_off_topic

    c3 = tmp_path / "c3-constructive-comments"
    c3.mkdir()
    pd.DataFrame(
        {
            "article_id": ["1"] * 4 + ["2"] * 4,
            "comment_text": [t for _, _, cs in THREADS[:2] for t in [*cs, "my cat likes fish"]],
            "non_constructive_characteristics": ["no_non_con:3", "no_non_con:3", "no_non_con:3",
                                                 "non_relevant:3"] * 2,
            "njudgements_constructiveness_expt": ["3"] * 8,
        }
    ).to_csv(c3 / "C3_anonymized.csv.gz", index=False)  # fmt: skip
    youtube = tmp_path / "youtube-spam-comments"
    youtube.mkdir()
    for i, (_, _, cs) in enumerate(THREADS[:2], start=1):
        pd.DataFrame(
            {"COMMENT_ID": list("abcd"), "AUTHOR": "x", "DATE": "", "CONTENT": [*cs, "sub to me"],
             "CLASS": ["0", "0", "0", "1"]}
        ).to_csv(youtube / f"Youtube0{i}-Video.csv", index=False)  # fmt: skip
    out = evaluate_off_topic(scorer, tmp_path)
    assert set(out) == {"c3_non_relevant", "youtube_spam"}
    assert out["c3_non_relevant"]["positives"] == 2
    assert out["youtube_spam"]["n"] == 8
    assert 0 <= out["youtube_spam"]["roc_auc"] <= 1
