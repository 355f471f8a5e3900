"""Model bundles: save -> load round trip and every way loading must refuse a bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bundle_fixtures import TEXTS, StubOffTopic, small_model

from moderation import bundle as bundle_module
from moderation.bundle import (
    COMPILED,
    DEFAULT_BUNDLE_NAME,
    MANIFEST,
    MODEL_CARD,
    PIPELINE,
    default_bundle_path,
    load_bundle,
    save_bundle,
)
from moderation.errors import ModelLoadError
from moderation.model import HostilityModel


@pytest.fixture(scope="module")
def model() -> HostilityModel:
    return small_model()


@pytest.fixture
def saved(tmp_path: Path, model: HostilityModel) -> Path:
    return save_bundle(
        tmp_path / "bundle",
        hostility=model,
        off_topic=StubOffTopic(),
        manifest_extra={"thresholds": {"toxicity": 0.4}, "sources": {"cat": {}}, "metrics": {}},
        card="# Model card\n\nLoad only bundles you trust.\n",
    )


def edit_manifest(path: Path, **changes: Any) -> None:
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key == "sklearn":
            manifest["versions"]["scikit-learn"] = value
        else:
            manifest[key] = value
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def test_round_trip_identical_predictions(saved: Path, model: HostilityModel) -> None:
    loaded = load_bundle(saved)
    pd.testing.assert_frame_equal(loaded.hostility.predict(TEXTS), model.predict(TEXTS))
    assert isinstance(loaded.off_topic, StubOffTopic)
    assert loaded.thresholds == {"toxicity": 0.4}
    assert sorted(p.name for p in saved.iterdir()) == sorted(
        [PIPELINE, COMPILED, MANIFEST, MODEL_CARD]
    )
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")]  # no temp dirs


def test_manifest_contents(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format_version"] == 2
    assert manifest["pipeline"] == {"file": PIPELINE, "pickle_protocol": 5, "compression": "gzip"}
    assert manifest["labels"] == [
        "toxicity", "severe_toxicity", "insult", "threat", "identity_attack", "profanity",
    ]  # fmt: skip
    assert set(manifest["versions"]) >= {
        "python", "scikit-learn", "numpy", "scipy", "pandas", "joblib",
    }  # fmt: skip
    assert set(manifest["files"]) == {PIPELINE, COMPILED, MODEL_CARD}
    assert all(len(h) == 64 for h in manifest["files"].values())
    for key in ("created", "package_version", "thresholds", "sources", "metrics"):
        assert key in manifest


def test_coefficients_are_float32(saved: Path) -> None:
    loaded = load_bundle(saved)
    assert all(c.dtype == np.float32 for c in loaded.hostility.coef_.values())
    features = loaded.hostility.features_
    assert features is not None
    assert all(not hasattr(v, "stop_words_") for _, v in features.transformer_list)


def test_save_replaces_existing_bundle(saved: Path, model: HostilityModel) -> None:
    save_bundle(saved, hostility=model, off_topic=None, manifest_extra={}, card="v2")
    assert (saved / MODEL_CARD).read_text(encoding="utf-8") == "v2"
    assert load_bundle(saved).off_topic is None


def test_tampered_file_is_named(saved: Path) -> None:
    with (saved / PIPELINE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelLoadError, match=r"pipeline\.pkl\.gz does not match its SHA-256"):
        load_bundle(saved)


def test_tampered_card_is_named(saved: Path) -> None:
    (saved / MODEL_CARD).write_text("edited", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"MODEL_CARD\.md does not match"):
        load_bundle(saved)


def test_missing_manifest(saved: Path) -> None:
    (saved / MANIFEST).unlink()
    with pytest.raises(ModelLoadError, match=r"manifest\.json is missing"):
        load_bundle(saved)


def test_missing_pipeline(saved: Path) -> None:
    (saved / PIPELINE).unlink()
    with pytest.raises(ModelLoadError, match=r"pipeline\.pkl\.gz is missing"):
        load_bundle(saved)


def test_unparsable_manifest(saved: Path) -> None:
    (saved / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"manifest\.json cannot be parsed"):
        load_bundle(saved)


@pytest.mark.parametrize("version", [3, 0, "2", True, None])
def test_wrong_format_version(saved: Path, version: object) -> None:
    edit_manifest(saved, format_version=version)
    with pytest.raises(
        ModelLoadError, match=rf"manifest\.json: format_version {version!r} is not supported.*1, 2"
    ):
        load_bundle(saved)


def test_other_sklearn_version(saved: Path) -> None:
    edit_manifest(saved, sklearn="1.4.2")
    with pytest.raises(ModelLoadError, match=r"scikit-learn 1\.4\.2.*scikit-learn==1\.4\.\*"):
        load_bundle(saved)


def test_patch_version_difference_is_accepted(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = bundle_module.library_versions()
    bumped = {**real, "scikit-learn": real["scikit-learn"].rsplit(".", 1)[0] + ".99"}
    monkeypatch.setattr(bundle_module, "library_versions", lambda: bumped)
    assert load_bundle(saved).hostility is not None


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_bundle(tmp_path / "absent")


def test_crash_while_saving_leaves_no_half_bundle(
    tmp_path: Path, model: HostilityModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bundle_module, "_write_pipeline", boom)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(tmp_path / "b", hostility=model, off_topic=None, manifest_extra={}, card="")
    assert list(tmp_path.iterdir()) == []


def test_default_bundle_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    expected = Path(bundle_module.__file__).resolve().parent.parent / "models" / DEFAULT_BUNDLE_NAME
    if expected.is_dir():
        assert default_bundle_path() == expected
    monkeypatch.setattr(bundle_module, "DEFAULT_BUNDLE_NAME", "no-such-bundle")
    with pytest.raises(ModelLoadError, match="default model bundle not found"):
        default_bundle_path()


def test_copy_of_bundle_still_loads(saved: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copied"
    shutil.copytree(saved, copy)
    assert load_bundle(copy).path == copy


def test_hash_index_is_read_when_first_needed_after_a_hash_check(saved: Path) -> None:
    loaded = load_bundle(saved)
    assert loaded.arrays is not None
    assert "b0_keys" in loaded.arrays
    assert not any(name.endswith("_keys") for name in loaded.arrays._loaded)  # type: ignore[attr-defined]
    with (saved / COMPILED).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelLoadError, match=r"compiled\.npz does not match its SHA-256"):
        loaded.hostility  # noqa: B018 -- building the batch model reads the rest


def test_loaded_bundle_pickles_and_scores_the_same(saved: Path) -> None:
    import pickle

    loaded = load_bundle(saved)
    copy = pickle.loads(pickle.dumps(loaded))
    pd.testing.assert_frame_equal(copy.hostility.predict(TEXTS), loaded.hostility.predict(TEXTS))
    assert copy.calibration.keys() == loaded.calibration.keys()
