"""Hostility model: shared TF-IDF features and one logistic regression per contract label.

Flow: ``features -> **models** -> rules``. Sources annotate different subsets of the labels, so
each label's classifier is fitted only on the rows where that label is known; the feature
transformer is fitted once on all training text. Linear models make explanations free: a term's
contribution to the score is its tf-idf value times its coefficient (:meth:`top_terms`). Word
vectors learned from the training texts (:mod:`moderation.wordvectors`) are fitted next to the
n-grams and folded into their coefficients, so they keep this linear form.

A long comment is also scored sentence by sentence (:func:`moderation.normalize.split_sentences`)
so that one hostile sentence in a long civil reply is not diluted: the comment's score combines
the whole-text probability with its highest sentence probability (:meth:`predict`).

Scoring runs on the model's compiled form (:mod:`moderation.fastscore`: the vocabularies,
idf and coefficients as arrays, n-grams hashed with vectorised NumPy), which gives the
scikit-learn pipeline's scores to 1e-6 without its per-n-gram Python; ``engine = "sklearn"``
(:meth:`HostilityModel.with_engine`) keeps the scikit-learn transform as the reference.
scikit-learn is imported only to fit, and for that reference.

Explanations come in two kinds: the n-grams behind a score (:meth:`top_terms`) and the
character spans of the offending text (:meth:`spans`), Perspective-style ``begin``/``end``/
``score`` in offsets of the original text -- per sentence, and per word, mapped back through
:func:`moderation.normalize.normalize_with_offsets` so that ``1d10t`` or ``i d i o t`` is
covered where the author typed it.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from moderation import schema
from moderation.calibration import Calibration, apply_calibration
from moderation.contract import MAX_TEXT_CHARS, Span
from moderation.fastscore import CompiledModel, compile_model
from moderation.features import FeatureConfig, drop_pruned_vocabulary, make_features
from moderation.normalize import normalize_text, normalize_with_offsets, split_sentences

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion

__all__ = [
    "BLIND_MIN_CHARS",
    "MAX_SCORED_CHARS",
    "WORD_THRESHOLD",
    "Engine",
    "HostilityModel",
    "Span",
    "SpanLevel",
    "term_columns",
]

logger = logging.getLogger(__name__)

#: Longer texts are cut to this many characters before scoring (bounds time and memory).
MAX_SCORED_CHARS = MAX_TEXT_CHARS
#: :meth:`HostilityModel.score_parts` vectorises texts in groups of about this many characters.
GROUP_CHARS = 1 << 20

_TOKEN = re.compile(r"\w+")

#: A word is part of a word-level span when the word scored on its own reaches this probability
#: (and its sentence reaches the label's threshold). Chosen on 2,500 SemEval-2021 toxic-spans
#: train posts with the identity-blinded bundle (span F1 there for 0.5 / 0.6 / 0.7 / 0.8 / 0.9:
#: 0.611 / 0.622 / 0.629 / 0.626 / 0.614); re-checked with hostility-2026-11-30 on all 8,629
#: train + trial posts (0.601 / 0.612 / 0.623 / 0.616 / 0.595; 0.65 / 0.75: 0.618 / 0.619).
#: The official test posts were not used to choose it.
WORD_THRESHOLD = 0.7

#: Span granularity: Perspective-style sentences, or the offending words inside them.
SpanLevel = Literal["sentence", "word"]
#: How texts become feature vectors: the compiled arrays (default) or scikit-learn (reference).
Engine = Literal["compiled", "sklearn"]
#: Attributes a model loaded from ``compiled.npz`` fetches from the pickle only when asked.
_PICKLED_ONLY = frozenset(
    {"features_", "coef_", "intercept_", "n_train_", "config", "C", "class_weight"}
)
_MATERIALIZE = threading.Lock()


def _expit(x: np.ndarray) -> np.ndarray:
    """The logistic function (scipy.special.expit without importing scipy.special)."""
    with np.errstate(over="ignore"):
        out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


class _SpanParts:
    """A text's sentences and its normalised words with their original offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sentences = split_sentences(text)
        norm = normalize_with_offsets(text)
        starts, ends = norm.starts, norm.ends
        self.tokens: list[str] = []
        self.begins: list[int] = []
        self.ends: list[int] = []
        for match in _TOKEN.finditer(norm.text):
            a, b = match.span()
            self.tokens.append(match.group())
            self.begins.append(starts[a])
            self.ends.append(ends[b - 1])


def _as_text(value: object) -> str:
    """Non-strings (None, NaN from a blank cell) score as the empty string."""
    return value[:MAX_SCORED_CHARS] if isinstance(value, str) else ""


#: Character n-grams with fewer letters than this (spaces not counted) are not blinded. With 3,
#: the classifier moved the identity association onto the letter pairs of the names ("sl" of
#: "muslim", "ck" of "black": template BPSN 0.78 for "muslim"), so pairs are blinded too; a
#: single letter plus a space (" m") is too common to carry a name.
BLIND_MIN_CHARS = 2


def term_columns(features: FeatureUnion, terms: Sequence[str]) -> np.ndarray:
    """Columns of the fitted ``features`` that are (parts of) the given terms' words.

    A word n-gram is a term column when one of its tokens is a word of a term (or that word
    plus "s") or it contains a whole multi-word term; a ``char_wb`` n-gram when, with at least
    :data:`BLIND_MIN_CHARS` letters, it lies inside a space-padded term word (" gay", "musli").
    Used to keep identity mentions from moving the scores of the labels that should not
    depend on them (``HostilityModel(blind_terms=..., blind_labels=...)``).
    """
    words: set[str] = set()
    phrases: set[str] = set()
    for term in terms:
        tokens = _TOKEN.findall(normalize_text(term))
        if len(tokens) > 1:
            phrases.add(" ".join(tokens))
            continue
        words.update(tokens)
        words.update(t + "s" for t in tokens)
    pieces = {
        w[i:j]
        for w in (f" {w} " for w in words)
        for i in range(len(w))
        for j in range(i + 1, len(w) + 1)
    }
    out: list[np.ndarray] = []
    for _, vectorizer in features.transformer_list:
        vocabulary: Mapping[str, int] = vectorizer.vocabulary_
        hit = np.zeros(len(vocabulary), dtype=bool)
        for gram, column in vocabulary.items():
            if vectorizer.analyzer == "word":
                found = bool(words.intersection(gram.split())) or any(
                    f" {p} " in f" {gram} " for p in phrases
                )
            else:
                found = len(gram.strip()) >= BLIND_MIN_CHARS and gram in pieces
            hit[column] = found
        out.append(hit)
    return np.concatenate(out)


class HostilityModel:
    """Scores texts for every label in :data:`moderation.schema.LABELS`.

    Parameters
    ----------
    config
        Feature vocabulary settings.
    C
        Inverse regularisation strength of each logistic regression; a float for all labels or
        a mapping label -> float.
    class_weight
        Passed to each ``LogisticRegression``; ``None`` keeps scores close to the training
        prevalence, ``"balanced"`` lifts rare labels.
    sentence_weight
        How much the highest sentence probability counts for a text of several sentences:
        ``score = (1 - w) * p_whole + w * max(p_whole, p_best_sentence)``. 0 scores whole
        texts only; 1 takes the larger of the two.
    blind_terms, blind_labels
        The ``blind_labels`` classifiers are fitted with the :func:`term_columns` of
        ``blind_terms`` zeroed, so their coefficients there are 0 and a mention of those words
        cannot move these labels (identity-term bias mitigation); other labels see them.
    word_vectors, word_vector_window, word_vector_scale
        With ``word_vectors`` > 0, each classifier also sees the text's tf-idf weighted sum of
        :func:`moderation.wordvectors.cooccurrence_vectors` of that length (co-occurrence
        window ``word_vector_window``, multiplied by ``word_vector_scale``), folded back into
        the n-gram coefficients after fitting, so words used like a label's words share its
        weight. 0 fits n-grams only.
    """

    def __init__(
        self,
        config: FeatureConfig | None = None,
        *,
        C: float | dict[str, float] = 4.0,
        class_weight: str | None = None,
        sentence_weight: float = 0.5,
        blind_terms: Sequence[str] = (),
        blind_labels: Sequence[str] = (),
        word_vectors: int = 0,
        word_vector_window: int = 4,
        word_vector_scale: float = 1.0,
    ) -> None:
        if not 0.0 <= sentence_weight <= 1.0:
            raise ValueError(f"sentence_weight must be in [0, 1], got {sentence_weight}")
        self.config = config or FeatureConfig()
        self.C = C
        self.class_weight = class_weight
        self.sentence_weight = sentence_weight
        self.blind_terms = tuple(blind_terms)
        self.blind_labels = tuple(blind_labels)
        self.word_vectors = word_vectors
        self.word_vector_window = word_vector_window
        self.word_vector_scale = word_vector_scale
        self.labels: tuple[str, ...] = schema.LABELS
        #: Per-label decision thresholds (the bundle's); spans default to them, else 0.5.
        self.thresholds: dict[str, float] = {}
        self.features_: FeatureUnion | None = None
        # Per label: (coef float32 [n_features], intercept) -- lighter to pickle than estimators.
        self.coef_: dict[str, np.ndarray] = {}
        self.intercept_: dict[str, float] = {}
        self.n_train_: dict[str, int] = {}
        #: Per-label isotonic maps fitted on validation rows (moderation.calibration); labels
        #: without one keep their raw score.
        self.calibration_: dict[str, Calibration] = {}
        #: ``"compiled"`` scores with :mod:`moderation.fastscore`; ``"sklearn"`` is the reference.
        self.engine: Engine = "compiled"
        self._inverse: dict[str, dict[int, str]] = {}

    #: Models pickled before the compiled engine existed have no ``engine`` attribute.
    engine: Engine = "compiled"

    def __getstate__(self) -> dict[str, Any]:
        # The inverse vocabularies are a cache rebuilt on demand; keep them out of the bundle.
        state = self.__dict__.copy()
        state["_inverse"] = {}
        return state

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: a model loaded from a bundle's compiled arrays
        # unpickles the fitted pipeline the first time one of its attributes is needed.
        if name in _PICKLED_ONLY:
            if "_loader" in self.__dict__:
                self._materialize()
                return self.__dict__[name]
            if "compiled_" in self.__dict__ and "labels" in self.__dict__:
                raise AttributeError(
                    f"{name} is not available: this HostilityModel was built from compiled "
                    "arrays without its fitted pipeline; load it with load_bundle() instead"
                )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def from_compiled(
        cls,
        compiled: CompiledModel,
        *,
        sentence_weight: float,
        calibration: Mapping[str, Calibration] | None = None,
        loader: Callable[[], HostilityModel] | None = None,
    ) -> HostilityModel:
        """A model that scores from ``compiled`` alone.

        ``loader`` returns the full fitted model (e.g. by unpickling a bundle); it is called
        once, the first time something needs the scikit-learn objects (the ``"sklearn"``
        engine, refitting, saving). Without it such uses raise ``AttributeError``.
        """
        model = cls.__new__(cls)
        model.__dict__.update(
            labels=tuple(compiled.labels),
            sentence_weight=float(sentence_weight),
            calibration_=dict(calibration or {}),
            thresholds={},
            engine="compiled",
            compiled_=compiled,
            _inverse={},
        )
        if loader is not None:
            model.__dict__["_loader"] = loader
        return model

    def _materialize(self) -> None:
        """Fetch the fitted scikit-learn state behind a model built by :meth:`from_compiled`."""
        with _MATERIALIZE:
            loader = self.__dict__.pop("_loader", None)
            if loader is None:
                return
            full = loader()
            for key, value in full.__dict__.items():
                if key not in ("thresholds", "engine", "compiled_", "_loader"):
                    self.__dict__.setdefault(key, value)

    def with_engine(self, engine: Engine) -> HostilityModel:
        """A shallow copy that vectorises with ``engine`` (``"sklearn"``: the reference)."""
        if engine not in ("compiled", "sklearn"):
            raise ValueError(f"engine must be 'compiled' or 'sklearn', got {engine!r}")
        if engine == "sklearn":
            self._sklearn_features()  # fetches (or names what is missing) up front
        other = copy.copy(self)
        other.engine = engine
        return other

    def portable(self) -> HostilityModel:
        """A copy holding the fitted pipeline and no compiled arrays: what a bundle pickles."""
        self._materialize()
        other = copy.copy(self)
        for key in ("compiled_", "_loader"):
            other.__dict__.pop(key, None)
        other.engine = "compiled"
        return other

    def compiled(self) -> CompiledModel:
        """The model as arrays for fast scoring (:mod:`moderation.fastscore`), compiled once."""
        found: CompiledModel | None = self.__dict__.get("compiled_")
        if found is None:
            features = self._sklearn_features()
            blocks = []
            for _, vectorizer in features.transformer_list:
                blocks.append(
                    (
                        str(vectorizer.analyzer),
                        tuple(vectorizer.ngram_range),
                        vectorizer.vocabulary_,
                        vectorizer.idf_,
                    )
                )
            coef = np.stack([self.coef_[label] for label in self.labels], axis=1)
            intercept = [self.intercept_[label] for label in self.labels]
            found = compile_model(self.labels, blocks, coef, intercept)
            self.__dict__["compiled_"] = found
        return found

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        corpus: pd.DataFrame,
        *,
        seed: int = 0,
        sample_weight: np.ndarray | None = None,
        unlabelled: Sequence[str] | None = None,
    ) -> HostilityModel:
        """Fit features on all rows and one classifier per label on the rows that know it.

        Parameters
        ----------
        corpus
            Frame with a ``text`` column and one float column per label (NaN = unknown).
            Soft labels in (0, 1) are rounded at 0.5.
        seed
            Random state of the solvers (results are deterministic for a given seed).
        sample_weight
            Optional per-row weights aligned with ``corpus``.
        unlabelled
            Texts the word vectors are learned from (only with ``word_vectors`` > 0); the
            ``corpus`` texts when omitted.

        Returns
        -------
        HostilityModel
            ``self``, fitted.
        """
        from sklearn.linear_model import LogisticRegression

        for cache in ("compiled_", "_loader"):
            self.__dict__.pop(cache, None)
        texts = [_as_text(t) for t in corpus["text"]]
        features = make_features(self.config)
        matrix = features.fit_transform(texts).tocsr()
        vectors = self._word_vectors(
            features, matrix.shape[1], texts if unlabelled is None else unlabelled, seed
        )
        drop_pruned_vocabulary(features)
        self.features_ = features
        weights = np.ones(len(texts)) if sample_weight is None else np.asarray(sample_weight)
        blind = getattr(self, "blind_labels", ())
        blinded = matrix
        keep = np.ones(matrix.shape[1], dtype=bool)
        if blind and getattr(self, "blind_terms", ()):
            # Zeroed columns get a zero coefficient under the l2 penalty: a mention of a term
            # can neither raise nor lower these labels' scores.
            keep = ~term_columns(features, self.blind_terms)
            blinded = matrix.multiply(keep.astype(np.float32)[None, :]).tocsr()
            logger.info("blinded %d term n-grams for %s", (~keep).sum(), ", ".join(blind))
        for label in self.labels:
            values = corpus[label].to_numpy(dtype=np.float64)
            known = ~np.isnan(values)
            y = (values[known] >= 0.5).astype(int)
            if known.sum() == 0 or len(np.unique(y)) < 2:
                logger.warning("label %s has no usable training rows; it will score 0.5", label)
                self.coef_[label] = np.zeros(matrix.shape[1], dtype=np.float32)
                self.intercept_[label] = 0.0
                self.n_train_[label] = int(known.sum())
                continue
            C = self.C[label] if isinstance(self.C, dict) else self.C
            clf = LogisticRegression(
                C=C,
                class_weight=self.class_weight,
                solver="liblinear",
                max_iter=1000,
                random_state=seed,
            )
            rows = (blinded if label in blind else matrix)[np.flatnonzero(known)]
            if vectors is None:
                clf.fit(rows, y, sample_weight=weights[known])
                coef = clf.coef_.ravel()
            else:
                coef = self._fit_with_vectors(clf, rows, y, weights[known], vectors)
                if label in blind:
                    coef = coef * keep  # the vectors must not bring blinded words back
            self.coef_[label] = coef.astype(np.float32)
            self.intercept_[label] = float(clf.intercept_[0])
            self.n_train_[label] = int(known.sum())
            logger.info("fitted %s on %d rows (%d positive)", label, known.sum(), y.sum())
        return self

    def _word_vectors(
        self, features: FeatureUnion, n_columns: int, texts: Sequence[str], seed: int
    ) -> np.ndarray | None:
        """Word vectors padded to every feature column (zero outside word unigrams), or None."""
        dim = int(getattr(self, "word_vectors", 0))
        if dim <= 0:
            return None
        from moderation.wordvectors import cooccurrence_vectors

        word = features.transformer_list[0][1]
        vectors = cooccurrence_vectors(
            word, [_as_text(t) for t in texts], dim=dim, window=self.word_vector_window, seed=seed
        )
        padded = np.zeros((n_columns, dim), dtype=np.float32)
        padded[: len(vectors)] = vectors
        logger.info("learned %d-dimensional vectors for %d words", dim, (vectors != 0).any(1).sum())
        return padded

    def _fit_with_vectors(
        self, clf: Any, rows: Any, y: np.ndarray, weights: np.ndarray, vectors: np.ndarray
    ) -> np.ndarray:
        """Fit ``clf`` on ``[rows, scale * rows @ vectors]``; the n-gram coefficients it implies.

        ``x . w + scale * (x @ E) . v = x . (w + scale * E @ v)``, so the vectors' weights fold
        into the n-gram coefficients exactly.
        """
        import scipy.sparse as sp

        scale = float(self.word_vector_scale)
        dense = np.asarray(rows @ vectors, dtype=np.float64) * scale
        clf.fit(sp.hstack([rows, sp.csr_matrix(dense)]).tocsr(), y, sample_weight=weights)
        weights_all = clf.coef_.ravel()
        n = rows.shape[1]
        coef: np.ndarray = weights_all[:n] + scale * (vectors @ weights_all[n:])
        return coef

    # ------------------------------------------------------------------ scoring

    def _check_fitted(self) -> None:
        if self.__dict__.get("compiled_") is None and self.features_ is None:
            raise RuntimeError("HostilityModel is not fitted; call fit() or load a bundle")

    def _sklearn_features(self) -> FeatureUnion:
        features: FeatureUnion | None = self.features_
        if features is None:
            raise RuntimeError("HostilityModel is not fitted; call fit() or load a bundle")
        return features

    def transform(self, texts: Sequence[str]) -> Any:
        """Vectorise texts (truncated to :data:`MAX_SCORED_CHARS`) as a CSR matrix.

        Columns are the ``FeatureUnion``'s (word n-grams, then character n-grams); the
        :attr:`engine` decides whether the compiled arrays or scikit-learn compute them.
        """
        texts = [_as_text(t) for t in texts]
        if self.engine == "sklearn":
            return self._sklearn_features().transform(texts).tocsr()
        self._check_fitted()
        return self.compiled().tfidf(texts)

    def _logits(self, matrix: Any) -> np.ndarray:
        """Log-odds of every row of a feature matrix, one column per label.

        Computed in float64 from the float32 coefficients, as scikit-learn's own logistic
        regression does, so both engines agree to rounding of the features.
        """
        compiled = self.compiled()
        out: np.ndarray = np.asarray(matrix @ compiled.coef64(), dtype=np.float64)
        out += compiled.intercept
        return out

    def decision_function(self, texts: Sequence[str]) -> pd.DataFrame:
        """Raw log-odds per label of each whole text (no sentence scoring)."""
        if len(texts) == 0:
            self._check_fitted()
            return pd.DataFrame({label: pd.Series(dtype=np.float64) for label in self.labels})
        return pd.DataFrame(self._logits(self.transform(texts)), columns=list(self.labels))

    def score_parts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Whole-text log-odds and the highest sentence log-odds of each text.

        Texts and the sentences of the texts with more than one sentence are vectorised
        together, one ``transform`` call per group of about :data:`GROUP_CHARS` characters of
        text (so memory stays bounded however many texts are passed). For a text of one
        sentence (or none) the sentence log-odds are its whole-text log-odds.

        Returns
        -------
        tuple of ndarray
            ``(whole, best_sentence)``, each ``float64 [len(texts), len(labels)]``.
        """
        texts = [_as_text(t) for t in texts]
        if not texts:
            self._check_fitted()
            empty = np.zeros((0, len(self.labels)), dtype=np.float64)
            return empty, empty.copy()
        whole = np.empty((len(texts), len(self.labels)), dtype=np.float64)
        best = np.empty_like(whole)
        start = 0
        while start < len(texts):
            stop, size = start, 0
            while stop < len(texts) and (size < GROUP_CHARS or stop == start):
                size += len(texts[stop])
                stop += 1
            whole[start:stop], best[start:stop] = self._score_group(texts[start:stop])
            start = stop
        return whole, best

    def _score_group(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        owners: list[int] = []
        sentences: list[str] = []
        for i, text in enumerate(texts):
            offsets = split_sentences(text)
            if len(offsets) > 1:
                owners.extend([i] * len(offsets))
                sentences.extend(text[start:end] for start, end in offsets)
        logits = self._logits(self.transform(texts + sentences))
        whole = logits[: len(texts)]
        best = whole.copy()
        if sentences:
            np.maximum.at(best, np.asarray(owners, dtype=np.intp), logits[len(texts) :])
        return whole, best

    def combine(self, whole: np.ndarray, best_sentence: np.ndarray) -> np.ndarray:
        """Scores in [0, 1] from :meth:`score_parts` output, by ``sentence_weight``."""
        p_whole = _expit(whole)
        p_best = np.maximum(p_whole, _expit(best_sentence))
        w = float(getattr(self, "sentence_weight", 0.0))
        out: np.ndarray = (1.0 - w) * p_whole + w * p_best
        return self.calibrate(out)

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """Apply the per-label calibration maps to a ``[n, len(labels)]`` score matrix."""
        return apply_calibration(scores, self.labels, self.__dict__.get("calibration_"))

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """Score texts for every label.

        A text of several sentences is scored as a whole and sentence by sentence; the score
        is ``(1 - w) * p_whole + w * max(p_whole, p_best_sentence)`` with ``w`` the model's
        ``sentence_weight``, so one hostile sentence inside a long civil comment still raises
        its score.

        Parameters
        ----------
        texts
            Comment texts; empty strings are fine, non-strings score as empty. Texts longer
            than :data:`MAX_SCORED_CHARS` characters are truncated.

        Returns
        -------
        pandas.DataFrame
            Exactly the columns of :data:`moderation.schema.LABELS`, float scores in [0, 1],
            one row per input in input order (``RangeIndex``).
        """
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of texts, not a single string")
        whole, best = self.score_parts(texts)
        return pd.DataFrame(self.combine(whole, best), columns=list(self.labels))

    # ------------------------------------------------------------------ explanations

    def top_terms(self, text: str, label: str, k: int = 5) -> list[tuple[str, float]]:
        """The words or word pairs that pushed ``label``'s score up most for ``text``.

        For a text of several sentences whose best sentence scores above the whole text, the
        words come from that sentence (the one behind the score). Word n-gram contributions
        (tf-idf value x coefficient) are kept as they are; each character n-gram's contribution
        is shared out among the words of the text that contain it, so a moderator sees words
        ("idiot") rather than fragments ("idi").

        Parameters
        ----------
        text
            The comment.
        label
            One of :data:`moderation.schema.LABELS`.
        k
            How many terms to return at most.

        Returns
        -------
        list of (str, float)
            Terms in normalised form with their positive log-odds contribution, largest first.
        """
        return self.top_terms_map(text, [label], k)[label]

    def top_terms_map(
        self, text: str, labels: Sequence[str], k: int = 5
    ) -> dict[str, list[tuple[str, float]]]:
        """:meth:`top_terms` of several labels, vectorising the text and its parts once."""
        return self.top_terms_maps([text], [labels], k)[0]

    def top_terms_maps(
        self, texts: Sequence[str], labels: Sequence[Sequence[str]], k: int = 5
    ) -> list[dict[str, list[tuple[str, float]]]]:
        """:meth:`top_terms` of many texts, each for its own labels, in two ``transform`` calls.

        ``labels[i]`` are the labels to explain for ``texts[i]``; the result has one
        ``{label: terms}`` per text.
        """
        if isinstance(texts, str):
            raise TypeError("top_terms_maps() takes a sequence of texts, not a single string")
        if len(labels) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(labels)} label lists")
        for wanted in labels:
            for label in wanted:
                if label not in self.labels:
                    raise ValueError(
                        f"unknown label {label!r}; expected one of {', '.join(self.labels)}"
                    )
        from moderation.fastscore import top_terms

        busy = [i for i, wanted in enumerate(labels) if wanted]
        out: list[dict[str, list[tuple[str, float]]]] = [{} for _ in texts]
        if not busy:
            return out
        parts, matrix, chosen = self._explained_rows(
            [_as_text(texts[i]) for i in busy], [labels[i] for i in busy]
        )
        queries: list[tuple[int, int]] = []
        owners: list[tuple[int, str]] = []
        for i, rows in zip(busy, chosen, strict=True):
            for label, row in rows.items():
                queries.append((row, self.labels.index(label)))
                owners.append((i, label))
        words = {
            row: list(dict.fromkeys(_TOKEN.findall(normalize_text(parts[row]))))
            for row, _ in queries
        }
        found = top_terms(self.compiled(), matrix, queries, words, k)
        for (i, label), terms in zip(owners, found, strict=True):
            out[i][label] = terms
        return out

    def spans(
        self,
        text: str,
        label: str,
        threshold: float | None = None,
        *,
        level: SpanLevel = "sentence",
        word_threshold: float = WORD_THRESHOLD,
    ) -> list[Span]:
        """Character spans of ``text`` that score high for ``label`` (Perspective ``spanScores``).

        Parameters
        ----------
        text
            The comment, as written (offsets refer to it; texts longer than
            :data:`MAX_SCORED_CHARS` are cut first).
        label
            One of :data:`moderation.schema.LABELS`.
        threshold
            Sentences scoring at least this are returned; default: the label's threshold in
            :attr:`thresholds` (the bundle's), or 0.5.
        level
            ``"sentence"``: every sentence (:func:`~moderation.normalize.split_sentences`)
            scoring at least ``threshold``, with its score. ``"word"``: inside those sentences,
            the words whose own score reaches ``word_threshold`` -- found on the normalised
            text and mapped back, so ``1d10t`` and ``i d i o t`` are covered as typed;
            neighbouring words merge into one span scored by the highest of them.
        word_threshold
            See ``level``.

        Returns
        -------
        list of Span
            Increasing, non-overlapping spans; ``[]`` when nothing reaches the threshold.
        """
        return self.span_map(
            text,
            [label],
            {label: threshold} if threshold is not None else None,
            word_threshold=word_threshold,
        )[label][level]

    def span_map(
        self,
        text: str,
        labels: Sequence[str],
        thresholds: Mapping[str, float] | None = None,
        *,
        word_threshold: float = WORD_THRESHOLD,
    ) -> dict[str, dict[str, list[Span]]]:
        """Sentence and word spans for several labels, with one ``transform`` call.

        Returns ``{label: {"sentence": [...], "word": [...]}}``; see :meth:`spans`. Labels
        missing from ``thresholds`` use :attr:`thresholds`, else 0.5.
        """
        return self.span_maps([text], labels, thresholds, word_threshold=word_threshold)[0]

    def spans_batch(
        self,
        texts: Sequence[str],
        label: str,
        threshold: float | None = None,
        *,
        level: SpanLevel = "word",
        word_threshold: float = WORD_THRESHOLD,
    ) -> list[list[Span]]:
        """:meth:`spans` of many texts (one list per text), with one ``transform`` call.

        The default level is ``"word"``, the granularity of the SemEval-2021 toxic-spans task.
        """
        found = self.span_maps(
            texts,
            [label],
            {label: threshold} if threshold is not None else None,
            word_threshold=word_threshold,
        )
        return [one[label][level] for one in found]

    def span_maps(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        thresholds: Mapping[str, float] | None = None,
        *,
        word_threshold: float = WORD_THRESHOLD,
    ) -> list[dict[str, dict[str, list[Span]]]]:
        """:meth:`span_map` of many texts: every sentence and distinct word in one call."""
        if isinstance(texts, str):
            raise TypeError("span_maps() takes a sequence of texts, not a single string")
        return self.span_maps_each(
            texts, [labels] * len(texts), thresholds, word_threshold=word_threshold, check=labels
        )

    def span_maps_each(
        self,
        texts: Sequence[str],
        labels: Sequence[Sequence[str]],
        thresholds: Mapping[str, float] | None = None,
        *,
        word_threshold: float = WORD_THRESHOLD,
        check: Sequence[str] = (),
    ) -> list[dict[str, dict[str, list[Span]]]]:
        """:meth:`span_map` of many texts, each for its own labels (``labels[i]``).

        Texts without labels are not looked at: a batch pays only for the labels it shows.
        Every sentence and distinct word of the others is vectorised in one call, and the
        spans of each label are found for all texts at once. ``check``: labels validated
        even when no text asks for them.
        """
        if isinstance(texts, str):
            raise TypeError("span_maps_each() takes a sequence of texts, not a single string")
        if len(labels) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(labels)} label lists")
        wanted = [list(dict.fromkeys(each)) for each in labels]
        for label in [*check, *(label for each in wanted for label in each)]:
            if label not in self.labels:
                raise ValueError(
                    f"unknown label {label!r}; expected one of {', '.join(self.labels)}"
                )
        out: list[dict[str, dict[str, list[Span]]]] = [{} for _ in texts]
        busy = [i for i, each in enumerate(wanted) if each]
        parts = [_SpanParts(_as_text(texts[i])) for i in busy]
        docs: list[str] = []
        for part in parts:
            docs.extend(part.text[a:b] for a, b in part.sentences)
        n_sentences = len(docs)
        word_rows: dict[str, int] = {}
        for part in parts:
            for token in part.tokens:
                if token not in word_rows:
                    word_rows[token] = len(docs)
                    docs.append(token)
        if docs:
            probs = self.calibrate(_expit(self._explanation_logits(docs)))
        else:
            self._check_fitted()
            probs = np.zeros((0, len(self.labels)))
        if not parts:
            return out

        # Every sentence and token of every part in one array each; offsets are moved into one
        # coordinate (each part after the previous one) to find each token's sentence at once.
        sizes = [len(part.sentences) for part in parts]
        counts = np.fromiter((len(p.tokens) for p in parts), dtype=np.int64, count=len(parts))
        base = np.cumsum([0, *(len(p.text) + 1 for p in parts)])[:-1].astype(np.int64)
        sentence_part = np.repeat(np.arange(len(parts), dtype=np.int64), sizes)
        bounds = np.asarray(
            [bound for part in parts for pair in part.sentences for bound in pair], dtype=np.int64
        ).reshape(-1, 2)
        sentence_start = bounds[:, 0] + base[sentence_part]
        sentence_end = bounds[:, 1] + base[sentence_part]
        token_part = np.repeat(np.arange(len(parts), dtype=np.int64), counts)
        token_row = np.fromiter(
            (word_rows[t] for part in parts for t in part.tokens), dtype=np.int64
        )
        token_begin = np.fromiter((b for part in parts for b in part.begins), dtype=np.int64)
        token_end = np.fromiter((e for part in parts for e in part.ends), dtype=np.int64)
        at = token_begin + base[token_part]
        owner = np.searchsorted(sentence_end, at, side="right")  # first sentence ending after
        inside = owner < n_sentences
        inside[inside] = sentence_start[owner[inside]] <= at[inside]
        continues = np.zeros(len(token_part), dtype=bool)  # the previous token is the part's
        continues[1:] = token_part[1:] == token_part[:-1]

        needs = np.zeros((len(parts), len(self.labels)), dtype=bool)
        for p, i in enumerate(busy):
            for label in wanted[i]:
                needs[p, self.labels.index(label)] = True
        own = getattr(self, "thresholds", {})
        found: dict[str, dict[int, dict[str, list[Span]]]] = {}
        for j, label in enumerate(self.labels):
            if not needs[:, j].any():
                continue
            cut = float((thresholds or {}).get(label, own.get(label, 0.5)))
            column = probs[:, j]
            flagged = column[:n_sentences] >= cut
            per_part: dict[int, dict[str, list[Span]]] = {
                k: {"sentence": [], "word": []} for k in np.flatnonzero(needs[:, j]).tolist()
            }
            hot = np.flatnonzero(flagged & needs[sentence_part, j])
            for k, a, b, score in zip(
                sentence_part[hot].tolist(),
                bounds[hot, 0].tolist(),
                bounds[hot, 1].tolist(),
                column[hot].tolist(),
                strict=True,
            ):
                per_part[k]["sentence"].append(Span(a, b, score))
            score = column[token_row]
            kept = inside & needs[token_part, j] & ~(score < word_threshold)
            kept[kept] = flagged[owner[kept]]
            # Neighbouring kept words of a part form one span, scored by the highest of them.
            first = kept & ~(continues & np.concatenate(([False], kept[:-1])))
            kept_at = np.flatnonzero(kept)
            if len(kept_at):
                run_first = np.flatnonzero(first)
                run_at = np.searchsorted(kept_at, run_first)  # where each run starts in kept_at
                last = kept_at[np.append(run_at[1:], len(kept_at)) - 1]
                best = np.maximum.reduceat(score[kept_at], run_at)
                for k, a, b, value in zip(
                    token_part[run_first].tolist(),
                    token_begin[run_first].tolist(),
                    token_end[last].tolist(),
                    best.tolist(),
                    strict=True,
                ):
                    per_part[k]["word"].append(Span(a, b, value))
            found[label] = per_part
        for p, i in enumerate(busy):
            out[i] = {label: found[label][p] for label in wanted[i]}
        return out

    def _explained_rows(
        self, texts: Sequence[str], labels: Sequence[Sequence[str]]
    ) -> tuple[list[str], Any, list[dict[str, int]]]:
        """Per text and label, the part behind the score: its best sentence if that beats the
        whole text, else the text.

        Returns the distinct parts, their feature matrix and, per text, ``{label: part}``
        (indices into the parts). Only the parts are vectorised; the texts and sentences they
        are chosen from need only their log-odds.
        """
        weighted = getattr(self, "sentence_weight", 0.0) != 0.0
        docs: list[str] = list(texts)
        spans: list[tuple[int, int]] = []  # each text's sentences: docs[start:stop]
        for text in texts:
            offsets = split_sentences(text) if weighted else []
            start = len(docs)
            if len(offsets) >= 2:
                docs.extend(text[a:b] for a, b in offsets)
            spans.append((start, len(docs)))
        logits = self._explanation_logits(docs) if len(docs) > len(texts) else None
        chosen: list[dict[str, int]] = []
        for i, wanted in enumerate(labels):
            start, stop = spans[i]
            if logits is None or stop == start:
                chosen.append(dict.fromkeys(wanted, i))
                continue
            rows: dict[str, int] = {}
            for label in wanted:
                j = self.labels.index(label)
                best = start + int(np.argmax(logits[start:stop, j]))
                rows[label] = best if logits[best, j] > logits[i, j] else i
            chosen.append(rows)
        part_of = {row: k for k, row in enumerate(sorted({r for c in chosen for r in c.values()}))}
        parts = [docs[row] for row in part_of]
        out = [{label: part_of[row] for label, row in c.items()} for c in chosen]
        return parts, self.transform(parts), out

    def _explanation_logits(self, docs: Sequence[str]) -> np.ndarray:
        """Log-odds of texts being explained, the same as ``_logits(transform(docs))``.

        The compiled engine reuses, within a ``Moderator.score`` batch, the log-odds its
        scoring already computed for the same normalised texts (comments and sentences).
        """
        if self.engine == "sklearn":
            return self._logits(self.transform(docs))
        self._check_fitted()
        return self.compiled().doc_logits([_as_text(d) for d in docs])
