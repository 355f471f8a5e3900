"""What the bundle tests share: sample texts, stand-in and small real off-topic scorers, a small
fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from labelled_fixtures import labelled_dir

from moderation.corpus import load_corpus
from moderation.model import HostilityModel
from moderation.offtopic import OffTopicScorer

TEXTS = ["You are a pathetic idiot.", "", "Lovely photos of the harbour.", "fuck this"]


class StubOffTopic:
    """Stands in for the off-topic scorer: any picklable object is stored as is."""

    def __init__(self) -> None:
        self.metrics = {"roc_auc": 0.5}


def small_model() -> HostilityModel:
    """The hostility model fitted on the small labelled sample's redistributable rows."""
    frame = load_corpus(labelled_dir())
    return HostilityModel().fit(frame[frame["redistributable"]], seed=0)


#: Threads for a small real off-topic scorer: (key, article, comments).
THREADS = [
    ("budget", "City council approves the new budget for schools and roads",
     ["The school budget finally gets the roads fixed", "Council should spend more on schools",
      "Roads first, then schools, the budget is tight"]),
    ("football", "Local football team wins the cup final after penalties",
     ["What a final, the penalties were tense", "The team deserved the cup this season",
      "Penalties are a cruel way to win a final"]),
    ("weather", "Storm brings heavy rain and flooding to the coast",
     ["The flooding on the coast road is terrible", "Heavy rain again, stay safe near the coast",
      "The storm flooded my basement"]),
]  # fmt: skip


def small_off_topic() -> OffTopicScorer:
    """A real off-topic scorer (TF-IDF + gradient-boosted trees) fitted in well under a second."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer

    from moderation.offtopic import build_worlds, featurize_worlds, fit_classifier

    texts = [t for _, a, cs in THREADS for t in [a, *cs]]
    scorer = OffTopicScorer(
        TfidfVectorizer(sublinear_tf=True, stop_words="english", dtype=np.float32).fit(texts),
        HistGradientBoostingClassifier(max_iter=20, min_samples_leaf=2, random_state=0),
    )
    rows = featurize_worlds(scorer, build_worlds(THREADS * 3, chains=set(), seed=0, worlds=3))
    fit_classifier(scorer.classifier, rows)
    return scorer


def thread_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A validated thread with an article, and its context, as ``Moderator.score`` builds them."""
    from moderation.schema import validate_comments
    from moderation.thread import attach_context

    comments = pd.DataFrame(
        {
            "comment_id": ["a", "b", "c", "d"],
            "thread_id": ["t", "t", "t", "t"],
            "parent_id": ["", "a", "b", ""],
            "text": [
                "The school budget finally gets the roads fixed",
                "Penalties are a cruel way to win a final",
                "Roads first, then schools",
                "The storm flooded my basement",
            ],
        }
    )
    articles = pd.DataFrame(
        {"thread_id": ["t"], "title": ["Council budget"], "body": ["Schools and roads"]}
    )
    valid = validate_comments(comments)
    return valid, attach_context(valid, articles)
