"""One comment at a time, without pandas: the fast path of ``Moderator.score_one``.

A comment system calls ``score_one`` on every new comment, so one call must cost microseconds,
not the milliseconds of building data frames and running the batch pipeline for one row. This
module computes, for a comment scored on its own (no parent, no article), exactly what
``Moderator.score`` computes for a one-row export:

- **features**: scikit-learn's ``word`` / ``char_wb`` analyzers in plain Python (for one short
  text, slicing strings is several times faster than the vectorised hashing of
  :mod:`moderation.fastscore`, whose fixed cost per call is built for batches), and the
  bundle's compiled vocabularies, looked up all at once per comment through Python's ``hash``
  of each n-gram (:class:`_HashIndex`: one NumPy lookup instead of a hundred dictionary
  lookups that each miss the CPU caches). The occurrences of a text and its sentences are
  counted together by one sort of their columns; a text that is its sentences joined by
  spaces reuses their n-grams. Sublinear tf, idf and the per-block l2 norm follow the
  ``TfidfVectorizer``.
- **scores**: whole text and best sentence combined by the model's ``sentence_weight`` and
  calibrated, as :meth:`moderation.model.HostilityModel.combine`;
- **facts**: what thread context, dynamics and signals give a lone comment (depth 0, no parent,
  no article, no author), as a plain mapping;
- **rules**: :func:`moderation.rules.decide`, the one-record form of ``apply_rules``, with
  each condition specialised once to what all lone comments share (a call tests a few
  scores), and the reasons worded when first read (``LoneComment.decision``);
- **explanations** of the flagged labels (terms, sentence and word spans) and the words quoted
  in the reasons, computed when the result's explanation is first read
  (``moderation.moderator.ScoredComment``) from the same arrays as
  ``HostilityModel.top_terms_map`` and ``span_map`` compute them, so that a toxic comment does
  not pull in the full model either.

Words recur from comment to comment, so each word's character n-gram columns and each word's
scores (for word spans) are remembered, up to :data:`WORD_CACHE` words each. A text with no
sentence break skips sentence splitting (:func:`_one_sentence`).

Rules that test what this path does not compute (links, mentions, capitals, or a column a
one-row export would not have) make ``score_one`` take the frame path instead, so the decision
is the same either way; ``tests/test_single.py`` checks the parity on real and generated texts.
"""

from __future__ import annotations

import itertools
import math
import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import repeat
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from moderation import contract
from moderation.calibration import Calibration, apply_calibration
from moderation.conditions import COMPARISONS, All, Any_, Condition, InSet, Not, Range
from moderation.contract import Span
from moderation.normalize import normalize_text, normalize_with_offsets, split_sentences
from moderation.rules import (
    ALLOWED,
    Decision,
    Rule,
    Rules,
    by_priority,
    decide,
    resolve_precision,
    verdict,
)

if TYPE_CHECKING:
    from moderation.bundle import Bundle

__all__ = [
    "CACHED_WORD_CHARS",
    "COMMENT_ID",
    "EXPLAIN_AT",
    "TERMS_PER_LABEL",
    "THREAD_ID",
    "WORD_CACHE",
    "WORD_THRESHOLD",
    "LoneComment",
    "SingleScorer",
    "Span",
    "TextScorer",
    "evidence_labels",
    "quote_evidence",
]

#: How many n-grams to quote in a reason.
TERMS_PER_LABEL = 3
#: Scores from which a reason quotes its evidence.
EXPLAIN_AT = 0.5
#: The ids ``score_one`` gives its comment (rules may scope on them).
COMMENT_ID = "comment"
THREAD_ID = "t"

F64 = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: A word is part of a word-level span when its own score reaches this (model.WORD_THRESHOLD).
WORD_THRESHOLD = 0.7
#: Words of a normalised text, as explanations and spans split it.
_WORD = re.compile(r"\w+")
#: scikit-learn's default token pattern (the word block's).
_TOKEN = re.compile(r"(?u)\b\w+\b")
#: Facts a lone comment has that this path does not compute: the frame path answers rules on them.
_NOT_COMPUTED = frozenset({contract.LINKS, contract.MENTIONS, contract.CAPS_RATIO})
#: Text facts (a scope compares them as written; numbers it would compare as pandas prints them).
_TEXT_FACTS = frozenset(
    {
        contract.COMMENT_ID,
        contract.THREAD_ID,
        contract.TEXT,
        contract.AUTHOR,
        contract.PROBLEMS,
        contract.PARENT_TEXT,
        contract.ROOT_ID,
        contract.ROOT_TEXT,
        contract.THREAD_PATH,
        contract.ARTICLE_TITLE,
        contract.ARTICLE_BODY,
        contract.ARTICLE_AUTHOR,
        contract.DERAILED_AT,
    }
)


_NO_COLUMNS: IntArray = np.zeros(0, dtype=np.intp)
#: Bytes per column in the byte strings of columns.
_INTP = _NO_COLUMNS.itemsize

#: Words whose character n-gram columns (and scores) are remembered: most words of a comment
#: were seen before. Words longer than :data:`CACHED_WORD_CHARS` are not, so that the memory
#: stays bounded (a few tens of MB) whatever the comments.
WORD_CACHE = 50_000
CACHED_WORD_CHARS = 40


class _WordColumns(dict[str, bytes]):
    """char_wb: word -> the columns of its n-grams (n-grams never cross a word), as the bytes
    of an ``intp`` array: a comment's occurrences are one ``bytes.join`` of its words', several
    times faster than concatenating dozens of small arrays. An n-gram outside the vocabulary
    counts in :attr:`miss` (``TextScorer.miss``), which adds nothing, as the word block's.

    A word not seen yet is looked up on access (``__missing__``) and remembered when it is
    no longer than :data:`CACHED_WORD_CHARS`; the cache is emptied at :data:`WORD_CACHE`
    words, so that its memory stays bounded whatever the comments.
    """

    def __init__(self, vocabulary: dict[str, int], low: int, high: int) -> None:
        super().__init__()
        self.vocabulary, self.low, self.high = vocabulary, low, high
        #: The column of n-grams outside the vocabulary (set by ``TextScorer``).
        self.miss = -1
        #: Per padded length: the slices of its n-grams (:func:`_char_cuts`).
        self.cuts: dict[int, list[slice]] = {}

    def __missing__(self, word: str) -> bytes:
        # Slicing and looking up in C (map): for a new word, these lookups are most of its cost.
        found = map(self.vocabulary.get, self.grams(word), repeat(self.miss))
        hits = np.array(list(found), dtype=np.intp).tobytes()
        self.remember(word, hits)
        return hits

    def grams(self, word: str) -> list[str]:
        """The n-grams of ``word``, as :func:`_char_grams` gives them."""
        padded = f" {word} "
        cuts = self.cuts.get(len(padded))
        if cuts is None:
            cuts = self.cuts[len(padded)] = _char_cuts(len(padded), self.low, self.high)
        return list(map(padded.__getitem__, cuts))

    def remember(self, word: str, hits: bytes) -> None:
        """Keep the columns of ``word`` if it is short enough (emptying a full cache first)."""
        if len(word) <= CACHED_WORD_CHARS:
            if len(self) >= WORD_CACHE:
                self.clear()
            self[word] = hits


@dataclass(frozen=True)
class _Block:
    """One TF-IDF block: its analyzer, n-gram range and vocabulary (n-gram -> global column)."""

    analyzer: str
    low: int
    high: int
    vocabulary: dict[str, int]
    #: char_wb: the columns of each word's n-grams (remembered).
    words: _WordColumns = field(repr=False, compare=False)

    def word_columns(self, word: str) -> IntArray:
        """char_wb: the columns of the n-grams of one whitespace-free word (remembered)."""
        return np.frombuffer(self.words[word], dtype=np.intp)

    def gram_columns(self, tokens: list[str], miss: int) -> list[int]:
        """word: the column of each n-gram of ``tokens`` (``miss`` outside the vocabulary)."""
        grams = _token_grams(tokens, self.low, self.high)
        return list(map(self.vocabulary.get, grams, repeat(miss)))


def _word_grams(doc: str, low: int, high: int) -> list[str]:
    """scikit-learn's ``word`` analyzer: tokens, then their n-grams joined by single spaces."""
    return _token_grams(_TOKEN.findall(doc), low, high)


def _token_grams(tokens: list[str], low: int, high: int) -> list[str]:
    """The ``low``..``high``-grams of ``tokens`` as scikit-learn joins them (by length)."""
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams += map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False))
    return grams


def _char_cuts(size: int, low: int, high: int) -> list[slice]:
    """The slices of a padded word of ``size`` characters that :func:`_char_grams` takes."""
    cuts: list[slice] = []
    for n in range(low, high + 1):
        if size <= n:
            cuts.append(slice(0, size))
            break
        cuts += [slice(i, i + n) for i in range(size - n + 1)]
    return cuts


def _char_grams(doc: str, low: int, high: int) -> list[str]:
    """scikit-learn's ``char_wb`` analyzer: n-grams of each space-padded word.

    A padded word no longer than ``n`` is one n-gram on its own, counted once.
    """
    grams: list[str] = []
    for word in doc.split():
        padded = f" {word} "
        size = len(padded)
        for n in range(low, high + 1):
            if size <= n:
                grams.append(padded)
                break
            grams += [padded[i : i + n] for i in range(size - n + 1)]
    return grams


#: Mixed into the hash of a character n-gram: a word n-gram and a character n-gram written
#: alike are different columns, so they get different keys in the one :class:`_HashIndex`.
_CHAR_SALT = np.uint64(0x9E3779B97F4A7C15)

#: Mixed into the hash of a string stored with 2 or 4 bytes per character. CPython hashes a
#: string's stored bytes, so "dt" (1 byte per character: 0x64 0x74) and "\u7464" (2 bytes:
#: 0x64 0x74) have the same ``hash``; salting by storage width keeps such pairs apart.
_WIDE_SALTS = {2: np.uint64(0xC2B2AE3D27D4EB4F), 4: np.uint64(0x165667B19E3779F9)}


def _string_hashes(strings: Sequence[str], count: int) -> npt.NDArray[np.uint64]:
    """Python's ``hash`` of each string as unsigned 64-bit keys, salted by storage width.

    Most n-grams are ASCII (checked in C by ``str.isascii``); only the others pay for finding
    their widest character.
    """
    keys = np.fromiter(map(hash, strings), dtype=np.int64, count=count).view(np.uint64)
    ascii_ = np.fromiter(map(str.isascii, strings), dtype=bool, count=count)
    if not ascii_.all():
        for i in (~ascii_).nonzero()[0].tolist():
            widest = ord(max(strings[i]))
            if widest > 0xFF:
                keys[i] ^= _WIDE_SALTS[2 if widest <= 0xFFFF else 4]
    return keys


class _HashIndex:
    """n-gram -> column through the n-gram's hash, for all the n-grams of a comment at once.

    A vocabulary of hundreds of thousands of strings does not stay in the CPU caches, so each
    dictionary lookup costs several memory reads one after the other; a comment needs about a
    hundred (its word n-grams and the character n-grams of its new words). Here Python's
    ``hash`` of each n-gram goes through a direct-mapped index over the sorted hashes of the
    vocabulary (as :meth:`moderation.fastscore.CompiledBlock.lookup`), in a few NumPy calls
    whose reads overlap. Python seeds ``hash`` per process, so the index is built at load
    (~25 ms for 250k n-grams, whose hashes the vocabularies already hold).

    The vocabulary's hashes are checked distinct (:meth:`build` gives None otherwise, and the
    dictionaries answer): every n-gram of the vocabulary finds its own column. An n-gram outside
    it could only be counted if its 64-bit key equalled one of the vocabulary's: about one
    chance in 10^14 per n-gram, as in the compiled engine (:mod:`moderation.fastscore`), once
    keys are salted by the strings' storage width (:func:`_string_hashes`; CPython's ``hash``
    alone makes "dt" and "\u7464" equal).
    """

    def __init__(
        self, ordered: npt.NDArray[np.uint64], order: IntArray, miss: int, bits: int
    ) -> None:
        """The index of keys ``ordered`` (sorted, distinct), of columns ``order``."""
        # Padded with the largest 64-bit number, whose column is ``miss``: an empty last bucket
        # points there, and a scan of a bucket stops there at the latest.
        self.keys = np.append(ordered, np.uint64(2**64 - 1))
        self.columns = np.append(order, miss).astype(np.intp)
        self.shift = np.uint64(64 - bits)
        sizes = np.bincount((ordered >> self.shift).astype(np.intp), minlength=1 << bits)
        self.starts = np.zeros(len(sizes) + 1, dtype=np.intp)
        np.cumsum(sizes, out=self.starts[1:])
        self.miss = miss

    @classmethod
    def build(
        cls, blocks: Sequence[tuple[str, list[str]]], miss: int, spare_bits: int = 3
    ) -> _HashIndex | None:
        """The index of blocks' n-grams (in column order), or None when two hashes are equal.

        About ``2 ** spare_bits`` buckets per n-gram: with 8 to 16 (16 MB of bucket starts
        for 250k n-grams), most queries are settled by the first key of their bucket
        (measured faster than 4 to 8, or than 16 to 32 with 32-bit starts).
        """
        total = sum(len(names) for _, names in blocks)
        if total == 0 or total >= 1 << 31:
            return None
        keys = _string_hashes([name for _, names in blocks for name in names], total)
        start = 0
        for analyzer, names in blocks:
            if analyzer == "char_wb":
                keys[start : start + len(names)] ^= _CHAR_SALT
            start += len(names)
        order = np.argsort(keys)
        ordered = keys[order]
        if bool((ordered[1:] == ordered[:-1]).any()):
            return None
        return cls(ordered, order, miss, max(1, total.bit_length() + spare_bits))

    def lookup(self, word_grams: list[str], char_grams: list[str]) -> IntArray:
        """The column of each word n-gram, then of each character n-gram (``miss``: none)."""
        queries = _string_hashes(word_grams + char_grams, len(word_grams) + len(char_grams))
        if char_grams:
            queries[len(word_grams) :] ^= _CHAR_SALT
        at = self.starts[(queries >> self.shift).astype(np.intp)]
        key = self.keys[at]
        out: IntArray = np.where(key == queries, self.columns[at], self.miss)
        # A query above the first key of its bucket may be further on (keys are sorted): a
        # few per comment, mostly settled by the next key.
        later = (key < queries).nonzero()[0]
        if len(later):
            wanted, at = queries[later], at[later] + 1
            while True:
                key = self.keys[at]
                equal = key == wanted
                out[later[equal]] = self.columns[at[equal]]
                going = key < wanted
                if not going.any():
                    break
                later, wanted, at = later[going], wanted[going], at[going] + 1
        return out


class TextScorer:
    """The bundle's hostility model over its compiled arrays, for one text at a time.

    Gives :meth:`moderation.model.HostilityModel.predict` of one text (to rounding: the sums
    run in another order).
    """

    def __init__(
        self,
        arrays: Mapping[str, npt.NDArray[Any]],
        *,
        sentence_weight: float,
        calibration: Mapping[str, Calibration] | None = None,
    ) -> None:
        self.labels = tuple(str(x) for x in arrays["labels"])
        self.sentence_weight = float(sentence_weight)
        self.calibration = dict(calibration or {})
        self.intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        blocks: list[_Block] = []
        names_of_columns: list[str] = []
        block_terms: list[tuple[str, list[str]]] = []
        idf: list[npt.NDArray[np.float32]] = []
        coef: list[npt.NDArray[np.float32]] = []
        start = 0
        for k, analyzer in enumerate(arrays["analyzers"]):
            low, high, _ = (int(x) for x in arrays[f"b{k}_meta"])
            names = arrays[f"b{k}_names"].tobytes().decode("utf-8")
            bounds = arrays[f"b{k}_name_offsets"].tolist()
            terms = [names[a:b] for a, b in itertools.pairwise(bounds)]
            block_idf = np.asarray(arrays[f"b{k}_idf"], dtype=np.float32)
            block_coef = np.asarray(arrays[f"b{k}_coef"], dtype=np.float32)
            if str(analyzer) not in ("word", "char_wb"):
                raise ValueError(f"block {k}: cannot score analyzer {analyzer!r}")
            if not len(terms) == len(block_idf) == block_coef.shape[0]:
                raise ValueError(f"block {k}: names, idf and coefficients differ in length")
            vocabulary = dict(zip(terms, range(start, start + len(terms)), strict=True))
            blocks.append(
                _Block(
                    str(analyzer),
                    low,
                    high,
                    vocabulary,
                    _WordColumns(vocabulary, low, high),
                )
            )
            names_of_columns += terms
            block_terms.append((str(analyzer), terms))
            idf.append(block_idf)
            coef.append(block_coef)
            start += len(terms)
        self.blocks = tuple(blocks)
        #: The n-gram of every column (word block first), for explanations.
        self.names = names_of_columns
        self.n_word = len(blocks[0].vocabulary) if blocks and blocks[0].analyzer == "word" else 0
        #: The column an n-gram outside the vocabulary counts in: its idf and coefficients are 0,
        #: so it adds nothing, and the word block's misses need no filtering.
        self.miss = start
        for block in blocks:
            block.words.miss = start
        #: The first column of each block (the sentinel belongs to the last one).
        self._block_starts = np.cumsum([0, *(len(b.vocabulary) for b in blocks[:-1])])
        self.idf = np.concatenate([*idf, [0.0]]).astype(np.float64)
        # Coefficients stay float32 (half the memory: fewer cache misses per call) and are
        # multiplied as float64, as the compiled engine does: the same products.
        self.coef = np.vstack([*coef, np.zeros((1, len(self.labels)), np.float32)])
        self._word = next((b for b in blocks if b.analyzer == "word"), None)
        self._chars = tuple(b.words for b in blocks if b.analyzer == "char_wb")
        self._index = _HashIndex.build(block_terms, self.miss)
        self._word_logits: dict[str, F64] = {}
        self._knots = {
            label: (found.x.tolist(), found.y.tolist()) for label, found in self.calibration.items()
        }
        self._label_knots = [self._knots.get(label) for label in self.labels]
        if len(blocks) != len({b.analyzer for b in blocks}):
            raise ValueError("more than one block of the same analyzer")
        if self.coef.shape[1] != len(self.labels) or self.intercept.shape != (len(self.labels),):
            raise ValueError("coefficients and intercepts do not match the labels")

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> TextScorer:
        """The scorer of a loaded bundle (its ``compiled.npz``, or the compiled pickled model)."""
        arrays = bundle.arrays
        if arrays is None or bundle.compiled_info is None:
            arrays = bundle.hostility.compiled().to_arrays()
        return cls(arrays, sentence_weight=bundle.sentence_weight, calibration=bundle.calibration)

    def _occurrences(self, doc: str) -> tuple[list[str], list[bytes]]:
        """A normalised text's word-block tokens, and the column of every n-gram occurrence
        (:attr:`miss` for the word n-grams outside the vocabulary) as ``intp`` bytes."""
        tokens = _TOKEN.findall(doc) if self._word is not None else []
        parts: list[bytes] = []
        if self._word is not None:
            columns = self._word.gram_columns(tokens, self.miss)
            parts.append(np.array(columns, dtype=np.intp).tobytes())
        if self._chars:
            words = doc.split()
            for known in self._chars:
                parts += map(known.__getitem__, words)
        return tokens, parts

    def _whole(self, found: list[tuple[list[str], list[bytes]]]) -> tuple[list[str], list[bytes]]:
        """:meth:`_occurrences` of the sentences joined by spaces, from theirs.

        Its tokens and words are the sentences' in turn (no token or word crosses the
        spaces), so only the word n-grams that span two sentences are new.
        """
        tokens = [token for sentence, _ in found for token in sentence]
        parts: list[bytes] = []
        if self._word is not None:
            columns = self._word.gram_columns(tokens, self.miss)
            parts.append(np.array(columns, dtype=np.intp).tobytes())
        skip = 1 if self._word is not None else 0
        for _, sentence_parts in found:
            parts += sentence_parts[skip:]
        return tokens, parts

    def _indexed(
        self, docs: Sequence[str], joined: bool, index: _HashIndex
    ) -> list[tuple[list[str], list[bytes]]]:
        """:meth:`_occurrences` of each of ``docs`` (``joined``: preceded by :meth:`_whole`),
        with one :class:`_HashIndex` lookup for the word n-grams and the character n-grams of
        the words not remembered yet, instead of a dictionary lookup per n-gram."""
        word = self._word
        chars = self._chars[0] if self._chars else None
        tokens = [_TOKEN.findall(doc) for doc in docs] if word is not None else [[] for _ in docs]
        grams: list[list[str]] = []
        if word is not None:
            grams = [_token_grams(t, word.low, word.high) for t in tokens]
            if joined:
                whole = [token for sentence in tokens for token in sentence]
                grams.insert(0, _token_grams(whole, word.low, word.high))
        # Each word's remembered columns, None for a word not seen yet.
        found = [list(map(chars.get, doc.split())) for doc in docs] if chars is not None else []
        new: dict[str, int] = {}  # new word -> where its n-grams end in char_grams
        char_grams: list[str] = []
        if chars is not None:
            for doc, doc_found in zip(docs, found, strict=True):
                if None in doc_found:
                    for w, columns in zip(doc.split(), doc_found, strict=True):
                        if columns is None and w not in new:
                            char_grams += chars.grams(w)
                            new[w] = len(char_grams)
        word_grams = list(itertools.chain.from_iterable(grams))
        looked_up = index.lookup(word_grams, char_grams)
        fresh: dict[str, bytes] = {}
        if new and chars is not None:
            grams_columns = looked_up[len(word_grams) :].tobytes()
            begin = 0
            for w, end in new.items():
                fresh[w] = grams_columns[begin * _INTP : end * _INTP]
                chars.remember(w, fresh[w])
                begin = end
        word_parts: list[bytes] = []
        if grams:
            at = 0
            joined_columns = looked_up[: len(word_grams)].tobytes()
            for g in grams:  # the slice of each part's columns
                word_parts.append(joined_columns[at : at + len(g) * _INTP])
                at += len(g) * _INTP
        out: list[tuple[list[str], list[bytes]]] = []
        for k, doc_tokens in enumerate(tokens):
            parts = [word_parts[k + joined]] if word is not None else []
            if chars is not None:
                doc_found = found[k]
                if fresh and None in doc_found:
                    doc_found = [
                        fresh[w] if c is None else c
                        for w, c in zip(docs[k].split(), doc_found, strict=True)
                    ]
                parts += cast("list[bytes]", doc_found)  # no None left
            out.append((doc_tokens, parts))
        if joined:
            skip = 1 if word is not None else 0
            whole_parts = word_parts[:1] + [p for _, ps in out for p in ps[skip:]]
            out.insert(0, ([t for ts in tokens for t in ts], whole_parts))
        return out

    def _entries(self, docs: Sequence[str]) -> tuple[list[int], IntArray, F64]:
        """The tf-idf entries of normalised texts: where each text's entries start, and per
        entry its column and its value (sublinear tf x idf, l2-normalised per text and block,
        as the ``TfidfVectorizer`` of each block), by text, then column.

        Counting is a sort of every occurrence's key (text x stride + column): for a few
        hundred occurrences, a couple of dozen NumPy calls in all instead of Python work per
        n-gram.
        """
        joined = len(docs) > 1 and docs[0] == " ".join(docs[1:])  # a text and its sentences
        if self._index is not None:
            found = self._indexed(docs[1:] if joined else docs, joined, self._index)
        else:
            found = [self._occurrences(doc) for doc in docs[1:]]
            found.insert(0, self._whole(found) if joined else self._occurrences(docs[0]))
        n, stride = len(docs), self.miss + 1
        parts = [p for _, doc_parts in found for p in doc_parts]
        keys = np.frombuffer(b"".join(parts), dtype=np.intp).copy()
        if n > 1:
            sizes = [sum(map(len, doc_parts)) // _INTP for _, doc_parts in found]
            keys += np.repeat(np.arange(0, n * stride, stride), sizes)
        if not len(keys):
            return [0] * (n + 1), _NO_COLUMNS, np.zeros(0)
        keys.sort()
        edge = np.empty(len(keys) + 1, dtype=bool)  # where a run of equal keys starts or ends
        edge[0] = edge[-1] = True
        np.not_equal(keys[1:], keys[:-1], out=edge[1:-1])
        runs = edge.nonzero()[0]
        distinct = keys[runs[:-1]]
        cols = distinct if n == 1 else distinct % stride
        values = self.idf.take(cols)
        if len(distinct) != len(keys):  # sublinear tf: 1 + log(count), 1 for the many ones
            tf = np.log(runs[1:] - runs[:-1])
            tf += 1.0
            values *= tf
        # Where each (text, block) segment starts; the sentinel column sorts into the last.
        firsts = self._block_starts
        if n > 1:
            firsts = (np.arange(0, n * stride, stride)[:, None] + firsts).ravel()
        bounds = distinct.searchsorted(firsts).tolist()
        bounds.append(len(distinct))
        for begin, end in itertools.pairwise(bounds):
            if begin < end:
                part = values[begin:end]
                squares = part.dot(part)
                if squares:  # 0 for a block of misses only
                    part /= math.sqrt(squares)
        return bounds[:: len(self.blocks)], cols, values

    def logits(self, docs: Sequence[str]) -> F64:
        """Log-odds ``[len(docs), n_labels]`` of normalised texts."""
        starts, cols, values = self._entries(docs)
        coef = self.coef.take(cols, axis=0).astype(np.float64)
        if len(docs) == 1:
            one: F64 = (values.dot(coef) + self.intercept)[None, :]
            return one
        out = np.empty((len(docs), len(self.labels)))
        out[:] = self.intercept
        for d, (begin, end) in enumerate(itertools.pairwise(starts)):
            if begin < end:
                out[d] += values[begin:end].dot(coef[begin:end])
        return out

    def scores(self, text: str) -> list[float]:
        """Calibrated scores of one text (cut to ``MAX_TEXT_CHARS``), in label order."""
        text = text[: contract.MAX_TEXT_CHARS]
        docs = [text]
        if not _one_sentence(text):
            offsets = split_sentences(text)
            if len(offsets) > 1:
                docs += [text[a:b] for a, b in offsets]
        logits = self.logits([normalize_text(doc) for doc in docs])
        whole = _logistics(logits[0].tolist())
        # Six numbers: plain floats are faster than NumPy calls on arrays this small. The best
        # sentence counts when it scores higher (``max(p_whole, p_best)``, NaN as ``max``).
        best = whole
        if len(docs) > 1:
            best = [
                b if b > a else a
                for a, b in zip(whole, _logistics(logits.max(axis=0).tolist()), strict=True)
            ]
        w = self.sentence_weight
        out = []
        for knots, p_whole, p_best in zip(self._label_knots, whole, best, strict=True):
            combined = (1.0 - w) * p_whole + w * p_best
            out.append(combined if knots is None else _interp(combined, *knots))
        return out

    # ------------------------------------------------------------------ explanations

    def vector(self, doc: str) -> tuple[IntArray, F64]:
        """A normalised text's tf-idf entries: columns in increasing order and their values."""
        _, cols, values = self._entries([doc])
        if len(cols) and cols[-1] == self.miss:  # n-grams outside the vocabulary: last
            return cols[:-1], values[:-1]
        return cols, values

    def explain(
        self,
        text: str,
        terms_for: Sequence[str],
        spans_for: Sequence[str],
        thresholds: Mapping[str, float],
        k: int = TERMS_PER_LABEL,
    ) -> tuple[dict[str, list[tuple[str, float]]], dict[str, dict[str, list[Span]]]]:
        """``HostilityModel.top_terms_map`` and ``span_map`` of one text, from these arrays.

        ``terms_for`` labels get their top ``k`` terms; ``spans_for`` labels their sentence
        and word spans at ``thresholds`` (0.5 for a label without one).
        """
        if not terms_for and not spans_for:
            return {}, {}
        text = text[: contract.MAX_TEXT_CHARS]
        memo: dict[str, tuple[tuple[npt.NDArray[np.intp], F64], F64]] = {}

        def scored(raw: str) -> tuple[tuple[npt.NDArray[np.intp], F64], F64]:
            """The vector and log-odds of a raw text, computed once per normalised form."""
            norm = normalize_text(raw)
            found = memo.get(norm)
            if found is None:
                cols, values = self.vector(norm)
                found = memo[norm] = (
                    (cols, values),
                    values @ self.coef[cols].astype(np.float64) + self.intercept,
                )
            return found

        def word_logits(word: str) -> F64:
            """The log-odds of one word (words recur across comments: remembered)."""
            found = self._word_logits.get(word)
            if found is None:
                found = scored(word)[1]
                if len(word) <= CACHED_WORD_CHARS:
                    if len(self._word_logits) >= WORD_CACHE:
                        self._word_logits.clear()
                    self._word_logits[word] = found
            return found

        terms = self._top_terms(text, terms_for, k, scored) if terms_for else {}
        spans = self._spans(text, spans_for, thresholds, scored, word_logits) if spans_for else {}
        return terms, spans

    def _top_terms(
        self, text: str, labels: Sequence[str], k: int, scored: _Scored
    ) -> dict[str, list[tuple[str, float]]]:
        """Per label: the words behind its score, from the best sentence if it beats the text.

        Word n-gram contributions (tf-idf x coefficient) count as they are; a character
        n-gram's is shared among the words of the part whose padded form holds it.
        """
        docs = [text]
        offsets = split_sentences(text) if self.sentence_weight != 0.0 else []
        if len(offsets) >= 2:
            docs += [text[a:b] for a, b in offsets]
        found = [scored(doc) for doc in docs]
        sentence_logits = np.stack([logits for _, logits in found[1:]]) if len(docs) > 1 else None
        out: dict[str, list[tuple[str, float]]] = {}
        shares: dict[int, _Shares] = {}
        for label in labels:
            j = self.labels.index(label)
            chosen = 0
            if sentence_logits is not None:
                best = 1 + int(np.argmax(sentence_logits[:, j]))
                if found[best][1][j] > found[0][1][j]:
                    chosen = best
            (cols, values), _ = found[chosen]
            if chosen not in shares:
                shares[chosen] = self._shares(docs[chosen], cols)
            terms, entry, term_of, divisor = shares[chosen]
            contrib = values * self.coef[cols, j]
            # Per term, its contributions added in column order (as the model's loop adds them).
            sums = np.bincount(term_of, weights=contrib[entry] / divisor, minlength=len(terms))
            ranked = sorted(
                ((terms[t], float(sums[t])) for t in np.flatnonzero(sums > 0).tolist()),
                key=lambda ts: (-ts[1], ts[0]),
            )
            out[label] = [(t, round(v, 6)) for t, v in ranked[:k]]
        return out

    def _shares(self, part: str, cols: npt.NDArray[np.intp]) -> _Shares:
        """Which terms each column's contribution goes to: a word n-gram to itself, a
        character n-gram shared equally among the words whose padded form holds it.

        Entries are ordered as ``HostilityModel.top_terms`` adds them up: word columns, then
        character columns, each in column order (a column's words in text order).
        """
        index: dict[str, int] = {}
        n_word = int(np.searchsorted(cols, self.n_word))
        entry = [np.arange(n_word, dtype=np.intp)]
        term_of = [
            np.fromiter(
                (index.setdefault(self.names[c], len(index)) for c in cols[:n_word].tolist()),
                dtype=np.intp,
                count=n_word,
            )
        ]
        divisor = [np.ones(n_word)]
        char = next((b for b in self.blocks if b.analyzer == "char_wb"), None)
        words = list(dict.fromkeys(_WORD.findall(normalize_text(part))))
        if char is not None and words and n_word < len(cols):
            # Each word's n-gram columns (a word has no whitespace: its char_wb n-grams are
            # those of the word alone, which the block remembers).
            held = [np.unique(np.asarray(char.word_columns(w), dtype=np.intp)) for w in words]
            pair_col = np.concatenate(held)
            pair_word = np.repeat(np.arange(len(words)), [len(h) for h in held])
            at = np.searchsorted(cols, pair_col)
            keep = (at < len(cols)) & (cols[np.minimum(at, len(cols) - 1)] == pair_col)
            at, pair_word = at[keep], pair_word[keep]
            order = np.argsort(at, kind="stable")  # by column, words in text order
            at, pair_word = at[order], pair_word[order]
            owners = np.bincount(at, minlength=len(cols))
            terms = np.fromiter(
                (index.setdefault(w, len(index)) for w in words), dtype=np.intp, count=len(words)
            )
            entry.append(at)
            term_of.append(terms[pair_word])
            divisor.append(owners[at].astype(np.float64))
        return (
            list(index),
            np.concatenate(entry),
            np.concatenate(term_of),
            np.concatenate(divisor),
        )

    def _spans(
        self,
        text: str,
        labels: Sequence[str],
        thresholds: Mapping[str, float],
        scored: _Scored,
        word_logits: Callable[[str], F64],
    ) -> dict[str, dict[str, list[Span]]]:
        """Per label: the sentences reaching its threshold, and the words inside them whose
        own score reaches :data:`WORD_THRESHOLD` (neighbours merged), in original offsets."""
        sentences = split_sentences(text)
        norm = normalize_with_offsets(text)
        tokens = [(m.group(), *norm.original_span(*m.span())) for m in _WORD.finditer(norm.text)]
        owners: list[int] = []  # the sentence of each word (-1: none), both in text order
        at = 0
        for _, begin, _ in tokens:
            while at < len(sentences) and sentences[at][1] <= begin:
                at += 1
            owners.append(at if at < len(sentences) and sentences[at][0] <= begin else -1)
        distinct = list(dict.fromkeys(t for t, _, _ in tokens))
        row = {word: r for r, word in enumerate(distinct, start=len(sentences))}
        if sentences or distinct:
            logits = np.stack(
                [scored(text[a:b])[1] for a, b in sentences] + [word_logits(w) for w in distinct]
            )
            probs = apply_calibration(_expit(logits), self.labels, self.calibration)
        else:
            probs = np.zeros((0, len(self.labels)))
        out: dict[str, dict[str, list[Span]]] = {}
        for label in labels:
            j = self.labels.index(label)
            cut = float(thresholds.get(label, 0.5))
            flagged = [float(probs[i, j]) >= cut for i in range(len(sentences))]
            sentence_spans = [
                Span(a, b, float(probs[i, j])) for i, (a, b) in enumerate(sentences) if flagged[i]
            ]
            words: list[Span] = []
            previous = -2
            for t, (token, begin, end) in enumerate(tokens):
                score = float(probs[row[token], j])
                owner = owners[t]
                if owner < 0 or not flagged[owner] or score < WORD_THRESHOLD:
                    continue
                if words and previous == t - 1:  # neighbouring words form one span
                    words[-1] = Span(words[-1].begin, end, max(words[-1].score, score))
                else:
                    words.append(Span(begin, end, score))
                previous = t
            out[label] = {"sentence": sentence_spans, "word": words}
        return out


_Scored = Callable[[str], tuple[tuple[npt.NDArray[np.intp], F64], F64]]
#: A part's terms, and per entry: the column position, the term and the share's divisor.
_Shares = tuple[list[str], npt.NDArray[np.intp], npt.NDArray[np.intp], F64]


#: What ends a sentence (``normalize._SENTENCE_BREAK``): these marks, then closing quotes and
#: brackets, then whitespace; or a line break.
_SENTENCE_MARKS = ".!?\u2026"
_SENTENCE_END = _SENTENCE_MARKS + "\"'\u201d\u2019)]"


def _one_sentence(text: str) -> bool:
    """True when ``split_sentences(text)`` certainly gives at most one sentence.

    That is when no line break is inside the stripped text and every sentence mark is in its
    final run of marks and closing quotes: a break there ends the text, so it cuts nothing.
    Most comments are one sentence, and these few string searches cost less than splitting.
    """
    body = text.strip()
    if "\n" in body:
        return False
    body = body.rstrip(_SENTENCE_END)
    return not any(mark in body for mark in _SENTENCE_MARKS)


def _logistic(x: float) -> float:
    """The logistic function of one number (``_expit`` for plain floats)."""
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:  # x below about -709: exp(-x) is inf in NumPy, so the result is 0
        return 0.0


def _logistics(xs: list[float]) -> list[float]:
    """:func:`_logistic` of each number (one ``try`` for all: called on every comment)."""
    exp = math.exp
    try:
        return [1.0 / (1.0 + exp(-x)) for x in xs]
    except OverflowError:
        return [_logistic(x) for x in xs]


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """``numpy.interp(x, xs, ys)`` for one number: linear between knots, clamped at the ends."""
    if x != x:  # NaN
        return x
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    j = bisect_right(xs, x) - 1
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    return slope * (x - xs[j]) + ys[j]


def _expit(x: F64) -> F64:
    """The logistic function, as ``moderation.model`` computes it."""
    with np.errstate(over="ignore"):
        out: F64 = 1.0 / (1.0 + np.exp(-x))
    return out


@dataclass(frozen=True)
class LoneComment:
    """What ``Moderator.score`` decides for a one-row export holding only this comment.

    ``action`` and ``priority`` are computed by the call; the full ``decision`` (with the
    reasons, whose wording costs about as much as the rest of a decision) when first read.
    """

    text: str  # as scored: undecodable characters replaced
    scores: dict[str, float]
    action: str
    priority: int
    problems: list[str]
    decide: Callable[[], Decision] = field(repr=False, compare=False)

    @cached_property
    def decision(self) -> Decision:
        """The rules' decision: action, priority, reasons and review group."""
        return self.decide()


class SingleScorer:
    """Scores and decides one comment with no parent and no article, without pandas.

    Built once per moderator; the vocabularies (a few tens of milliseconds) only when the
    rules are ``supported``.
    """

    def __init__(self, bundle: Bundle, rules: Rules) -> None:
        self.bundle = bundle
        resolved = resolve_precision(rules, bundle.precision_thresholds, bundle.thresholds)
        self.rules: tuple[Rule, ...] = by_priority(resolved)
        self.columns = resolved.columns()
        self.supported = _supported(resolved, self.columns)
        #: Each rule that can match a lone comment, with its condition specialised to one
        #: (None: it always matches); only when ``supported`` (every column is a fact).
        self._checks = _checks(self.rules) if self.supported else None

    @cached_property
    def model(self) -> TextScorer:
        """The bundle's hostility model for one text at a time."""
        return TextScorer.from_bundle(self.bundle)

    def score(self, text: str) -> LoneComment:
        """Scores, action, priority, reasons (without the quoted evidence) and problems."""
        problems: list[str] = []
        if not _encodable(text):
            text, note = _repair(text)
            problems.append(note)
        if text.strip() == "":
            problems.append("empty text")
            values = [math.nan] * len(self.model.labels)
        else:
            values = self.model.scores(text)
        if len(text) > contract.MAX_TEXT_CHARS:
            problems.append(
                f"text is {len(text):,} characters; scored on the first {contract.MAX_TEXT_CHARS:,}"
            )
        scores = dict(zip(self.model.labels, values, strict=True))
        scores[contract.OFF_TOPIC] = math.nan
        record = _facts(text, scores, contract.PROBLEM_SEPARATOR.join(problems))
        if self._checks is None:
            decision = decide(record, self.rules)
            return LoneComment(
                text, scores, decision.action, decision.priority, problems, lambda: decision
            )
        # The specialised conditions pick the rules that match; ``decide`` words the decision
        # from the rules themselves, on the same record, when it is read.
        matched = [rule for rule, test in self._checks if test is None or test(record)]
        if not matched:
            return LoneComment(text, scores, ALLOWED.action, ALLOWED.priority, problems, _allowed)
        action, priority = verdict(matched)
        return LoneComment(
            text, scores, action, priority, problems, partial(decide, record, matched)
        )


def _allowed() -> Decision:
    """The decision of a comment no rule matches."""
    return ALLOWED


def _facts(text: str, scores: Mapping[str, float], problems: str) -> dict[str, Any]:
    """The columns rules can test for a lone comment, with the frame path's values and types."""
    facts = dict(_LONE)
    facts.update(scores)
    facts[contract.ROOT_TEXT] = facts[contract.TEXT] = text
    facts["length"] = len(text)
    facts[contract.PROBLEMS] = problems
    return facts


#: What every lone comment has in common: no parent, no article, no author, a thread of one.
_LONE: dict[str, Any] = {
    # thread context
    contract.PARENT_TEXT: "",
    contract.ROOT_ID: COMMENT_ID,
    contract.ROOT_TEXT: "",
    contract.DEPTH: 0,
    contract.THREAD_PATH: COMMENT_ID,
    contract.SIBLING_INDEX: 1,
    contract.ARTICLE_TITLE: "",
    contract.ARTICLE_BODY: "",
    contract.ARTICLE_AUTHOR: "",
    # similarities behind off_topic: nothing to compare with
    "sim_article": math.nan,
    "sim_parent": math.nan,
    "sim_thread": math.nan,
    # dynamics of a one-comment thread
    contract.DERAILED_AT: "",
    contract.DERAILED: 0,
    contract.BACK_AND_FORTH: 0,
    contract.PARTICIPANTS: 0,
    contract.HOSTILITY_TREND: 0.0,
    contract.USER_DIRECTED_INSULT: 0.0,
    contract.TOPIC_WORDS: math.nan,  # unknown, as off-topic, without an article
    # signals of a comment with no author and no parent
    contract.IS_REPLY: 0,
    contract.AUTHOR_COMMENTS: 0,
    contract.AUTHOR_FLAGGED: 0,
    contract.AUTHOR_FIRST: 0,
    contract.AUTHOR_IS_ARTICLE_AUTHOR: 0,
    contract.AUTHOR_ESCALATED: 0,
    contract.AUTHOR_QUEUE_ESCALATED: 0,
    contract.AUTHOR_QUEUE_REJECTED: 0,
    **dict.fromkeys(contract.PARENT_SCORES, math.nan),
    "length": 0,
    contract.TEXT: "",
    contract.AUTHOR: "",
    contract.COMMENT_ID: COMMENT_ID,
    contract.THREAD_ID: THREAD_ID,
    contract.PROBLEMS: "",
}


#: The columns :func:`_facts` provides.
_FACTS = frozenset(_facts("", {s: 0.0 for s in contract.SCORES}, ""))


#: The facts that differ from one lone comment to another; a condition on the others is
#: decided once, when the scorer is built.
_VARYING = frozenset(
    {*contract.LABELS, contract.TEXT, contract.ROOT_TEXT, "length", contract.PROBLEMS}
)
#: The facts every lone comment shares (off-topic is never known without an article).
_CONSTANT = {
    column: value
    for column, value in _facts("", dict.fromkeys(contract.SCORES, math.nan), "").items()
    if column not in _VARYING
}
_Test = Callable[[Mapping[str, Any]], bool]


def _checks(ordered: Sequence[Rule]) -> list[tuple[Rule, _Test | None]]:
    """The rules a lone comment can match, in order, each with a test of its condition.

    Parts that test only facts all lone comments share (thread context, dynamics, signals,
    off-topic) are decided here, so a rule that can never match is dropped and a call tests
    a few scores. A rule whose test passes is then decided by its own condition.
    """
    out: list[tuple[Rule, _Test | None]] = []
    for rule in ordered:
        when = _specialise(rule.when)
        if when is not False:
            out.append((rule, None if when is True else _test(when)))
    return out


def _specialise(condition: Condition) -> Condition | bool:
    """``condition`` with every part on :data:`_CONSTANT` facts replaced by its outcome."""
    if isinstance(condition, All):  # Any_ too
        parts = [_specialise(part) for part in condition.parts]
        decided = [part for part in parts if isinstance(part, bool)]
        left = tuple(part for part in parts if not isinstance(part, bool))
        if isinstance(condition, Any_):
            if True in decided or not left:
                return True in decided
        elif False in decided or not left:
            return False not in decided
        return type(condition)(left)
    if isinstance(condition, Not):
        part = _specialise(condition.part)
        return (not part) if isinstance(part, bool) else Not(part)
    if _VARYING.isdisjoint(condition.columns()):
        return condition.holds(_CONSTANT)
    return condition


def _test(condition: Condition) -> _Test:
    """``condition.holds``, as a closure for a bound on a score (the usual rule)."""
    if not isinstance(condition, Range):
        return condition.holds
    column, low, high, holds = condition.column, condition.value, condition.high, condition.holds
    if high is not None:  # [low, high]

        def between(row: Mapping[str, Any]) -> bool:
            value = row[column]
            if type(value) is not float:  # numbers and strings: Range's conversions
                return holds(row)
            return low <= value <= high  # False for NaN, as Range.holds

        return between
    compare = COMPARISONS[condition.op]

    def test(row: Mapping[str, Any]) -> bool:
        value = row[column]
        if type(value) is not float:
            return holds(row)
        return value == value and bool(compare(value, low))  # NaN never holds

    return test


def _supported(rules: Rules, columns: Sequence[str]) -> bool:
    """Whether every column the rules test is a fact this path computes, as the frame holds it."""
    if any(c not in _FACTS or c in _NOT_COMPUTED for c in columns):
        return False
    return all(scope.column in _TEXT_FACTS for rule in rules.rules for scope in _scopes(rule.when))


def _scopes(condition: Condition) -> list[InSet]:
    if isinstance(condition, InSet):
        return [condition]
    if isinstance(condition, Not):
        return _scopes(condition.part)
    if isinstance(condition, All):  # Any_ too
        return [s for part in condition.parts for s in _scopes(part)]
    return []


def _encodable(text: str) -> bool:
    """False when ``text`` holds lone surrogates (undecodable bytes smuggled in by a reader)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _repair(text: str) -> tuple[str, str]:
    """The text with undecodable bytes replaced, and the problem the frame path records."""
    from moderation.schema import invalid_text_problem, replace_surrogates  # pandas: rare case

    return replace_surrogates(text), invalid_text_problem(contract.TEXT)


def evidence_labels(decision: Decision, scores: Mapping[str, float]) -> list[str]:
    """The labels whose words the reasons of a lone comment quote (none when it is allowed):
    those at :data:`EXPLAIN_AT` or more and those the escalating rules tested."""
    if decision.action == contract.Action.ALLOW.value:
        return []
    return [
        label
        for label in contract.LABELS
        if scores[label] >= EXPLAIN_AT or label in decision.labels
    ]


def quote_evidence(
    decision: Decision, labels: Sequence[str], terms: Mapping[str, list[tuple[str, float]]]
) -> str:
    """The reasons of a lone comment with the words behind its high scores.

    As ``Moderator._explain`` words them: ``words: insult: 'idiot', 'you' | toxicity: ...``
    for each of :func:`evidence_labels` (a lone comment has no off-topic evidence).
    """
    quoted = [
        f"{label}: " + ", ".join(f"'{t}'" for t, _ in terms[label])
        for label in labels
        if terms[label]
    ]
    if not quoted:
        return decision.reasons
    return "; ".join([decision.reasons, "words: " + " | ".join(quoted)])
