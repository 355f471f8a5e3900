"""The Dask engine scores the same whole-thread chunks on a cluster and writes the same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_fixtures import score_whole, synthetic_articles, synthetic_comments, write_export
from click.testing import CliRunner

from moderation.batch import BatchJob, score_export
from moderation.cli import cli
from moderation.errors import ModerationError
from moderation.io import write_table
from moderation.moderator import Moderator

pytest.importorskip("distributed")

from moderation.cluster import DaskRunner


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
