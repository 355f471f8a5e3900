"""Word vectors from co-occurrence, and their folding into the hostility coefficients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from moderation import schema
from moderation.features import FeatureConfig, make_features
from moderation.model import HostilityModel, term_columns
from moderation.wordvectors import cooccurrence_vectors

# "gullible" is never labelled; it is used exactly where "naive" and "clueless" are.
SENTENCES = [
    "you are so {w} it is sad",
    "only a {w} person would post this",
    "stop being {w} and read the thread",
    "what a {w} comment from you",
]
INSULTS = ["naive", "clueless", "gullible"]
THINGS = ["bridge", "harbour", "garden"]
OTHER = [
    "the {w} opened in the spring",
    "we walked past the {w} at noon",
    "photos of the {w} after rain",
    "the council repaired the {w} again",
]


def _texts() -> list[str]:
    texts = [s.format(w=w) for s in SENTENCES for w in INSULTS]
    return texts + [s.format(w=w) for s in OTHER for w in THINGS]


def _word_vectorizer(texts: list[str]):  # type: ignore[no-untyped-def]
    union = make_features(FeatureConfig(min_df=1))
    union.fit(texts)
    return union.transformer_list[0][1]


def test_words_used_alike_get_close_vectors() -> None:
    texts = _texts()
    word = _word_vectorizer(texts)
    vectors = cooccurrence_vectors(word, texts, dim=4, window=3)
    assert vectors.shape == (len(word.vocabulary_), 4)
    assert vectors.dtype == np.float32
    v = {w: vectors[word.vocabulary_[w]] for w in [*INSULTS, *THINGS]}
    assert v["gullible"] @ v["naive"] > v["gullible"] @ v["bridge"]
    assert v["harbour"] @ v["garden"] > v["harbour"] @ v["clueless"]
    norms = np.linalg.norm(vectors, axis=1)
    bigrams = [i for t, i in word.vocabulary_.items() if " " in t]
    assert bigrams and not norms[bigrams].any()  # only single words get vectors
    unigrams = [i for t, i in word.vocabulary_.items() if " " not in t]
    assert np.allclose(norms[unigrams], 1.0, atol=1e-5)


def test_vectors_are_deterministic_and_checked() -> None:
    texts = _texts()
    word = _word_vectorizer(texts)
    first = cooccurrence_vectors(word, texts, dim=3, seed=0)
    assert np.array_equal(first, cooccurrence_vectors(word, texts, dim=3, seed=0))
    with pytest.raises(ValueError, match="dim and window"):
        cooccurrence_vectors(word, texts, dim=0)
    assert not cooccurrence_vectors(word, ["", "one"], dim=3).any()  # nothing co-occurs


@pytest.mark.parametrize("texts", [["a"], ["a a"], ["a b"], ["a b", "b a"], ["p q r", "r q p"]])
def test_tiny_vocabularies_give_finite_vectors(texts: list[str]) -> None:
    word = TfidfVectorizer(ngram_range=(1, 1), token_pattern=r"(?u)\b\w+\b").fit(texts)
    vectors = cooccurrence_vectors(word, texts, dim=5)
    assert vectors.shape == (len(word.vocabulary_), 5)
    assert np.isfinite(vectors).all()


def _frame() -> pd.DataFrame:
    texts = [s.format(w=w) for s in SENTENCES for w in ["naive", "clueless"]]
    texts += [s.format(w=w) for s in OTHER for w in THINGS]
    frame = pd.DataFrame({"text": texts, **{label: np.nan for label in schema.LABELS}})
    frame["toxicity"] = [1.0] * 8 + [0.0] * 12
    frame["identity_attack"] = frame["toxicity"]
    return frame


def test_the_vector_weights_fold_into_the_ngram_coefficients() -> None:
    frame = _frame()
    unlabelled = _texts()
    model = HostilityModel(FeatureConfig(min_df=1), C=1.0, word_vectors=4, word_vector_window=3)
    model.fit(frame, unlabelled=unlabelled)
    # The same fit written out: n-grams next to their tf-idf weighted word vectors.
    features = make_features(FeatureConfig(min_df=1))
    matrix = features.fit_transform(frame["text"].tolist()).tocsr()
    vectors = cooccurrence_vectors(features.transformer_list[0][1], unlabelled, dim=4, window=3)
    padded = np.zeros((matrix.shape[1], 4), dtype=np.float32)
    padded[: len(vectors)] = vectors
    wide = sp.hstack([matrix, sp.csr_matrix(matrix @ padded)]).tocsr()
    y = frame["toxicity"].to_numpy() >= 0.5
    clf = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000, random_state=0)
    clf.fit(wide, y)
    logits = model.decision_function(frame["text"].tolist())["toxicity"].to_numpy()
    assert logits == pytest.approx(clf.decision_function(wide), abs=1e-4)


def test_an_unlabelled_word_used_like_an_insult_gains_weight() -> None:
    frame = _frame()
    # "gullible" is in the vocabulary (rows that do not know toxicity) but no toxicity row
    # has it: without vectors its toxicity coefficient is 0.
    unknown = pd.DataFrame({"text": [s.format(w="gullible") for s in SENTENCES]})
    frame = pd.concat([frame, unknown], ignore_index=True)
    plain = HostilityModel(FeatureConfig(min_df=1), C=1.0).fit(frame)
    with_vectors = HostilityModel(
        FeatureConfig(min_df=1), C=1.0, word_vectors=4, word_vector_window=3
    ).fit(frame, unlabelled=_texts())
    column = plain.features_.transformer_list[0][1].vocabulary_["gullible"]
    assert plain.coef_["toxicity"][column] == 0
    assert with_vectors.coef_["toxicity"][column] > 0.05


def test_blinded_words_stay_at_zero_with_vectors() -> None:
    frame = _frame()
    frame.loc[len(frame)] = {"text": "gay people are naive", "toxicity": 1.0}
    model = HostilityModel(
        FeatureConfig(min_df=1),
        word_vectors=4,
        word_vector_window=3,
        blind_terms=["gay"],
        blind_labels=["toxicity"],
    ).fit(frame, unlabelled=[*_texts(), "gay people are naive", "gay people are kind"])
    blind = term_columns(model.features_, ["gay"])
    assert blind.any() and not model.coef_["toxicity"][blind].any()
