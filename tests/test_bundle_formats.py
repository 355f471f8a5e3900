"""Bundle formats: format 2 (gzip-compressed C pickle) is written, format 1 (joblib) still
loads and upgrades to format 2 scoring exactly the same."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from bundle_fixtures import TEXTS, StubOffTopic, small_model, small_off_topic, thread_frames

from moderation import bundle as bundle_module
from moderation.bundle import (
    FORMAT_VERSION,
    MANIFEST,
    MODEL_CARD,
    OFF_TOPIC,
    PIPELINE,
    PIPELINE_V1,
    add_off_topic_arrays,
    load_bundle,
    save_bundle,
    sha256_file,
    upgrade_bundle,
)
from moderation.errors import ModelLoadError
from moderation.model import HostilityModel
from moderation.offtopic import OffTopicScorer
from moderation.offtopicarrays import ArrayVectorizer
from moderation.schema import OFF_TOPIC as OFF_TOPIC_COLUMN

CARD = f"# Model card\n\n`{PIPELINE_V1}` is a pickle. Load only bundles you trust.\n"


@pytest.fixture(scope="module")
def model() -> HostilityModel:
    return small_model()


@pytest.fixture
def saved(tmp_path: Path, model: HostilityModel) -> Path:
    return save_bundle(
        tmp_path / "bundle",
        hostility=model,
        off_topic=StubOffTopic(),
        manifest_extra={"thresholds": {"toxicity": 0.4}, "metrics": {"auc": 0.9}},
        card=CARD,
    )


def read_manifest(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    return found


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def as_format_1(path: Path) -> Path:
    """Rewrite a saved bundle as the format-1 code wrote it: ``joblib.dump(compress=3)``, no
    ``pipeline`` entry in the manifest."""
    payload = pickle.loads(gzip.decompress((path / PIPELINE).read_bytes()))
    joblib.dump(payload, path / PIPELINE_V1, compress=3)
    (path / PIPELINE).unlink()
    manifest = read_manifest(path)
    del manifest["pipeline"]
    manifest["format_version"] = 1
    files = {k: v for k, v in manifest["files"].items() if k != PIPELINE}
    manifest["files"] = {**files, PIPELINE_V1: sha256_file(path / PIPELINE_V1)}
    write_manifest(path, manifest)
    return path


def test_format_2_pipeline_is_a_gzip_compressed_protocol_5_pickle(saved: Path) -> None:
    raw = gzip.decompress((saved / PIPELINE).read_bytes())
    assert raw[:2] == b"\x80\x05"
    payload = pickle.loads(raw)
    assert isinstance(payload["hostility"], HostilityModel)
    assert isinstance(payload["off_topic"], StubOffTopic)
    assert read_manifest(saved)["format_version"] == FORMAT_VERSION == 2


def test_the_same_payload_gives_the_same_bytes(tmp_path: Path) -> None:
    payload = {"hostility": None, "off_topic": {"a": [1.5, "b"]}}
    bundle_module._write_pipeline(tmp_path / "a", payload)
    bundle_module._write_pipeline(tmp_path / "b", payload)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_format_1_still_loads_and_scores_the_same(saved: Path, model: HostilityModel) -> None:
    expected = model.predict(TEXTS)
    as_format_1(saved)
    loaded = load_bundle(saved)
    assert loaded.pipeline.path.name == PIPELINE_V1
    assert loaded.pipeline._payload is None  # still read lazily
    pd.testing.assert_frame_equal(loaded.hostility.predict(TEXTS), expected)
    assert isinstance(loaded.off_topic, StubOffTopic)
    assert isinstance(loaded.pipeline.hostility(), HostilityModel)
    # A worker process gets the path and the format, not the objects.
    copy = pickle.loads(pickle.dumps(loaded))
    assert copy.pipeline.format_version == 1
    assert isinstance(copy.off_topic, StubOffTopic)


def test_format_1_without_compiled_arrays_still_loads(saved: Path, model: HostilityModel) -> None:
    as_format_1(saved)
    manifest = read_manifest(saved)
    del manifest["compiled"]
    manifest["files"].pop("compiled.npz")
    (saved / "compiled.npz").unlink()
    write_manifest(saved, manifest)
    loaded = load_bundle(saved)
    assert loaded.arrays is None
    pd.testing.assert_frame_equal(loaded.hostility.predict(TEXTS), model.predict(TEXTS))


def test_format_1_damage_is_named(saved: Path) -> None:
    as_format_1(saved)
    loaded = load_bundle(saved)
    with (saved / PIPELINE_V1).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelLoadError, match=r"pipeline\.joblib does not match its SHA-256"):
        loaded.off_topic  # noqa: B018 -- unpickled on first use, after checking the hash again
    with pytest.raises(ModelLoadError, match=r"pipeline\.joblib does not match its SHA-256"):
        load_bundle(saved)


def test_format_1_manifest_without_its_pipeline_hash(saved: Path) -> None:
    as_format_1(saved)
    manifest = read_manifest(saved)
    del manifest["files"][PIPELINE_V1]
    write_manifest(saved, manifest)
    with pytest.raises(ModelLoadError, match=r"lists no file hash for pipeline\.joblib"):
        load_bundle(saved)


def test_format_2_damage_after_load_is_caught_before_unpickling(saved: Path) -> None:
    loaded = load_bundle(saved)
    (saved / PIPELINE).write_bytes(gzip.compress(pickle.dumps({"hostility": None})))
    with pytest.raises(ModelLoadError, match=r"pipeline\.pkl\.gz does not match its SHA-256"):
        loaded.off_topic  # noqa: B018


def test_format_2_undecompressable_pipeline_is_a_load_error(saved: Path) -> None:
    (saved / PIPELINE).write_bytes(b"not gzip")
    manifest = read_manifest(saved)
    manifest["files"][PIPELINE] = sha256_file(saved / PIPELINE)
    write_manifest(saved, manifest)
    with pytest.raises(ModelLoadError, match=r"pipeline\.pkl\.gz cannot be unpickled"):
        load_bundle(saved).off_topic  # noqa: B018


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (None, "needs a 'pipeline' entry"),
        ({"compression": "gzip"}, "needs a 'pipeline' entry"),
        ({"file": "../pipeline.pkl.gz", "compression": "gzip"}, "needs a 'pipeline' entry"),
        ({"file": PIPELINE, "compression": "zstd"}, "compression 'zstd' is not supported"),
        ({"file": "other.pkl.gz", "compression": "gzip"}, r"lists no file hash for other\.pkl"),
    ],
)
def test_format_2_manifest_must_name_its_pipeline(
    saved: Path, entry: dict[str, Any] | None, message: str
) -> None:
    manifest = read_manifest(saved)
    manifest["pipeline"] = entry
    write_manifest(saved, manifest)
    with pytest.raises(ModelLoadError, match=message):
        load_bundle(saved)


def test_upgrade_keeps_scores_metrics_and_renames_the_file(
    saved: Path, model: HostilityModel
) -> None:
    as_format_1(saved)
    before = read_manifest(saved)
    v1 = load_bundle(saved)
    v1.off_topic  # noqa: B018 -- read before the file is replaced
    upgrade_bundle(saved)
    after = read_manifest(saved)
    assert sorted(p.name for p in saved.iterdir()) == sorted(
        [PIPELINE, "compiled.npz", MANIFEST, MODEL_CARD]
    )
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")]  # no temp dirs
    assert after["format_version"] == 2
    assert after["pipeline"]["file"] == PIPELINE
    assert after["resaved"]["from_format"] == 1
    unchanged = {k: v for k, v in before.items() if k not in ("format_version", "files")}
    assert {k: after[k] for k in unchanged} == unchanged
    assert set(after["files"]) == {PIPELINE, "compiled.npz", MODEL_CARD}
    assert after["files"]["compiled.npz"] == before["files"]["compiled.npz"]
    assert (saved / MODEL_CARD).read_text(encoding="utf-8") == CARD.replace(PIPELINE_V1, PIPELINE)
    v2 = load_bundle(saved)  # hashes match
    pd.testing.assert_frame_equal(v2.hostility.predict(TEXTS), model.predict(TEXTS))
    pd.testing.assert_frame_equal(
        v2.pipeline.hostility().predict(TEXTS), v1.pipeline.hostility().predict(TEXTS)
    )
    assert vars(v2.off_topic) == vars(v1.off_topic)


def test_upgrade_keeps_a_card_that_names_both_files(saved: Path) -> None:
    card = f"The pipeline file (`{PIPELINE}`; `{PIPELINE_V1}` in format-1 bundles) is a pickle.\n"
    (saved / MODEL_CARD).write_text(card, encoding="utf-8")
    manifest = read_manifest(saved)
    manifest["files"][MODEL_CARD] = sha256_file(saved / MODEL_CARD)
    write_manifest(saved, manifest)
    upgrade_bundle(as_format_1(saved))
    assert (saved / MODEL_CARD).read_text(encoding="utf-8") == card
    assert read_manifest(saved)["files"][MODEL_CARD] == sha256_file(saved / MODEL_CARD)


def test_upgrading_a_format_2_bundle_changes_nothing(saved: Path) -> None:
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    upgrade_bundle(saved)
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before


def test_a_failed_upgrade_leaves_the_format_1_bundle(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_format_1(saved)
    before = {p.name: p.read_bytes() for p in saved.iterdir()}

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bundle_module, "_write_pipeline", boom)
    with pytest.raises(OSError, match="disk full"):
        upgrade_bundle(saved)
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


# --- the off-topic scorer as plain arrays (offtopic.npz) --------------------------------------


@pytest.fixture(scope="module")
def off_topic() -> OffTopicScorer:
    return small_off_topic()


@pytest.fixture
def with_arrays(tmp_path: Path, model: HostilityModel, off_topic: OffTopicScorer) -> Path:
    return save_bundle(
        tmp_path / "arrays",
        hostility=model,
        off_topic=off_topic,
        manifest_extra={"metrics": {"auc": 0.9}},
        card=CARD,
    )


def strip_off_topic_arrays(path: Path) -> None:
    """Make ``path`` look like a bundle written before ``offtopic.npz`` existed."""
    manifest = read_manifest(path)
    del manifest["off_topic_compiled"]
    del manifest["files"][OFF_TOPIC]
    (path / OFF_TOPIC).unlink()
    write_manifest(path, manifest)


def test_a_fitted_off_topic_scorer_is_stored_as_arrays(with_arrays: Path) -> None:
    manifest = read_manifest(with_arrays)
    assert manifest["off_topic_compiled"]["file"] == OFF_TOPIC
    assert manifest["files"][OFF_TOPIC] == sha256_file(with_arrays / OFF_TOPIC)
    with np.load(with_arrays / OFF_TOPIC, allow_pickle=False) as found:
        assert "t_roots" in found.files and "v_idf" in found.files
    loaded = load_bundle(with_arrays)
    assert isinstance(loaded.off_topic.vectorizer, ArrayVectorizer)
    assert not isinstance(loaded.fitted_off_topic.vectorizer, ArrayVectorizer)
    valid, context = thread_frames()
    got = loaded.off_topic.score_frame(valid, context)
    assert got[OFF_TOPIC_COLUMN].notna().all()
    pd.testing.assert_frame_equal(
        got, loaded.fitted_off_topic.score_frame(valid, context), check_exact=True
    )


def test_a_stand_in_scorer_is_stored_as_a_pickle_only(saved: Path) -> None:
    assert not (saved / OFF_TOPIC).exists()
    assert "off_topic_compiled" not in read_manifest(saved)
    assert isinstance(load_bundle(saved).off_topic, StubOffTopic)


def test_a_bundle_without_off_topic_arrays_scores_with_its_pickle_and_gains_them(
    with_arrays: Path,
) -> None:
    strip_off_topic_arrays(with_arrays)
    before = load_bundle(with_arrays)
    assert before.off_topic_arrays is None
    assert not isinstance(before.off_topic.vectorizer, ArrayVectorizer)
    valid, context = thread_frames()
    want = before.off_topic.score_frame(valid, context)
    kept = {name: sha256_file(with_arrays / name) for name in read_manifest(with_arrays)["files"]}
    old_manifest = read_manifest(with_arrays)

    assert add_off_topic_arrays(with_arrays) == with_arrays
    manifest = read_manifest(with_arrays)
    assert manifest["files"] == {**kept, OFF_TOPIC: sha256_file(with_arrays / OFF_TOPIC)}
    assert {k: v for k, v in manifest.items() if k not in ("files", "off_topic_compiled")} == {
        k: v for k, v in old_manifest.items() if k != "files"
    }
    after = load_bundle(with_arrays)
    assert isinstance(after.off_topic.vectorizer, ArrayVectorizer)
    pd.testing.assert_frame_equal(after.off_topic.score_frame(valid, context), want)
    assert not list(with_arrays.parent.glob(f".{with_arrays.name}*"))  # no leftovers


def test_adding_arrays_to_a_stand_in_scorer_is_refused(saved: Path) -> None:
    before = {name: sha256_file(saved / name) for name in read_manifest(saved)["files"]}
    with pytest.raises(ModelLoadError, match="cannot be stored as arrays"):
        add_off_topic_arrays(saved)
    assert {name: sha256_file(saved / name) for name in read_manifest(saved)["files"]} == before


def test_off_topic_arrays_damaged_after_load_are_caught_on_first_use(with_arrays: Path) -> None:
    loaded = load_bundle(with_arrays)
    (with_arrays / OFF_TOPIC).write_bytes(b"not an npz")
    with pytest.raises(ModelLoadError, match=rf"{OFF_TOPIC} does not match its SHA-256"):
        loaded.off_topic  # noqa: B018


def test_off_topic_arrays_damaged_before_load_are_named(with_arrays: Path) -> None:
    (with_arrays / OFF_TOPIC).write_bytes(b"not an npz")
    with pytest.raises(ModelLoadError, match=rf"{OFF_TOPIC} does not match its SHA-256"):
        load_bundle(with_arrays)


def test_unreadable_off_topic_arrays_are_a_load_error(with_arrays: Path) -> None:
    (with_arrays / OFF_TOPIC).write_bytes(b"not an npz")
    manifest = read_manifest(with_arrays)
    manifest["files"][OFF_TOPIC] = sha256_file(with_arrays / OFF_TOPIC)
    write_manifest(with_arrays, manifest)
    with pytest.raises(ModelLoadError, match=rf"{OFF_TOPIC} cannot be read"):
        load_bundle(with_arrays).off_topic  # noqa: B018


@pytest.mark.parametrize("entry", [{"file": OFF_TOPIC, "format": 99}, {"file": "../x.npz"}])
def test_an_off_topic_entry_this_version_cannot_read_is_a_load_error(
    with_arrays: Path, entry: dict[str, Any]
) -> None:
    manifest = read_manifest(with_arrays)
    manifest["off_topic_compiled"] = entry
    write_manifest(with_arrays, manifest)
    with pytest.raises(ModelLoadError, match=r"off_topic_compiled|array format 99"):
        load_bundle(with_arrays)


def test_a_pickled_bundle_reads_its_off_topic_arrays_again(with_arrays: Path) -> None:
    loaded = load_bundle(with_arrays)
    loaded.off_topic  # noqa: B018
    again = pickle.loads(pickle.dumps(loaded))
    assert again.off_topic_arrays is not None
    assert again.off_topic_arrays._scorer is None  # the path and hash travel, not the arrays
    valid, context = thread_frames()
    pd.testing.assert_frame_equal(
        again.off_topic.score_frame(valid, context), loaded.off_topic.score_frame(valid, context)
    )


NO_SKLEARN = """
import sys
import pandas as pd
from moderation import Moderator
moderator = Moderator.load(sys.argv[1])
comments = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)
articles = pd.read_csv(sys.argv[3], dtype=str, keep_default_na=False)
out = moderator.score(comments, articles)
assert out["off_topic"].notna().any()
print(sorted({m.split(".")[0] for m in sys.modules if m.startswith(("sklearn", "joblib"))}))
"""


def test_scoring_with_off_topic_arrays_imports_no_scikit_learn(tmp_path: Path) -> None:
    """``Moderator.score`` on the default bundle (given its arrays) and the example thread."""
    import shutil
    import subprocess
    import sys

    from moderation.bundle import default_bundle_path

    bundle = default_bundle_path()
    if not (bundle / OFF_TOPIC).exists():
        bundle = Path(shutil.copytree(bundle, tmp_path / bundle.name))
        add_off_topic_arrays(bundle)
    example = Path(__file__).resolve().parent.parent / "data" / "examples" / "azerbaijan-csto"
    done = subprocess.run(
        [sys.executable, "-c", NO_SKLEARN, str(bundle), str(example / "comments.csv"),
         str(example / "articles.csv")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]", done.stdout


def test_off_topic_scoring_from_arrays_imports_no_scikit_learn(with_arrays: Path) -> None:
    """The off-topic part alone (what this bundle layout controls), in a fresh process."""
    import subprocess
    import sys

    code = """
import sys
from moderation.bundle import load_bundle
sys.path.insert(0, sys.argv[2])
from bundle_fixtures import thread_frames
valid, context = thread_frames()
load_bundle(sys.argv[1]).off_topic.score_frame(valid, context)
print(sorted({m.split(".")[0] for m in sys.modules if m.startswith(("sklearn", "joblib"))}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(with_arrays), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
