"""The benchmark harness's pure parts, on the tiny fixture datasets: no peers installed.

The corpus builder must draw only held-out rows and give them a valid thread structure; the
scaled exports must keep every copy's threads whole; the report must compute medians, ratios
and verdicts correctly and render every section. Timing itself is not asserted.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from labelled_fixtures import labelled_dir

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus as bc  # noqa: E402
from bench import report, worker  # noqa: E402
from bench.run import BenchError, _tree, auc_table, parse_args, run_child, scaling_clash  # noqa: E402
from moderation.corpus import load_corpus, split_key  # noqa: E402

LABELLED = labelled_dir()


@pytest.fixture(scope="module")
def pool() -> pd.DataFrame:
    return bc.heldout_rows(LABELLED)


def test_heldout_rows_never_share_a_split_key_with_training_rows(pool: pd.DataFrame) -> None:
    labelled = load_corpus(LABELLED)
    trained = set(labelled.loc[labelled["split"] != "test", "text"].map(split_key))
    keys = pool["text"].map(split_key)
    assert len(pool) > 0
    assert not set(keys) & trained
    assert keys.is_unique
    assert set(pool["toxic"]) <= {0, 1}
    test_texts = set(labelled.loc[labelled["split"] == "test", "text"])
    assert set(pool["text"]) <= test_texts


def test_sample_threads_is_seeded_and_well_formed(pool: pd.DataFrame) -> None:
    n = len(pool)
    first = bc.sample_threads(pool, n, seed=3)
    assert first.equals(bc.sample_threads(pool, n, seed=3))
    assert sorted(first["text"]) == sorted(pool["text"])
    assert first["comment_id"].is_unique
    position = {cid: i for i, cid in enumerate(first["comment_id"])}
    thread = dict(zip(first["comment_id"], first["thread_id"], strict=True))
    for i, row in first.iterrows():
        if row["parent_id"]:
            assert position[row["parent_id"]] < int(str(i))  # replies follow their parent
            assert thread[row["parent_id"]] == row["thread_id"]
    starts = first.groupby("thread_id", sort=False).head(1)
    assert (starts["parent_id"] == "").all()


def test_sample_threads_refuses_impossible_sizes(pool: pd.DataFrame) -> None:
    with pytest.raises(bc.CorpusError, match="held-out rows"):
        bc.sample_threads(pool, len(pool) + 1, seed=0)
    with pytest.raises(bc.CorpusError, match="at least 1"):
        bc.sample_threads(pool, 0, seed=0)


def test_build_corpus_writes_and_reuses_the_cache(tmp_path: Path, pool: pd.DataFrame) -> None:
    built = bc.build_corpus(LABELLED, tmp_path, n=len(pool) - 2, seed=1)
    assert built.info["rows"] == len(pool) - 2
    export = pd.read_csv(built.export, dtype=str, keep_default_na=False)
    assert tuple(export.columns) == bc.EXPORT_COLUMNS
    again = bc.build_corpus(LABELLED, tmp_path, n=len(pool) - 2, seed=1)
    assert again.info["sha256"] == built.info["sha256"]
    assert again.frame.equals(built.frame)
    other = bc.build_corpus(LABELLED, tmp_path, n=len(pool) - 2, seed=2)
    assert other.info["sha256"] != built.info["sha256"]


def test_scaled_exports_keep_every_copy_a_whole_set_of_threads(
    tmp_path: Path, pool: pd.DataFrame
) -> None:
    frame = bc.sample_threads(pool, len(pool), seed=0)
    path = bc.write_scaled(frame, 3, tmp_path / "x3.csv")
    scaled = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(scaled) == 3 * len(frame)
    assert scaled["comment_id"].is_unique
    ids = set(scaled["comment_id"])
    replies = scaled[scaled["parent_id"] != ""]
    assert set(replies["parent_id"]) <= ids
    parent_thread = dict(zip(scaled["comment_id"], scaled["thread_id"], strict=True))
    assert all(
        parent_thread[p] == t
        for p, t in zip(replies["parent_id"], replies["thread_id"], strict=True)
    )
    assert scaled["thread_id"].nunique() == 3 * frame["thread_id"].nunique()
    with pytest.raises(bc.CorpusError, match="at least 1"):
        next(bc.scaled_rows(frame, 0))


# --------------------------------------------------------------------------- report


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    assert report.percentile(values, q) == pytest.approx(
        float(np.percentile(values, q)), rel=1e-9, abs=1e-6
    )


@pytest.mark.parametrize("q", [-1, 101, math.nan])
def test_percentile_rejects_bad_input(q: float) -> None:
    with pytest.raises(report.ReportError):
        report.percentile([1.0], q)
    with pytest.raises(report.ReportError, match="empty"):
        report.percentile([], 50)


def test_ratio_and_median_handle_missing_values() -> None:
    assert report.ratio(3.0, 2.0) == 1.5
    assert math.isnan(report.ratio(1.0, 0.0))
    assert math.isnan(report.ratio(math.nan, 2.0))
    assert report.median([3.0, math.nan, 1.0]) == 2.0
    assert math.isnan(report.median([]))


def results(workers: bool = True) -> dict[str, object]:
    """A results file as ``bench/run.py`` writes it, with invented round figures."""
    per = {
        "ours": {"batch_cps": [9e4, 1e5, 1.1e5], "p50_us": [90, 80, 95], "p99_us": [300] * 3,
                 "cold_s": [0.6, 0.4, 0.45], "batch_rss_mb": [300] * 3},
        report.ALTPROF: {"batch_cps": [1e5] * 3, "p50_us": [2300] * 3, "p99_us": [4000] * 3,
                         "cold_s": [0.98] * 3, "batch_rss_mb": [150] * 3},
    }  # fmt: skip
    cli = {"1": {"cps": [5e4, 5e4], "rss_mb": [400, 410]}}
    if workers:
        cli["2"] = {"cps": [8e4, 8e4], "rss_mb": [300, 300]}
    by_source = {
        "olid": {"n": 10, "positives": 4, "auc": 0.8},
        "davidson": {"n": 5, "positives": 5, "auc": math.nan},
    }
    auc = {
        name: {
            "n": 15,
            "positives": 9,
            "n_unseen": 10,
            "positives_unseen": 4,
            "all": 0.9,
            "unseen": 0.85,
            "by_source": by_source,
        }
        for name in per
    }
    return {
        "command": "python bench/run.py --rounds 3",
        "machine": {"cpu": "Test CPU", "cores": 2},
        "corpus": {"rows": 20000, "positives": 5000, "threads": 900, "replies": 14000},
        "rounds": per,
        "cli": cli,
        "auc": auc,
        "versions": {"ours": {"moderation": "0.1.0"}},
    }


def scaled() -> dict[str, object]:
    """A scaling results file as ``bench/run.py --rounds 0 --scale 1 100`` writes it."""
    return {
        "command": "python bench/run.py --rounds 0 --scale 1 100",
        "scaling": [
            {"factor": 1, "rows": 20000, "seconds": 10.0, "rss_mb": 500, "tree_rss_mb": 500},
            {"factor": 100, "rows": 2000000, "seconds": 1100.0, "rss_mb": 900, "tree_rss_mb": 950},
        ],
    }


def test_summary_takes_medians_and_ratios_ours_over_peer() -> None:
    summary = report.summarise(results(), scaled())
    assert summary["medians"]["ours"]["batch_cps"] == 1e5
    assert summary["ratios"][report.ALTPROF]["batch_cps"] == pytest.approx(1.0)
    assert summary["ratios"][report.ALTPROF]["p50_us"] == pytest.approx(90 / 2300)
    verdicts = {t["target"]: t["verdict"] for t in summary["targets"]}
    assert verdicts["Batch, one process, full model"] == "met"
    assert verdicts["Batch, two workers (CLI)"] == "NOT met"  # 80k / 50k = 1.6x
    assert verdicts["`score_one` p50 after load"] == "met"
    assert verdicts["Cold start"] == "met"
    assert verdicts["Linear scaling"] == "NOT met"  # 110x
    assert verdicts["Peak memory flat"] == "met"


def test_missing_measures_are_reported_as_not_measured() -> None:
    summary = report.summarise(results(workers=False))
    verdicts = {t["target"]: t["verdict"] for t in summary["targets"]}
    assert verdicts["Batch, two workers (CLI)"] == "not measured"
    assert verdicts["Linear scaling"] == "not measured"
    assert verdicts["Peak memory flat"] == "not measured"


def test_summary_requires_our_figures() -> None:
    with pytest.raises(report.ReportError, match="ours"):
        report.summarise({"rounds": {report.ALTPROF: {}}})


def test_render_has_every_section_and_the_command() -> None:
    page = report.render(results(), scaled(), "## What stands in the way\n\nText.\n")
    for heading in (
        "## Targets (issue #6)",
        "### Batch throughput, one process (comments/s)",
        "### Cold start",
        "`moderation score` end to end",
        "## Accuracy: toxicity ROC-AUC",
        "## Scaling",
        "## Not measured here",
        "Detoxify",
        "Perspective API",
        "python bench/run.py --rounds 3",
        "python bench/run.py --rounds 0 --scale 1 100",
        "shared with other jobs",
        "LOCPATH",
        "## What stands in the way",
    ):
        assert heading in page, heading
    assert "| 100x | 2,000,000 | 1,100.0 | 110.0x | 1,818 | 950 |" in page
    assert "## Scaling" not in report.render(results())
    assert "| davidson | 5 | 5 | n/a | n/a |" in page


# --------------------------------------------------------------------------- runner helpers


def test_auc_table_scores_all_unseen_and_per_source() -> None:
    frame = pd.DataFrame(
        {
            "toxic": [0, 1, 0, 1, 0, 1],
            "source": ["olid", "olid", "davidson", "davidson", "ucc", "ucc"],
        }
    )
    table = auc_table(frame, {"perfect": [0, 1, 0, 1, 0, 1], "inverse": [1, 0, 1, 0, 1, 0]})
    assert table["perfect"]["all"] == 1.0
    assert table["inverse"]["unseen"] == 0.0
    assert table["perfect"]["n_unseen"] == 4  # davidson is a peer's training source
    assert table["perfect"]["by_source"]["ucc"] == {"n": 2, "positives": 1, "auc": 1.0}


def test_run_child_reports_ready_time_memory_and_failures() -> None:
    code = (
        "import sys, time; print('READY', flush=True); block = bytearray(64 << 20); "
        "block[::4096] = b'x' * len(block[::4096]); time.sleep(0.5); print('done')"
    )
    child = run_child([sys.executable, "-c", code], ready="READY")
    assert child.ready_seconds is not None and child.ready_seconds <= child.seconds
    assert child.rss_mb >= 64  # the block the child touched
    assert child.tree_rss_mb >= 64
    assert child.stdout.strip() == "done"
    with pytest.raises(BenchError, match="exited with 3"):
        run_child([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])
    with pytest.raises(BenchError, match="never printed READY"):
        run_child([sys.executable, "-c", "print('no')"], ready="READY")


def test_worker_reports_its_own_peak_memory() -> None:
    assert worker.peak_memory_mb() > 0


def test_worker_measures_ours_through_its_protocol(tmp_path: Path, pool: pd.DataFrame) -> None:
    frame = bc.sample_threads(pool, len(pool), seed=0)
    corpus = tmp_path / "corpus.csv"
    bc.write_table(frame, corpus)
    batch_out, single_out = tmp_path / "batch.json", tmp_path / "single.json"
    assert worker.main(["ours", "batch", str(corpus), str(batch_out)]) == 0
    batch = json.loads(batch_out.read_text(encoding="utf-8"))
    assert batch["n"] == len(frame) and len(batch["scores"]) == len(frame)
    assert all(0.0 <= s <= 1.0 for s in batch["scores"])
    assert sum(batch["actions"].values()) == len(frame)
    assert worker.main(["ours", "single", str(corpus), str(single_out), "--single", "3"]) == 0
    assert len(json.loads(single_out.read_text(encoding="utf-8"))["latencies_ns"]) == 3
    cold = run_child(
        [sys.executable, str(ROOT / "bench" / "worker.py"), "ours", "cold", str(corpus), "-"],
        ready="READY",
    )
    assert cold.ready_seconds is not None


def test_profile_score_times_the_steps_of_score(tmp_path: Path) -> None:
    """bench/profile_score.py runs on any export and names every step it times."""
    import subprocess

    texts = ["Thanks for the photos.", "You are an idiot.", "Shut up. Go away, 1d10t!", ""]
    frame = pd.DataFrame(
        {
            "comment_id": [f"c{i}" for i in range(40)],
            "thread_id": [f"t{i // 8}" for i in range(40)],
            "parent_id": ["" if i % 8 == 0 else f"c{i - 1}" for i in range(40)],
            "author": [f"u{i % 5}" for i in range(40)],
            "text": [texts[i % len(texts)] for i in range(40)],
        }
    )
    corpus = tmp_path / "corpus.csv"
    frame.to_csv(corpus, index=False)
    args = ["--corpus", str(corpus), "--repeat", "1", "--steps"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "profile_score.py"), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "40 comments: best" in done.stdout
    for step in ("hostility predict", "explain (total)", "span maps", "off-topic scores"):
        assert step in done.stdout


def test_worker_times_ours_reading_the_explanation(tmp_path: Path, pool: pd.DataFrame) -> None:
    frame = bc.sample_threads(pool, len(pool), seed=0)
    corpus, out = tmp_path / "corpus.csv", tmp_path / "explained.json"
    bc.write_table(frame, corpus)
    assert worker.main(["ours", "explained", str(corpus), str(out), "--single", "3"]) == 0
    assert len(json.loads(out.read_text(encoding="utf-8"))["latencies_ns"]) == 3


def test_render_shows_decision_only_and_explained_single_calls() -> None:
    data = results()
    data["rounds"]["ours"].update(p50_explained_us=[200.0] * 3, p99_explained_us=[900.0] * 3)  # type: ignore[index]
    page = report.render(data)
    assert "| explanation read too | 200.0 | 900.0 |" in page
    assert "decision only" in page


def test_memory_sampler_survives_a_process_that_has_exited(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child can exit between listing /proc and reading it: the sampler skips it."""
    import bench.run as run

    def gone(self: Path, pattern: str) -> list[Path]:
        raise FileNotFoundError(str(self))

    monkeypatch.setattr(run.Path, "glob", gone)
    assert _tree(12345) == [12345]


def test_scaling_runs_only_when_asked_and_never_drops_a_larger_result(tmp_path: Path) -> None:
    assert parse_args([]).scale == []  # no scaling run unless --scale names sizes
    assert parse_args(["--scale"]).scale == []  # older commands: a bare --scale skips it
    assert parse_args(["--scale", "1", "10", "100"]).scale == [1, 10, 100]
    saved = tmp_path / "scaling.json"
    saved.write_text(json.dumps({"scaling": [{"factor": f} for f in (1, 10, 100)]}))
    assert scaling_clash(saved, [1, 10]) == [100]
    assert scaling_clash(saved, [1, 10, 100]) == []
    assert scaling_clash(saved, []) == []
    assert scaling_clash(tmp_path / "missing.json", [1]) == []


def test_report_names_the_bundle_when_the_results_record_it() -> None:
    results = json.loads((ROOT / "bench/results/latest.json").read_text())
    scaled = json.loads((ROOT / "bench/results/scaling.json").read_text())
    results.pop("bundle", None)
    scaled.pop("bundle", None)
    assert "bundle `" not in report.render(results, scaled)
    page = report.render({**results, "bundle": "b-one"}, {**scaled, "bundle": "b-two"})
    assert "full default model (bundle `b-one`)" in page
    assert "model bundle `b-two`, load average" in page
