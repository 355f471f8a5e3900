"""The off-topic scorer as plain arrays: scoring it without scikit-learn or a pickle.

Flow: ``train -> bundle (offtopic.npz) -> **offtopicarrays** -> offtopic features -> score``.
A batch run used to unpickle the whole pipeline and import scikit-learn (which pulls in
``scipy.stats``) before its first chunk, about 1.1 CPU s of serial time in the parent of every
run; the off-topic scorer needs far less than that. This module holds what it does need:

- :class:`ArrayVectorizer`: the word TF-IDF vectoriser's vocabulary, IDF and settings, with a
  :meth:`~ArrayVectorizer.transform` that gives the very matrix scikit-learn's
  ``TfidfVectorizer.transform`` gives (same float32 values, column order and sparse layout:
  counts, ``log`` + 1, times IDF, then each row divided by its l2 norm summed left to right in
  double precision, as ``sklearn.utils.sparsefuncs_fast`` does), so the similarity features
  computed from it are bit-identical;
- :class:`ArrayTrees`: the ``HistGradientBoostingClassifier``'s trees as node arrays, predicted
  for all rows at once (every (row, tree) pair walks down one level per step; pairs that reach
  a leaf drop out), each tree's leaf values added to the baseline in tree order and passed
  through ``scipy.special.expit``, as scikit-learn's predictor does. Numeric splits only: a
  value ``<=`` the node's ``num_threshold`` goes left, a missing one (NaN) goes where the node's
  ``missing_go_to_left`` says.

:func:`compile_off_topic` turns the fitted parts of an
:class:`~moderation.offtopic.OffTopicScorer` into arrays (``numpy.savez`` without pickles) and
:func:`read_off_topic` reads them back; ``OffTopicScorer.to_arrays`` and
``OffTopicScorer.from_arrays`` use them, and the rebuilt scorer's ``features``,
``score_frame`` and ``explain`` give what the fitted one gives.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

__all__ = [
    "OFFTOPIC_FORMAT",
    "ArrayTrees",
    "ArrayVectorizer",
    "compile_off_topic",
    "read_off_topic",
]

#: Version of the array layout written by :func:`compile_off_topic`.
OFFTOPIC_FORMAT = 1
#: Rows whose (row, tree) pairs are walked at once (bounds temporary memory).
ROWS_PER_STEP = 8192

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
#: Token patterns and a faster pattern finding exactly the same tokens (speed only). scikit-learn's
#: default ``\b\w\w+\b`` is the runs of two or more word characters, which ``\w\w+`` finds
#: without testing boundaries: a search never starts inside a run (a match ends where its run
#: ends, a failed start is a one-character run), so each match is a whole run. Half the time.
_SAME_TOKENS = {r"(?u)\b\w\w+\b": r"\w\w+"}


def _join(words: Sequence[str]) -> tuple[npt.NDArray[np.uint8], I64]:
    """Strings as one UTF-8 byte array plus offsets (no pickled object arrays)."""
    encoded = [w.encode("utf-8") for w in words]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def _split(data: npt.NDArray[Any], offsets: npt.NDArray[Any]) -> list[str]:
    """Reverse :func:`_join`."""
    raw = np.asarray(data, dtype=np.uint8).tobytes()
    bounds = np.asarray(offsets, dtype=np.int64).tolist()
    return [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]


class ArrayVectorizer:
    """A fitted word-unigram ``TfidfVectorizer`` as a term list and IDF array.

    Offers what :class:`~moderation.offtopic.OffTopicScorer` uses of the fitted vectoriser:
    ``transform``, ``vocabulary_``, ``idf_`` and ``build_analyzer``.
    """

    def __init__(
        self,
        terms: Sequence[str],
        idf: npt.NDArray[np.floating[Any]],
        *,
        token_pattern: str,
        lowercase: bool,
        sublinear_tf: bool,
        norm: str | None,
        stop_words: Sequence[str] = (),
    ) -> None:
        if len(terms) != len(idf):
            raise ValueError(f"{len(terms)} terms but {len(idf)} idf values")
        if norm not in ("l2", None):
            raise ValueError(f"norm {norm!r} is not supported (only 'l2' or none)")
        self.terms = list(terms)
        self.idf_ = np.asarray(idf)
        self.dtype = self.idf_.dtype
        self.token_pattern = token_pattern
        self.lowercase = lowercase
        self.sublinear_tf = sublinear_tf
        self.norm = norm
        self.stop_words = frozenset(stop_words)
        self._pattern = re.compile(_SAME_TOKENS.get(token_pattern, token_pattern))
        self._lock = threading.Lock()
        self._vocabulary: dict[str, int] | None = None
        self._lookup: dict[str, int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.__dict__.items() if k not in ("_lock", "_vocabulary", "_lookup")
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock(), _vocabulary=None, _lookup=None)

    @property
    def vocabulary_(self) -> dict[str, int]:
        """Term -> column, as the fitted vectoriser's (built on first use)."""
        if self._vocabulary is None:
            with self._lock:
                if self._vocabulary is None:
                    self._vocabulary = {t: i for i, t in enumerate(self.terms)}
        return self._vocabulary

    def _columns(self) -> dict[str, int]:
        """The vocabulary less stop words: the analyzer never yields those."""
        if self._lookup is None:
            vocabulary = self.vocabulary_
            self._lookup = (
                {t: i for t, i in vocabulary.items() if t not in self.stop_words}
                if self.stop_words & vocabulary.keys()
                else vocabulary
            )
        return self._lookup

    def get_feature_names_out(self) -> npt.NDArray[np.object_]:
        """The terms in column order, as scikit-learn's method gives them."""
        return np.asarray(self.terms, dtype=object)

    def build_analyzer(self) -> Callable[[str], list[str]]:
        """Text -> tokens, as scikit-learn's word analyzer (lowercase, pattern, stop words)."""
        find = self._pattern.findall
        lower = self.lowercase
        stop = self.stop_words

        def analyze(text: str) -> list[str]:
            tokens: list[str] = find(text.lower() if lower else text)
            return [t for t in tokens if t not in stop] if stop else tokens

        return analyze

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The TF-IDF matrix of ``texts`` (float32 CSR, sorted indices), as scikit-learn's."""
        if isinstance(texts, str):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        find = self._pattern.findall
        lower = self.lowercase
        tokens = [find(t.lower() if lower else t) for t in texts]
        n = len(tokens)
        n_columns = len(self.terms)
        get = self._columns().get
        flat = list(itertools.chain.from_iterable(tokens))
        columns = np.fromiter(map(get, flat, itertools.repeat(-1)), dtype=np.int64, count=len(flat))
        docs = np.repeat(np.arange(n, dtype=np.int64), [len(t) for t in tokens])
        found = columns >= 0
        keys, counts = np.unique(docs[found] * n_columns + columns[found], return_counts=True)
        rows = keys // n_columns
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        data = counts.astype(self.dtype)
        cols = keys % n_columns
        if self.sublinear_tf:  # in place and in the vectoriser's dtype, as scikit-learn does
            np.log(data, data)
            data += 1.0
        data *= self.idf_[cols]
        if self.norm == "l2":
            _normalize_rows_l2(data, indptr)
        index = np.int32 if len(data) <= np.iinfo(np.int32).max else np.int64
        return sparse.csr_matrix(
            (data, cols.astype(index), indptr.astype(index)), shape=(n, n_columns)
        )

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The vectoriser's arrays (``v_``-prefixed keys of :func:`compile_off_topic`)."""
        terms, term_offsets = _join(self.terms)
        stop, stop_offsets = _join(sorted(self.stop_words))
        return {
            "v_terms": terms,
            "v_term_offsets": term_offsets,
            "v_idf": self.idf_,
            "v_token_pattern": np.array([self.token_pattern], dtype=np.str_),
            "v_flags": np.array(
                [int(self.lowercase), int(self.sublinear_tf), int(self.norm == "l2")],
                dtype=np.int64,
            ),
            "v_stop_words": stop,
            "v_stop_offsets": stop_offsets,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> ArrayVectorizer:
        """Reverse :meth:`to_arrays`."""
        lowercase, sublinear, l2 = (bool(x) for x in arrays["v_flags"])
        return cls(
            _split(arrays["v_terms"], arrays["v_term_offsets"]),
            np.asarray(arrays["v_idf"]),
            token_pattern=str(arrays["v_token_pattern"][0]),
            lowercase=lowercase,
            sublinear_tf=sublinear,
            norm="l2" if l2 else None,
            stop_words=_split(arrays["v_stop_words"], arrays["v_stop_offsets"]),
        )


def _normalize_rows_l2(data: npt.NDArray[np.floating[Any]], indptr: I64) -> None:
    """Divide each CSR row by its l2 norm in place, exactly as scikit-learn does.

    ``sklearn.utils.sparsefuncs_fast._inplace_csr_row_normalize_l2`` squares each value in the
    data's precision, sums the squares of a row left to right in double precision and divides
    each value (as a double) by the square root. NumPy's own reductions sum pairwise, which can
    differ in the last bit, so the sums here run one row position at a time over all rows that
    are that long (longest rows first, so each step is a prefix).
    """
    lengths = np.diff(indptr)
    if len(data) == 0:
        return
    squares = (data * data).astype(np.float64)
    order = np.argsort(-lengths, kind="stable")
    starts = indptr[:-1][order]
    longest_first = lengths[order]
    sums = np.zeros(len(order), dtype=np.float64)
    # Rows longer than k, for every k: a prefix of ``order``.
    longer = np.searchsorted(-longest_first, -np.arange(int(longest_first[0])), side="left")
    for k, m in enumerate(longer.tolist()):
        sums[:m] += squares[starts[:m] + k]
    norms = np.empty(len(order), dtype=np.float64)
    norms[order] = np.sqrt(sums)
    per_value = np.repeat(norms, lengths)
    scaled = per_value != 0.0  # empty rows are skipped; a zero row keeps its values
    data[scaled] = (data[scaled].astype(np.float64) / per_value[scaled]).astype(data.dtype)


class ArrayTrees:
    """A binary ``HistGradientBoostingClassifier`` with numeric splits, as node arrays.

    Node arrays are those of every tree laid end to end (``left``/``right`` index into them);
    ``roots[t]`` is the first node of tree ``t``. :meth:`predict_proba` gives scikit-learn's
    ``predict_proba`` (both columns).
    """

    def __init__(
        self,
        *,
        feature: I64,
        threshold: F64,
        missing_left: npt.NDArray[np.bool_],
        left: I64,
        right: I64,
        leaf: npt.NDArray[np.bool_],
        value: F64,
        roots: I64,
        baseline: float,
        n_features: int,
    ) -> None:
        sizes = {len(a) for a in (feature, threshold, missing_left, left, right, leaf, value)}
        if len(sizes) != 1:
            raise ValueError("tree node arrays differ in length")
        n_nodes = sizes.pop()
        inner = ~leaf
        if n_nodes and (
            (roots < 0).any()
            or (roots >= n_nodes).any()
            or (left[inner] < 0).any()
            or (left[inner] >= n_nodes).any()
            or (right[inner] < 0).any()
            or (right[inner] >= n_nodes).any()
            or (feature[inner] < 0).any()
            or (feature[inner] >= n_features).any()
        ):
            raise ValueError("tree node arrays point outside the trees or the features")
        self.feature = feature
        self.threshold = threshold
        self.missing_left = missing_left
        self.left = left
        self.right = right
        self.leaf = leaf
        self.value = value
        self.roots = roots
        self.baseline = float(baseline)
        self.n_features_in_ = int(n_features)
        # A leaf points at itself, so walking one more level leaves it where it is.
        here = np.arange(n_nodes, dtype=np.int64)
        self._left = np.where(leaf, here, left)
        self._right = np.where(leaf, here, right)
        self._feature = np.where(leaf, 0, feature)

    def leaf_values(self, x: F64) -> F64:
        """The value of the leaf each row reaches in each tree, shape (rows, trees)."""
        n, n_trees = len(x), len(self.roots)
        out = np.empty((n, n_trees), dtype=np.float64)
        for start in range(0, n, ROWS_PER_STEP):
            block = x[start : start + ROWS_PER_STEP]
            flat = block.ravel()
            pairs = len(block) * n_trees
            node = np.tile(self.roots, len(block))
            base = np.repeat(np.arange(len(block), dtype=np.int64) * x.shape[1], n_trees)
            where = np.arange(pairs, dtype=np.int64)
            found = np.empty(pairs, dtype=np.float64)
            while len(node):
                done = self.leaf[node]
                if done.any():
                    found[where[done]] = self.value[node[done]]
                    going = ~done
                    node, base, where = node[going], base[going], where[going]
                    if not len(node):
                        break
                values = flat[base + self._feature[node]]
                go_left = values <= self.threshold[node]
                missing = np.isnan(values)
                if missing.any():
                    go_left[missing] = self.missing_left[node[missing]]
                node = np.where(go_left, self._left[node], self._right[node])
            out[start : start + len(block)] = found.reshape(len(block), n_trees)
        return out

    def decision_function(self, x: npt.ArrayLike) -> F64:
        """Raw scores: the baseline plus each tree's leaf value, added in tree order."""
        rows = np.asarray(x, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {rows.shape}, but the trees expect {self.n_features_in_} features"
            )
        leaves = self.leaf_values(np.ascontiguousarray(rows))
        raw = np.zeros(len(rows), dtype=np.float64)
        raw += self.baseline
        for t in range(leaves.shape[1]):  # in order: a pairwise sum could differ in the last bit
            raw += leaves[:, t]
        return raw

    def predict_proba(self, x: npt.ArrayLike) -> F64:
        """``[P(class 0), P(class 1)]`` per row, as scikit-learn's ``predict_proba``."""
        raw = self.decision_function(x)
        proba = np.empty((len(raw), 2), dtype=np.float64)
        proba[:, 1] = _expit(raw)
        proba[:, 0] = 1 - proba[:, 1]
        return proba

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The trees' arrays (``t_``-prefixed keys of :func:`compile_off_topic`)."""
        return {
            "t_feature": self.feature,
            "t_threshold": self.threshold,
            "t_missing_left": self.missing_left.astype(np.uint8),
            "t_left": self.left,
            "t_right": self.right,
            "t_leaf": self.leaf.astype(np.uint8),
            "t_value": self.value,
            "t_roots": self.roots,
            "t_baseline": np.array([self.baseline], dtype=np.float64),
            "t_n_features": np.array([self.n_features_in_], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> ArrayTrees:
        """Reverse :meth:`to_arrays`."""
        return cls(
            feature=np.asarray(arrays["t_feature"], dtype=np.int64),
            threshold=np.asarray(arrays["t_threshold"], dtype=np.float64),
            missing_left=np.asarray(arrays["t_missing_left"]).astype(bool),
            left=np.asarray(arrays["t_left"], dtype=np.int64),
            right=np.asarray(arrays["t_right"], dtype=np.int64),
            leaf=np.asarray(arrays["t_leaf"]).astype(bool),
            value=np.asarray(arrays["t_value"], dtype=np.float64),
            roots=np.asarray(arrays["t_roots"], dtype=np.int64),
            baseline=float(arrays["t_baseline"][0]),
            n_features=int(arrays["t_n_features"][0]),
        )

    @classmethod
    def from_classifier(cls, classifier: Any) -> ArrayTrees:
        """The trees of a fitted binary ``HistGradientBoostingClassifier`` (numeric splits)."""
        if getattr(classifier, "n_trees_per_iteration_", None) != 1:
            raise ValueError("only a binary HistGradientBoostingClassifier can be compiled")
        if len(getattr(classifier, "classes_", ())) != 2:
            raise ValueError("only a binary HistGradientBoostingClassifier can be compiled")
        parts: dict[str, list[npt.NDArray[Any]]] = {
            k: [] for k in ("feature", "threshold", "missing", "left", "right", "leaf", "value")
        }
        roots = []
        offset = 0
        for (predictor,) in classifier._predictors:
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            if nodes["is_categorical"][~leaf].any():
                raise ValueError("categorical splits cannot be compiled")
            roots.append(offset)
            parts["feature"].append(nodes["feature_idx"].astype(np.int64))
            parts["threshold"].append(nodes["num_threshold"].astype(np.float64))
            parts["missing"].append(nodes["missing_go_to_left"].astype(bool))
            parts["left"].append(np.where(leaf, -1, nodes["left"].astype(np.int64) + offset))
            parts["right"].append(np.where(leaf, -1, nodes["right"].astype(np.int64) + offset))
            parts["leaf"].append(leaf)
            parts["value"].append(nodes["value"].astype(np.float64))
            offset += len(nodes)
        baseline = np.asarray(classifier._baseline_prediction, dtype=np.float64).ravel()
        if baseline.shape != (1,):
            raise ValueError(f"expected one baseline prediction, found {baseline.shape}")

        def cat(name: str, dtype: Any) -> npt.NDArray[Any]:
            return np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=dtype)

        return cls(
            feature=cat("feature", np.int64),
            threshold=cat("threshold", np.float64),
            missing_left=cat("missing", bool),
            left=cat("left", np.int64),
            right=cat("right", np.int64),
            leaf=cat("leaf", bool),
            value=cat("value", np.float64),
            roots=np.asarray(roots, dtype=np.int64),
            baseline=float(baseline[0]),
            n_features=int(classifier.n_features_in_),
        )


def _vectorizer_arrays(vectorizer: Any) -> ArrayVectorizer:
    """An :class:`ArrayVectorizer` from a fitted ``TfidfVectorizer`` it can reproduce."""
    unsupported = {
        "analyzer": ("word",),
        "ngram_range": ((1, 1),),
        "preprocessor": (None,),
        "tokenizer": (None,),
        "strip_accents": (None,),
        "binary": (False,),
        "use_idf": (True,),
        "norm": ("l2", None),
        "input": ("content",),
    }
    for name, allowed in unsupported.items():
        found = getattr(vectorizer, name, None)
        if name == "ngram_range" and found is not None:
            found = tuple(found)
        if found not in allowed:
            raise ValueError(f"a TfidfVectorizer with {name}={found!r} cannot be compiled")
    idf = np.asarray(vectorizer.idf_)
    if idf.dtype != np.dtype(vectorizer.dtype):
        raise ValueError(f"idf of dtype {idf.dtype} for a {np.dtype(vectorizer.dtype)} vectoriser")
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    stop = vectorizer.get_stop_words()
    return ArrayVectorizer(
        terms,
        idf,
        token_pattern=str(vectorizer.token_pattern),
        lowercase=bool(vectorizer.lowercase),
        sublinear_tf=bool(vectorizer.sublinear_tf),
        norm=vectorizer.norm,
        stop_words=sorted(stop) if stop else (),
    )


def compile_off_topic(
    vectorizer: Any, classifier: Any, feature_names: Sequence[str]
) -> dict[str, npt.NDArray[Any]]:
    """A fitted off-topic scorer's parts as plain arrays for ``numpy.savez`` (no pickles).

    ``vectorizer`` is a fitted ``TfidfVectorizer`` (or :class:`ArrayVectorizer`),
    ``classifier`` a fitted ``HistGradientBoostingClassifier`` (or :class:`ArrayTrees`) over
    ``feature_names``.

    Raises
    ------
    ValueError
        If the vectoriser or classifier uses something this module does not reproduce
        (another analyzer, n-grams, categorical splits, a multi-class classifier).
    """
    compiled = (
        vectorizer if isinstance(vectorizer, ArrayVectorizer) else _vectorizer_arrays(vectorizer)
    )
    trees = (
        classifier if isinstance(classifier, ArrayTrees) else ArrayTrees.from_classifier(classifier)
    )
    if trees.n_features_in_ != len(feature_names):
        raise ValueError(
            f"the classifier takes {trees.n_features_in_} features, the scorer names "
            f"{len(feature_names)}"
        )
    return {
        "format": np.array([OFFTOPIC_FORMAT], dtype=np.int64),
        "feature_names": np.array(list(feature_names), dtype=np.str_),
        **compiled.to_arrays(),
        **trees.to_arrays(),
    }


def read_off_topic(
    arrays: Mapping[str, npt.NDArray[Any]],
) -> tuple[ArrayVectorizer, ArrayTrees, tuple[str, ...]]:
    """The vectoriser, trees and feature names of :func:`compile_off_topic`'s arrays.

    Raises
    ------
    ValueError
        Saying what is missing or wrong.
    """
    try:
        found = int(arrays["format"][0])
        if found != OFFTOPIC_FORMAT:
            raise ValueError(
                f"off-topic arrays have format {found}, this version reads {OFFTOPIC_FORMAT}"
            )
        names = tuple(str(x) for x in arrays["feature_names"])
        vectorizer = ArrayVectorizer.from_arrays(arrays)
        trees = ArrayTrees.from_arrays(arrays)
    except KeyError as exc:
        raise ValueError(f"off-topic arrays lack {exc.args[0]!r}") from exc
    except (IndexError, UnicodeDecodeError, re.error) as exc:
        raise ValueError(f"off-topic arrays are malformed ({exc})") from exc
    if trees.n_features_in_ != len(names):
        raise ValueError(f"the trees take {trees.n_features_in_} features, {len(names)} named")
    return vectorizer, trees, names


def _expit(raw: F64) -> F64:
    """``scipy.special.expit`` (scikit-learn's inverse link), bit for bit, without scipy.special.

    scipy computes ``1 / (1 + exp(-x))`` with the C library's ``exp``, which ``math.exp`` is
    too (NumPy's own ``exp`` differs in the last bit for about 2 % of inputs). Importing
    scipy.special cost 50-90 ms of every scoring process for one call per batch; a loop
    over the batch's rows costs a few ms (tests/test_offtopicarrays.py compares the two).
    """
    return np.fromiter(map(_logistic, raw.tolist()), dtype=np.float64, count=len(raw))


def _logistic(x: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:  # exp(-x) beyond the largest float: scipy gives 1 / inf
        return 0.0
