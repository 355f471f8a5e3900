"""What the bundle tests share: sample texts, a stand-in off-topic scorer, a small fitted model."""

from __future__ import annotations

from labelled_fixtures import labelled_dir

from moderation.corpus import load_corpus
from moderation.model import HostilityModel

TEXTS = ["You are a pathetic idiot.", "", "Lovely photos of the harbour.", "fuck this"]


class StubOffTopic:
    """Stands in for the off-topic scorer: any picklable object is stored as is."""

    def __init__(self) -> None:
        self.metrics = {"roc_auc": 0.5}


def small_model() -> HostilityModel:
    """The hostility model fitted on the small labelled sample's redistributable rows."""
    frame = load_corpus(labelled_dir())
    return HostilityModel().fit(frame[frame["redistributable"]], seed=0)
