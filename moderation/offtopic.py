"""First off-topic score: how far a comment strays from its article and its parent.

Sits after thread context in the flow (read → validate → thread context →
**off-topic** / hostility → rules). A comment is compared with its *topic* (the
article's title and body; for a reply in a thread without an article, the
thread's root comment) and with its parent, by TF-IDF cosine similarity over a
background vocabulary. A small logistic regression turns those similarities
into a probability. Its weights are learned, not hand-set, from
self-supervised pairs drawn from threaded, redistributable data: a real reply
in its own thread (on-topic) against the same reply placed under another
thread's article, or under another thread's article *and* parent (off-topic).
The article-only swap is what a derailed sub-thread looks like: replies that
follow their parent but have left the article.

A top-level comment with no article has nothing to be compared with; its
``off_topic`` is NaN (unknown), and rules treat it as not matching.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from moderation import schema
from moderation.errors import TrainingError

log = logging.getLogger(__name__)

#: Columns of the similarity features, in the order the classifier sees them.
FEATURES = ("sim_topic", "sim_parent", "is_reply", "log_length")


def _cosine_rows(a: sparse.csr_matrix, b: sparse.csr_matrix) -> np.ndarray:
    """Row-wise cosine of two L2-normalised sparse matrices of the same shape."""
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


@dataclass
class OffTopicScorer:
    """Turn a comment's similarity to its topic and parent into ``P(off-topic)``.

    Attributes
    ----------
    vectorizer : TfidfVectorizer
        Word TF-IDF fitted on background text, so that rare, distinctive words
        weigh more than words every comment shares.
    classifier : LogisticRegression
        Fitted on the :data:`FEATURES` of self-supervised pairs.
    metrics : dict
        Held-out metrics recorded when the scorer was fitted.
    """

    vectorizer: TfidfVectorizer
    classifier: LogisticRegression
    metrics: dict[str, Any] = field(default_factory=dict)

    def features(
        self,
        texts: Sequence[str] | pd.Series,
        topics: Sequence[str] | pd.Series,
        parents: Sequence[str] | pd.Series,
    ) -> pd.DataFrame:
        """Similarity features for each comment; ``topics``/``parents`` may be ``""``."""
        vec = self.vectorizer
        c = vec.transform(list(texts))
        t = vec.transform(list(topics))
        p = vec.transform(list(parents))
        is_reply = np.array([bool(s.strip()) for s in parents], dtype=float)
        n_tokens = np.asarray((c > 0).sum(axis=1)).ravel()
        return pd.DataFrame(
            {
                "sim_topic": _cosine_rows(c, t),
                "sim_parent": _cosine_rows(c, p),
                "is_reply": is_reply,
                "log_length": np.log1p(n_tokens),
            }
        )

    def score(
        self,
        texts: Sequence[str] | pd.Series,
        topics: Sequence[str] | pd.Series,
        parents: Sequence[str] | pd.Series,
    ) -> np.ndarray:
        """``P(off-topic)`` per comment; NaN where there is neither topic nor parent text."""
        feats = self.features(texts, topics, parents)
        proba = self.classifier.predict_proba(feats[list(FEATURES)].to_numpy())[:, 1]
        no_context = np.array(
            [not (t.strip() or p.strip()) for t, p in zip(topics, parents, strict=True)]
        )
        empty = np.array([not s.strip() for s in texts])
        return np.where(no_context | empty, np.nan, proba)

    def score_frame(self, comments: pd.DataFrame, context: pd.DataFrame) -> pd.Series:
        """Score a validated comments frame with the context from ``thread.attach_context``."""
        texts, topics, parents = topic_inputs(comments, context)
        return pd.Series(
            self.score(texts, topics, parents), index=comments.index, name=schema.OFF_TOPIC
        )


def topic_inputs(
    comments: pd.DataFrame, context: pd.DataFrame
) -> tuple[list[str], list[str], list[str]]:
    """Texts, topics and parents for :meth:`OffTopicScorer.score`.

    The topic is the article (title and body) when the thread has one; for a
    reply in a thread without an article it is the root comment, the closest
    thing to what the thread is about.
    """
    texts = comments[schema.TEXT].astype(str).tolist()
    article = (
        context[schema.ARTICLE_TITLE].astype(str) + "\n" + context[schema.ARTICLE_BODY].astype(str)
    ).str.strip()
    parents = context[schema.PARENT_TEXT].astype(str)
    is_reply = context[schema.DEPTH].astype(int) > 0
    root = context[schema.ROOT_TEXT].astype(str).where(is_reply, "")
    topics = article.where(article != "", root)
    return texts, topics.tolist(), parents.tolist()


# --- training -------------------------------------------------------------------------------


def _stable_fraction(key: str) -> float:
    """A number in [0, 1) that depends only on ``key``: splits survive reordering."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


def _toxichat_threads(path: Path) -> list[list[str]]:
    """Human-written turns of each ToxiChat thread (post, reply, reply)."""
    threads = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            threads.append([str(t["text"]).strip() for t in record["reddit_thread"]])
    return threads


def _thread_rows(threads: list[list[str]], prefix: str) -> pd.DataFrame:
    """One row per reply: its text, its thread's article (turn 1) and its parent."""
    rows = []
    for i, turns in enumerate(threads):
        article = turns[0]
        for depth, text in enumerate(turns[1:], start=1):
            parent = turns[depth - 1] if depth > 1 else ""
            rows.append(
                {"thread": f"{prefix}{i}", "text": text, "topic": article, "parent": parent}
            )
    return pd.DataFrame(rows)


def make_pairs(rows: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """Self-supervised pairs: real context (label 0) and swapped context (label 1).

    Half the swaps replace only the article (a derailed reply that still
    follows its parent), half replace article and parent together (a reply
    pasted into the wrong thread).
    """
    rng = np.random.default_rng(seed)
    n = len(rows)
    real = rows.assign(label=0)
    threads = rows["thread"].to_numpy()
    if len(set(threads)) < 2:
        raise TrainingError("swapped-context pairs need comments from at least two threads")
    other = rng.permutation(n)
    # A swap must come from a different thread: redraw the donors that are not.
    same = threads == threads[other]
    while same.any():
        other[same] = rng.integers(0, n, int(same.sum()))
        same = threads == threads[other]
    donor = rows.iloc[other].reset_index(drop=True)
    swapped = rows.reset_index(drop=True).copy()
    swapped["topic"] = donor["topic"]
    both = rng.random(n) < 0.5
    swapped.loc[both & (swapped["parent"] != ""), "parent"] = donor.loc[
        both & (swapped["parent"] != ""), "parent"
    ].where(lambda s: s != "", donor["topic"])
    swapped["label"] = 1
    return pd.concat([real, swapped], ignore_index=True)


def fit_off_topic(
    datasets_dir: Path, background_texts: Sequence[str], *, seed: int = 0
) -> OffTopicScorer:
    """Fit the off-topic scorer on self-supervised pairs from ToxiChat (CC BY-SA 4.0).

    Threads are split 80/20 by a stable hash; the held-out fifth gives the
    recorded ROC-AUC. When the SemEval-2015 CQA data is present, the scorer is
    also evaluated (never trained) on its official test set: Bad/Dialogue
    replies against Good ones, with the question as the topic.
    """
    toxichat = Path(datasets_dir) / "toxichat"
    files = [toxichat / f"{split}.jsonl.gz" for split in ("train", "dev", "test")]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise TrainingError(f"off-topic training data not found: {', '.join(missing)}")
    threads = [t for f in files for t in _toxichat_threads(f)]
    rows = _thread_rows(threads, prefix="toxichat-")
    held_out = rows["thread"].map(lambda k: _stable_fraction(k) >= 0.8)
    train_pairs = make_pairs(rows[~held_out].reset_index(drop=True), seed=seed)
    test_pairs = make_pairs(rows[held_out].reset_index(drop=True), seed=seed + 1)

    vectorizer = TfidfVectorizer(
        sublinear_tf=True, stop_words="english", min_df=2, max_features=60_000, dtype=np.float32
    )
    vectorizer.fit([*background_texts, *rows["text"], *rows["topic"].drop_duplicates()])
    scorer = OffTopicScorer(vectorizer, LogisticRegression(C=1.0, max_iter=1000))
    feats = scorer.features(train_pairs["text"], train_pairs["topic"], train_pairs["parent"])
    scorer.classifier.fit(feats[list(FEATURES)].to_numpy(), train_pairs["label"].to_numpy())

    test_scores = scorer.score(test_pairs["text"], test_pairs["topic"], test_pairs["parent"])
    ok = ~np.isnan(test_scores)
    scorer.metrics = {
        "swapped_context_heldout": {
            "roc_auc": round(float(roc_auc_score(test_pairs["label"][ok], test_scores[ok])), 4),
            "n": int(ok.sum()),
            "source": "toxichat (threads split 80/20 by hash; held-out fifth)",
        }
    }
    semeval = Path(datasets_dir) / "semeval-cqa-qatarliving" / "semeval2015_task3_comments.csv.gz"
    if semeval.exists():
        scorer.metrics["semeval2015_cqa_test"] = evaluate_semeval(scorer, semeval)
    log.info("off-topic scorer metrics: %s", scorer.metrics)
    return scorer


def evaluate_semeval(scorer: OffTopicScorer, path: Path) -> dict[str, Any]:
    """ROC-AUC of Bad/Dialogue vs Good replies on the SemEval-2015 task 3 official test set."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    test = frame[(frame["split"] == "test") & frame["cgold"].isin(["Good", "Bad", "Dialogue"])]
    topic = (test["q_subject"] + "\n" + test["q_body"]).tolist()
    text = (test["c_subject"] + "\n" + test["c_body"]).tolist()
    scores = scorer.score(text, topic, [""] * len(text))
    labels = (test["cgold"] != "Good").astype(int).to_numpy()
    ok = ~np.isnan(scores)
    return {
        "roc_auc": round(float(roc_auc_score(labels[ok], scores[ok])), 4),
        "n": int(ok.sum()),
        "positives": int(labels[ok].sum()),
        "note": "cross-domain: research-only data, used for evaluation, never training",
    }
