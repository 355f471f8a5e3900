"""Evaluation: bias metrics, thresholds at precision, curves, report, card refresh, notebook."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from labelled_fixtures import labelled_dir, release_copy

from moderation import evaluate, schema
from moderation.bundle import MANIFEST, MODEL_CARD, PIPELINE, load_bundle, sha256_file
from moderation.corpus import (
    IDENTITY_TERMS,
    davidson_classes,
    identity_neutral_sentences,
    load_corpus,
    stable_bucket,
)
from moderation.evaluate import (
    METRIC_KEYS,
    curves,
    davidson_cv,
    evaluate_bundle,
    off_topic_metrics,
    refresh_card,
    write_report,
)
from moderation.train import (
    bias_aucs,
    generalized_mean,
    identity_template_bias,
    precision_recall_at,
    template_identities,
    thresholds_at_precision,
    train_bundle,
)

LABELLED = labelled_dir()
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02-evaluation-curves.ipynb"


def frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    out = pd.DataFrame({label: np.full(n, np.nan) for label in schema.LABELS})
    for name, values in columns.items():
        out[name] = values
    return out


# --------------------------------------------------------------------------- bias metrics


def test_bias_aucs_follow_borkan_definitions() -> None:
    # Subgroup rows 0-3; background rows 4-7.
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=bool)
    s = np.array([0.6, 0.7, 0.8, 0.9, 0.1, 0.2, 0.5, 0.65])
    sub = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    m = bias_aucs(y, s, sub)
    assert m["subgroup_auc"] == 1.0  # within the subgroup toxic > non-toxic
    # BPSN: subgroup negatives {0.6, 0.7} vs background positives {0.5, 0.65}: 1 of 4 pairs
    # ranked right (0.65 > 0.6).
    assert m["bpsn_auc"] == pytest.approx(0.25)
    assert m["bnsp_auc"] == 1.0  # subgroup positives {0.8, 0.9} vs background negatives
    assert (m["n"], m["positives"]) == (4, 2)


def test_bias_auc_is_none_without_both_classes() -> None:
    y = np.array([1, 1, 0], dtype=bool)
    m = bias_aucs(y, np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0], dtype=bool))
    assert m["subgroup_auc"] is None


def test_generalized_mean_is_pulled_to_the_worst_value() -> None:
    assert generalized_mean([0.9, 0.9]) == pytest.approx(0.9)
    low = generalized_mean([0.99, 0.99, 0.99, 0.5])
    assert 0.5 < low < 0.66  # the arithmetic mean would be 0.87


def test_template_identities_prefer_the_longest_term() -> None:
    terms = ["american", "african", "african american", "middle aged", "old", "older"]
    phrases = ["Jo is a nice african american", "Being older is fun", "hug middle aged", "hi"]
    assert template_identities(phrases, terms) == ["african american", "older", "middle aged", None]


def test_identity_template_bias_on_a_small_template_set(tmp_path: Path) -> None:
    folder = tmp_path / "identity-bias-templates"
    (folder / "bias_madlibs_wordlists").mkdir(parents=True)
    (folder / "bias_madlibs_wordlists" / "adjectives_people.txt").write_text("gay\nold\n")
    rows = [
        ("name_adj", "toxic", "Sam is a stupid gay"),
        ("name_adj", "nontoxic", "Sam is a kind gay"),
        ("name_adj", "toxic", "Sam is a stupid old"),
        ("name_adj", "nontoxic", "Sam is a kind old"),
        ("you_occupation", "toxic", "You are a stupid nurse"),
        ("you_occupation", "nontoxic", "You are a kind nurse"),
    ]
    pd.DataFrame(rows, columns=["template", "toxicity", "phrase"]).to_csv(
        folder / "en_sentence_templates.csv", index=False
    )

    class Scorer:  # "gay" raises every score: neutral "gay" sentences outscore real abuse
        def predict(self, texts: list[str]) -> pd.DataFrame:
            score = [0.5 * ("stupid" in t) + 0.6 * ("gay" in t) for t in texts]
            return pd.DataFrame({label: score for label in schema.LABELS})

    out = identity_template_bias(Scorer(), tmp_path)
    assert out["identities"] == 2
    gay, old = out["per_identity"]["gay"], out["per_identity"]["old"]
    assert gay["subgroup_auc"] == 1.0
    assert gay["bpsn_auc"] < 0.5 < old["bpsn_auc"]
    assert out["identities_below_bpsn_target"] == 1
    assert 0.0 < out["final_metric"] <= 1.0
    assert identity_template_bias(Scorer(), tmp_path / "absent") == {}


def test_identity_neutral_sentences_are_non_toxic_and_not_the_test_frames() -> None:
    neutral = identity_neutral_sentences()
    assert len(neutral) > 1000
    assert (neutral[list(schema.LABELS)] == 0).all().all()
    assert neutral["redistributable"].all()
    assert neutral["split"].eq("train").all()
    assert neutral["text"].is_unique
    test_frames = r"^(?:\w+ is a \w+ |Being \w+ is |You are a \w+ |I am \w+$|I hate |hug |kill )"
    assert not neutral["text"].str.contains(test_frames, regex=True).any()
    assert all(t.lower() == t for t in IDENTITY_TERMS)


# --------------------------------------------------------------------------- thresholds


def test_thresholds_at_precision_take_the_highest_recall_meeting_the_target() -> None:
    labels = frame(toxicity=[0, 1, 0, 1, 1, 1], insult=[0, 0, 0, 0, 0, 0])
    scores = pd.DataFrame({label: 0.5 for label in schema.LABELS}, index=range(6))
    scores["toxicity"] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    out = thresholds_at_precision(labels, scores, targets=(0.6, 0.8, 1.0))
    # score >= 0.2 flags 5 rows, 4 toxic: precision 0.8, recall 1.
    assert out["toxicity"]["0.8"] == {
        "threshold": 0.2, "precision": 0.8, "recall": 1.0, "flagged": 5, "n": 6, "positives": 4,
    }  # fmt: skip
    assert out["toxicity"]["0.6"]["threshold"] == 0.1 or out["toxicity"]["0.6"]["recall"] == 1.0
    assert out["toxicity"]["1"]["threshold"] == 0.4  # 3 of 3 toxic
    assert out["insult"]["0.8"]["threshold"] is None  # no positives: unreachable
    assert out["threat"]["0.8"]["n"] == 0  # unknown everywhere


def test_thresholds_at_precision_weigh_every_source_the_same() -> None:
    # Source "big": 8 rows, all toxic, scored 0.3. Source "small": 2 rows, one toxic (0.9),
    # one not (0.3). Pooled, t = 0.3 has precision 9/10; balanced, each source weighs 1 and
    # t = 0.3 has precision (1 + 0.5) / (1 + 1) = 0.75, so reaching 0.8 needs t = 0.9.
    labels = frame(toxicity=[1.0] * 8 + [1.0, 0.0])
    labels["source"] = ["big"] * 8 + ["small"] * 2
    scores = pd.DataFrame({label: [0.3] * 8 + [0.9, 0.3] for label in schema.LABELS})
    assert thresholds_at_precision(labels, scores)["toxicity"]["0.8"]["threshold"] == 0.9
    pooled = thresholds_at_precision(labels.drop(columns="source"), scores)
    assert pooled["toxicity"]["0.8"]["threshold"] == 0.3
    checked = precision_recall_at(labels, scores, {"toxicity": 0.3})["toxicity"]
    assert checked["precision"] == 0.75
    assert checked["by_source"]["small"] == {
        "precision": 0.5,
        "recall": 1.0,
        "n": 2,
        "positives": 1,
    }


def test_precision_recall_at_threshold() -> None:
    labels = frame(toxicity=[0, 1, 1, 0])
    scores = pd.DataFrame({"toxicity": [0.9, 0.8, 0.1, 0.2]})
    out = precision_recall_at(labels, scores, {"toxicity": 0.5, "insult": None})
    assert out == {
        "toxicity": {
            "threshold": 0.5, "precision": 0.5, "recall": 0.5, "flagged": 2, "n": 4, "positives": 2,
        }
    }  # fmt: skip


def test_curves_sample_the_threshold_grid() -> None:
    labels = frame(toxicity=[0, 0, 1, 1], insult=[1, 1, 1, 1])
    scores = pd.DataFrame({label: [0.1, 0.4, 0.35, 0.8] for label in schema.LABELS})
    out = curves(labels, scores)
    assert set(out) == {"toxicity"}  # insult has one class only
    c = out["toxicity"]
    assert len(c["thresholds"]) == len(c["precision"]) == len(c["recall"]) == 101
    assert (c["recall"][0], c["fpr"][0], c["precision"][0]) == (1.0, 1.0, 0.5)
    assert c["precision"][-1] is None  # nothing scores >= 1.0
    assert c["roc_auc"] == 0.75


# --------------------------------------------------------------------------- davidson head


class _FakeModel:
    """Stands in for a refitted recipe: records what it was fitted on and asked to vectorise."""

    def __init__(self, rows: pd.DataFrame, calls: list[list[str]]) -> None:
        self.davidson = rows.loc[rows["source"] == "davidson", "text"].tolist()
        self.calls = calls

    def transform(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[t.count("a"), len(t) / 10.0, 1.0] for t in texts], dtype=np.float64)


def test_davidson_cv_head_sees_only_the_other_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    tweets = davidson_classes(LABELLED)
    folds = 3
    fold = np.array([stable_bucket(g) % folds for g in tweets["group"]])
    models: list[_FakeModel] = []
    calls: list[list[str]] = []

    def fake_fit(rows: pd.DataFrame, seed: int) -> _FakeModel:
        models.append(_FakeModel(rows, calls))
        return models[-1]

    monkeypatch.setattr(evaluate, "fit_hostility", fake_fit)
    cv = davidson_cv(load_corpus(LABELLED), LABELLED, folds=folds)
    assert cv["n"] == len(tweets)
    assert set(cv["class_f1"]) == {"hate", "offensive", "neither"}
    used = [k for k in range(folds) if (fold != k).any() and (fold == k).any()]
    assert len(models) == len(used) and len(calls) == 2 * len(used)
    for i, k in enumerate(used):
        assert models[i].davidson == tweets.loc[fold != k, "text"].tolist()  # the refit's
        assert calls[2 * i] == tweets.loc[fold != k, "text"].tolist()  # the head's training rows
        assert calls[2 * i + 1] == tweets.loc[fold == k, "text"].tolist()  # only predicted


# --------------------------------------------------------------------------- end to end


#: Invented Ruddit threads so the off-topic fit has held-out threads (as in test_train).
THREADS = [
    ("q0", "ferry_timetable", ["The ferry leaves at nine now.", "The ferry timetable is online."]),
    ("q10", "bike_lanes", ["The new bike lanes are wide.", "Bike lanes make riding safer."]),
    ("q16", "bread_baking", ["Sourdough needs a starter.", "My bread starter died again."]),
]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixtures with ToxiChat and Ruddit gzipped as in the real release."""
    return release_copy(tmp_path_factory.mktemp("datasets"), THREADS)


@pytest.fixture(scope="module")
def report(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("models") / "fixture-model"
    train_bundle(datasets, out, seed=0)
    return evaluate_bundle(load_bundle(out), datasets, full=True)


def test_full_report_has_every_section(report: dict[str, Any], tmp_path: Path) -> None:
    assert "toxicity" in report["curves"]
    assert set(report["thresholds_at_precision"]) == set(schema.LABELS)
    evaluation = report["evaluation"]
    assert evaluation["olid_research"]["n"] == 4
    cv = evaluation["davidson_cv"]
    assert cv["n"] == 14
    assert set(cv["class_f1"]) == {"hate", "offensive", "neither"}
    assert "davidson" in evaluation["leave_one_source_out"]
    load = evaluation["review_load"]
    assert load, "no source with civil and toxic test comments"
    for row in load.values():
        assert 0 < row["toxic_share"] < 1 and row["n"] <= evaluate.REVIEW_LOAD_ROWS
        assert 0 <= row["civil_escalated"] <= 1 and 0 <= row["toxic_escalated"] <= 1
    md, js = write_report(report, tmp_path)
    text = md.read_text(encoding="utf-8")
    for needle in (
        "## Summary", "Davidson 5-fold", "Leave one training source out",
        "What the default rules send to review",
    ):  # fmt: skip
        assert needle in text
    assert json.loads(js.read_text(encoding="utf-8"))["curves"]["toxicity"]["n"] > 0


def test_refresh_card_keeps_the_pipeline_and_valid_hashes(
    report: dict[str, Any], tmp_path: Path, datasets: Path
) -> None:
    bundle_dir = tmp_path / "copy"
    shutil.copytree(report["bundle"], bundle_dir)
    before = sha256_file(bundle_dir / PIPELINE)
    refresh_card(bundle_dir, datasets, report=report)
    bundle = load_bundle(bundle_dir)  # hashes still valid
    assert sha256_file(bundle_dir / PIPELINE) == before
    manifest = json.loads((bundle_dir / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["thresholds_at_precision"] == report["thresholds_at_precision"]
    assert "davidson_cv" in manifest["evaluation"]
    assert bundle.manifest["files"][MODEL_CARD] == sha256_file(bundle_dir / MODEL_CARD)
    card = (bundle_dir / MODEL_CARD).read_text(encoding="utf-8")
    for needle in (
        "Thresholds at a target precision", "leave one training source out", "Davidson",
        "What the default rules send to review",
    ):  # fmt: skip
        assert needle.lower() in card.lower()


#: Report keys that are not measurements (they describe the run or hold curves).
NOT_METRICS = {
    "bundle", "name", "thresholds", "trained_sources", "thresholds_at_precision", "curves",
    "curves_data", "evaluation", "off_topic_copied",
}  # fmt: skip
INTRUDERS = (
    "intruders_heldout", "intruders_heldout_random", "intruders_heldout_similar",
    "intruders_heldout_tangent",
)  # fmt: skip


def test_report_measures_the_off_topic_scorer_again(report: dict[str, Any], tmp_path: Path) -> None:
    recorded = load_bundle(report["bundle"]).manifest["metrics"]["off_topic"]
    for name in INTRUDERS:  # rebuilt from the training split and seed: the training-time numbers
        assert report["off_topic"][name] == recorded[name]
    assert report["off_topic_copied"] == []
    md, _ = write_report(report, tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "## Off-topic scorer (held-out intruder threads and cross-domain sets)" in text
    assert "| intruders (held-out threads) |" in text
    assert "recorded at training time" not in text and "Copied from the manifest" not in text


def test_off_topic_metrics_measure_what_they_can_and_copy_the_rest(
    report: dict[str, Any], datasets: Path, tmp_path: Path
) -> None:
    bundle = load_bundle(report["bundle"])
    stale = {name: {"roc_auc": -1.0, "n": 0, "positives": 0} for name in INTRUDERS}
    manifest = {"metrics": {"off_topic": {**stale, "retired_set": {"roc_auc": 0.5}}}}
    fake = SimpleNamespace(manifest=manifest, off_topic=bundle.off_topic)
    measured, copied = off_topic_metrics(fake, datasets)
    assert copied == ["retired_set"]
    assert all(measured[name] == report["off_topic"][name] for name in INTRUDERS)
    measured, copied = off_topic_metrics(fake, tmp_path)  # no ToxiChat / Ruddit: copied
    assert copied == [*INTRUDERS, "retired_set"]
    assert measured["intruders_heldout"]["roc_auc"] == -1.0


def test_refresh_card_records_every_section_evaluate_measures(
    report: dict[str, Any], tmp_path: Path, datasets: Path
) -> None:
    assert set(report) - NOT_METRICS <= set(METRIC_KEYS)
    changed = copy.deepcopy(report)
    changed["off_topic"]["intruders_heldout"]["roc_auc_within_strata"] = 0.1234
    changed["calibration"]["toxicity"]["ece"] = 0.4321
    bundle_dir = tmp_path / "copy"
    shutil.copytree(report["bundle"], bundle_dir)
    refresh_card(bundle_dir, datasets, report=changed)
    manifest = load_bundle(bundle_dir).manifest
    for key in METRIC_KEYS:
        if key in changed:
            assert manifest["metrics"][key] == changed[key], key
    assert manifest["evaluation"]["evaluate_full_seconds"] > 0
    card = (bundle_dir / MODEL_CARD).read_text(encoding="utf-8")
    assert "within strata 0.1234" in card and "0.4321" in card
    assert "## Targets (issue #3 and #4)" in card
    assert "not met" in card  # the fixtures' numbers are far from the targets
    assert "-o evaluation/ --full --update-card" in card  # the reproduce block
    assert "With `--full`" in card and "about 30 minutes (not timed" not in card  # timed here


def test_evaluate_command_writes_the_report_and_updates_the_card(
    report: dict[str, Any], tmp_path: Path, datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from moderation.cli import cli

    bundle_dir = tmp_path / "bundle"
    shutil.copytree(report["bundle"], bundle_dir)
    calls: list[tuple[Path, Path, bool]] = []

    def evaluated(bundle: Any, datasets_dir: Path, *, full: bool = False) -> dict[str, Any]:
        calls.append((Path(bundle.path), Path(datasets_dir), full))
        return report

    monkeypatch.setattr(evaluate, "evaluate_bundle", evaluated)
    out = tmp_path / "evaluation"
    args = ["evaluate", "--model", str(bundle_dir), "--datasets", str(datasets), "-o", str(out)]
    result = CliRunner().invoke(cli, [*args, "--full", "--update-card"])
    assert result.exit_code == 0, result.stderr
    assert calls == [(bundle_dir, datasets, True)]
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["name"] == "fixture-model"
    assert "## Off-topic scorer" in (out / "report.md").read_text(encoding="utf-8")
    assert "Updated" in result.stderr
    manifest = load_bundle(bundle_dir).manifest  # hashes still valid
    assert manifest["metrics"]["off_topic"] == report["off_topic"]
    before = (bundle_dir / MANIFEST).read_text(encoding="utf-8")
    result = CliRunner().invoke(cli, args)  # without --update-card the bundle is left alone
    assert result.exit_code == 0, result.stderr
    assert calls[-1][2] is False and "Updated" not in result.stderr
    assert (bundle_dir / MANIFEST).read_text(encoding="utf-8") == before


def test_notebook_runs_top_to_bottom(report: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _, js = write_report(report, tmp_path)
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)  # cleared
    os.environ["MODERATION_REPORT"] = str(js)
    try:
        namespace: dict[str, Any] = {"__name__": "__notebook__"}
        for cell in code:
            exec(compile("".join(cell["source"]), str(NOTEBOOK), "exec"), namespace)
    finally:
        del os.environ["MODERATION_REPORT"]
        import matplotlib.pyplot as plt

        plt.close("all")
    assert namespace["labels"]


def test_review_load_table_shows_shares_and_precision() -> None:
    from moderation.train import review_load_table

    table = review_load_table(
        {
            "news": {"n": 200, "toxic_share": 0.05, "civil_escalated": 0.2,
                     "toxic_escalated": 0.6, "precision": 0.136},
            "quiet": {"n": 10, "toxic_share": 0.1, "civil_escalated": 0.0,
                      "toxic_escalated": 0.0, "precision": None},
        }
    )  # fmt: skip
    assert "| news | 200 | 5.0% | 20.0% | 60.0% | 0.14 |" in table
    assert "| quiet | 10 | 10.0% | 0.0% | 0.0% | n/a |" in table
