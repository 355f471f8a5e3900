"""train_bundle / evaluate_bundle end to end on the fixtures, plus one slow real-data run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from labelled_fixtures import labelled_dir, release_copy

from moderation import schema
from moderation.bundle import MODEL_CARD, load_bundle
from moderation.corpus import hostile_template_sentences
from moderation.evaluate import evaluate_bundle, write_report
from moderation.model import HostilityModel
from moderation.train import (
    HOSTILE_FAMILY_WEIGHTS,
    binary_metrics,
    choose_thresholds,
    counterfactual_rows,
    fit_hostility,
    targets_table,
    toxic_shares,
    train_bundle,
)

LABELLED = labelled_dir()
REAL_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


#: Invented Ruddit threads (post id, title slug, comments) added for the off-topic fit.
THREADS = [
    ("q0", "ferry_timetable", ["The ferry leaves at nine now.", "The ferry timetable is online."]),
    ("q1", "garden_tips", ["Water the tomatoes early.", "Tomatoes need sun and water."]),
    ("q10", "bike_lanes", ["The new bike lanes are wide.", "Bike lanes make riding safer."]),
    ("q16", "bread_baking", ["Sourdough needs a starter.", "My bread starter died again."]),
    ("q19", "chess_openings", ["The sicilian opening is sharp.", "I play the sicilian too."]),
]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixtures, with ToxiChat and Ruddit gzipped as in the real release (the off-topic fit
    reads them), plus a few Ruddit threads so that the off-topic fit's held-out fifth of
    threads (by key hash: q10, q16, q19) is not empty."""
    return release_copy(tmp_path_factory.mktemp("datasets"), THREADS)


@pytest.fixture(scope="module")
def trained(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "fixture-model"
    train_bundle(datasets, out, seed=0)
    return out


def test_bundle_records_sources_thresholds_and_metrics(trained: Path) -> None:
    bundle = load_bundle(trained)
    manifest = bundle.manifest
    assert set(manifest["sources"]) == {
        "toxic-spans-sentences", "davidson", "cat", "convabuse", "ruddit", "toxichat",
        "identity-neutral", "hostile-templates",
    }  # fmt: skip
    # Bias mitigation: neutral identity-mention sentences written for this project.
    assert manifest["sources"]["identity-neutral"]["rows"] > 1000
    # Threats without swear words and group derogation, with hard negatives.
    hostile = manifest["sources"]["hostile-templates"]
    assert hostile["labels"]["threat"]["positives"] > 1000
    assert 0 < hostile["labels"]["threat"]["positives"] < hostile["labels"]["threat"]["rows"]
    assert manifest["training"]["hostile_template_weight"] == hostile["weight"] > 0
    assert set(manifest["thresholds_at_precision"]) == set(schema.LABELS)
    # Whole toxic-spans posts (all toxic) are evaluated as held-out but never fitted.
    assert "toxic-spans-civil" in manifest["heldout_sources"]
    assert manifest["training"]["not_fitted"] == ["toxic-spans-civil"]
    assert 0.0 <= manifest["training"]["sentence_weight"] <= 1.0
    # Identity words are hidden from every label but identity_attack.
    assert "identity_attack" not in manifest["training"]["blind_labels"]
    assert "toxicity" in manifest["training"]["blind_labels"]
    assert "muslim" in manifest["training"]["blind_terms"]
    for info in manifest["sources"].values():
        assert info["redistributable"] is True
        assert info["licence"]
    assert set(manifest["thresholds"]) == set(schema.LABELS)
    assert all(0.0 <= t <= 1.0 for t in manifest["thresholds"].values())
    metrics = manifest["metrics"]
    assert "olid" in metrics["cross_domain"]
    assert "olid" not in metrics["heldout"]
    assert "convabuse" in metrics["heldout"]
    assert "toxic-spans-civil" in metrics["heldout"]
    spans = metrics["toxic_spans_test"]  # the fixture's SemEval test file: one post
    assert (spans["posts"], spans["sentences"], spans["toxic_sentences"]) == (2, 2, 1)
    card = (trained / MODEL_CARD).read_text(encoding="utf-8")
    for needle in ("Intended use", "pickle", "load only bundles you trust", "data/README.md"):
        assert needle in card


def test_restricted_sources_only_on_request(datasets: Path, tmp_path: Path) -> None:
    bundle = train_bundle(datasets, tmp_path / "research", include_restricted=True)
    assert "olid" in bundle.manifest["sources"]
    assert "olid" not in bundle.manifest["metrics"]["cross_domain"]
    assert "do not redistribute" in (bundle.path / MODEL_CARD).read_text(encoding="utf-8")


def test_same_seed_same_model(datasets: Path, trained: Path, tmp_path: Path) -> None:
    again = train_bundle(datasets, tmp_path / "again", seed=0)
    texts = ["you idiot", "lovely harbour", ""]
    pd.testing.assert_frame_equal(
        again.hostility.predict(texts), load_bundle(trained).hostility.predict(texts)
    )
    assert again.manifest["thresholds"] == load_bundle(trained).manifest["thresholds"]


def test_evaluate_and_report(trained: Path, datasets: Path, tmp_path: Path) -> None:
    report = evaluate_bundle(load_bundle(trained), datasets)
    assert set(report["heldout"]) >= {"convabuse", "toxichat"}
    assert report["olid_subtask_a"]["n"] == 4
    md, js = write_report(report, tmp_path / "eval")
    assert json.loads(js.read_text(encoding="utf-8"))["name"] == "fixture-model"
    text = md.read_text(encoding="utf-8")
    assert "Cross-domain" in text
    assert "| olid | toxicity |" in text


def test_the_training_seed_reaches_the_off_topic_fit(
    datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moderation.train as train

    class Stop(Exception):
        pass

    seen: dict[str, object] = {}

    def recording(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(train, "fit_off_topic", recording)
    with pytest.raises(Stop):
        train_bundle(datasets, tmp_path / "seeded", seed=7)
    assert seen["seed"] == 7


def test_card_targets_are_judged_from_the_recorded_numbers() -> None:
    per_identity = {
        "a": {"subgroup_auc": 0.97, "bpsn_auc": 0.91},
        "b": {"subgroup_auc": 0.94, "bpsn_auc": 0.95},
    }
    metrics = {
        "olid_subtask_a": {"macro_f1": 0.81},
        "toxic_spans_test": {"span_f1": 0.5},
        "identity_templates": {"per_identity": per_identity},
        "long_text_insults": {"insult": {"combined": 0.7}, "toxicity": {"combined": 0.4}},
        "off_topic": {
            "intruders_heldout": {"roc_auc": 0.95, "roc_auc_within_strata": 0.91},
            "semeval2015_cqa_test": {
                "roc_auc": 0.7, "macro_f1_official": 0.46, "published_best_macro_f1": 0.572,
            },
        },
    }  # fmt: skip
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")[2]
        for line in targets_table(metrics, {}).splitlines()[2:]
    }
    verdict = {target.split(",")[0]: v for target, v in rows.items()}
    assert verdict["#3 OLID sub-task A official test"] == "met"
    assert verdict["#3 Davidson 5-fold CV"] == "not measured"  # needs evaluate --full
    assert verdict["#3 Toxic-spans official test"] == "**not met**"
    assert [v for t, v in rows.items() if "Identity" in t] == ["**not met**", "met"]
    long = "#3 One insult in a long civil comment lifts `insult` / `toxicity` to the threshold "
    assert [v for t, v in rows.items() if t.startswith(long)] == ["**not met**"]  # 40 % of pairs
    metrics["long_text_insults"] = {"insult": {"combined": 0.8}, "toxicity": {"combined": 0.76}}
    partly = [line for line in targets_table(metrics, {}).splitlines() if long in line]
    assert "| **partly met** |" in partly[0] and "24 % stay below" in partly[0]
    assert verdict["#4 SemEval-2015 CQA official test"] == "**not met**"
    assert verdict["#4 Swapped-context replies on held-out threads"] == "met"
    assert "0.460 (published best 0.572)" in targets_table(metrics, {})


def test_toxic_shares_come_from_the_manifest() -> None:
    by_source = {"a": {"n": 100, "positives": 2}, "b": {"n": 10, "positives": 8}}
    manifest = {
        "calibration": {"validation": {"toxicity": {"rows": 200, "positives": 80}}},
        "thresholds_at_precision": {"toxicity": {"0.8": {"test_by_source": by_source}}},
    }
    shares = toxic_shares(manifest)
    assert shares["validation"] == pytest.approx(0.4)
    assert shares["per_source"] == pytest.approx((0.02 + 0.8) / 2)
    assert shares["lowest"] == ("a", 0.02) and shares["highest"] == ("b", 0.8)
    assert toxic_shares({})["validation"] is None


def test_counterfactual_rows_swap_identity_words_and_keep_labels() -> None:
    rows = pd.DataFrame(
        {"text": ["Muslim idiots everywhere", "nice day", "gay and black"], "toxicity": [1.0, 0, 1]}
    )
    out = counterfactual_rows(rows, ["muslim", "gay", "black", "jewish"], seed=0)
    assert len(out) == 2  # only the rows that mention a term
    assert out["toxicity"].tolist() == [1.0, 1.0]
    assert not out["text"].str.contains("Muslim").any()
    assert out["text"].iloc[0].endswith(" idiots everywhere")
    assert out.equals(counterfactual_rows(rows, ["muslim", "gay", "black", "jewish"], seed=0))


def test_praise_templates_weigh_more_and_the_family_column_is_not_fitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``HOSTILE_FAMILY_WEIGHTS`` multiplies the template weight of its families only."""
    seen: dict[str, object] = {}

    def fake_fit(
        self: HostilityModel,
        corpus: pd.DataFrame,
        *,
        seed: int = 0,
        sample_weight: np.ndarray,
        unlabelled: object = None,
    ) -> HostilityModel:
        seen["corpus"], seen["weights"] = corpus, sample_weight
        return self

    monkeypatch.setattr(HostilityModel, "fit", fake_fit)
    templates = hostile_template_sentences("heldout", with_family=True)
    fit_hostility(
        templates.iloc[:0].drop(columns="family"),
        identity_neutral_weight=0,
        hostile_templates=templates,
        hostile_template_weight=0.5,
        hostile_family_weights={"person-praise": 4.0},
    )
    corpus, weights = seen["corpus"], seen["weights"]
    assert isinstance(corpus, pd.DataFrame) and "family" not in corpus.columns
    praise = (templates["family"] == "person-praise").to_numpy()
    assert praise.any() and (~praise).any()
    assert np.allclose(np.asarray(weights)[praise], 2.0)
    assert np.allclose(np.asarray(weights)[~praise], 0.5)
    assert set(HOSTILE_FAMILY_WEIGHTS) <= set(
        hostile_template_sentences(with_family=True)["family"]
    )


def test_choose_thresholds_maximises_f1() -> None:
    labels = pd.DataFrame({label: np.nan for label in schema.LABELS}, index=range(6))
    labels["toxicity"] = [0, 0, 0, 1, 1, 1]
    labels["insult"] = [1, 1, 1, 1, 1, 1]  # one class only -> default
    scores = pd.DataFrame({label: 0.5 for label in schema.LABELS}, index=range(6))
    scores["toxicity"] = [0.1, 0.2, 0.6, 0.7, 0.8, 0.9]
    thresholds = choose_thresholds(labels, scores)
    assert thresholds["toxicity"] == pytest.approx(0.7)
    assert thresholds["insult"] == 0.5
    assert thresholds["threat"] == 0.5


def test_binary_metrics_single_class_has_no_auc() -> None:
    m = binary_metrics(np.array([1.0, 1.0]), np.array([0.2, 0.9]), 0.5)
    assert m["roc_auc"] is None
    assert (m["n"], m["positives"], m["f1"]) == (2, 2, pytest.approx(2 / 3, abs=1e-4))


#: Held-out ROC-AUC floors, a little below what the shipped bundle measured (see MODEL_CARD.md).
FLOORS = {
    ("heldout", "davidson", "toxicity"): 0.97,
    ("heldout", "convabuse", "toxicity"): 0.94,
    ("heldout", "ruddit", "toxicity"): 0.90,
    ("heldout", "toxichat", "toxicity"): 0.80,
    ("heldout", "cat", "toxicity"): 0.82,
    ("heldout", "toxic-spans-sentences", "toxicity"): 0.93,
    ("heldout", "toxic-spans-sentences", "insult"): 0.92,
    ("heldout", "toxic-spans-civil", "insult"): 0.77,
    ("heldout", "toxic-spans-civil", "threat"): 0.73,
    ("heldout", "convabuse", "identity_attack"): 0.88,
    ("heldout", "toxichat", "identity_attack"): 0.75,
    ("cross_domain", "jigsaw", "toxicity"): 0.93,
    ("cross_domain", "olid", "toxicity"): 0.80,
    ("cross_domain", "c3", "toxicity"): 0.72,
    ("cross_domain", "ucc", "toxicity"): 0.76,
}


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DATASETS.is_dir(), reason="shared datasets not available")
def test_real_training_meets_floors(tmp_path: Path) -> None:
    started = time.monotonic()
    bundle = train_bundle(REAL_DATASETS, tmp_path / "real", seed=0)
    assert time.monotonic() - started < 600
    metrics = bundle.manifest["metrics"]
    for (block, source, label), floor in FLOORS.items():
        assert metrics[block][source][label]["roc_auc"] >= floor, (block, source, label)
    assert metrics["olid_subtask_a"]["macro_f1"] >= 0.71
    assert metrics["toxic_spans_test"]["sentence_roc_auc"] >= 0.87
    # Identity blinding trades a little of this real-comment set (0.909 -> 0.900, data/README.md)
    # for the templates' per-identity targets.
    assert metrics["identity_bias"]["toxicity_nonfuzzed_testset"]["roc_auc"] >= 0.89
    templates = metrics["identity_templates"]
    assert templates["final_metric"] >= 0.94
    assert min(m["bpsn_auc"] for m in templates["per_identity"].values()) >= 0.88
