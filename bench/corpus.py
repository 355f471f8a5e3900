"""The benchmark corpus: held-out real comments, seeded, with a thread structure.

Every system is timed and scored on the same comments, so they are drawn once, from rows that
no model of ours was fitted on: the ``test`` split of :func:`moderation.corpus.load_corpus`,
minus any text whose frozen :func:`moderation.corpus.split_key` also occurs in a ``train`` row
(near-duplicates across sources would otherwise leak training text into the benchmark). The
rows get invented thread ids, parents and authors so our thread context has work to do; the
labels stay beside them for ROC-AUC. The corpus is written to a cache directory outside git:
dataset text never enters the repository.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from moderation import schema
from moderation.corpus import load_corpus, split_key

#: Columns of the export every system reads (the contract's canonical columns).
EXPORT_COLUMNS = ("comment_id", "thread_id", "parent_id", "author", "text")
#: Columns kept beside the export for accuracy: binary toxicity and where the row came from.
LABEL_COLUMNS = ("toxic", "source")
#: Bump when the way rows are drawn changes, so a cached corpus is rebuilt.
CORPUS_VERSION = 2


class CorpusError(ValueError):
    """The benchmark corpus cannot be built as asked (too few held-out rows, bad sizes)."""


@dataclass(frozen=True)
class Corpus:
    """A built corpus: the frame and the files it was written to."""

    frame: pd.DataFrame
    path: Path
    export: Path
    info: dict[str, object]


def heldout_rows(datasets_dir: Path) -> pd.DataFrame:
    """Test-split rows with a known toxicity label, none sharing a split key with training rows.

    Returns ``text``, ``source`` and ``toxic`` (0/1), one row per distinct split key (the
    first occurrence in source order), in a deterministic order.
    """
    labelled = load_corpus(datasets_dir)
    keys = labelled["text"].map(split_key)
    trained = set(keys[labelled["split"] != "test"])
    known = labelled[schema.TOXICITY].notna().to_numpy()
    nonempty = (labelled["text"].str.strip() != "").to_numpy()
    test = (labelled["split"] == "test").to_numpy()
    unseen = ~keys.isin(trained).to_numpy()
    rows = labelled[test & known & nonempty & unseen].assign(key=keys)
    rows = rows.drop_duplicates("key", keep="first")
    return pd.DataFrame(
        {
            "text": rows["text"].to_numpy(),
            "source": rows["source"].to_numpy(),
            "toxic": (rows[schema.TOXICITY].to_numpy() >= 0.5).astype(np.int64),
        }
    )


def sample_threads(pool: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Draw ``n`` rows of ``pool`` and arrange them into threads of related replies.

    Threads hold 2 to 40 comments. Each starts from a random comment and takes the unused
    comments most similar to it (word TF-IDF cosine), because real threads share a topic: a
    thread of unrelated texts would make every reply off-topic and derailed, and escalated
    rows cost more to explain than allowed ones. A comment is top level with probability 0.3
    (always the first of its thread), otherwise it replies to the most similar earlier comment
    of its thread. Authors come from a pool of ``n // 8`` names so the same people meet again.
    """
    if n < 1:
        raise CorpusError(f"corpus size must be at least 1, got {n}")
    if len(pool) < n:
        raise CorpusError(
            f"only {len(pool)} held-out rows with a toxicity label are available, {n} requested"
        )
    rng = np.random.default_rng(seed)
    picked = pool.iloc[np.sort(rng.choice(len(pool), size=n, replace=False))]
    picked = picked.iloc[rng.permutation(n)].reset_index(drop=True)
    vectors = _topic_vectors(picked["text"].tolist())
    unused = np.ones(n, dtype=bool)
    order: list[int] = []
    threads: list[str] = []
    parents: list[int] = []
    for start in map(int, rng.permutation(n)):
        if not unused[start]:
            continue
        size = int(rng.integers(2, 41))
        sims = np.asarray((vectors @ vectors[start].T).todense()).ravel()
        sims[~unused] = -1.0
        sims[start] = np.inf
        members = np.argsort(-sims, kind="stable")[: min(size, int(unused.sum()))]
        unused[members] = False
        tid = f"t{len(order):07d}"
        for k, row in enumerate(map(int, members)):
            threads.append(tid)
            if k == 0 or rng.random() < 0.3:
                parents.append(-1)
            else:
                earlier = members[:k]
                near = np.asarray((vectors[earlier] @ vectors[row].T).todense()).ravel()
                parents.append(len(order) - k + int(np.argmax(near)))
            order.append(row)
    rows = picked.iloc[order].reset_index(drop=True)
    ids = [f"c{i:07d}" for i in range(n)]
    authors = [f"user{int(a):05d}" for a in rng.integers(0, max(1, n // 8), size=n)]
    return pd.DataFrame(
        {
            "comment_id": ids,
            "thread_id": threads,
            "parent_id": [ids[p] if p >= 0 else "" for p in parents],
            "author": authors,
            "text": rows["text"].to_numpy(),
            "toxic": rows["toxic"].to_numpy(),
            "source": rows["source"].to_numpy(),
        }
    )


def _topic_vectors(texts: list[str]) -> Any:
    """L2-normalised word TF-IDF rows (English stop words dropped), for grouping by topic."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, dtype=np.float32)
    try:
        return vectorizer.fit_transform(texts).tocsr()
    except ValueError:  # nothing but stop words: every comment is equally related
        return sparse.csr_matrix(np.ones((len(texts), 1), dtype=np.float32))


def build_corpus(
    datasets_dir: Path, cache_dir: Path, *, n: int = 20_000, seed: int = 0, rebuild: bool = False
) -> Corpus:
    """Build (or reuse from ``cache_dir``) the corpus of ``n`` held-out comments.

    Writes ``corpus-N-sSEED.csv`` (export columns plus labels), ``…-export.csv`` (export
    columns only, what ``moderation score`` reads) and ``….json`` (counts and a SHA-256 of the
    corpus, so two runs can be shown to have used the same rows).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = cache_dir / f"corpus-v{CORPUS_VERSION}-{n}-s{seed}"
    path, export, meta = (
        stem.with_suffix(".csv"),
        Path(f"{stem}-export.csv"),
        stem.with_suffix(".json"),
    )
    if not rebuild and path.is_file() and export.is_file() and meta.is_file():
        frame = read_table(path)
        info = json.loads(meta.read_text(encoding="utf-8"))
        return Corpus(frame, path, export, info)
    frame = sample_threads(heldout_rows(datasets_dir), n, seed)
    write_table(frame, path)
    write_table(frame[list(EXPORT_COLUMNS)], export)
    info = describe(frame, seed)
    meta.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return Corpus(frame, path, export, info)


def describe(frame: pd.DataFrame, seed: int) -> dict[str, object]:
    """Counts per source, positives, threads and a content hash of ``frame``."""
    digest = hashlib.sha256()
    for text, toxic in zip(frame["text"], frame["toxic"], strict=True):
        digest.update(f"{int(toxic)}\t{text}\n".encode())
    by_source = frame.groupby("source")["toxic"].agg(["size", "sum"])
    return {
        "version": CORPUS_VERSION,
        "seed": seed,
        "rows": len(frame),
        "positives": int(frame["toxic"].sum()),
        "threads": int(frame["thread_id"].nunique()),
        "replies": int((frame["parent_id"] != "").sum()),
        "sources": {
            str(s): {"rows": int(r["size"]), "positives": int(r["sum"])}
            for s, r in by_source.iterrows()
        },
        "sha256": digest.hexdigest(),
    }


def read_table(path: Path) -> pd.DataFrame:
    """Read a corpus CSV with every id as text (``007`` stays ``007``, empty stays empty)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "toxic" in frame.columns:
        frame["toxic"] = frame["toxic"].astype(np.int64)
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL)
    tmp.replace(path)


def scaled_rows(frame: pd.DataFrame, factor: int) -> Iterator[pd.DataFrame]:
    """The export ``factor`` times over, one copy per chunk, with fresh ids in every copy.

    Copy ``k`` suffixes comment, parent and thread ids with ``-k``, so every copy is its own
    set of threads with the same shape: thread context is exercised at any size.
    """
    if factor < 1:
        raise CorpusError(f"scale factor must be at least 1, got {factor}")
    export = frame[list(EXPORT_COLUMNS)]
    has_parent = export["parent_id"] != ""
    for k in range(factor):
        suffix = f"-{k}"
        copy = export.copy()
        copy["comment_id"] = copy["comment_id"] + suffix
        copy["thread_id"] = copy["thread_id"] + suffix
        copy.loc[has_parent, "parent_id"] = copy.loc[has_parent, "parent_id"] + suffix
        yield copy


def write_scaled(frame: pd.DataFrame, factor: int, path: Path) -> Path:
    """Write the ``factor``-times export to ``path`` chunk by chunk (bounded memory); reuse it."""
    if path.is_file():
        return path
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        for k, chunk in enumerate(scaled_rows(frame, factor)):
            chunk.to_csv(out, index=False, header=k == 0)
    tmp.replace(path)
    return path
