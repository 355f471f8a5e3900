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

from moderation.normalize import batch_memo, normalize_all

__all__ = [
    "COMPILED_FORMAT",
    "CompiledBlock",
    "CompiledModel",
    "compile_block",
    "compile_model",
    "top_terms",
]

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
        # Each chunk's entries of every block, ordered by row and, inside a row, block by block
        # (the columns of later blocks shifted past the earlier ones): every entry's place is
        # known from the per-row counts of each block, so the blocks are scattered into place.
        per_row: list[I64] = []  # entries per row, chunk by chunk (the rows themselves go)
        cols: list[npt.NDArray[np.int32]] = []
        data: list[F64] = []
        for start, stop in _chunks(docs):
            n = stop - start
            parts = [block.weights(docs[start:stop]) for block in self.blocks]
            counts = [np.bincount(rows, minlength=n) for rows, _, _ in parts]
            in_row = np.sum(counts, axis=0)
            place = np.cumsum(in_row) - in_row  # where each row starts in the chunk
            chunk_cols = np.empty(int(in_row.sum()), dtype=np.int32)
            chunk_data = np.empty(len(chunk_cols), dtype=np.float64)
            offset = 0
            for block, (rows, block_cols, values), count in zip(
                self.blocks, parts, counts, strict=True
            ):
                # Entry e of row r goes to place[r] + (e - first entry of r in this block).
                shift = place - (np.cumsum(count) - count)
                at = shift[rows] + np.arange(len(rows), dtype=np.int64)
                chunk_cols[at] = block_cols + np.int32(offset)
                chunk_data[at] = values
                place += count
                offset += block.n_columns
            per_row.append(in_row)
            cols.append(chunk_cols)
            data.append(chunk_data)
            del parts, counts
        indptr = np.concatenate(([0], np.cumsum(np.concatenate(per_row))))
        values = np.concatenate(data)
        del data
        indices = np.concatenate(cols)
        del cols
        matrix = sparse.csr_matrix((values, indices, indptr), shape=(len(docs), n_features))
        memo = self._memo()
        if memo is not None:  # inside normalize.memoized(): remember each text's log-odds
            for doc, row in zip(docs, self._product(matrix), strict=True):
                memo[doc] = row
        return matrix

    def _memo(self) -> dict[Any, Any] | None:
        """Normalised text -> log-odds, for the current batch (see :meth:`doc_logits`)."""
        memo = batch_memo(f"logits:{id(self)}")
        if memo is not None:
            memo.setdefault(None, self)  # holds this model, so its id is not reused meanwhile
        return memo

    def _product(self, matrix: sparse.csr_matrix) -> F64:
        """Log-odds of the rows of a :meth:`tfidf` matrix: the union's product, then intercepts.

        The arithmetic of ``HostilityModel`` scoring (one product over both blocks, in float64),
        so the figures are the same whichever of the two computed them.
        """
        out: F64 = np.asarray(matrix @ self.coef64(), dtype=np.float64)
        out += self.intercept
        return out

    def doc_logits(self, texts: Sequence[str]) -> F64:
        """Log-odds ``[len(texts), n_labels]`` of each text, as scoring its :meth:`tfidf` row gives.

        Inside :func:`moderation.normalize.memoized` (a ``Moderator.score`` call), texts whose
        normal form was already vectorised in the batch (scoring put them there) are not
        vectorised again.
        """
        docs = _normalize_all(texts)
        out = np.empty((len(docs), len(self.labels)), dtype=np.float64)
        memo = self._memo() or {}
        missing: dict[str, list[int]] = {}
        for i, doc in enumerate(docs):
            row = memo.get(doc)
            if row is None:
                missing.setdefault(doc, []).append(i)
            else:
                out[i] = row
        if missing:
            computed = self._product(self.tfidf(list(missing), normalized=True))
            for rows, value in zip(missing.values(), computed, strict=True):
                out[rows] = value
        return out

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
    return normalize_all(texts)


#: :func:`top_terms` handles this many (row, label) queries at a time (bounds temporary memory).
TERM_QUERIES = 2048


def _ranges(starts: I64, lengths: I64) -> I64:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``, vectorised."""
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths
    out: I64 = np.arange(total, dtype=np.int64) + np.repeat(starts - first, lengths)
    return out


def _sorted_unique(values: I64) -> I64:
    """``np.unique(values)`` by sorting: NumPy 2's hashed ``unique`` took 50x longer on the
    few hundred thousand keys of an explanation chunk (0.14 s against 3 ms)."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    out: I64 = ordered[keep]
    return out


def _word_grams(block: CompiledBlock, words: Sequence[str]) -> tuple[I64, I64]:
    """For each word, the ``char_wb`` columns of ``block`` inside `` word `` (CSR: indptr, cols).

    A word holds no whitespace, so its n-grams are exactly those of its padded form; each
    column is listed once per word, in increasing order.
    """
    if not words:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys, valid, docs = block.keys_of(words)
    found = keys[valid]
    owners = np.broadcast_to(docs, valid.shape)[valid]
    where = block.lookup(found)
    hit = where >= 0
    pairs = _sorted_unique(owners[hit] * np.int64(block.n_columns) + block.columns[where[hit]])
    word_of = pairs // block.n_columns
    indptr = np.concatenate(([0], np.cumsum(np.bincount(word_of, minlength=len(words)))))
    return indptr.astype(np.int64), pairs - word_of * block.n_columns


def top_terms(
    model: CompiledModel,
    matrix: sparse.csr_matrix,
    queries: Sequence[tuple[int, int]],
    words: Mapping[int, Sequence[str]],
    k: int,
) -> list[list[tuple[str, float]]]:
    """The terms that push each queried score up most, from a feature matrix of ``model``.

    Parameters
    ----------
    model
        The compiled model whose columns ``matrix`` has (blocks side by side).
    matrix
        TF-IDF rows (:meth:`CompiledModel.tfidf`, or the scikit-learn union's).
    queries
        ``(row, label index)`` pairs to explain.
    words
        For every queried row, the distinct ``\\w+`` words of its normalised text in order of
        first appearance.
    k
        Terms per query at most.

    Returns
    -------
    list
        Per query, up to ``k`` ``(term, contribution)`` pairs with a positive contribution,
        largest first (ties by term), rounded to 6 digits. A term's contribution is the sum
        of tf-idf x coefficient over the columns behind it: a word n-gram column counts for
        its own n-gram; a character n-gram column is shared equally among the row's words
        whose padded form holds it (so a moderator reads "idiot", not "idi").

    Notes
    -----
    The sums are accumulated column by column in increasing column order and, within a
    character column, word by word -- the order of a plain loop over the row's entries --
    so the figures are exactly those of such a loop, not just close to them.
    """
    out: list[list[tuple[str, float]]] = []
    for start in range(0, len(queries), TERM_QUERIES):
        out.extend(_top_terms_chunk(model, matrix, queries[start : start + TERM_QUERIES], words, k))
    return out


def _top_terms_chunk(
    model: CompiledModel,
    matrix: sparse.csr_matrix,
    queries: Sequence[tuple[int, int]],
    words: Mapping[int, Sequence[str]],
    k: int,
) -> list[list[tuple[str, float]]]:
    if not queries:
        return []
    query_rows = np.fromiter((r for r, _ in queries), dtype=np.int64, count=len(queries))
    query_labels = np.fromiter((j for _, j in queries), dtype=np.int64, count=len(queries))
    indptr = np.asarray(matrix.indptr, dtype=np.int64)
    lengths = indptr[query_rows + 1] - indptr[query_rows]
    entry = _ranges(indptr[query_rows], lengths)
    query_of = np.repeat(np.arange(len(queries), dtype=np.int64), lengths)
    cols = matrix.indices[entry].astype(np.int64)  # not the whole matrix's indices per chunk
    values = matrix.data[entry] * model.coef64()[cols, query_labels[query_of]]
    keep = values != 0.0
    query_of, cols, values = query_of[keep], cols[keep], values[keep]

    # The distinct words of the queried rows, and each row's words as global word ids.
    word_id: dict[str, int] = {}
    row_words: dict[int, list[int]] = {}
    for row in dict.fromkeys(query_rows.tolist()):
        row_words[row] = [word_id.setdefault(w, len(word_id)) for w in words[row]]
    vocabulary = list(word_id)

    # Every entry becomes one or more (term, value) contributions, in entry order.
    n_shares = np.zeros(len(cols), dtype=np.int64)  # contributions per entry
    offset = 0
    name_terms: list[str] = []
    name_pos = np.full(len(cols), -1, dtype=np.int64)  # word n-gram entries: index in name_terms
    owner_lists: list[tuple[I64, I64, I64]] = []  # char entries: (entry, first, count) into owners
    owner_words: list[I64] = []
    owner_base = 0
    for block in model.blocks:
        inside = np.flatnonzero((cols >= offset) & (cols < offset + block.n_columns))
        local = cols[inside] - offset
        if block.analyzer == "word":
            used, position = np.unique(local, return_inverse=True)
            names = block.column_names()
            name_pos[inside] = len(name_terms) + position
            name_terms.extend(names[c] for c in used.tolist())
            n_shares[inside] = 1
        else:
            grams_ptr, grams = _word_grams(block, vocabulary)
            # (row, column, word) for every word of every queried row and every gram it holds;
            # sorted by (row, column) with the row's word order kept inside each pair.
            rows_list = list(row_words)
            word_rows = np.repeat(
                np.asarray(rows_list, dtype=np.int64),
                [len(row_words[r]) for r in rows_list],
            )
            word_ids = np.asarray(
                [w for r in rows_list for w in row_words[r]], dtype=np.int64
            ).reshape(-1)
            counts = grams_ptr[word_ids + 1] - grams_ptr[word_ids]
            triple_gram = grams[_ranges(grams_ptr[word_ids], counts)]
            triple_row = np.repeat(word_rows, counts)
            triple_word = np.repeat(word_ids, counts)
            triple_key = triple_row * np.int64(block.n_columns) + triple_gram
            order = np.argsort(triple_key, kind="stable")
            triple_key, triple_word = triple_key[order], triple_word[order]
            wanted = query_rows[query_of[inside]] * np.int64(block.n_columns) + local
            first = np.searchsorted(triple_key, wanted, side="left")
            stop = np.searchsorted(triple_key, wanted, side="right")
            n_shares[inside] = stop - first
            owner_lists.append((inside, first + owner_base, stop - first))
            owner_words.append(triple_word)
            owner_base += len(triple_word)
        offset += block.n_columns

    # Terms: word n-gram names and words, ids in sorted order (ties rank by the term).
    terms = sorted(set(name_terms).union(vocabulary))
    term_of = {t: i for i, t in enumerate(terms)}
    name_ids = np.fromiter((term_of[t] for t in name_terms), dtype=np.int64, count=len(name_terms))
    vocab_ids = np.fromiter((term_of[t] for t in vocabulary), dtype=np.int64, count=len(vocabulary))
    all_owner_words = np.concatenate(owner_words) if owner_words else np.zeros(0, np.int64)

    expanded = np.repeat(np.arange(len(cols), dtype=np.int64), n_shares)
    share_first = np.cumsum(n_shares) - n_shares  # where each entry's contributions start
    term_ids = np.empty(len(expanded), dtype=np.int64)
    named = np.flatnonzero(name_pos >= 0)
    term_ids[share_first[named]] = name_ids[name_pos[named]]
    for inside, first, count in owner_lists:
        slots = _ranges(share_first[inside], count)
        term_ids[slots] = vocab_ids[all_owner_words[_ranges(first, count)]]
    shares = values[expanded] / n_shares[expanded]

    key = query_of[expanded] * np.int64(len(terms)) + term_ids
    groups, inverse = np.unique(key, return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=shares, minlength=len(groups))
    positive = np.flatnonzero(sums > 0)
    group_query = groups[positive] // len(terms)
    group_term = groups[positive] - group_query * len(terms)
    group_sum = sums[positive]
    order = np.lexsort((group_term, -group_sum, group_query))
    group_query, group_term, group_sum = group_query[order], group_term[order], group_sum[order]
    starts = np.searchsorted(group_query, group_query, side="left")
    top = np.flatnonzero(np.arange(len(group_query)) - starts < k)
    result: list[list[tuple[str, float]]] = [[] for _ in queries]
    for q, t, value in zip(
        group_query[top].tolist(), group_term[top].tolist(), group_sum[top].tolist(), strict=True
    ):
        result[q].append((terms[t], round(value, 6)))
    return result


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
