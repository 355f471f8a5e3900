"""Compiled scoring: the fitted TF-IDF + logistic-regression model as plain arrays.

Flow: ``normalize -> features -> **fastscore** -> model``. scikit-learn's analyzers build every
n-gram as a Python string, one at a time; scoring a batch that way costs far more than the
arithmetic. :class:`CompiledModel` holds the same fitted model as NumPy arrays and scores a batch
with whole-array operations:

1. the normalised texts are encoded once as UTF-32 code points in one array;
2. lookup tables over code points mark word characters (``\\w``, as the ``(?u)\\b\\w+\\b`` token
   pattern sees them) and whitespace (as ``str.split`` sees it);
3. every n-gram gets a 64-bit hash computed with vectorised arithmetic -- character n-grams of
   space-padded words (``char_wb``) by adding one position at a time, word n-grams by combining
   per-token hashes -- and is mapped to its column through a direct-mapped index over the
   sorted hashes of the vocabulary (their top bits pick a bucket; out-of-vocabulary n-grams
   find no equal hash and are dropped);
4. counts per (text, column) come from sorting ``text * n_columns + column``; sublinear tf,
   idf and the per-block l2 norm follow, and the blocks are laid side by side in one CSR
   matrix (the ``FeatureUnion``'s) for one sparse x dense product with the coefficients.

Texts are processed in chunks of about :data:`CHUNK_CHARS` characters, so temporary memory
stays small (a few tens of MB) however large the batch.

The vocabulary's hashes are checked to be distinct when the model is compiled (another hash
seed is tried otherwise), so every in-vocabulary n-gram finds exactly its own column. An
out-of-vocabulary n-gram could only be miscounted if its 64-bit hash equalled a vocabulary
hash: about one chance in 10^14 per n-gram for a 250k-entry vocabulary.

Nothing here imports scikit-learn or pandas: a bundle's ``compiled.npz`` is enough to score,
which keeps loading cheap. :mod:`moderation.model` builds a :class:`CompiledModel` from its
fitted vectorisers (:func:`compile_model`) and checks parity with scikit-learn in the tests.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from moderation.normalize import normalize_text

__all__ = ["COMPILED_FORMAT", "CompiledBlock", "CompiledModel", "compile_block", "compile_model"]

#: Version of the array layout written by :meth:`CompiledModel.to_arrays`.
COMPILED_FORMAT = 1

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Texts are scored in chunks of about this many characters (bounds temporary memory).
CHUNK_CHARS = 1 << 16
#: Hash seeds tried in turn until a vocabulary's hashes are all distinct.
MAX_SEEDS = 16

_WORD_FLAG = np.uint8(1)
_SPACE_FLAG = np.uint8(2)
_UNKNOWN = np.uint8(255)
_WORD_CHAR = re.compile(r"\w")
#: scikit-learn's default token pattern, which the word block reproduces.
_TOKEN_PATTERN = re.compile(r"(?u)\b\w+\b")


class _CharClasses:
    """Word-character and whitespace flags per code point, filled in as code points are seen.

    Filling lazily keeps start-up cheap (most batches use a few hundred distinct characters);
    the flags come from Python's own ``re`` and ``str.isspace`` so they match scikit-learn's
    token pattern and ``str.split`` exactly on this interpreter.
    """

    def __init__(self) -> None:
        self._flags = np.full(0x110000, _UNKNOWN, dtype=np.uint8)
        self._lock = threading.Lock()

    def __call__(self, cps: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
        flags = self._flags[cps]
        unknown = flags == _UNKNOWN
        if unknown.any():
            with self._lock:
                for cp in np.unique(cps[unknown]).tolist():
                    char = chr(cp)
                    value = _WORD_FLAG if _WORD_CHAR.match(char) else np.uint8(0)
                    if char.isspace():
                        value |= _SPACE_FLAG
                    self._flags[cp] = value
            flags = self._flags[cps]
        return flags


_CLASSES = _CharClasses()


def _mix(x: U64) -> U64:
    """SplitMix64 finaliser: spreads every input bit over the output (vectorised, wrapping)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: U64 = z ^ (z >> np.uint64(31))
    return out


class _Weights:
    """Random odd 64-bit multipliers per position inside an n-gram or token, per seed."""

    def __init__(self) -> None:
        self._cache: dict[int, U64] = {}
        self._lock = threading.Lock()

    def __call__(self, seed: int, length: int) -> U64:
        have = self._cache.get(seed)
        if have is None or len(have) < length:
            size = max(length, 64, 0 if have is None else 2 * len(have))
            base = np.uint64(seed) << np.uint64(32)
            weights = _mix(np.arange(size, dtype=np.uint64) + base) | np.uint64(1)
            with self._lock:
                self._cache[seed] = weights
            have = weights
        return have


_WEIGHTS = _Weights()


def _codepoints(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint32], I64]:
    """All texts joined by single spaces as code points, and the document of each position."""
    joined = " ".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1
    docs = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)[: len(cps)]
    return cps, docs


def _segment_hashes(values: U64, starts: I64, lengths: I64, weights: U64) -> U64:
    """``sum_j values[start + j] * weights[j]`` for each segment (consecutive, non-empty)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint64)
    total = int(lengths.sum())
    seg_first = np.cumsum(lengths) - lengths
    local = np.arange(total, dtype=np.int64) - np.repeat(seg_first, lengths)
    positions = np.repeat(starts, lengths) + local
    terms = values[positions] * weights[local]
    out: U64 = np.add.reduceat(terms, seg_first)
    return out


def _tokens(cps: npt.NDArray[np.uint32], docs: I64, seed: int) -> tuple[U64, I64]:
    """Hashes of the maximal runs of word characters, and the document of each."""
    is_word = (_CLASSES(cps) & _WORD_FLAG).astype(bool)
    previous = np.concatenate(([False], is_word[:-1]))
    following = np.concatenate((is_word[1:], [False]))
    starts = np.flatnonzero(is_word & ~previous)
    ends = np.flatnonzero(is_word & ~following) + 1
    lengths = ends - starts
    weights = _WEIGHTS(seed, int(lengths.max()) if len(lengths) else 1)
    values = cps.astype(np.uint64) + np.uint64(1)
    return _segment_hashes(values, starts, lengths, weights), docs[starts]


_UNIGRAM_SALT = np.uint64(0x5851F42D4C957F2D)
_NGRAM_STEP = np.uint64(0xD6E8FEB86659FD93)


def _word_keys(
    token_hashes: U64, token_docs: I64, ngram_range: tuple[int, int]
) -> tuple[U64, npt.NDArray[np.bool_]]:
    """Keys of the token n-grams starting at each token: ``[n_sizes, n_tokens]`` plus validity.

    An n-gram is the hash chain ``k1 = mix(t1 ^ salt)``, ``k_i = mix(k_{i-1} * step + t_i)``,
    valid when its n tokens exist and belong to the same document.
    """
    low, high = ngram_range
    n = len(token_hashes)
    keys = np.zeros((high - low + 1, n), dtype=np.uint64)
    valid = np.zeros((high - low + 1, n), dtype=bool)
    chain = _mix(token_hashes ^ _UNIGRAM_SALT)
    same = np.ones(n, dtype=bool)
    for size in range(1, high + 1):
        if size > 1:
            shifted = np.zeros(n, dtype=np.uint64)
            shifted[: n - size + 1] = token_hashes[size - 1 :]
            chain = _mix(chain * _NGRAM_STEP + shifted)
            ok = np.zeros(n, dtype=bool)
            ok[: n - size + 1] = token_docs[size - 1 :] == token_docs[: n - size + 1]
            same &= ok
        if size >= low:
            keys[size - low] = chain
            valid[size - low] = same
    return keys, valid


def _char_keys(
    cps: npt.NDArray[np.uint32], docs: I64, seed: int, ngram_range: tuple[int, int]
) -> tuple[U64, npt.NDArray[np.bool_], I64]:
    """Keys of scikit-learn's ``char_wb`` n-grams starting at each padded position.

    Each whitespace-separated word becomes `` word `` (one space each side); the n-grams are
    its substrings of length ``low..high``; a padded word shorter than ``low`` is one n-gram
    on its own. Returns keys and validity ``[n_sizes, n_positions]`` and each position's
    document.
    """
    low, high = ngram_range
    is_space = (_CLASSES(cps) & _SPACE_FLAG).astype(bool)
    idx = np.flatnonzero(~is_space)
    if len(idx) == 0:
        empty = np.zeros((high - low + 1, 0), dtype=np.uint64)
        return empty, empty.astype(bool), np.zeros(0, dtype=np.int64)
    new_word = np.ones(len(idx), dtype=bool)
    new_word[1:] = idx[1:] != idx[:-1] + 1
    word_of = np.cumsum(new_word) - 1
    first = idx[new_word]
    padded_len = np.bincount(word_of).astype(np.int64) + 2
    offset = np.cumsum(padded_len) - padded_len
    total = int(padded_len.sum())
    padded = np.full(total + high, 32 + 1, dtype=np.uint64)  # code point + 1, space
    padded[total:] = 0
    padded[offset[word_of] + 1 + (idx - first[word_of])] = cps[idx].astype(np.uint64) + 1
    remaining = np.repeat(offset + padded_len, padded_len) - np.arange(total, dtype=np.int64)
    weights = _WEIGHTS(seed, high)
    keys = np.zeros((high - low + 1, total), dtype=np.uint64)
    valid = np.zeros((high - low + 1, total), dtype=bool)
    rolling = np.zeros(total, dtype=np.uint64)
    by_size: dict[int, U64] = {}
    for size in range(1, high + 1):
        rolling = rolling + padded[size - 1 : size - 1 + total] * weights[size - 1]
        by_size[size] = rolling
        if size >= low:
            keys[size - low] = rolling
            valid[size - low] = remaining >= size
    short = np.flatnonzero(padded_len < low)
    for word in short.tolist():  # only when low > 3: a padded word shorter than every n
        size, at = int(padded_len[word]), int(offset[word])
        keys[0, at] = by_size[size][at]
        valid[0, at] = True
    return keys, valid, np.repeat(docs[first], padded_len)


@dataclass(frozen=True)
class CompiledBlock:
    """One TF-IDF block: sorted n-gram keys, their columns, idf and coefficients.

    ``coef`` is ``float32 [n_columns, n_labels]``; ``columns[i]`` is the block column of the
    n-gram whose key is ``keys[i]``. ``names`` holds every column's n-gram (UTF-8, joined; column
    ``c`` is characters ``name_offsets[c]:name_offsets[c + 1]``), for explanations only.
    """

    analyzer: str  # "word" or "char_wb"
    ngram_range: tuple[int, int]
    seed: int
    keys: U64
    columns: npt.NDArray[np.int32]
    idf: npt.NDArray[np.float32]
    coef: npt.NDArray[np.float32]
    names: npt.NDArray[np.uint8]
    name_offsets: I64
    _coef64: list[F64] = field(default_factory=list, repr=False, compare=False)
    _names: list[list[str]] = field(default_factory=list, repr=False, compare=False)
    _index: list[tuple[npt.NDArray[np.int64], U64]] = field(
        default_factory=list, repr=False, compare=False
    )

    @property
    def n_columns(self) -> int:
        return len(self.idf)

    def __getstate__(self) -> dict[str, Any]:
        # The caches are rebuilt on demand; worker processes need not receive them.
        return {**self.__dict__, "_coef64": [], "_index": [], "_names": []}

    def coef64(self) -> F64:
        """The coefficients as float64, converted once (the product then runs without copies)."""
        if not self._coef64:
            self._coef64.append(self.coef.astype(np.float64))
        return self._coef64[0]

    def column_names(self) -> list[str]:
        """The n-gram of every column, decoded once."""
        if not self._names:
            text = self.names.tobytes().decode("utf-8")
            bounds = self.name_offsets.tolist()
            self._names.append([text[a:b] for a, b in itertools.pairwise(bounds)])
        return self._names[0]

    def keys_of(self, texts: Sequence[str]) -> tuple[U64, npt.NDArray[np.bool_], I64]:
        """Keys, validity and documents of every n-gram of ``texts`` (already normalised)."""
        cps, docs = _codepoints(texts)
        if self.analyzer == "char_wb":
            return _char_keys(cps, docs, self.seed, self.ngram_range)
        hashes, token_docs = _tokens(cps, docs, self.seed)
        keys, valid = _word_keys(hashes, token_docs, self.ngram_range)
        return keys, valid, token_docs

    def _buckets(self) -> tuple[npt.NDArray[np.int64], U64]:
        """Where each bucket of keys (their top bits) starts in ``keys``: a direct-mapped index.

        Built once per block; with four to eight buckets per key most lookups are one read of
        this array and one of ``keys``. Also returns ``keys`` plus a trailing 0: an empty bucket
        after the last key points there, and no query in such a bucket (top bits > 0) is 0.
        """
        if not self._index:
            bits = max(8, int(np.ceil(np.log2(max(len(self.keys), 1)))) + 2)
            buckets = (self.keys >> np.uint64(64 - bits)).astype(np.intp)
            sizes = np.bincount(buckets, minlength=1 << bits)
            starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
            self._index.append((starts, np.append(self.keys, np.uint64(0))))
        return self._index[0]

    def lookup(self, queries: U64) -> npt.NDArray[np.int64]:
        """The position in ``keys`` of each query key, or -1 when it is not in the vocabulary."""
        if len(self.keys) == 0:
            return np.full(len(queries), -1, dtype=np.int64)
        starts, padded = self._buckets()
        shift = np.uint64(64 - (len(starts) - 1).bit_length() + 1)
        bucket = (queries >> shift).astype(np.intp)
        out = starts[bucket]
        missed = np.flatnonzero(padded[out] != queries)
        if len(missed) == 0:
            return out
        # Not the first key of its bucket: try the bucket's other keys (rarely more than two).
        first = out[missed]
        stop = starts[bucket[missed] + 1]
        wanted = queries[missed]
        found = np.full(len(missed), -1, dtype=np.int64)
        active = np.flatnonzero(first + 1 < stop)
        step = 1
        while len(active):
            at = first[active] + step
            equal = padded[at] == wanted[active]
            found[active[equal]] = at[equal]
            active = active[~equal & (at + 1 < stop[active])]
            step += 1
        out[missed] = found
        return out

    def entries(self, texts: Sequence[str]) -> tuple[I64, npt.NDArray[np.int32], F64]:
        """``(row, column, count)`` of every in-vocabulary n-gram, sorted by row then column."""
        keys, valid, docs = self.keys_of(texts)
        found_keys = keys[valid]
        found_docs = np.broadcast_to(docs, valid.shape)[valid]
        where = self.lookup(found_keys)
        hit = where >= 0
        combined = found_docs[hit] * np.int64(self.n_columns) + self.columns[where[hit]]
        combined.sort()
        if len(combined) == 0:
            return combined, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float64)
        first = np.flatnonzero(np.concatenate(([True], combined[1:] != combined[:-1])))
        counts = np.diff(np.append(first, len(combined))).astype(np.float64)
        unique = combined[first]
        rows = unique // self.n_columns
        cols = (unique - rows * self.n_columns).astype(np.int32)
        return rows, cols, counts

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Term counts ``[len(texts), n_columns]`` with sorted, summed entries."""
        rows, cols, counts = self.entries(texts)
        return self._csr(rows, cols, counts, len(texts))

    def _csr(self, rows: I64, cols: npt.NDArray[np.int32], data: F64, n: int) -> sparse.csr_matrix:
        indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n))))
        return sparse.csr_matrix((data, cols, indptr), shape=(n, self.n_columns))

    def weights(self, texts: Sequence[str]) -> tuple[I64, npt.NDArray[np.int32], F64]:
        """:meth:`tfidf` as ``(row, column, value)`` entries sorted by row then column."""
        rows, cols, counts = self.entries(texts)
        data = np.log(counts)
        data += 1.0
        data *= self.idf[cols]
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(texts)))
        data /= norms[rows]
        return rows, cols, data

    def tfidf(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Sublinear tf x idf, l2-normalised per row, as scikit-learn's ``TfidfVectorizer``."""
        return self._csr(*self.weights(texts), len(texts))


def _vocabulary_keys(block: CompiledBlock, terms: Sequence[str]) -> tuple[U64, I64]:
    """The key of each vocabulary term as the scorer computes it, and which terms have one.

    Terms the analyzer can never produce (a word "n-gram" that does not tokenise into exactly
    its own tokens) get no key: they could never be counted by scikit-learn either.
    """
    low, high = block.ngram_range
    if block.analyzer == "char_wb":
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        usable = np.flatnonzero((lengths >= 1) & (lengths <= high))
        kept = [terms[t] for t in usable.tolist()]
        cps, _ = _codepoints(kept)
        sizes = lengths[usable]
        starts = np.cumsum(sizes + 1) - (sizes + 1)
        weights = _WEIGHTS(block.seed, high)
        keys = _segment_hashes(cps.astype(np.uint64) + np.uint64(1), starts, sizes, weights)
        return keys, usable
    # A word term is an n-gram when it is its own tokens joined by single spaces.
    sizes = np.fromiter(
        (
            len(tokens) if " ".join(tokens) == term else 0
            for term in terms
            for tokens in (_TOKEN_PATTERN.findall(term),)
        ),
        dtype=np.int64,
        count=len(terms),
    )
    usable = np.flatnonzero((sizes >= low) & (sizes <= high))
    kept = [terms[t] for t in usable.tolist()]
    cps, docs = _codepoints(kept)
    hashes, token_docs = _tokens(cps, docs, block.seed)
    keys, valid = _word_keys(hashes, token_docs, (1, high))
    first_token = np.cumsum(sizes[usable]) - sizes[usable]
    size_row = sizes[usable] - 1
    if not bool(valid[size_row, first_token].all()):
        raise ValueError("word vocabulary tokenises differently from the token pattern")
    return keys[size_row, first_token], usable


def compile_block(
    analyzer: str,
    ngram_range: tuple[int, int],
    vocabulary: Mapping[str, int],
    idf: npt.ArrayLike,
    coef: npt.ArrayLike,
) -> CompiledBlock:
    """Compile one fitted ``TfidfVectorizer`` block (vocabulary, idf) and its coefficients.

    Parameters
    ----------
    analyzer
        ``"word"`` (token pattern ``(?u)\\b\\w+\\b``) or ``"char_wb"``.
    ngram_range
        The vectoriser's ``ngram_range``.
    vocabulary
        n-gram -> column, the vectoriser's ``vocabulary_``.
    idf
        The vectoriser's ``idf_``.
    coef
        ``[n_columns, n_labels]`` coefficients of this block's columns.

    Raises
    ------
    ValueError
        For an unsupported analyzer, or if no hash seed gives distinct keys.
    """
    if analyzer not in ("word", "char_wb"):
        raise ValueError(f"cannot compile analyzer {analyzer!r}; expected 'word' or 'char_wb'")
    terms = sorted(vocabulary, key=vocabulary.__getitem__)
    columns_of_terms = np.fromiter((vocabulary[t] for t in terms), dtype=np.int64, count=len(terms))
    idf32 = np.asarray(idf, dtype=np.float32)
    coef32 = np.ascontiguousarray(np.asarray(coef, dtype=np.float32))
    if coef32.shape[0] != len(idf32) or len(idf32) != len(terms):
        raise ValueError(
            f"{analyzer} block: {len(terms)} terms, {len(idf32)} idf values and "
            f"{coef32.shape[0]} coefficient rows must agree"
        )
    names = np.frombuffer("".join(terms).encode("utf-8"), dtype=np.uint8)
    name_offsets = np.concatenate(([0], np.cumsum([len(t) for t in terms]))).astype(np.int64)
    for seed in range(MAX_SEEDS):
        probe = CompiledBlock(
            analyzer,
            (int(ngram_range[0]), int(ngram_range[1])),
            seed,
            np.zeros(0, dtype=np.uint64),
            np.zeros(0, dtype=np.int32),
            idf32,
            coef32,
            names,
            name_offsets,
        )
        keys, which = _vocabulary_keys(probe, terms)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if len(keys) > 1 and bool((keys[1:] == keys[:-1]).any()):
            continue  # a collision inside the vocabulary: try the next seed
        columns = columns_of_terms[which[order]].astype(np.int32)
        return CompiledBlock(
            probe.analyzer,
            probe.ngram_range,
            seed,
            keys,
            columns,
            idf32,
            coef32,
            names,
            name_offsets,
        )
    raise ValueError(f"{analyzer} block: no hash seed in 0..{MAX_SEEDS - 1} is collision-free")


@dataclass(frozen=True)
class CompiledModel:
    """Word and character blocks plus intercepts: the whole model as arrays.

    :meth:`logits` gives the same log-odds as the scikit-learn pipeline (normalisation, both
    TF-IDF blocks, one logistic regression per label).
    """

    labels: tuple[str, ...]
    blocks: tuple[CompiledBlock, ...]
    intercept: F64
    _coef64: list[F64] = field(default_factory=list, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_coef64": []}

    def coef64(self) -> F64:
        """All coefficients ``float64 [n_features, n_labels]``, blocks stacked (built once)."""
        if not self._coef64:
            self._coef64.append(np.vstack([block.coef64() for block in self.blocks]))
        return self._coef64[0]

    def coef_column(self, label: int) -> F64:
        """The coefficients of one label over all features."""
        column: F64 = self.coef64()[:, label]
        return column

    def logits(self, texts: Sequence[str], *, normalized: bool = False) -> F64:
        """Log-odds ``float64 [len(texts), n_labels]``.

        Parameters
        ----------
        texts
            Strings. Unless ``normalized``, each goes through
            :func:`moderation.normalize.normalize_text` first (once per distinct text).
        normalized
            The texts are already normalised.
        """
        out = np.empty((len(texts), len(self.labels)), dtype=np.float64)
        for start, stop in _chunks(texts):
            out[start:stop] = self._logits_chunk(texts[start:stop], normalized)
        return out

    def _logits_chunk(self, texts: Sequence[str], normalized: bool) -> F64:
        docs = list(texts) if normalized else _normalize_all(texts)
        out = np.tile(self.intercept, (len(docs), 1))
        for block in self.blocks:
            out += block.tfidf(docs) @ block.coef64()
        return out

    def tfidf(self, texts: Sequence[str], *, normalized: bool = False) -> sparse.csr_matrix:
        """The feature matrix of the scikit-learn ``FeatureUnion`` (blocks side by side)."""
        docs = list(texts) if normalized else _normalize_all(texts)
        n_features = sum(block.n_columns for block in self.blocks)
        if not docs:
            return sparse.csr_matrix((0, n_features), dtype=np.float64)
        # Each chunk's entries of every block, ordered by row: a stable sort of the rows (two or
        # more ascending runs, merged in linear time) keeps each row's entries block by block,
        # the columns of later blocks shifted past the earlier ones.
        per_row: list[I64] = []  # entries per row, chunk by chunk (the rows themselves go)
        cols: list[npt.NDArray[np.int32]] = []
        data: list[F64] = []
        for start, stop in _chunks(docs):
            offset = 0
            parts = []
            for block in self.blocks:
                r, c, d = block.weights(docs[start:stop])
                parts.append((r, c + np.int32(offset), d))
                offset += block.n_columns
            chunk_rows = np.concatenate([p[0] for p in parts])
            order = np.argsort(chunk_rows, kind="stable")
            per_row.append(np.bincount(chunk_rows, minlength=stop - start))
            cols.append(np.concatenate([p[1] for p in parts])[order])
            data.append(np.concatenate([p[2] for p in parts])[order])
            del parts, chunk_rows, order
        indptr = np.concatenate(([0], np.cumsum(np.concatenate(per_row))))
        values = np.concatenate(data)
        del data
        indices = np.concatenate(cols)
        del cols
        return sparse.csr_matrix((values, indices, indptr), shape=(len(docs), n_features))

    # ------------------------------------------------------------------ storage

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Plain arrays (no pickles) for ``numpy.savez``; :meth:`from_arrays` reverses it."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "format": np.array([COMPILED_FORMAT], dtype=np.int64),
            "labels": np.array(self.labels, dtype=np.str_),
            "intercept": self.intercept.astype(np.float64),
            "analyzers": np.array([b.analyzer for b in self.blocks], dtype=np.str_),
        }
        for k, block in enumerate(self.blocks):
            arrays[f"b{k}_meta"] = np.array(
                [block.ngram_range[0], block.ngram_range[1], block.seed], dtype=np.int64
            )
            arrays[f"b{k}_keys"] = block.keys
            arrays[f"b{k}_columns"] = block.columns
            arrays[f"b{k}_idf"] = block.idf
            arrays[f"b{k}_coef"] = block.coef
            arrays[f"b{k}_names"] = block.names
            arrays[f"b{k}_name_offsets"] = block.name_offsets
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> CompiledModel:
        """Rebuild from :meth:`to_arrays` output; ``ValueError`` names what is missing or wrong."""
        try:
            found = int(arrays["format"][0])
            if found != COMPILED_FORMAT:
                raise ValueError(
                    f"compiled arrays have format {found}, this version reads {COMPILED_FORMAT}"
                )
            labels = tuple(str(x) for x in arrays["labels"])
            intercept = np.asarray(arrays["intercept"], dtype=np.float64)
            blocks = []
            for k, analyzer in enumerate(arrays["analyzers"]):
                low, high, seed = (int(x) for x in arrays[f"b{k}_meta"])
                block = CompiledBlock(
                    str(analyzer),
                    (low, high),
                    seed,
                    np.asarray(arrays[f"b{k}_keys"], dtype=np.uint64),
                    np.asarray(arrays[f"b{k}_columns"], dtype=np.int32),
                    np.asarray(arrays[f"b{k}_idf"], dtype=np.float32),
                    np.asarray(arrays[f"b{k}_coef"], dtype=np.float32),
                    np.asarray(arrays[f"b{k}_names"], dtype=np.uint8),
                    np.asarray(arrays[f"b{k}_name_offsets"], dtype=np.int64),
                )
                if block.coef.shape != (block.n_columns, len(labels)):
                    raise ValueError(
                        f"block {k} ({analyzer}): coefficients {block.coef.shape} do not match "
                        f"{block.n_columns} columns x {len(labels)} labels"
                    )
                if len(block.name_offsets) != block.n_columns + 1:
                    raise ValueError(f"block {k} ({analyzer}): names do not match the columns")
                if len(block.keys) != len(block.columns):
                    raise ValueError(f"block {k} ({analyzer}): keys and columns differ in length")
                blocks.append(block)
        except KeyError as exc:
            raise ValueError(f"compiled arrays lack {exc.args[0]!r}") from exc
        if intercept.shape != (len(labels),):
            raise ValueError(f"{len(intercept)} intercepts for {len(labels)} labels")
        return cls(labels, tuple(blocks), intercept)


def _chunks(texts: Sequence[str]) -> list[tuple[int, int]]:
    """``(start, stop)`` slices of ``texts`` of about :data:`CHUNK_CHARS` characters each."""
    bounds = []
    start = 0
    while start < len(texts):
        stop, size = start, 0
        while stop < len(texts) and (size < CHUNK_CHARS or stop == start):
            size += len(texts[stop])
            stop += 1
        bounds.append((start, stop))
        start = stop
    return bounds


def _normalize_all(texts: Sequence[str]) -> list[str]:
    """:func:`normalize_text` of each text, computed once per distinct text."""
    seen: dict[str, str] = {}
    out = []
    for text in texts:
        done = seen.get(text)
        if done is None:
            done = seen[text] = normalize_text(text)
        out.append(done)
    return out


def compile_model(
    labels: Sequence[str],
    blocks: Sequence[tuple[str, tuple[int, int], Mapping[str, int], npt.ArrayLike]],
    coef: npt.ArrayLike,
    intercept: npt.ArrayLike,
) -> CompiledModel:
    """Compile a fitted model given as plain data.

    Parameters
    ----------
    labels
        Label names, the columns of ``coef``.
    blocks
        Per feature block, in ``FeatureUnion`` order: ``(analyzer, ngram_range, vocabulary,
        idf)``.
    coef
        ``[n_features, n_labels]``, rows in the union's column order.
    intercept
        ``[n_labels]``.
    """
    matrix = np.asarray(coef, dtype=np.float32)
    compiled = []
    start = 0
    for analyzer, ngram_range, vocabulary, idf in blocks:
        stop = start + len(vocabulary)
        compiled.append(compile_block(analyzer, ngram_range, vocabulary, idf, matrix[start:stop]))
        start = stop
    if start != matrix.shape[0]:
        raise ValueError(f"{matrix.shape[0]} coefficient rows for {start} features")
    return CompiledModel(
        tuple(labels), tuple(compiled), np.asarray(intercept, dtype=np.float64).reshape(-1)
    )
