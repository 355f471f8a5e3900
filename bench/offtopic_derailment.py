"""Off-topic scorer and derailment start, measured on held-out data only.

Compares the shipped bundle's off-topic scorer with a freshly fitted one (or a
saved one, ``--after FILE``) on the same held-out intruder worlds (threads split
80/20 by hash, as in training) and the cross-domain sets; then measures where
`thread_dynamics` starts synthetic derailed sub-threads (an intruding reply to a
real comment followed by the donor's next comments), with and without the walk
back, and counting every word or only topic words for "too short to carry a
topic". Run from a checkout with ``../shared/datasets`` beside it::

    python bench/offtopic_derailment.py
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from moderation import Moderator
from moderation.corpus import load_corpus
from moderation.dynamics import Derailment, thread_dynamics
from moderation.offtopic import (
    _ruddit_threads,
    _stable_fraction,
    _table,
    _toxichat_threads,
    build_worlds,
    evaluate_off_topic,
    fit_off_topic,
    heldout_intruders,
    similar_threads,
)
from moderation.train import split_training_rows


def derail_starts(
    scorer: Any, threads: list[Any], chains: set[str], settings: Derailment
) -> dict[str, Any]:
    """Share of synthetic derailed sub-threads started exactly at, before or after the intruder."""
    worlds = build_worlds(
        threads,
        chains=chains,
        seed=7,
        worlds=4,
        follow_on=1.0,
        neighbours=similar_threads(scorer.vectorizer, threads),
    )
    found: list[str] = []
    real_marked = real_replies = 0
    for w, world in worlds.groupby("world"):
        if w == 0:
            continue
        world = world.reset_index(drop=True)
        n = len(world)
        label, parent = world["label"].to_numpy(), world["parent"].to_numpy()
        comments = pd.DataFrame(
            {
                "comment_id": [f"r{i}" for i in range(n)],
                "thread_id": world["thread"].astype(str),
                "parent_id": [f"r{p}" if p >= 0 else "" for p in parent],
                "text": world["text"],
            }
        )
        scores = pd.DataFrame(
            {"off_topic": scorer.score_table(_table(world)), "toxicity": 0.1, "insult": 0.0}
        )
        dynamics = thread_dynamics(comments, scores, settings=settings)
        at = dynamics["derailed_at"].to_numpy()
        kids: dict[int, list[int]] = {}
        for i, p in enumerate(parent):
            if p >= 0:
                kids.setdefault(int(p), []).append(i)
        for s in range(n):
            followers = [k for k in kids.get(s, []) if label[k] == 1]
            if label[s] != 1 or parent[s] < 0 or label[parent[s]] != 0 or not followers:
                continue
            if at[s] == f"r{s}":
                found.append("exact")
            elif at[s]:
                found.append("early")
            elif any(at[k] for k in followers):
                found.append("late")
            else:
                found.append("missed")
        replies = (label == 0) & (parent >= 0)
        real_marked += int((at[replies] != "").sum())
        real_replies += int(replies.sum())
    shares = {str(k): float(v) for k, v in pd.Series(found).value_counts(normalize=True).items()}
    return {
        "subthreads": len(found),
        **{k: round(v, 3) for k, v in shares.items()},
        "real_replies_derailed": round(real_marked / real_replies, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--after", type=Path, help="a saved scorer instead of fitting one")
    args = parser.parse_args()
    data = args.datasets
    toxichat = _toxichat_threads(data)
    held_out = [t for t in toxichat + _ruddit_threads(data) if _stable_fraction(t[0]) >= 0.8]
    chains = {key for key, _, _ in toxichat}
    before = Moderator.load().bundle.off_topic
    after = (
        joblib.load(args.after)
        if args.after
        else fit_off_topic(data, split_training_rows(load_corpus(data)).background)
    )
    for name, scorer in (("shipped", before), ("fitted", after)):
        metrics = heldout_intruders(scorer, held_out, chains=chains, seed=1)
        metrics.update(evaluate_off_topic(scorer, data))
        for key, m in metrics.items():
            extra = m.get("roc_auc_within_strata", m.get("macro_f1_official", ""))
            print(f"{name:8} {key:28} ROC-AUC {m['roc_auc']:.4f} {extra}")
        for walk_back, stop_words in ((False, True), (True, False), (True, True)):
            settings = Derailment(walk_back=walk_back, stop_words=stop_words)
            starts = derail_starts(scorer, held_out, chains, settings)
            words = "topic words" if stop_words else "every word"
            print(f"{name:8} derail starts, walk back {walk_back!s:5}, {words}: {starts}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
