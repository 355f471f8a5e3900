"""Evasion and dilution probes, checked with a keyword model whose answers are known."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderation import schema
from moderation.robustness import _insert, long_text_insults, obfuscation_robustness


class KeywordModel:
    """Scores 1 for every label when the literal word ``idiot`` is in the text, else 0."""

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        hit = np.array([float("idiot" in t.lower()) for t in texts])
        return pd.DataFrame({label: hit for label in schema.LABELS})


CIVIL = "The council met on Tuesday. It discussed the budget. Parking was raised. A vote follows."


def corpus_rows() -> pd.DataFrame:
    rows = [
        {"text": f"{CIVIL} Item {i}.", "split": "test", "source": "news", schema.TOXICITY: 0.0}
        for i in range(30)
    ]
    rows += [
        {
            "text": f"You idiot number {i}",
            "split": "test",
            "source": "news",
            schema.TOXICITY: 1.0,
            schema.INSULT: 1.0,
        }
        for i in range(10)
    ]
    rows.append(
        {
            "text": "train only idiot",
            "split": "train",
            "source": "news",
            schema.TOXICITY: 1.0,
            schema.INSULT: 1.0,
        }
    )
    frame = pd.DataFrame(rows)
    for label in schema.LABELS:
        if label not in frame:
            frame[label] = np.nan
    return frame


@pytest.fixture
def datasets(tmp_path: Path) -> Path:
    folder = tmp_path / "toxic-spans-civil"
    folder.mkdir()
    text = "Honestly you are an idiot and everyone knows it"
    begin = text.index("you")
    spans = list(range(begin, text.index(" and")))
    pd.DataFrame({"text": [text, "No spans here"], "spans": [json.dumps(spans), "[]"]}).to_csv(
        folder / "semeval2021_tsd_test.csv", index=False
    )
    return tmp_path


def test_disguised_spans_lose_a_literal_keyword_but_glued_ones_keep_it(datasets: Path) -> None:
    out = obfuscation_robustness(KeywordModel(), corpus_rows(), datasets, 0.5, ["news"])
    assert out["posts"] == 1  # the post without gold spans is left out
    kinds = out["kinds"]
    assert kinds["clean"] == {"roc_auc": 1.0, "recall": 1.0}
    assert kinds["leet"]["recall"] == 0.0  # "1d10t"
    assert kinds["homoglyph"]["recall"] == 0.0
    assert kinds["glued"]["recall"] == 1.0  # "youareanidiot" still contains the word


def test_missing_test_posts_give_no_result(tmp_path: Path) -> None:
    assert obfuscation_robustness(KeywordModel(), corpus_rows(), tmp_path, 0.5, ["news"]) == {}


def test_an_insult_inside_a_long_civil_comment_is_measured_against_both_alone() -> None:
    out = long_text_insults(KeywordModel(), corpus_rows(), {"insult": 0.5}, ["news"])
    assert out["pairs"] == 30
    for label in ("insult", "toxicity"):
        entry = out[label]
        assert entry["insult_alone"] == 1.0 and entry["civil_alone"] == 0.0
        assert entry["combined"] == 1.0 and entry["kept"] == 1.0


def test_the_insult_goes_between_sentences() -> None:
    placed = _insert(CIVIL, "You idiot.", 0.5)
    assert placed == (
        "The council met on Tuesday. It discussed the budget. You idiot. Parking was raised. "
        "A vote follows."
    )
    assert _insert("One sentence only", "You idiot.", 0.9) == "One sentence only You idiot."
