"""The Dask engine scores the same whole-thread chunks on a cluster and writes the same bytes."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from batch_fixtures import score_whole, synthetic_articles, synthetic_comments, write_export
from click.testing import CliRunner

from moderation.batch import BatchJob, LocalRunner, score_export
from moderation.cli import cli
from moderation.errors import ModerationError
from moderation.io import write_table
from moderation.moderator import Moderator

pytest.importorskip("distributed")

from moderation.cluster import DaskRunner, _raised_log_level

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "azerbaijan-csto"


def test_local_cluster_output_equals_the_local_engine(tmp_path: Path) -> None:
    moderator = Moderator.load()
    comments = write_export(synthetic_comments(90, 9, seed=5), tmp_path / "comments.csv")
    articles = tmp_path / "articles.csv"
    synthetic_articles(9).to_csv(articles, index=False)
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://cluster/comments.csv", "wb") as handle:
        handle.write(comments.read_bytes())  # the export is read from any fsspec URL
    out = tmp_path / "dask.csv"
    job = BatchJob("memory://cluster/comments.csv", str(out), articles=str(articles), chunk_rows=12)
    result = score_export(job, moderator=moderator, runner=DaskRunner(workers=2, processes=False))
    assert result.chunks > 3
    write_table(score_whole(moderator, comments, articles), tmp_path / "whole.csv")
    assert out.read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    comments = write_export(synthetic_comments(12, 2), tmp_path / "comments.csv")
    out = tmp_path / "out.csv"
    runner = DaskRunner("tcp://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(ModerationError, match=r"--scheduler tcp://127\.0\.0\.1:9: cannot connect"):
        score_export(BatchJob(str(comments), str(out)), runner=runner)
    assert not out.exists()


def test_cli_engine_option_reaches_the_dask_runner(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["score", str(tmp_path / "x.csv"), "--engine", "spark"])
    assert result.exit_code == 2
    assert "'spark' is not one of 'local', 'dask'" in result.stderr


def test_process_cluster_output_equals_the_local_engine(tmp_path: Path) -> None:
    # Real worker processes: the model and chunks are pickled to them and back.
    moderator = Moderator.load()
    comments = write_export(synthetic_comments(90, 9, seed=7), tmp_path / "comments.csv")
    articles = tmp_path / "articles.csv"
    synthetic_articles(9).to_csv(articles, index=False)
    outputs = {}
    for name, runner in (("local", LocalRunner()), ("dask", DaskRunner(workers=2))):
        outputs[name] = tmp_path / f"{name}.csv"
        job = BatchJob(str(comments), str(outputs[name]), articles=str(articles), chunk_rows=12)
        result = score_export(job, moderator=moderator, runner=runner)
        assert result.chunks > 3
    assert outputs["dask"].read_bytes() == outputs["local"].read_bytes()


def moderation(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command line in a fresh process, as a user runs it (real stderr)."""
    command = [sys.executable, "-m", "moderation", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


EXAMPLE_ARGS = ["--articles", str(EXAMPLE / "articles.csv"), str(EXAMPLE / "comments.csv")]


@pytest.fixture(scope="module")
def local_output(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The example thread scored by the local engine, in this process."""
    out = tmp_path_factory.mktemp("local") / "local.csv"
    result = CliRunner().invoke(cli, ["score", "-q", *EXAMPLE_ARGS, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.parametrize("quiet", [True, False])
def test_cli_dask_engine_scores_like_the_local_engine_and_keeps_dask_quiet(
    tmp_path: Path, local_output: bytes, quiet: bool
) -> None:
    out = tmp_path / "dask.csv"
    flags = ["-q"] if quiet else []
    done = moderation("score", *flags, "--engine", "dask", "-w", "2", *EXAMPLE_ARGS, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == local_output
    # Dask's INFO lines (scheduler, nanny, connections) stay hidden without -v.
    lines = done.stderr.splitlines()
    if quiet:
        assert lines == []
    else:
        assert len(lines) == 1 and lines[0].startswith("Scored 17 comments"), lines


def test_dask_log_levels_are_raised_for_a_run_and_restored() -> None:
    client, tornado = logging.getLogger("distributed.client"), logging.getLogger("tornado")
    names = ("distributed", "dask", "distributed.client", "tornado")
    before = {name: logging.getLogger(name).level for name in names}
    client.setLevel(logging.CRITICAL)
    try:
        with _raised_log_level(logging.WARNING):
            assert logging.getLogger("distributed").level == logging.WARNING
            assert logging.getLogger("dask").level == logging.WARNING
            assert not logging.getLogger("distributed.scheduler").isEnabledFor(logging.INFO)
            assert client.level == logging.CRITICAL  # already quieter: left alone
            assert tornado.level == before["tornado"]  # not a Dask logger
        assert logging.getLogger("distributed").level == before["distributed"]
        with _raised_log_level(None):  # -v: Dask's own configuration
            assert logging.getLogger("distributed").level == before["distributed"]
    finally:
        client.setLevel(before["distributed.client"])
