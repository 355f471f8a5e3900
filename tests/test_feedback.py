"""The feedback loop: exported decisions in, a retrained bundle and an old/new comparison out.

The end-to-end test runs the whole loop on the real example (score → SQLite queue → decide →
export → retrain → score again) with the tiny fixture corpus in ``tests/data/labelled`` as the
base corpus, so it takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from labelled_fixtures import labelled_dir

from moderation import Moderator, schema
from moderation.bundle import default_bundle_path, load_bundle
from moderation.cli import cli
from moderation.corpus import load_corpus
from moderation.errors import TrainingError
from moderation.feedback import (
    FEEDBACK_SOURCE,
    _base_split,
    compare_models,
    feedback_rows,
    fit_with_feedback,
    read_feedback,
    split_by_thread,
)
from moderation.reviewqueue import EXPORT_LABELS, ReviewQueue

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "azerbaijan-csto"
DATA = Path(__file__).parent / "data"
LABELLED = labelled_dir()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def decisions(**labels: list[float]) -> pd.DataFrame:
    n = len(next(iter(labels.values())))
    frame = pd.DataFrame(
        {"text": [f"comment {i}" for i in range(n)], "thread_id": [f"t{i % 3}" for i in range(n)]}
    )
    for label in EXPORT_LABELS:
        frame[label] = labels.get(label, [np.nan] * n)
    return frame


def test_read_feedback_checks_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    decisions(toxicity=[1.0, 0.0, np.nan]).to_csv(path, index=False)
    read = read_feedback(path)
    assert read["toxicity"].tolist()[:2] == [1.0, 0.0]
    assert read["insult"].isna().all()
    path.write_text("text,thread_id,toxicity\nhello,t,maybe\n", encoding="utf-8")
    with pytest.raises(TrainingError, match="row 1: toxicity is 'maybe'; labels are 0, 1"):
        read_feedback(path)
    path.write_text("text,thread_id\nhello,t\n", encoding="utf-8")
    with pytest.raises(TrainingError, match="none of the label columns"):
        read_feedback(path)
    with pytest.raises(TrainingError, match="feedback file not found"):
        read_feedback(tmp_path / "missing.csv")


def test_split_by_thread_keeps_threads_whole() -> None:
    frame = read_feedback(decisions(toxicity=[1.0] * 9))
    train, heldout = split_by_thread(frame)
    assert not set(train["thread_id"]) & set(heldout["thread_id"])
    assert len(train) + len(heldout) == 9
    assert len(heldout) > 0 and len(train) > 0  # several threads: both sides get one
    train, heldout = split_by_thread(frame, heldout_threads=["t1"])
    assert set(heldout["thread_id"]) == {"t1"}
    one = frame.assign(thread_id="only")
    train, heldout = split_by_thread(one)
    assert heldout.empty and len(train) == 9


def test_feedback_rows_skip_off_topic_only_decisions() -> None:
    frame = read_feedback(decisions(toxicity=[1.0, np.nan], off_topic=[np.nan, 1.0]))
    rows = feedback_rows(frame)
    assert len(rows) == 1
    assert rows.loc[0, "source"] == FEEDBACK_SOURCE
    assert rows.loc[0, "toxicity"] == 1.0


def test_compare_models_side_by_side() -> None:
    class Constant:
        def __init__(self, value: float) -> None:
            self.value = value

        def predict(self, texts: list[str]) -> pd.DataFrame:
            return pd.DataFrame({label: [self.value] * len(texts) for label in schema.LABELS})

    heldout = read_feedback(decisions(toxicity=[1.0, 1.0, 0.0]))
    table = compare_models((Constant(0.2), {}), (Constant(0.8), {}), heldout)
    row = table.set_index("label").loc["toxicity"]
    assert (row["n"], row["positives"]) == (3, 2)
    assert row["old_agreement"] == pytest.approx(1 / 3, abs=1e-3)
    assert row["new_agreement"] == pytest.approx(2 / 3, abs=1e-3)
    assert compare_models((Constant(0.2), {}), (Constant(0.8), {}), heldout.iloc[:0]).empty


def test_the_whole_loop(tmp_path: Path) -> None:
    """score → queue (SQLite) → decide → export → retrain → the corrected comment changes."""
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    for comments, articles in (
        (EXAMPLE / "comments.csv", EXAMPLE / "articles.csv"),
        (DATA / "threads.csv", DATA / "articles.csv"),
    ):
        code, _, err = run(
            "score", str(comments), "--articles", str(articles), "-o", str(tmp_path / "s.csv"),
            "--queue", url,
        )  # fmt: skip
        assert code == 0, err

    with ReviewQueue(url) as queue:
        items = queue.list_items().set_index("comment_id")
    assert "c16" in items.index  # "puppet state of Zionist ... corrupt gover,ment": toxicity
    assert "bus-2" in items.index  # the hostile reply of the fixture threads
    # The moderator reads c16 as harsh political criticism, not toxicity: approve.
    decide = {"c16": "--approve", "c03": "--reject", "bus-2": "--reject"}
    for comment_id, verdict in decide.items():
        code, _, err = run(
            "review", "decide", str(items.loc[comment_id, "id"]), verdict,
            "--moderator", "ana", "--queue", url,
        )  # fmt: skip
        assert code == 0, err

    labels_path = tmp_path / "labels.csv"
    code, _, err = run("review", "export-labels", "-o", str(labels_path), "--queue", url)
    assert code == 0, err
    labels = read_feedback(labels_path).set_index("comment_id")
    assert labels.loc["c16", "toxicity"] == 0.0  # approve: the flagged label was wrong

    new_dir = tmp_path / "retrained"
    code, out, err = run(
        "train", "--datasets", str(LABELLED), "-o", str(new_dir), "--feedback", str(labels_path),
        "--feedback-weight", "5", "--heldout-thread", "bus-fares",
    )  # fmt: skip
    assert code == 0, err
    assert "held out from 1 thread(s)" in err
    assert out.startswith("| label | n | positives | agreement old | agreement new")
    assert "| toxicity |" in out  # bus-2's rejection, compared on both models

    bundle = load_bundle(new_dir)
    assert bundle.manifest["feedback"]["heldout_threads"] == ["bus-fares"]
    assert bundle.manifest["sources"][FEEDBACK_SOURCE]["weight"] == 5.0
    assert "## Moderator feedback" in (new_dir / "MODEL_CARD.md").read_text(encoding="utf-8")

    # Same base corpus and settings, without the decisions: the decisions made the difference.
    old = load_bundle(default_bundle_path())
    fit, val, _ = _base_split(load_corpus(LABELLED), False)
    without, _ = fit_with_feedback(fit, val, feedback_rows(labels.iloc[:0]), like=old.hostility)
    text = labels.loc["c16", "text"]
    before = float(without.predict([text]).loc[0, schema.TOXICITY])

    comments = pd.read_csv(EXAMPLE / "comments.csv", dtype=str, keep_default_na=False)
    articles = pd.read_csv(EXAMPLE / "articles.csv", dtype=str, keep_default_na=False)
    rescored = Moderator.load(new_dir).score(comments, articles).set_index("comment_id")
    original = Moderator.load().score(comments, articles).set_index("comment_id")
    after = float(rescored.loc["c16", schema.TOXICITY])
    assert after < before - 0.05, (before, after)
    assert after < float(original.loc["c16", schema.TOXICITY]) - 0.05
