"""Off-topic scorer: thread-aware similarity features, intruder data, NaN without context."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import bundle_fixtures
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer

from moderation.offtopic import (
    ASIDE_FEATURES,
    BASE_FEATURES,
    FEATURES,
    OffTopicScorer,
    ThreadTable,
    balanced_weights,
    build_worlds,
    featurize_worlds,
    fit_classifier,
    heldout_intruders,
    similar_comments,
    similar_threads,
    training_texts,
)
from moderation.schema import OFF_TOPIC, validate_comments
from moderation.thread import attach_context

THREADS = [
    *bundle_fixtures.THREADS,
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


def later_worlds(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """The worlds after the first (which keeps every thread as it is), each re-indexed."""
    later = rows[rows["world"] > 0]
    return [world.reset_index(drop=True) for _, world in later.groupby("world")]


def test_an_intruding_reply_can_lead_a_derailed_sub_thread() -> None:
    donor = ("donor", "Penalties decide the final", ["one", "two", "three", "four"])
    rows = build_worlds([THREADS[0], donor], chains={"donor"}, seed=1, worlds=6, follow_on=1.0)
    real = set(THREADS[0][2])
    followers = 0
    for world in later_worlds(rows):
        for i, parent in enumerate(world["parent"]):
            grand = world["parent"][parent] if parent >= 0 else -1
            if parent >= 0 and grand >= 0 and world["text"][grand] in real:
                assert world["label"][i] == world["label"][parent] == 1
                assert world["thread"][i] == 0 and world["keep"][i]
                followers += 1
    assert followers > 0


TANGENT_THREADS = [
    ("ruddit-a", "Council approves the school budget",
     ["Budget cuts hurt rural schools and their teachers badly"]),
    ("ruddit-b", "Mountain trail reopens after the storm",
     ["Rural teachers hike the mountain trail every summer weekend", "Bring water up there"]),
    ("ruddit-c", "Council approves the school budget again",
     ["Rural teachers deserve the school budget money"]),
    ("toxichat-d", "Film festival opens downtown",
     ["Rural teachers watch festival films on weekends"]),
    ("ruddit-e", "Cooking show returns", ["thanks teachers"]),
    ("ruddit-f", "Chess championship ends in a draw",
     ["Budget cuts hurt rural schools and their teachers badly"]),
]  # fmt: skip


def test_tangent_donors_share_words_but_not_the_article_thread_or_platform() -> None:
    """Neighbours come from other threads of the platform, never near-identical articles.

    ``c`` repeats the article (same subject: its comments would be on-topic), ``d`` is
    another platform, ``e``'s comment has too few words to carry a topic and ``f``'s is a
    copy: only ``b``'s comment on the trail is a tangent for ``a``'s.
    """
    texts = [t for _, a, cs in TANGENT_THREADS for t in [a, *cs]]
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit(texts)
    near = similar_comments(vectorizer, TANGENT_THREADS)
    assert [len(n) for n in near] == [len(cs) for _, _, cs in TANGENT_THREADS]
    assert near[0][0] == [(1, 0)]
    for t, per_comment in enumerate(near):
        for donors in per_comment:
            assert all(d != t and TANGENT_THREADS[d][0][0] == TANGENT_THREADS[t][0][0]
                       for d, _ in donors)  # fmt: skip


def test_side_remarks_match_what_a_comment_adds_to_its_article() -> None:
    """Matched on all its words, ``a``'s comment finds the one repeating its article's words;
    matched on its side remark (the words its article lacks), the one sharing that remark."""
    threads = [
        ("ruddit-a", "Budget vote for rural schools",
         ["Budget vote for rural schools, it reminds me of fishing"]),
        ("ruddit-b", "Harbour museum opens",
         ["Fishing from the harbour museum pier is allowed now"]),
        ("ruddit-c", "Regional election results",
         ["The budget vote for rural schools decided the regional election"]),
    ]  # fmt: skip
    texts = [t for _, a, cs in threads for t in [a, *cs]]
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit(texts)
    assert similar_comments(vectorizer, threads, k=1)[0][0] == [(2, 0)]
    assert similar_comments(vectorizer, threads, k=1, side_remarks=True)[0][0] == [(1, 0)]


def test_tangent_intruders_reply_to_the_comment_they_share_words_with() -> None:
    threads = [THREADS[0], THREADS[1], ("donor", "Trail reopens", ["one", "two", "three"])]
    none: list[tuple[int, int]] = []
    tangents = [[[(2, 0)]] * len(THREADS[0][2]), [none] * len(THREADS[1][2]), [none] * 3]
    rows = build_worlds(
        threads, chains=set(), seed=2, worlds=4, tangents=tangents, tangent_share=1.0
    )
    real = set(THREADS[0][2])
    tangent = 0
    for world in later_worlds(rows):
        for i, parent in enumerate(world["parent"]):
            if parent >= 0 and world["thread"][i] == 0 and world["text"][parent] in real:
                assert world["text"][i] == "one" and world["label"][i] == 1
                assert world["keep"][i]
                tangent += 1
    assert tangent > 0
    plain = build_worlds(threads, chains=set(), seed=2, worlds=4)
    off = build_worlds(threads, chains=set(), seed=2, worlds=4, tangents=tangents)
    pd.testing.assert_frame_equal(plain, off)  # share 0 draws nothing: the earlier worlds


def _forty_threads() -> list[tuple[str, str, list[str]]]:
    """Forty small Ruddit-style threads over ten words (enough for a held-out fifth)."""
    words = ["budget", "school", "trail", "storm", "council"]
    words += ["festival", "teachers", "film", "rain", "roads"]
    return [
        (
            f"ruddit-{i}",
            f"{words[i % 10]} {words[(i + 3) % 10]} news",
            [f"{words[(i + j) % 10]} {words[(i + 2 * j + 1) % 10]} {words[(i + j + 5) % 10]} "
             f"{words[(i + 7) % 10]} marker{i}x{j}" for j in range(4)],
        )
        for i in range(40)
    ]  # fmt: skip


def test_training_tangents_never_come_from_held_out_threads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The default recipe's tangent donors are training comments, however close a held-out one is."""
    import moderation.offtopic as offtopic

    threads = _forty_threads()
    held = {k for k, _, _ in threads if offtopic._stable_fraction(k) >= 0.8}
    assert 0 < len(held) < len(threads)
    held_texts = {c for k, _, cs in threads if k in held for c in cs}
    calls: list[pd.DataFrame] = []
    real_build = offtopic.build_worlds

    def recording(threads_in: list[tuple[str, str, list[str]]], **kw: Any) -> pd.DataFrame:
        rows = real_build(threads_in, **kw)
        if all(k not in held for k, _, _ in threads_in):
            assert kw["tangent_share"] > 0 and kw["tangents"] is not None
            calls.append(rows)
        return rows

    monkeypatch.setattr(offtopic, "_toxichat_threads", lambda _: [])
    monkeypatch.setattr(offtopic, "_ruddit_threads", lambda _: threads)
    monkeypatch.setattr(offtopic, "build_worlds", recording)
    offtopic.fit_off_topic(tmp_path, ["budget school news"], tangent_share=0.5)
    assert len(calls) == 1
    intruders = calls[0][calls[0]["label"] == 1]
    assert len(intruders) > 0
    assert not set(intruders["text"]) & held_texts


def test_intruder_threads_split_by_thread_hash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import moderation.offtopic as offtopic

    chat = [("toxichat-train-0", "a post", ["a reply", "a reply to it"])]
    monkeypatch.setattr(offtopic, "_toxichat_threads", lambda _: chat)
    monkeypatch.setattr(offtopic, "_ruddit_threads", lambda _: _forty_threads())
    split = offtopic.intruder_threads(tmp_path)
    assert split.chains == {"toxichat-train-0"}
    everything = chat + _forty_threads()
    assert sorted(split.train + split.test) == sorted(everything)
    assert split.test and split.train
    for key, _, _ in split.test:
        assert offtopic._stable_fraction(key) >= offtopic.HELDOUT_FROM
    for key, _, _ in split.train:
        assert offtopic._stable_fraction(key) < offtopic.HELDOUT_FROM


def test_held_out_intruders_measured_again_give_the_recorded_numbers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What `moderation evaluate` re-measures equals what training recorded, fitted or compiled."""
    import moderation.offtopic as offtopic

    monkeypatch.setattr(offtopic, "_toxichat_threads", lambda _: [])
    monkeypatch.setattr(offtopic, "_ruddit_threads", lambda _: _forty_threads())
    fitted = offtopic.fit_off_topic(tmp_path, ["budget school news"], seed=3)
    split = offtopic.intruder_threads(tmp_path)
    for scorer in (fitted, compiled(fitted)):
        again = offtopic.measure_intruders(scorer, split, seed=3)
        assert set(again) == {k for k in fitted.metrics if k.startswith("intruders_")}
        assert again == {k: fitted.metrics[k] for k in again}


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
        "intruders_heldout_tangent",
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


def test_aside_features_say_which_words_a_reply_shares_with_its_parent(
    scorer: OffTopicScorer,
) -> None:
    article = "Storm brings heavy rain and flooding to the coast"
    texts = [
        "The flooding wrecked the council budget for schools",  # parent
        "Flooding on the coast again",  # shares only article words with the parent
        "The council budget for schools is tight",  # shares only the parent's side remark
        "The budget and the flooding",  # shares one of each
    ]
    shipped = scorer.features(table(texts, [article], [0, 0, 0, 0], [-1, 0, 0, 0]))
    assert not set(ASIDE_FEATURES) & set(shipped.columns)  # only scorers fitted on them pay
    scorer = OffTopicScorer(
        scorer.vectorizer, scorer.classifier, feature_names=FEATURES + ASIDE_FEATURES
    )
    feats = scorer.features(table(texts, [article], [0, 0, 0, 0], [-1, 0, 0, 0]))
    parent, aside = feats["sim_parent"].to_numpy(), feats["sim_parent_aside"].to_numpy()
    share = feats["parent_article_share"].to_numpy()
    assert parent[1] > 0 and aside[1] == pytest.approx(0.0) and share[1] == pytest.approx(1.0)
    assert aside[2] == pytest.approx(parent[2]) and parent[2] > 0
    assert share[2] == pytest.approx(0.0)
    assert 0 < aside[3] < parent[3] and 0 < share[3] < 1
    assert math.isnan(aside[0]) and math.isnan(share[0])  # top-level: no parent
    no_article = scorer.features(table(texts[:2], [""], [0, 0], [-1, 0]))
    assert math.isnan(no_article["sim_parent_aside"].to_numpy()[1])  # nothing to set aside
    assert math.isnan(no_article["parent_article_share"].to_numpy()[1])


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


class _ScoreInBody:
    """Stands in for a scorer: each SemEval reply's score is written in its body (``nan`` too)."""

    def score_table(self, table: ThreadTable) -> np.ndarray:
        return np.array([float(text.split("\n", 1)[1]) for text in table.texts])


def _semeval_file(path: Path) -> Path:
    """A tiny file in the SemEval-2015 task 3 release's columns: dev and test questions."""
    rows = [  # split, question, gold label, score the stub reads, by the asker
        ("dev", "q1", "Good", "0.1", "False"), ("dev", "q1", "Good", "0.15", "False"),
        ("dev", "q1", "Potential", "0.5", "False"), ("dev", "q2", "Potential", "0.55", "False"),
        ("dev", "q2", "Bad", "0.9", "False"), ("dev", "q2", "Dialogue", "0.95", "True"),
        ("test", "q3", "Good", "0.1", "False"), ("test", "q3", "Good", "0.52", "True"),
        ("test", "q3", "Potential", "0.52", "False"), ("test", "q4", "Potential", "nan", "False"),
        ("test", "q4", "Bad", "0.95", "False"), ("test", "q4", "Dialogue", "0.1", "True"),
        ("test", "q4", "Not English", "0.95", "False"),
    ]  # fmt: skip
    pd.DataFrame(
        {
            "split": [r[0] for r in rows],
            "qid": [r[1] for r in rows],
            "q_subject": [f"subject of {r[1]}" for r in rows],
            "q_body": [f"body of {r[1]}" for r in rows],
            "c_subject": ["re"] * len(rows),
            "c_body": [r[3] for r in rows],
            "comment_by_asker": [r[4] for r in rows],
            "cgold": [r[2] for r in rows],
        }
    ).to_csv(path, index=False)
    return path


def test_semeval_table_reads_questions_as_articles(tmp_path: Path) -> None:
    from moderation.offtopic import semeval_table

    table, frame = semeval_table(_semeval_file(tmp_path / "semeval.csv"), "test")
    assert len(frame) == len(table.texts) == 7
    assert table.articles == ["subject of q3\nbody of q3", "subject of q4\nbody of q4"]
    assert table.thread.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert (table.parent == -1).all() and (table.root == -1).all()  # flat: every reply top-level
    assert table.by_author is not None
    assert table.by_author.tolist() == [0, 1, 0, 0, 0, 1, 0]
    assert table.texts[0] == "re\n0.1"


def test_semeval_cut_points_come_from_dev_and_macro_f1_is_official(tmp_path: Path) -> None:
    from typing import cast

    from moderation.offtopic import evaluate_semeval

    out = evaluate_semeval(
        cast(OffTopicScorer, _ScoreInBody()), _semeval_file(tmp_path / "semeval.csv")
    )
    low, high = out["cut_points_from_dev"]
    assert 0.15 < low <= 0.5 and 0.55 < high <= 0.9  # dev's three classes apart
    # Test: Good 0.1 -> Good, Good 0.52 -> Potential, Potential 0.52 and nan (0.5) -> Potential,
    # Bad 0.95 -> Bad, Dialogue 0.1 -> Good, Not English 0.95 -> Bad. Per class F1: Good 2/4,
    # Potential 4/5, Bad (Dialogue and Not English included) 4/5.
    assert out["macro_f1_official"] == pytest.approx((0.5 + 0.8 + 0.8) / 3, abs=1e-4)
    # ROC-AUC over Good vs Bad + Dialogue only: 0.95 beats both Goods, Dialogue 0.1 ties one.
    assert out["roc_auc"] == pytest.approx(2.5 / 4)
    assert (out["n"], out["positives"]) == (4, 2)
    assert out["published_best_macro_f1"] == 0.572


def test_evaluate_off_topic_finds_semeval_in_the_release_layout(
    scorer: OffTopicScorer, tmp_path: Path
) -> None:
    from moderation.offtopic import evaluate_off_topic

    folder = tmp_path / "semeval-cqa-qatarliving"
    folder.mkdir()
    _semeval_file(folder / "semeval2015_task3_comments.csv.gz")
    out = evaluate_off_topic(scorer, tmp_path)
    assert set(out) == {"semeval2015_cqa_test"}
    assert out["semeval2015_cqa_test"]["n"] == 4


# --- the scorer as plain arrays (moderation.offtopicarrays) ----------------------------------


def compiled(scorer: OffTopicScorer) -> OffTopicScorer:
    """The scorer rebuilt from its arrays after a trip through ``numpy.savez`` (no pickles)."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **scorer.to_arrays())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as found:
        return OffTopicScorer.from_arrays({name: found[name] for name in found.files})


def assert_same_scores(fitted: OffTopicScorer, table_: ThreadTable) -> None:
    """Features and scores of the compiled scorer equal the fitted one's, bit for bit."""
    arrays = compiled(fitted)
    want, got = fitted.features(table_), arrays.features(table_)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    np.testing.assert_array_equal(arrays.score_table(table_), fitted.score_table(table_))


WORDS = [
    "budget", "Schools", "ROADS", "final", "penalties", "coast", "storm", "mayor", "transit",
    "Azerbaijan", "treaty", "the", "and", "you", "i", "a", "über", "ÉCOLE", "straße", "İstanbul",
    "naïve", "x_y", "42", "3d", "l33t", "日本語", "ǅemal", "Ωmega", "K", "ﬁnal",
]  # fmt: skip
SEPARATORS = [" ", "  ", ", ", ". ", "? ", "!\n", "'", "-", "\t", "…", "—"]


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Comments over words the fixture vocabulary has and hasn't, with odd case and Unicode."""
    parts = draw(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS))))
    noise = draw(st.text(max_size=8))
    return "".join(w + s for w, s in parts) + noise


@st.composite
def tables(draw: st.DrawFn) -> ThreadTable:
    """Random threads: replies to earlier comments, articles or none, authors known or not."""
    n = draw(st.integers(1, 12))
    n_threads = draw(st.integers(1, 3))
    thread = np.array([draw(st.integers(0, n_threads - 1)) for _ in range(n)], dtype=np.int64)
    parent = np.array([draw(st.integers(-1, i - 1)) if i else -1 for i in range(n)], dtype=np.int64)
    root = parent.copy()
    for i in range(n):
        root[i] = -1 if parent[i] < 0 else (root[parent[i]] if root[parent[i]] >= 0 else parent[i])
    articles = [draw(st.one_of(st.just(""), texts())) for _ in range(n_threads)]
    by_author = np.array(
        [draw(st.sampled_from([0.0, 1.0, np.nan])) for _ in range(n)], dtype=np.float64
    )
    return ThreadTable(
        [draw(texts()) for _ in range(n)], thread, parent, root, articles, by_author=by_author
    )


def test_compiled_scorer_scores_the_fixture_threads_exactly(scorer: OffTopicScorer) -> None:
    texts_ = [c for _, _, cs in THREADS for c in cs] + SHARED_TEXTS
    thread = [t for t, (_, _, cs) in enumerate(THREADS) for _ in cs] + [len(THREADS)] * 4
    parent = list(range(-1, len(texts_) - 1))
    articles = [a for _, a, _ in THREADS] + [SHARED_ARTICLE]
    assert_same_scores(scorer, table(texts_, articles, thread, [-1] * len(texts_)))
    assert_same_scores(scorer, table(texts_, [""] * len(articles), thread, parent))


def test_a_scorer_that_sees_the_aside_features_compiles_unchanged(
    scorer: OffTopicScorer,
) -> None:
    # The arrays hold the vectoriser and the trees; the features are computed from them, so a
    # new column needs nothing from offtopicarrays beyond its name.
    names = FEATURES + ASIDE_FEATURES
    aside = OffTopicScorer(
        scorer.vectorizer,
        HistGradientBoostingClassifier(max_iter=10, min_samples_leaf=2, random_state=0),
        feature_names=names,
    )
    rows = featurize_worlds(aside, build_worlds(THREADS * 3, chains=set(), seed=0, worlds=3))
    fit_classifier(aside.classifier, rows, features=names)
    assert compiled(aside).feature_names == names
    texts_ = [c for _, _, cs in THREADS for c in cs]
    thread = [t for t, (_, _, cs) in enumerate(THREADS) for _ in cs]
    parent = [-1 if i == 0 or thread[i] != thread[i - 1] else i - 1 for i in range(len(texts_))]
    assert_same_scores(aside, table(texts_, [a for _, a, _ in THREADS], thread, parent))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated=tables())
def test_compiled_scorer_equals_the_fitted_one_on_generated_threads(
    scorer: OffTopicScorer, generated: ThreadTable
) -> None:
    assert_same_scores(scorer, generated)


@settings(max_examples=200, deadline=None)
@given(docs=st.lists(texts(), min_size=1, max_size=8))
def test_compiled_vectoriser_gives_scikit_learns_matrix(
    scorer: OffTopicScorer, docs: list[str]
) -> None:
    want = scorer.vectorizer.transform(docs)
    got = compiled(scorer).vectorizer.transform(docs)
    assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def test_long_rows_are_normalised_as_scikit_learn_sums_them() -> None:
    """Rows of hundreds of words: a pairwise sum of the squares could differ in the last bit."""
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}x" for i in range(3000)]
    docs = [" ".join(rng.choice(vocabulary, size=int(rng.integers(1, 900)))) for _ in range(60)]
    fitted = TfidfVectorizer(sublinear_tf=True, dtype=np.float32).fit(docs)
    fake = OffTopicScorer(fitted, _Trees(), feature_names=("a",))
    got = compiled(fake).vectorizer.transform(docs)
    want = fitted.transform(docs)
    np.testing.assert_array_equal(got.data, want.data)
    np.testing.assert_array_equal(got.indices, want.indices)


class _Trees:
    """The smallest fitted binary classifier the compiler accepts: one feature, one split."""

    def __init__(self) -> None:
        rows = np.array([[0.0], [1.0], [np.nan], [2.0]] * 10)
        self.fitted = HistGradientBoostingClassifier(max_iter=3, min_samples_leaf=1).fit(
            rows, np.array([0, 1, 1, 0] * 10)
        )

    def __getattr__(self, name: str) -> object:
        return getattr(self.fitted, name)


def test_compiled_trees_split_at_thresholds_and_send_missing_values_as_fitted(
    scorer: OffTopicScorer,
) -> None:
    """Values exactly at a threshold go left (``<=``); NaN goes where each node says."""
    from moderation.offtopicarrays import ArrayTrees

    trees = ArrayTrees.from_classifier(scorer.classifier)
    inner = ~trees.leaf
    n_features = trees.n_features_in_
    rows = np.zeros((4 * int(inner.sum()), n_features))
    for k, (f, t) in enumerate(zip(trees.feature[inner], trees.threshold[inner], strict=True)):
        rows[4 * k : 4 * k + 4, f] = [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), np.nan]
    rows[::7] = np.nan  # whole rows missing too
    want = scorer.classifier.predict_proba(rows)
    np.testing.assert_array_equal(trees.predict_proba(rows), want)


def test_compiled_scorer_explains_like_the_fitted_one(scorer: OffTopicScorer) -> None:
    arrays = compiled(scorer)
    for text, article, chain in [
        ("The mayor will win re-election easily", SHARED_ARTICLE, ["mayor transit plan"]),
        ("Azerbaijan food is great", SHARED_ARTICLE, ["Azerbaijan food great weather"]),
        ("", "", [""]),
    ]:
        assert arrays.explain(text, article, chain) == scorer.explain(text, article, chain)


def test_compiled_scorer_pickles(scorer: OffTopicScorer) -> None:
    arrays = compiled(scorer)
    docs = SHARED_TEXTS
    again = pickle.loads(pickle.dumps(arrays))
    np.testing.assert_array_equal(
        again.vectorizer.transform(docs).data, arrays.vectorizer.transform(docs).data
    )


@pytest.mark.parametrize(
    "vectorizer",
    [
        TfidfVectorizer(ngram_range=(1, 2)),
        TfidfVectorizer(analyzer="char_wb"),
        TfidfVectorizer(strip_accents="unicode"),
        TfidfVectorizer(binary=True),
    ],
)
def test_settings_the_arrays_cannot_reproduce_are_refused(
    scorer: OffTopicScorer, vectorizer: TfidfVectorizer
) -> None:
    vectorizer.fit(SHARED_TEXTS)
    with pytest.raises(ValueError, match="cannot be compiled"):
        OffTopicScorer(vectorizer, scorer.classifier).to_arrays()


def test_damaged_arrays_are_a_value_error(scorer: OffTopicScorer) -> None:
    arrays = scorer.to_arrays()
    with pytest.raises(ValueError, match="lack 't_roots'"):
        OffTopicScorer.from_arrays({k: v for k, v in arrays.items() if k != "t_roots"})
    with pytest.raises(ValueError, match="format 9"):
        OffTopicScorer.from_arrays({**arrays, "format": np.array([9])})
    bad = arrays["t_left"].copy()
    bad[bad >= 0] = 10**6
    with pytest.raises(ValueError, match="outside"):
        OffTopicScorer.from_arrays({**arrays, "t_left": bad})


def test_stop_words_are_the_vectorisers() -> None:
    """Thread dynamics take the scorer's list, which equals scikit-learn's English one."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from moderation import Moderator

    scorer = Moderator.load().bundle.off_topic
    assert scorer.stop_words == ENGLISH_STOP_WORDS
    assert OffTopicScorer.from_arrays(scorer.to_arrays()).stop_words == ENGLISH_STOP_WORDS


# --- parity on real threads with the default bundle's scorer ----------------------------------

EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "examples" / "azerbaijan-csto"
BENCH_EXPORT = (
    Path(__file__).resolve().parent.parent / "bench" / ".cache" / "corpus-v2-20000-s0-export.csv"
)


@pytest.fixture(scope="module")
def default_scorer() -> OffTopicScorer:
    from moderation.bundle import default_bundle_path, load_bundle

    fitted: OffTopicScorer = load_bundle(default_bundle_path()).fitted_off_topic
    return fitted


@pytest.mark.parametrize("source", ["example", "bench"])
def test_default_scorer_compiled_scores_real_threads_exactly(
    default_scorer: OffTopicScorer, source: str
) -> None:
    """The example thread (with its article) and, when built, the 20,000-comment bench export."""
    if source == "bench" and not BENCH_EXPORT.is_file():
        pytest.skip("bench corpus not built (see bench/README.md)")
    articles = None
    if source == "example":
        comments = pd.read_csv(EXAMPLE / "comments.csv", dtype=str, keep_default_na=False)
        articles = pd.read_csv(EXAMPLE / "articles.csv", dtype=str, keep_default_na=False)
    else:
        comments = pd.read_csv(BENCH_EXPORT, dtype=str, keep_default_na=False)
    valid = validate_comments(comments)
    context = attach_context(valid, articles)
    want = default_scorer.score_frame(valid, context)
    got = compiled(default_scorer).score_frame(valid, context)
    assert want[OFF_TOPIC].notna().any()
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    np.testing.assert_allclose(got[OFF_TOPIC], want[OFF_TOPIC], rtol=0, atol=1e-9)
