"""Thread dynamics and per-comment signals: derailed sub-threads, escalation predictors.

Sits after the models in the flow (… → scores → **dynamics** → rules). It reads
scores and thread structure and adds columns the rules can test:

- ``derailed_at``: for every comment of a sub-thread that left the article, the
  id of the comment where it left; "" elsewhere. A chain is followed from its
  top-level comment down with hysteresis: it leaves the article at a comment
  whose off-topic level reaches ``enter`` and returns at one whose level falls
  below ``leave``. The defaults were chosen on held-out real threads against a
  false-alarm budget (``bench/offtopic_derailment.py --thresholds``): the level
  is the comment's own score (no smoothing), ``enter`` 0.8, ``leave`` 0.2.
  With smoothing (``smoothing`` < 1) the level mixes in the parent's, which
  confirms a departure a reply late when the comment that left followed an
  on-topic one, so the sub-thread is then started back at the first of the
  comments just above whose own score already reached ``enter``.
  Where the start replies to a comment the scorer is unsure of (own score
  from 0.3) and shares more of its words with it than that comment shares
  with its own parent, the topic broke one comment higher and the sub-thread
  starts there.
  Replies with fewer than four words the off-topic scorer sees ("ok bye",
  "well said", "I totally agree with you on this one") carry no topic and keep
  their parent's state: under a derailed comment they are part of its
  sub-thread, and they never start, confirm or end one. After a return the
  chain is not derailed.
- ``derailed``: 1 for comments with a ``derailed_at``, else 0 (for rules).
- ``back_and_forth``: how many replies in a row, up to this one, alternate
  between the same two authors.
- ``participants``: distinct authors in the thread up to this comment (input order).
- ``hostility_trend``: the slope of ``toxicity`` along the last comments of the
  chain ending here (positive: the exchange is heating up).
- ``user_directed_insult``: the ``insult`` score of a reply that addresses a
  person ("you", "your"), else 0.
- ``topic_words``: how many of the comment's words can carry a topic (the words
  the off-topic scorer sees: English stop words left out); NaN where
  ``off_topic`` is unknown. A comment with nothing to say about any topic
  ("thanks!", "well said") shares no word with the article and scores high on
  ``off_topic`` without being off-topic content: the default ``off-topic`` rule
  asks for at least four, as derailment does.

These follow the predictors of escalation in the research notes (Liu et al.
2018: participants, hostility trend, user-directed profanity) and
AutoModerator-style back-and-forth checks. `comment_signals` adds the surface,
author and parent facts rules can test (links, capitals, an author's other
flagged comments, the parent's scores), the kind AutoModerator and Coral
rules use.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from moderation import schema
from moderation.contract import (
    AUTHOR_COMMENTS,
    AUTHOR_ESCALATED,
    AUTHOR_FIRST,
    AUTHOR_FLAGGED,
    AUTHOR_IS_ARTICLE_AUTHOR,
    AUTHOR_QUEUE_ESCALATED,
    AUTHOR_QUEUE_REJECTED,
    BACK_AND_FORTH,
    CAPS_RATIO,
    DERAILED,
    DERAILED_AT,
    DYNAMICS_RULE_COLUMNS,
    HOSTILITY_TREND,
    IS_REPLY,
    LINKS,
    MENTIONS,
    PARENT_SCORES,
    PARTICIPANTS,
    SIGNAL_COLUMNS,
    TOPIC_WORDS,
    USER_DIRECTED_INSULT,
)
from moderation.schema import find_cycles, resolve_parents

__all__ = [
    "AUTHOR_COMMENTS",
    "AUTHOR_ESCALATED",
    "AUTHOR_FIRST",
    "AUTHOR_FLAGGED",
    "AUTHOR_IS_ARTICLE_AUTHOR",
    "AUTHOR_QUEUE_ESCALATED",
    "AUTHOR_QUEUE_REJECTED",
    "BACK_AND_FORTH",
    "CAPS_RATIO",
    "DERAILED",
    "DERAILED_AT",
    "DYNAMICS_COLUMNS",
    "DYNAMICS_RULE_COLUMNS",
    "FLAGGED_AT",
    "HOSTILITY_TREND",
    "IS_REPLY",
    "LINKS",
    "MENTIONS",
    "PARENT_SCORES",
    "PARTICIPANTS",
    "RULE_COLUMNS",
    "SIGNAL_COLUMNS",
    "TOPIC_WORDS",
    "USER_DIRECTED_INSULT",
    "Derailment",
    "author_escalations",
    "comment_signals",
    "thread_dynamics",
]

#: Columns added by `thread_dynamics`, in output order.
DYNAMICS_COLUMNS = (
    DERAILED_AT,
    DERAILED,
    BACK_AND_FORTH,
    PARTICIPANTS,
    HOSTILITY_TREND,
    USER_DIRECTED_INSULT,
    TOPIC_WORDS,
)
#: The numeric ones rules may test.
RULE_COLUMNS = DYNAMICS_RULE_COLUMNS

_WORD = re.compile(r"[^\W\d_]{2,}")
_SECOND_PERSON = re.compile(r"\b(you|your|yours|you're|youre|yourself|u|ur)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Derailment:
    """How a chain's off-topic level is smoothed and thresholded.

    The defaults are the ones `bench/offtopic_derailment.py --thresholds` picks
    on held-out ToxiChat / Ruddit threads (docs/off-topic.md, "Thresholds from
    held-out data"): at most 10 % of real comments marked derailed, then the
    most synthetic sub-threads started exactly where they left. The earlier
    hand-set values (smoothing 0.6, enter 0.5, leave 0.35) marked 20-22 % of
    the real comments of held-out threads as derailed.

    Attributes
    ----------
    smoothing : float
        Weight of a comment's own ``off_topic`` against its parent's smoothed
        level; 1.0 (the default) follows the own score alone: on held-out data
        smoothing did not start more sub-threads at the right comment within
        the false-alarm budget, and it confirms departures a reply late.
    enter, leave : float
        The chain leaves the article when the (smoothed) level reaches ``enter``
        and comes back when it falls below ``leave`` (hysteresis). The wide gap
        keeps a derailed sub-thread whole through replies the scorer is unsure
        of (0.3-0.5) while a high ``enter`` keeps real replies out.
    min_words : int
        Replies with fewer topic words keep their parent's state: they neither
        start, confirm nor end a departure.
    stop_words : bool
        Count only words the off-topic scorer sees (English stop words left
        out, as its vectorizer does), so "I totally agree with you on this
        one" is as topic-free as "well said"; off only to measure the change.
    trend_window : int
        How many comments of the chain the hostility slope looks at.
    walk_back : bool
        Start a sub-thread where it left rather than where smoothing confirmed
        it (see `_derail`); off only to measure what the walk changes.
    break_from : float or None
        A sub-thread whose start replies to a comment scoring at least this
        (own score), and shares more of its topic words with that comment
        than the comment shares with its own parent (by more than
        ``break_margin``), starts one comment higher: the topic broke above
        the comment the scorer was unsure of, not below it. None turns it off.
        Chosen on held-out data (docs/off-topic.md, "Where a sub-thread
        starts"): it moves about one sub-thread in twelve from a reply late to
        exact.
    break_margin : float
        How much more overlap (cosine of the topic-word sets) the start must
        have with its parent than the parent has with its own.
    """

    smoothing: float = 1.0
    enter: float = 0.8
    leave: float = 0.2
    min_words: int = 4
    stop_words: bool = True
    trend_window: int = 5
    walk_back: bool = True
    break_from: float | None = 0.3
    break_margin: float = 0.1


def thread_dynamics(
    comments: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    settings: Derailment | None = None,
    stop_words: Collection[str] | None = None,
) -> pd.DataFrame:
    """Derailment and escalation signals for every comment.

    Parameters
    ----------
    comments
        Validated comments (``comment_id``, ``text``, optional ``parent_id``,
        ``thread_id``, ``author``).
    scores
        ``toxicity``, ``insult`` and ``off_topic`` aligned with ``comments``.
    settings
        Smoothing and thresholds (defaults: :class:`Derailment`).
    stop_words
        The words that carry no topic (with ``settings.stop_words``): the off-topic
        vectoriser's own list (``OffTopicScorer.stop_words``, read from the bundle's arrays),
        so both leave out the same words; None imports scikit-learn's English list.

    Returns
    -------
    DataFrame
        :data:`DYNAMICS_COLUMNS`, same index and order as ``comments``.
    """
    cfg = settings or Derailment()
    n = len(comments)
    parents = resolve_parents(comments)
    parents = np.where((parents >= 0) & (parents != np.arange(n)), parents, -1)
    for cycle in find_cycles(parents):  # a cycle has no top: cut it where it was found
        parents[cycle[0]] = -1
    order = _parents_first(parents)
    ids = comments[schema.COMMENT_ID].astype(str).to_numpy()
    texts = comments[schema.TEXT].astype(str).tolist()
    off = scores[schema.OFF_TOPIC].to_numpy(dtype=float)
    tox = scores[schema.TOXICITY].to_numpy(dtype=float)
    topical = ~np.isnan(off)
    words = np.full(n, np.nan)
    word_sets: list[frozenset[str]] | None = None
    if topical.any():  # without off-topic scores (score_one, no article) words do not matter
        found = _topic_word_lists(texts, cfg.stop_words, stop_words)
        counts = np.array([len(w) for w in found], dtype=np.int64)  # repeats count
        word_sets = [frozenset(w) for w in found]
        words = np.where(topical, counts, np.nan)
        topical &= counts >= cfg.min_words
    derailed_at = _derail(parents, order, off, topical, cfg, word_sets)

    authors = (
        comments[schema.AUTHOR].astype(str).to_numpy()
        if schema.AUTHOR in comments.columns
        else np.full(n, "", dtype=object)
    )
    threads = (
        comments[schema.THREAD_ID].astype(str).to_numpy()
        if schema.THREAD_ID in comments.columns
        else np.full(n, "", dtype=object)
    )
    insult = scores[schema.INSULT].to_numpy(dtype=float)
    addressed = _addresses(texts) & (parents >= 0)
    return pd.DataFrame(
        {
            DERAILED_AT: np.where(derailed_at >= 0, ids[np.maximum(derailed_at, 0)], ""),
            DERAILED: (derailed_at >= 0).astype(np.int64),
            BACK_AND_FORTH: _back_and_forth(parents, authors, order),
            PARTICIPANTS: _participants(threads, authors),
            HOSTILITY_TREND: _trend(parents, tox, order, cfg.trend_window),
            USER_DIRECTED_INSULT: np.where(addressed, np.nan_to_num(insult), 0.0),
            TOPIC_WORDS: words,
        },
        index=comments.index,
    )


def _derail(
    parents: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    off: npt.NDArray[np.float64],
    topical: npt.NDArray[np.bool_],
    cfg: Derailment,
    word_sets: Sequence[frozenset[str]] | None = None,
) -> npt.NDArray[np.int64]:
    """Row of the comment where each comment's sub-thread left the article (-1: it did not).

    First pass: the smoothed level with hysteresis finds where a chain is
    *confirmed* off the article. Smoothing mixes in the parent's level, so a
    chain that leaves gradually is confirmed a reply or more after it left.
    Second pass: from each confirmation, walk back up over the ancestors whose
    own score already said off-topic (at least ``enter``) but whose smoothed
    level did not (held down by an on-topic parent), and over replies without a
    topic, and start the sub-thread at the highest of them that has a topic.
    The walk stops at any other comment, at a derailed one and at a return, so
    a chain that came back stays back. (Walking back over the merely unsure,
    own score from ``leave``, overshot: on held-out intruder worlds it moved
    as many starts one comment too early as it fixed late ones.)
    Third pass, with ``word_sets`` (each comment's topic words) and
    ``break_from``: a start moves up to its parent when the parent is unsure
    (own score from ``break_from``) and the topic broke above it, not below
    (see :class:`Derailment`).
    """
    n = len(parents)
    level = np.full(n, np.nan)
    derailed_at = np.full(n, -1, dtype=np.int64)
    for i in order.tolist():
        p = int(parents[i])
        up_level = level[p] if p >= 0 else np.nan
        up_start = int(derailed_at[p]) if p >= 0 else -1
        if not topical[i]:
            level[i], derailed_at[i] = up_level, up_start  # no topic of its own
            continue
        own = (
            off[i]
            if np.isnan(up_level)
            else cfg.smoothing * off[i] + (1 - cfg.smoothing) * up_level
        )
        level[i] = own
        if up_start >= 0:
            derailed_at[i] = up_start if own >= cfg.leave else -1
        elif own >= cfg.enter:
            derailed_at[i] = i

    if not cfg.walk_back:
        return derailed_at
    confirmed = derailed_at.copy()  # first-pass state: the walk never crosses a derailed row
    start = np.arange(n)
    for e in np.flatnonzero(confirmed == np.arange(n)).tolist():
        path: list[int] = []
        a = int(parents[e])
        while a >= 0 and len(path) < n and confirmed[a] < 0:
            if topical[a] and off[a] < cfg.enter:  # a return has one below leave: stops here
                break
            path.append(a)
            a = int(parents[a])
        while path and not topical[path[-1]]:
            path.pop()  # a sub-thread starts at a comment with a topic
        if path:
            start[e] = path[-1]
            derailed_at[path] = path[-1]
    out = np.where(confirmed >= 0, start[np.maximum(confirmed, 0)], derailed_at)
    moved = (out >= 0) & (confirmed < 0)  # rows the walk added to a sub-thread
    if word_sets is not None and cfg.break_from is not None:
        up = np.arange(n)  # where each start moves (itself: it stays)
        for e in np.flatnonzero(out == np.arange(n)).tolist():
            p = int(parents[e])
            if p < 0 or out[p] >= 0 or not topical[p] or off[p] < cfg.break_from:
                continue
            g = int(parents[p])
            above = _overlap(word_sets[p], word_sets[g]) if g >= 0 else 0.0
            if _overlap(word_sets[e], word_sets[p]) > above + cfg.break_margin:
                up[e] = p  # siblings that both carry p's words join one sub-thread at p
        if (lifted := np.flatnonzero(up != np.arange(n))).size:
            out = np.where(out >= 0, up[np.maximum(out, 0)], out)
            out[up[lifted]] = up[lifted]
            moved[up[lifted]] = True
    # Their replies without a topic follow them, as in the first pass.
    for i in order[np.argmax(moved[order]) :].tolist() if moved.any() else ():
        p = int(parents[i])
        if p >= 0 and moved[p] and not topical[i] and out[i] < 0:
            out[i], moved[i] = out[p], True
    return out


def _topic_words(texts: list[str], stop_words: bool) -> npt.NDArray[np.int64]:
    """Words per text that can carry a topic (see ``Derailment.stop_words``)."""
    return np.array([len(w) for w in _topic_word_lists(texts, stop_words)], dtype=np.int64)


def topic_word_sets(texts: list[str], stop_words: bool = True) -> list[frozenset[str]]:
    """Each text's distinct topic words, lower-cased (what ``break_from`` compares)."""
    return [frozenset(w) for w in _topic_word_lists(texts, stop_words)]


def _topic_word_lists(
    texts: list[str], stop_words: bool, words: Collection[str] | None = None
) -> list[list[str]]:
    if not stop_words:
        return [_WORD.findall(t.lower()) for t in texts]
    if words is None:
        # Imported here: scikit-learn (about 0.6 CPU s with scipy.stats) is loaded only when
        # no list is given and there are off-topic scores to follow.
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        words = ENGLISH_STOP_WORDS
    stop = words if isinstance(words, (set, frozenset)) else frozenset(words)
    return [[w for w in _WORD.findall(t.lower()) if w not in stop] for t in texts]


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Cosine of two word sets (0 when either is empty)."""
    return len(a & b) / float(np.sqrt(len(a) * len(b))) if a and b else 0.0


def _parents_first(parents: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row positions ordered so every parent comes before its replies (cycles already cut)."""
    depth = np.zeros(len(parents), dtype=np.int64)
    up = parents.copy()
    while (live := up >= 0).any():
        depth[live] += 1
        up = np.where(live, parents[np.maximum(up, 0)], -1)
    return np.argsort(depth, kind="stable").astype(np.int64)


def _back_and_forth(
    parents: npt.NDArray[np.int64], authors: npt.NDArray[np.object_], order: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Replies in a row, ending here, that alternate between the same two authors."""
    n = len(parents)
    count = np.zeros(n, dtype=np.int64)
    for i in order.tolist():
        p = int(parents[i])
        if p < 0 or not authors[i] or not authors[p] or authors[i] == authors[p]:
            continue
        g = int(parents[p])
        if count[p] > 0 and g >= 0 and authors[g] == authors[i]:
            count[i] = count[p] + 1  # the same pair keeps answering each other
        else:
            count[i] = 1
    return count


def _participants(
    threads: npt.NDArray[np.object_], authors: npt.NDArray[np.object_]
) -> npt.NDArray[np.int64]:
    """Distinct non-empty authors in the thread so far, in input order."""
    frame = pd.DataFrame({"thread": threads, "author": authors})
    first = (~frame.duplicated(["thread", "author"]) & (frame["author"] != "")).astype(np.int64)
    return np.asarray(first.groupby(frame["thread"]).cumsum(), dtype=np.int64)


def _trend(
    parents: npt.NDArray[np.int64],
    tox: npt.NDArray[np.float64],
    order: npt.NDArray[np.int64],
    window: int,
) -> npt.NDArray[np.float64]:
    """Least-squares slope of toxicity over the last ``window`` comments of each chain.

    The chains are collected first and fitted per chain length by :func:`_slopes`.
    """
    n = len(parents)
    out = np.zeros(n)
    values = np.nan_to_num(np.asarray(tox, dtype=float)).tolist()
    chain: list[list[float]] = [[] for _ in range(n)]
    by_length: dict[int, tuple[list[int], list[list[float]]]] = {}
    for i in order.tolist():
        p = int(parents[i])
        tail = (chain[p] if p >= 0 else []) + [values[i]]
        chain[i] = tail[-window:]
        if len(chain[i]) >= 2:
            rows, fits = by_length.setdefault(len(chain[i]), ([], []))
            rows.append(i)
            fits.append(chain[i])
    for length, (rows, fits) in by_length.items():
        out[np.asarray(rows, dtype=np.intp)] = _slopes(length, np.asarray(fits, dtype=float))
    return out


def _slopes(length: int, ys: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``np.polyfit(arange(length), y, 1)[0]`` of each row ``y`` of ``ys``, bit for bit.

    Speed only: ``np.polyfit`` costs about 25 µs of Python per call for a two-parameter fit.
    This does its arithmetic once per length -- the scaled Vandermonde matrix, ``rcond`` --
    and solves every chain with the same LAPACK least-squares routine ``np.linalg.lstsq``
    calls, through its generalised ufunc, which loops over the stack in C. Each chain is its
    own one-column solve, as in ``np.polyfit``, so the slopes are identical (a single solve
    with many columns is not: BLAS kernels then sum in another order). Without that ufunc
    (another NumPy layout), ``np.polyfit`` is called per chain.
    """
    x = np.arange(length, dtype=float)
    if _lstsq_ufunc is None:
        return np.array([np.polyfit(x, y, 1)[0] for y in ys], dtype=float)
    lhs = np.vander(x, 2)
    scale = np.sqrt((lhs * lhs).sum(axis=0))
    lhs /= scale
    rcond = length * np.finfo(float).eps
    stack = np.broadcast_to(lhs, (len(ys), length, 2))
    with np.errstate(invalid="raise", over="ignore", divide="ignore", under="ignore"):
        solution = _lstsq_ufunc(stack, ys[:, :, None], rcond, signature="ddd->ddid")[0]
    slopes: npt.NDArray[np.float64] = solution[:, 0, 0] / scale[0]
    return slopes


def _lstsq_gufunc() -> Any:
    """NumPy's least-squares generalised ufunc (behind ``np.linalg.lstsq``), if present."""
    try:
        from numpy.linalg import _umath_linalg
    except ImportError:  # pragma: no cover - another NumPy layout
        return None
    return getattr(_umath_linalg, "lstsq", None)


_lstsq_ufunc = _lstsq_gufunc()


# --- per-comment signals ---------------------------------------------------------------------

#: A comment counts towards its author's `author_flagged` from this toxicity on.
FLAGGED_AT = 0.5

_LINK = re.compile(
    r"https?://\S+|www\.\S+|\b[\w-]+\.(?:com|org|net|eu|io|co|info|ru|uk)\b\S*", re.I
)
_MENTION = re.compile(r"(?<!\w)@\w+|\bu/\w+")


def comment_signals(
    comments: pd.DataFrame,
    context: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    author_history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Surface, author and parent signals for rules, aligned with ``comments``.

    - ``is_reply`` (0/1), ``links`` and ``mentions`` (counts), ``caps_ratio``
      (upper-case share of letters, 0 for texts under 10 letters);
    - ``author_comments``: the author's comments in this export;
      ``author_flagged``: how many of them reach ``toxicity`` 0.5;
      ``author_escalated``: how many of them the rules escalate (filled by a
      second decision pass, 0 here); ``author_first``: 1 for the author's
      first comment in the export (input
      order); ``author_is_article_author``: 1 when the articles file names
      the author as the article's;
    - ``author_queue_escalated`` / ``author_queue_rejected``: the author's
      comments already escalated into / rejected in the review queue, from
      ``author_history`` (``author``, ``escalated``, ``rejected``; 0 without it);
    - ``parent_<score>``: the parent's scores (NaN for top-level comments).
    """
    n = len(comments)
    texts = comments[schema.TEXT].astype(str)
    text_list = texts.tolist()
    letters, upper = _letter_counts(text_list)
    caps = np.where(letters >= 10, upper / np.maximum(letters, 1), 0.0)
    authors = (
        comments[schema.AUTHOR].astype(str)
        if schema.AUTHOR in comments.columns
        else pd.Series("", index=comments.index)
    )
    known = authors != ""
    flagged = (scores[schema.TOXICITY].to_numpy(dtype=float) >= FLAGGED_AT).astype(np.int64)
    by_author = pd.DataFrame({"author": authors.to_numpy(), "flagged": flagged})
    totals = by_author.groupby("author")["flagged"].agg(["size", "sum"])
    article_author = context[schema.ARTICLE_AUTHOR].astype(str).to_numpy()
    parents = resolve_parents(comments)
    has_parent = (parents >= 0) & (parents != np.arange(n))
    out: dict[str, object] = {
        IS_REPLY: (context[schema.DEPTH].to_numpy() > 0).astype(np.int64),
        LINKS: _count_links(text_list),
        MENTIONS: _count_mentions(text_list),
        CAPS_RATIO: caps,
        AUTHOR_COMMENTS: np.where(known, authors.map(totals["size"]).fillna(0), 0).astype(np.int64),
        AUTHOR_FLAGGED: np.where(known, authors.map(totals["sum"]).fillna(0), 0).astype(np.int64),
        AUTHOR_FIRST: (known & ~authors.duplicated()).to_numpy(dtype=np.int64),
        AUTHOR_IS_ARTICLE_AUTHOR: (
            known.to_numpy() & (article_author != "") & (authors.to_numpy() == article_author)
        ).astype(np.int64),
    }
    out[AUTHOR_ESCALATED] = np.zeros(n, dtype=np.int64)
    for column, source in (
        (AUTHOR_QUEUE_ESCALATED, "escalated"),
        (AUTHOR_QUEUE_REJECTED, "rejected"),
    ):
        counts = (
            author_history.set_index("author")[source]
            if author_history is not None and not author_history.empty
            else pd.Series(dtype="int64")
        )
        out[column] = np.where(known, authors.map(counts).fillna(0), 0).astype(np.int64)
    for label, column in zip(schema.SCORES, PARENT_SCORES, strict=True):
        values = scores[label].to_numpy(dtype=float)
        out[column] = np.where(has_parent, values[np.maximum(parents, 0)], np.nan)
    return pd.DataFrame(out, index=comments.index)


# _SECOND_PERSON on lower-cased ASCII text: the same matches there (every word it names is
# lower-case and holds a "u"); IGNORECASE also folds some non-ASCII letters, so other texts
# are searched with it.
_SECOND_PERSON_ASCII = re.compile(_SECOND_PERSON.pattern)


def _addresses(texts: list[str]) -> npt.NDArray[np.bool_]:
    """Whether each text matches ``_SECOND_PERSON`` (speed only: a case-sensitive search)."""
    return np.fromiter(
        (
            _SECOND_PERSON.search(t) is not None
            if not t.isascii()
            else "u" in (lowered := t.lower()) and _SECOND_PERSON_ASCII.search(lowered) is not None
            for t in texts
        ),
        dtype=bool,
        count=len(texts),
    )


_LETTER = re.compile(r"[^\W\d_]")
_UPPER = re.compile(r"[A-ZÀ-ÖØ-Þ]")
_LETTER_FLAG = np.uint8(1)
_UPPER_FLAG = np.uint8(2)
_UNSEEN = np.uint8(255)
#: Per code point: _LETTER_FLAG | _UPPER_FLAG as Python's ``re`` sees it (_UNSEEN until asked).
_LETTER_TABLE: list[npt.NDArray[np.uint8]] = []
# Each match of _LINK holds one of these (compared with the lower-cased text when it is
# ASCII; IGNORECASE also matches some non-ASCII letters, so other texts are always searched).
_LINK_HINTS = ("://", "www.", ".co", ".org", ".net", ".eu", ".io", ".info", ".ru", ".uk")


def _letter_counts(texts: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Matches of ``[^\\W\\d_]`` (letters) and ``[A-ZÀ-ÖØ-Þ]`` (capitals) per text.

    Speed only: a table per code point (each filled once from the same patterns) and one
    count over the code points of all texts, instead of a regular-expression pass per text
    and pattern (about 0.3 s per 20,000 comments).
    """
    n = len(texts)
    if not _LETTER_TABLE:
        _LETTER_TABLE.append(np.full(0x110000, _UNSEEN, dtype=np.uint8))
    table = _LETTER_TABLE[0]
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    flags = table[cps]
    unseen = flags == _UNSEEN
    if unseen.any():
        for cp in np.unique(cps[unseen]).tolist():
            char = chr(cp)
            table[cp] = (_LETTER_FLAG if _LETTER.match(char) else 0) | (
                _UPPER_FLAG if _UPPER.match(char) else 0
            )
        flags = table[cps]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    starts = np.cumsum(lengths) - lengths
    filled = np.flatnonzero(lengths > 0)  # reduceat would give an empty text its next character
    letters = np.zeros(n, dtype=np.int64)
    upper = np.zeros(n, dtype=np.int64)
    if len(filled):
        at = starts[filled]
        letters[filled] = np.add.reduceat(flags & _LETTER_FLAG, at, dtype=np.int64)
        upper[filled] = np.add.reduceat((flags & _UPPER_FLAG) >> 1, at, dtype=np.int64)
    return letters, upper


def _may_link(text: str) -> bool:
    """False only when ``text`` cannot hold a match of ``_LINK``."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(hint in lowered for hint in _LINK_HINTS)


def _count_links(texts: list[str]) -> npt.NDArray[np.int64]:
    """Matches of ``_LINK`` per text; texts that cannot hold one are not searched."""
    return np.fromiter(
        (len(_LINK.findall(t)) if _may_link(t) else 0 for t in texts),
        dtype=np.int64,
        count=len(texts),
    )


def _count_mentions(texts: list[str]) -> npt.NDArray[np.int64]:
    """Matches of ``_MENTION`` per text (each needs an ``@`` or ``u/``)."""
    return np.fromiter(
        (len(_MENTION.findall(t)) if "@" in t or "u/" in t else 0 for t in texts),
        dtype=np.int64,
        count=len(texts),
    )


def author_escalations(authors: pd.Series, actions: pd.Series) -> npt.NDArray[np.int64]:
    """For each comment, how many of its author's comments in the export were escalated."""
    escalated = (actions != schema.Action.ALLOW.value).astype(np.int64)
    counts = escalated.groupby(authors.astype(str)).transform("sum")
    return np.where(authors.astype(str) != "", counts, 0).astype(np.int64)
