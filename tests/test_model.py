"""HostilityModel: fit on the fixtures, predict shape/range/order, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from labelled_fixtures import labelled_dir

from moderation import schema
from moderation.corpus import load_corpus
from moderation.features import FeatureConfig, make_features
from moderation.model import MAX_SCORED_CHARS, HostilityModel, Span, SpanLevel, term_columns

LABELLED = labelled_dir()


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    frame = load_corpus(LABELLED)
    return frame[frame["redistributable"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def model(corpus: pd.DataFrame) -> HostilityModel:
    return HostilityModel().fit(corpus, seed=0)


def test_each_label_is_fitted_on_the_rows_that_know_it(
    corpus: pd.DataFrame, model: HostilityModel
) -> None:
    # Deterministic stand-in for a wall-clock bound: the fit visits each known row once.
    for label in schema.LABELS:
        assert model.n_train_[label] == int(corpus[label].notna().sum())


def test_predict_shape_range_and_order(model: HostilityModel) -> None:
    texts = ["You are a pathetic idiot.", "", "Lovely photos of the harbour.", "x" * 30_000]
    scores = model.predict(texts)
    assert list(scores.columns) == list(schema.LABELS)
    assert len(scores) == len(texts)
    assert isinstance(scores.index, pd.RangeIndex)
    values = scores.to_numpy()
    assert values.dtype == np.float64
    assert ((values >= 0) & (values <= 1)).all()
    # Order: scoring one at a time gives the same numbers as the batch.
    for i, text in enumerate(texts):
        single = model.predict([text]).iloc[0].to_numpy()
        np.testing.assert_allclose(single, values[i], rtol=1e-6)
    assert model.predict([])["toxicity"].size == 0


def test_hostile_scores_above_civil(model: HostilityModel) -> None:
    scores = model.predict(["Shut up you stupid idiot moron", "Thanks for the lovely photos"])
    assert scores.loc[0, "toxicity"] > scores.loc[1, "toxicity"]
    assert scores.loc[0, "insult"] > scores.loc[1, "insult"]


def test_long_texts_are_truncated(model: HostilityModel) -> None:
    head = "you stupid idiot " * 10
    padded = head + "a" * (MAX_SCORED_CHARS - len(head))
    np.testing.assert_allclose(
        model.predict([padded]).to_numpy(),
        model.predict([padded + " lovely harbour photos" * 500]).to_numpy(),
    )


def test_non_strings_score_as_empty(model: HostilityModel) -> None:
    scores = model.predict([None, float("nan"), ""])  # type: ignore[list-item]
    np.testing.assert_allclose(scores.iloc[0], scores.iloc[2])
    np.testing.assert_allclose(scores.iloc[1], scores.iloc[2])
    with pytest.raises(TypeError, match="sequence of texts"):
        model.predict("a single string")


def test_deterministic(corpus: pd.DataFrame) -> None:
    texts = ["you idiot", "nice day"]
    a = HostilityModel().fit(corpus, seed=3).predict(texts)
    b = HostilityModel().fit(corpus, seed=3).predict(texts)
    pd.testing.assert_frame_equal(a, b)


def test_top_terms_are_readable_words(model: HostilityModel) -> None:
    terms = model.top_terms("Shut up, you stupid idiot!", "toxicity", k=3)
    assert 0 < len(terms) <= 3
    words = [t for t, _ in terms]
    assert all(" " in w or w in {"shut", "up", "you", "stupid", "idiot"} for w in words)
    contributions = [c for _, c in terms]
    assert contributions == sorted(contributions, reverse=True)
    assert all(c > 0 for c in contributions)
    assert model.top_terms("", "toxicity") == []
    with pytest.raises(ValueError, match="unknown label"):
        model.top_terms("x", "rudeness")


def test_unknown_labels_do_not_train_as_negative() -> None:
    frame = pd.DataFrame(
        {
            "text": ["idiot idiot", "lovely day", "idiot fool", "nice photo"],
            **{label: [np.nan] * 4 for label in schema.LABELS},
        }
    )
    frame["toxicity"] = [1.0, 0.0, 1.0, 0.0]
    model = HostilityModel(FeatureConfig(min_df=1)).fit(frame)
    assert model.n_train_["toxicity"] == 4
    assert model.n_train_["threat"] == 0
    scores = model.predict(["idiot"])
    assert scores.loc[0, "threat"] == pytest.approx(0.5)  # untrained label: no information


def test_term_columns_are_the_term_words_and_their_pieces() -> None:
    union = make_features(FeatureConfig(min_df=1))
    union.fit(["Muslims gay neighbours", "middle aged men", "stupid idiot", "the muse"])
    hit = term_columns(union, ["muslim", "gay", "middle aged"])
    names = dict(zip(union.get_feature_names_out(), hit, strict=True))
    assert names["word__muslims"] and names["word__gay"] and names["word__gay neighbours"]
    assert names["word__middle aged"] and not names["word__middle"]  # phrases stay whole
    assert names["char__ gay "] and names["char__musl"] and names["char__ mus"]
    assert not names["word__stupid"] and not names["char__idiot"]
    assert not names["char__e "]  # one letter: too common to blind


def test_blind_labels_do_not_see_term_columns() -> None:
    frame = pd.DataFrame(
        {
            "text": ["gay idiot", "gay idiot fool", "nice day", "lovely photo"] * 2,
            **{label: [np.nan] * 8 for label in schema.LABELS},
        }
    )
    frame["toxicity"] = [1.0, 1.0, 0.0, 0.0] * 2
    frame["identity_attack"] = [1.0, 1.0, 0.0, 0.0] * 2
    model = HostilityModel(
        FeatureConfig(min_df=1), blind_terms=["gay"], blind_labels=["toxicity"]
    ).fit(frame)
    blind = term_columns(model.features_, ["gay"])
    assert blind.any()
    assert not model.coef_["toxicity"][blind].any()
    assert model.coef_["identity_attack"][blind].any()  # not blinded: learns the group
    scores = model.predict(["gay", "idiot"])
    assert scores.loc[0, "toxicity"] < scores.loc[1, "toxicity"]


def test_make_features_blocks() -> None:
    union = make_features(FeatureConfig(min_df=1))
    matrix = union.fit_transform(["Stuuupid idiot", "nice day"])
    names = union.get_feature_names_out()
    assert matrix.shape == (2, len(names))
    assert matrix.dtype == np.float32
    assert any(n.startswith("word__") for n in names)
    assert any(n.startswith("char__") for n in names)
    assert "word__stuupid" in names  # normalised before tokenising


CIVIL = (
    "The council met on Tuesday to discuss the harbour budget. Parking fees will rise next "
    "year, and the library opens later on Sundays. Thanks for the lovely photos of the "
    "harbour. The bus timetable changes in spring. "
)


def test_a_hostile_sentence_raises_a_long_civil_text(model: HostilityModel) -> None:
    long_civil = CIVIL * 3
    hostile = long_civil + "Shut up you stupid idiot moron."
    scores = model.predict([long_civil, hostile])
    assert scores.loc[1, "toxicity"] > scores.loc[0, "toxicity"] + 0.05
    # Scoring whole texts only dilutes the same sentence more.
    whole_only = HostilityModel(sentence_weight=0.0)
    whole_only.__dict__.update({k: v for k, v in model.__dict__.items() if k != "sentence_weight"})
    diluted = whole_only.predict([hostile])
    assert scores.loc[1, "toxicity"] > diluted.loc[0, "toxicity"]


def test_combination_rule(model: HostilityModel) -> None:
    whole = np.array([[0.0], [-2.0], [1.0]])
    best = np.array([[2.0], [-2.0], [-1.0]])  # a best sentence below the whole text is ignored
    p_whole, p_best = 1 / (1 + np.exp(-whole)), 1 / (1 + np.exp(-best))
    w = model.sentence_weight
    expected = (1 - w) * p_whole + w * np.maximum(p_whole, p_best)
    np.testing.assert_allclose(model.combine(whole, best), expected)
    with pytest.raises(ValueError, match="sentence_weight"):
        HostilityModel(sentence_weight=1.5)


def test_sentences_of_a_batch_are_vectorised_in_one_call(
    model: HostilityModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    transform = model.transform

    def counting(texts: list[str]) -> object:
        calls.append(len(texts))
        return transform(texts)

    monkeypatch.setattr(model, "transform", counting)
    batch = [CIVIL, "One sentence only", CIVIL + "You idiot."]
    model.predict(batch)
    assert calls == [3 + 4 + 5]  # the texts, then the sentences of the multi-sentence ones


def test_single_sentence_texts_score_as_whole_texts(model: HostilityModel) -> None:
    texts = ["You are a pathetic idiot", "Lovely photos of the harbour"]
    whole = 1 / (1 + np.exp(-model.decision_function(texts).to_numpy()))
    np.testing.assert_allclose(model.predict(texts).to_numpy(), whole)


def test_top_terms_come_from_the_sentence_behind_the_score(model: HostilityModel) -> None:
    terms = [t for t, _ in model.top_terms(CIVIL * 3 + "Shut up you stupid idiot.", "toxicity")]
    assert terms
    assert set(" ".join(terms).split()) <= {"shut", "up", "you", "stupid", "idiot"}


# spans ----------------------------------------------------------------------------------------


def covered(text: str, spans: list[Span]) -> str:
    return " | ".join(text[s.begin : s.end] for s in spans)


def test_a_hostile_sentence_in_a_long_civil_text_is_a_span(model: HostilityModel) -> None:
    insult = "Shut up you stupid idiot moron."
    text = CIVIL * 3 + insult
    spans = model.spans(text, "toxicity", threshold=0.5)
    assert [text[s.begin : s.end] for s in spans] == [insult]
    assert spans[0].score >= 0.5
    words = model.spans(text, "toxicity", threshold=0.5, level="word")
    assert words
    assert all(text.index(insult) <= s.begin < s.end <= len(text) for s in words)
    assert "idiot" in covered(text, words)
    assert model.spans(CIVIL * 3, "toxicity", threshold=0.5, level="word") == []


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("Thanks for the photos. You are a 1d10t.", "1d10t"),
        ("Thanks for the photos. You are an \u0456d\u0456\u043et.", "\u0456d\u0456\u043et"),
        ("Thanks for the photos. You are an i d i o t.", "i d i o t"),
        ("Thanks for the photos. You are an i\u200bdiot.", "i\u200bdiot"),
    ],
)
def test_word_spans_cover_the_obfuscated_characters(
    model: HostilityModel, text: str, typed: str
) -> None:
    words = model.spans(text, "toxicity", threshold=0.5, level="word")
    begin = text.index(typed)
    assert any(s.begin <= begin and begin + len(typed) <= s.end for s in words), covered(
        text, words
    )
    assert all(s.begin >= text.index("You") for s in words)  # nothing in the civil sentence


def test_span_defaults_and_errors(model: HostilityModel) -> None:
    assert model.spans("", "toxicity") == []
    assert model.spans("   ", "insult", level="word") == []
    with pytest.raises(ValueError, match="unknown label"):
        model.spans("x", "rudeness")
    text = "You are a pathetic idiot"
    score = float(model.predict([text]).loc[0, "toxicity"])
    assert model.spans(text, "toxicity", threshold=score + 0.01) == []
    [whole] = model.spans(text, "toxicity", threshold=score - 0.01)
    assert (whole.begin, whole.end) == (0, len(text))
    assert whole.score == pytest.approx(score)
    assert whole.to_dict() == {"begin": 0, "end": len(text), "score": round(score, 4)}
    # The default threshold is the model's (set from the bundle), else 0.5.
    model.thresholds = {"toxicity": score + 0.01}
    try:
        assert model.spans(text, "toxicity") == []
    finally:
        model.thresholds = {}


def test_span_map_is_one_transform_call(
    model: HostilityModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation.fastscore import CompiledModel

    calls: list[int] = []
    tfidf = CompiledModel.tfidf

    def counting(self: CompiledModel, texts: list[str], **kwargs: bool) -> object:
        calls.append(len(texts))
        return tfidf(self, texts, **kwargs)

    monkeypatch.setattr(CompiledModel, "tfidf", counting)
    found = model.span_map(CIVIL + "You idiot.", list(schema.LABELS))
    assert set(found) == set(schema.LABELS)
    assert len(calls) == 1


def test_explanations_reuse_the_log_odds_scoring_computed(
    model: HostilityModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside one batch, texts and sentences already scored are not vectorised again."""
    from moderation.fastscore import CompiledModel
    from moderation.normalize import memoized

    texts = [CIVIL + "Shut up you stupid idiot.", "You are a pathetic idiot. Go away."]
    labels = [["toxicity", "insult"], ["insult"]]
    expected_terms = model.top_terms_maps(texts, labels, k=3)
    expected_spans = model.span_maps_each(texts, labels)
    vectorised: list[str] = []
    tfidf = CompiledModel.tfidf

    def counting(self: CompiledModel, texts: list[str], **kwargs: bool) -> object:
        vectorised.extend(texts)
        return tfidf(self, texts, **kwargs)

    monkeypatch.setattr(CompiledModel, "tfidf", counting)
    with memoized():
        model.predict(texts)
        scored = len(vectorised)
        assert model.top_terms_maps(texts, labels, k=3) == expected_terms
        assert model.span_maps_each(texts, labels) == expected_spans
    # Only the parts behind the quoted words and single words were vectorised again: not the
    # whole texts nor the civil sentences, whose log-odds scoring had computed.
    again = vectorised[scored:]
    assert again
    assert texts[0] not in again
    sentences = [doc for doc in again if len(doc.split()) > 1]
    assert sentences  # the part behind the quoted words
    assert all("idiot" in doc for doc in sentences)  # no civil sentence


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["You 1d10t.", "Lovely harbour photos.", "s t u p i d", "\u200b", " \n", "id\u0456ot!"]
        ),
        max_size=6,
    )
)
def test_spans_are_ordered_offsets_of_the_original(model: HostilityModel, parts: list[str]) -> None:
    text = " ".join(parts)
    found = model.span_map(text, ["toxicity"], {"toxicity": 0.0}, word_threshold=0.0)["toxicity"]
    for level in ("sentence", "word"):
        previous = 0
        for span in found[level]:
            assert previous <= span.begin < span.end <= len(text)
            assert text[span.begin : span.end].strip() == text[span.begin : span.end]
            assert 0.0 <= span.score <= 1.0
            previous = span.end
    # At threshold 0 every word character is inside some span, at both levels.
    for level in ("sentence", "word"):
        inside = {i for s in found[level] for i in range(s.begin, s.end)}
        assert all(i in inside for i, c in enumerate(text) if c.isalnum())


def test_spans_batch_matches_one_text_at_a_time(model: HostilityModel) -> None:
    texts = [CIVIL + "You 1d10t.", "", "Lovely harbour photos.", "s t u p i d idiot"]
    levels: tuple[SpanLevel, ...] = ("sentence", "word")
    for level in levels:
        batch = model.spans_batch(texts, "toxicity", 0.3, level=level)
        assert batch == [model.spans(t, "toxicity", 0.3, level=level) for t in texts]
    with pytest.raises(TypeError, match="sequence of texts"):
        model.span_maps("one text", ["toxicity"])


def test_score_one_returns_spans_for_flagged_labels() -> None:
    from moderation import Moderator

    text = CIVIL + "Shut up, you stupid 1d10t."
    one = Moderator.load().score_one(text)
    assert "toxicity" in one.spans
    assert set(one.spans) == set(one.word_spans) == set(one.terms)
    [sentence] = one.spans["toxicity"]
    assert text[int(sentence["begin"]) : int(sentence["end"])] == "Shut up, you stupid 1d10t."
    words = " ".join(text[int(s["begin"]) : int(s["end"])] for s in one.word_spans["toxicity"])
    assert "1d10t" in words


def test_top_terms_of_a_batch_match_one_text_at_a_time(model: HostilityModel) -> None:
    texts = [CIVIL + "Shut up you stupid 1d10t.", "You are a pathetic idiot", "", "x"]
    labels = [["toxicity", "insult"], ["insult"], ["toxicity"], []]
    batch = model.top_terms_maps(texts, labels, k=3)
    expected = [
        {label: model.top_terms(t, label, k=3) for label in ls}
        for t, ls in zip(texts, labels, strict=True)
    ]
    assert batch == expected
    assert batch[0]["toxicity"]
    with pytest.raises(ValueError, match="2 texts but 1 label lists"):
        model.top_terms_maps(["a", "b"], [["toxicity"]])
    with pytest.raises(ValueError, match="unknown label"):
        model.top_terms_map("a", ["rudeness"])


def test_span_maps_each_looks_only_for_the_labels_each_text_asks_for(
    model: HostilityModel,
) -> None:
    texts = [CIVIL + "Shut up you stupid idiot.", "You are a pathetic idiot", "", "x"]
    wanted = [["toxicity", "insult"], [], ["insult"], ["toxicity", "toxicity"]]
    each = model.span_maps_each(texts, wanted, {"toxicity": 0.3, "insult": 0.3})
    everything = model.span_maps(texts, list(schema.LABELS), {"toxicity": 0.3, "insult": 0.3})
    assert each == [
        {label: full[label] for label in w} for w, full in zip(wanted, everything, strict=True)
    ]
    assert each[1] == {}
    assert each[0]["toxicity"]["word"]
    with pytest.raises(ValueError, match="4 texts but 1 label lists"):
        model.span_maps_each(texts, [["toxicity"]])
    with pytest.raises(ValueError, match="unknown label"):
        model.span_maps_each(["a"], [["rudeness"]])
    with pytest.raises(ValueError, match="unknown label"):
        model.span_maps([], ["rudeness"])
    with pytest.raises(TypeError):
        model.span_maps_each("a", [["toxicity"]])
