"""Feature extraction: normalised text -> sparse TF-IDF vectors.

Flow: ``thread context -> normalize -> **features** -> models``. One transformer is fitted once
and shared by every label's classifier, so scoring a batch vectorises each comment only once.
Word n-grams carry meaning; character n-grams inside word boundaries catch misspellings,
inflections and what normalisation leaves ("idiiot", glued words it does not split).
Both blocks see :func:`moderation.normalize.normalize_text`, which undoes leetspeak, masking,
spaced letters and look-alike characters first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from moderation.normalize import normalize_text

if TYPE_CHECKING:  # scikit-learn is imported only to fit (scoring uses moderation.fastscore)
    from sklearn.pipeline import FeatureUnion

__all__ = ["FeatureConfig", "feature_names", "make_features"]

#: Name prefixes of the two blocks inside the FeatureUnion (see :func:`feature_names`).
WORD = "word"
CHAR = "char"


@dataclass(frozen=True)
class FeatureConfig:
    """Vocabulary sizes and n-gram ranges; defaults chosen on the validation slice.

    The ranges against their neighbours (word 1 and 1-3, char 2-4, 2-6 and 3-5) are in
    data/README.md, "n-gram ranges of the features".

    The caps bound the bundle size: each kept n-gram costs a vocabulary entry plus one float32
    coefficient per label.
    """

    word_max_features: int = 100_000
    char_max_features: int = 150_000
    word_ngram_range: tuple[int, int] = (1, 2)
    char_ngram_range: tuple[int, int] = (2, 5)
    min_df: int = 2
    max_df: float = 0.9


def make_features(config: FeatureConfig | None = None) -> FeatureUnion:
    """Build the (unfitted) word + character TF-IDF transformer.

    Parameters
    ----------
    config
        Vocabulary caps and n-gram ranges; ``FeatureConfig()`` when omitted.

    Returns
    -------
    sklearn.pipeline.FeatureUnion
        Two ``TfidfVectorizer`` blocks named ``word`` (1-2-grams) and ``char`` (``char_wb``
        2-5-grams), both with sublinear tf, both applying :func:`normalize_text` as the
        preprocessor and producing float32 matrices.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    cfg = config or FeatureConfig()
    common = {
        "preprocessor": normalize_text,
        "lowercase": False,  # normalize_text already case-folds
        "sublinear_tf": True,
        "min_df": cfg.min_df,
        "max_df": cfg.max_df,
        "dtype": np.float32,
        "strip_accents": None,
    }
    word = TfidfVectorizer(
        analyzer="word",
        ngram_range=cfg.word_ngram_range,
        max_features=cfg.word_max_features,
        token_pattern=r"(?u)\b\w+\b",
        **common,
    )
    char = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=cfg.char_ngram_range,
        max_features=cfg.char_max_features,
        **common,
    )
    return FeatureUnion([(WORD, word), (CHAR, char)])


def feature_names(features: FeatureUnion) -> np.ndarray:
    """Return the n-gram of every column as ``"word__<ngram>"`` / ``"char__<ngram>"``."""
    return np.asarray(features.get_feature_names_out(), dtype=object)


def drop_pruned_vocabulary(features: FeatureUnion) -> None:
    """Delete ``stop_words_`` (every n-gram cut by ``max_features``/``min_df``) after fitting.

    scikit-learn keeps that set only for introspection; it is often larger than the kept
    vocabulary and would dominate the pickled bundle.
    """
    for _, vectorizer in features.transformer_list:
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
