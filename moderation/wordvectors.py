"""Word vectors learned from the training texts, so that similar words share weight.

A linear n-gram model learns only the words its labelled rows show it: an insult word that
no labelled row calls an insult ("gullible", "a hypocrite") gets no weight, however often it
is used like "naive" or "a troll". Vectors from word co-occurrence (positive pointwise mutual
information, reduced by a truncated SVD) put words used in the same contexts close together;
the hostility classifiers see each text's tf-idf weighted sum of its words' vectors next to
the n-grams, and what they learn there reaches every word with a vector.

The vectors come from the texts the model is trained on (unlabelled use; nothing is
downloaded). Because the extra features are a linear map of the word tf-idf columns
(``X @ E``), a fitted weight ``v`` on them folds back into the n-gram coefficients
(``coef + E @ v``): the bundle, the compiled scorer and the explanations are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["cooccurrence_vectors"]

#: Context-distribution smoothing of PMI (contexts' counts raised to this power), which keeps
#: rare context words from getting the largest PMI values.
CONTEXT_SMOOTHING = 0.75


def _token_ids(vectorizer: Any, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Unigram column of every token (-1 when not a column) and the index of its text."""
    preprocess = vectorizer.build_preprocessor()
    tokenize = vectorizer.build_tokenizer()
    vocabulary: dict[str, int] = {
        term: column for term, column in vectorizer.vocabulary_.items() if " " not in term
    }
    ids: list[int] = []
    owners: list[int] = []
    for index, text in enumerate(texts):
        tokens = [vocabulary.get(token, -1) for token in tokenize(preprocess(text))]
        ids.extend(tokens)
        owners.extend([index] * len(tokens))
    return np.asarray(ids, dtype=np.int64), np.asarray(owners, dtype=np.int64)


def cooccurrence_vectors(
    vectorizer: Any,
    texts: Iterable[str],
    *,
    dim: int = 100,
    window: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """Unit-length PPMI-SVD vectors for the unigram columns of a fitted word vectorizer.

    Parameters
    ----------
    vectorizer
        A fitted word-level ``TfidfVectorizer`` (its preprocessor, tokenizer and
        ``vocabulary_`` define the words).
    texts
        Texts to count co-occurrences in (two words co-occur when at most ``window`` tokens
        apart in one text).
    dim
        Vector length (at most the number of unigram columns minus one).
    seed
        Random state of the randomized SVD (the vectors are deterministic for a seed).

    Returns
    -------
    numpy.ndarray
        ``float32 [len(vocabulary_), dim]``, one row per column of the vectorizer in column
        order; rows of word pairs and of words that never co-occur are zero.
    """
    from sklearn.decomposition import TruncatedSVD

    if dim < 1 or window < 1:
        raise ValueError(f"dim and window must be positive, got dim={dim}, window={window}")
    n_columns = len(vectorizer.vocabulary_)
    ids, owners = _token_ids(vectorizer, texts)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for k in range(1, window + 1):
        pair = (owners[:-k] == owners[k:]) & (ids[:-k] >= 0) & (ids[k:] >= 0)
        rows.append(ids[:-k][pair])
        cols.append(ids[k:][pair])
    left = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    right = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    vectors = np.zeros((n_columns, dim), dtype=np.float32)
    if len(left) == 0 or n_columns < 2:
        return vectors
    counts = sp.coo_matrix(
        (np.ones(2 * len(left)), (np.r_[left, right], np.r_[right, left])),
        shape=(n_columns, n_columns),
    ).tocsr()
    counts.sum_duplicates()
    total = float(counts.sum())
    word_p = np.asarray(counts.sum(axis=1)).ravel() / total
    context_p = word_p**CONTEXT_SMOOTHING
    context_p /= context_p.sum()
    coo = counts.tocoo()
    pmi = np.log(coo.data / total / word_p[coo.row] / context_p[coo.col])
    positive = pmi > 0
    ppmi = sp.csr_matrix(
        (pmi[positive], (coo.row[positive], coo.col[positive])), shape=(n_columns, n_columns)
    )
    dim_fit = min(dim, n_columns - 1)
    svd = TruncatedSVD(dim_fit, algorithm="randomized", n_iter=7, random_state=seed)
    # U * S from the SVD; dividing by sqrt(S) gives the symmetric U * sqrt(S) weighting.
    with np.errstate(invalid="ignore", divide="ignore"):  # a tiny or degenerate vocabulary
        reduced = svd.fit_transform(ppmi) / np.sqrt(np.maximum(svd.singular_values_, 1e-12))
    norms = np.linalg.norm(reduced, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    vectors[:, :dim_fit] = reduced / norms
    return vectors
