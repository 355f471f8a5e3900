"""Chunked, multi-process and resumable scoring equals one `Moderator.score` over everything."""

from __future__ import annotations

import contextlib
import gc
import io
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_fixtures import (
    EXAMPLE,
    score_whole,
    synthetic_articles,
    synthetic_comments,
    write_export,
)
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation import batch, schema
from moderation.batch import BatchJob, LocalRunner, score_export, state_dir_for
from moderation.cli import cli
from moderation.errors import InputError
from moderation.io import write_table
from moderation.moderator import Moderator
from moderation.progress import Progress, render
from moderation.review import build_queue

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator.load()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """160 comments over 14 interleaved threads, bad rows included, and their articles."""
    folder = tmp_path_factory.mktemp("export")
    comments = write_export(synthetic_comments(160, 14, seed=7), folder / "comments.csv")
    articles = folder / "articles.csv"
    synthetic_articles(14).to_csv(articles, index=False)
    return comments, articles


@pytest.fixture(scope="module")
def whole(moderator: Moderator, export: tuple[Path, Path]) -> pd.DataFrame:
    return score_whole(moderator, *export)


def written(frame: pd.DataFrame, path: Path) -> bytes:
    write_table(frame, path)
    return path.read_bytes()


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stderr


def test_chunked_csv_is_byte_identical_to_one_call(
    moderator: Moderator, export: tuple[Path, Path], whole: pd.DataFrame, tmp_path: Path
) -> None:
    comments, articles = export
    out = tmp_path / "chunked.csv"
    job = BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=15)
    result = score_export(job, moderator=moderator)
    assert result.chunks > 5
    assert out.read_bytes() == written(whole, tmp_path / "whole.csv")
    assert not state_dir_for(str(out)).exists()  # a finished run leaves no state
    assert result.rows == len(whole)
    assert result.actions == whole[schema.ACTION].value_counts().to_dict()
    assert result.problems == int((whole[schema.PROBLEMS] != "").sum())
    # A "\r" in one text makes the whole file "\r\n"-terminated, as a one-shot write does.
    assert out.read_bytes().count(b"\r\n") == len(whole) + 1
    # Row numbers in problems count in the whole export, not in the chunk.
    assert (
        whole[schema.PROBLEMS].str.contains(
            "duplicate comment_id 'c5' (first at row 6)", regex=False
        )
    ).sum() == 1
    pd.testing.assert_frame_equal(build_queue(result.queue_rows), build_queue(whole))


_ids = st.sampled_from(["a", "b", "c", "d", "", "0", "T1"])


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            _ids.filter(bool),  # all-empty ids in a chunk trip schema.resolve_parents (reported)
            st.sampled_from(["T1", "T2", "T3", ""]),
            _ids,
            st.sampled_from(["ann", "bob", ""]),
            st.sampled_from(["you idiot", "the treaty text", "", "ok", "pizza and cats"]),
        ),
        min_size=1,
        max_size=12,
    ),
    chunk_rows=st.integers(1, 4),
)
def test_any_small_export_scores_the_same_in_chunks(
    moderator: Moderator, tmp_path: Path, rows: list[tuple[str, ...]], chunk_rows: int
) -> None:
    columns = ["comment_id", "thread_id", "parent_id", "author", "text"]
    source = write_export(pd.DataFrame(rows, columns=columns), tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    score_export(BatchJob(str(source), str(out), chunk_rows=chunk_rows), moderator=moderator)
    assert out.read_bytes() == written(score_whole(moderator, source), tmp_path / "w.csv")


def test_review_queue_database_gets_the_same_items(
    moderator: Moderator, export: tuple[Path, Path], whole: pd.DataFrame, tmp_path: Path
) -> None:
    from moderation.reviewqueue import ReviewQueue

    source, articles = export
    job = BatchJob(str(source), str(tmp_path / "o.csv"), articles=str(articles), chunk_rows=15)
    result = score_export(job, moderator=moderator)
    thresholds = {**moderator.bundle.thresholds, schema.OFF_TOPIC: 0.5}
    stamps = ["first_seen_at", "last_seen_at", "created_at", "updated_at"]
    found: list[tuple[pd.DataFrame, list[pd.DataFrame]]] = []
    for name, scored in (("chunked", result.queue_rows), ("whole", whole)):
        with ReviewQueue(f"sqlite:///{tmp_path / name}.db") as queue:
            queue.add(scored, thresholds=thresholds)
            listed = queue.list_items(status=None)
            members = [queue.item(int(i)).comments for i in listed["id"]]
        found.append((listed.drop(columns=stamps, errors="ignore"), members))
    (items, comments), (expected_items, expected_comments) = found
    assert len(items) > 0
    pd.testing.assert_frame_equal(items, expected_items)
    assert any((c["parent_text"] != "").any() for c in comments)
    for ours, theirs in zip(comments, expected_comments, strict=True):
        pd.testing.assert_frame_equal(
            ours.drop(columns=stamps, errors="ignore"), theirs.drop(columns=stamps, errors="ignore")
        )


def test_a_carriage_return_in_any_chunk_sets_the_line_end_of_the_file(
    moderator: Moderator, tmp_path: Path
) -> None:
    frame = synthetic_comments(30, 6, seed=3)
    frame.loc[25, "text"] = "first line\rsecond line"
    source = tmp_path / "comments.jsonl"
    frame.to_json(source, orient="records", lines=True)
    out = tmp_path / "out.csv"
    score_export(BatchJob(str(source), str(out), chunk_rows=5), moderator=moderator)
    assert out.read_bytes() == written(score_whole(moderator, source), tmp_path / "w.csv")
    assert out.read_bytes().count(b"\r\n") == 31


def test_two_workers_equal_one(
    moderator: Moderator, export: tuple[Path, Path], whole: pd.DataFrame, tmp_path: Path
) -> None:
    comments, articles = export
    out = tmp_path / "two.jsonl"
    job = BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=40)
    score_export(job, moderator=moderator, runner=LocalRunner(workers=2))
    assert out.read_bytes() == written(whole, tmp_path / "whole.jsonl")


def test_forked_workers_leave_the_garbage_collector_as_found(
    moderator: Moderator, export: tuple[Path, Path], whole: pd.DataFrame, tmp_path: Path
) -> None:
    # The heap is frozen while the workers fork (no copy-on-write by their collections),
    # then collectable again; a caller's own frozen objects stay frozen.
    comments, articles = export
    job = BatchJob(str(comments), str(tmp_path / "two.csv"), articles=str(articles), chunk_rows=40)
    runner = LocalRunner(workers=2, start_method="fork")
    assert gc.get_freeze_count() == 0
    score_export(job, moderator=moderator, runner=runner)
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        score_export(job, moderator=moderator, runner=runner)
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
    assert (tmp_path / "two.csv").read_bytes() == written(whole, tmp_path / "whole.csv")


def test_spawned_workers_equal_one(
    moderator: Moderator, export: tuple[Path, Path], whole: pd.DataFrame, tmp_path: Path
) -> None:
    # What macOS and Windows use: each worker loads the model from the job's paths.
    comments, articles = export
    out = tmp_path / "spawned.csv"
    job = BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=60)
    score_export(job, moderator=moderator, runner=LocalRunner(workers=2, start_method="spawn"))
    assert out.read_bytes() == written(whole, tmp_path / "whole.csv")


def test_workers_fork_only_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert batch._start_method() == "fork"
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(sys, "platform", platform)
        assert batch._start_method() == "spawn"


class _StopsAfterOneChunk(LocalRunner):
    """Two workers' plan, interrupted once the first chunk is saved."""

    def __call__(
        self, plan: batch.Plan, pending: Sequence[int], done: Callable[[batch.ChunkDone], None]
    ) -> None:
        done(batch._score_here(plan, pending[0]))
        raise KeyboardInterrupt


def test_workers_split_an_export_of_one_chunk_and_a_resume_keeps_that_plan(
    moderator: Moderator,
    export: tuple[Path, Path],
    whole: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The default --chunk-rows holds this whole export: one process scores it in one chunk,
    # two workers get smaller chunks to share (the 1,000-row floor lowered for the test).
    monkeypatch.setattr(batch, "SPLIT_MIN_ROWS", 10)
    comments, articles = export
    out = tmp_path / "split.csv"
    job = BatchJob(str(comments), str(out), articles=str(articles))
    assert score_export(job, moderator=moderator).chunks == 1
    result = score_export(job, moderator=moderator, runner=LocalRunner(workers=2))
    assert result.chunks > 1
    assert out.read_bytes() == written(whole, tmp_path / "whole.csv")

    with pytest.raises(KeyboardInterrupt):
        score_export(job, moderator=moderator, runner=_StopsAfterOneChunk(workers=2))
    resumed = score_export(replace(job, resume=True), moderator=moderator)
    assert (resumed.chunks, resumed.reused) == (result.chunks, 1)
    assert out.read_bytes() == written(whole, tmp_path / "whole.csv")


def test_parquet_holds_the_same_table(
    moderator: Moderator, export: tuple[Path, Path], whole: pd.DataFrame, tmp_path: Path
) -> None:
    comments, articles = export
    out = tmp_path / "chunked.parquet"
    score_export(
        BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=30),
        moderator=moderator,
    )
    write_table(whole, tmp_path / "whole.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(tmp_path / "whole.parquet"))


@pytest.mark.parametrize("name", ["chunked.tsv", "chunked.csv.gz", "chunked.jsonl"])
def test_formatted_rows_are_copied_into_input_order(
    moderator: Moderator,
    export: tuple[Path, Path],
    whole: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    # The scorers formatted every chunk's rows: the merge copies them (interleaved threads,
    # "\n" chunks given the file's "\r\n") and never reads the Arrow files back as frames.
    def unused(*args: object) -> pd.DataFrame:
        raise AssertionError("merged from the Arrow files")

    monkeypatch.setattr(batch, "_merge_tables", unused)
    comments, articles = export
    out = tmp_path / name
    job = BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=15)
    result = score_export(job, moderator=moderator)
    assert result.chunks > 5
    expected = tmp_path / f"whole-{name}"
    write_table(whole, expected)
    if name.endswith(".gz"):
        import gzip

        assert gzip.decompress(out.read_bytes()) == gzip.decompress(expected.read_bytes())
    else:
        assert out.read_bytes() == expected.read_bytes()
    pd.testing.assert_frame_equal(build_queue(result.queue_rows), build_queue(whole))


class _SomeChunksUnformatted(LocalRunner):
    """Scores here, saving every other chunk without formatted rows (as a Dask run or an
    earlier version's interrupted run would have left it)."""

    def __call__(
        self, plan: batch.Plan, pending: Sequence[int], done: Callable[[batch.ChunkDone], None]
    ) -> None:
        for number in pending:
            comments, positions = plan.index.chunk(number)
            scored = batch.score_chunk(
                plan.moderator, comments, positions, plan.index.articles(number), plan.history
            )
            text = plan.text if number % 2 else None
            done(batch.save_chunk(plan.chunk_path(number), number, scored, positions, text))


def test_chunks_without_formatted_rows_are_merged_from_their_arrow_files(
    moderator: Moderator, export: tuple[Path, Path], whole: pd.DataFrame, tmp_path: Path
) -> None:
    comments, articles = export
    out = tmp_path / "mixed.csv"
    job = BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=15)
    result = score_export(job, moderator=moderator, runner=_SomeChunksUnformatted())
    assert out.read_bytes() == written(whole, tmp_path / "whole.csv")
    pd.testing.assert_frame_equal(build_queue(result.queue_rows), build_queue(whole))


_cells = st.text(alphabet='ab ,;"\t\n\ré', max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(st.tuples(_cells, _cells, st.none() | st.floats(-2, 2)), max_size=8),
    kind=st.sampled_from(["csv", "tsv", "jsonl"]),
    newline=st.sampled_from([None, "\n", "\r\n"]),
)
def test_format_rows_knows_where_every_row_ends(
    cells: list[tuple[str, str, float | None]], kind: str, newline: str | None
) -> None:
    from moderation.tablewriter import format_rows, write_rows

    frame = pd.DataFrame(cells, columns=["a", 'b,"c"', "x"]).astype({"x": float})
    formatted = format_rows(frame, kind, newline=newline)
    expected = io.BytesIO()
    write_rows(frame, kind, expected, newline=formatted.newline)
    head = formatted.header + formatted.newline.encode() if kind != "jsonl" else b""
    assert head + formatted.body == expected.getvalue()
    assert len(formatted.ends) == len(frame)
    starts = [0, *formatted.ends[:-1].tolist()][: len(frame)]
    for i, (start, end) in enumerate(zip(starts, formatted.ends.tolist(), strict=True)):
        row = formatted.body[start:end]
        assert row.endswith(formatted.newline.encode())
        single = io.BytesIO()
        write_rows(frame.iloc[i : i + 1], kind, single, newline=formatted.newline)
        assert head + row == single.getvalue()


def test_rules_on_export_wide_author_facts_keep_authors_together(
    export: tuple[Path, Path], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n"
        "  - name: busy-author\n    when: {author_comments: '>= 3'}\n"
        "    action: review\n    priority: 10\n"
        "  - name: first-time\n    when: {author_first: '== 1'}\n"
        "    action: hold\n    priority: 20\n",
        encoding="utf-8",
    )
    moderator = Moderator.load(rules=rules)
    comments, articles = export
    out = tmp_path / "authors.csv"
    job = BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=10, rules=rules)
    score_export(job, moderator=moderator)
    assert out.read_bytes() == written(score_whole(moderator, *export), tmp_path / "whole.csv")


def test_example_thread_and_a_platform_export(moderator: Moderator, tmp_path: Path) -> None:
    out = tmp_path / "example.csv"
    comments, articles = EXAMPLE / "comments.csv", EXAMPLE / "articles.csv"
    score_export(
        BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=4), moderator=moderator
    )
    assert out.read_bytes() == written(
        score_whole(moderator, comments, articles), tmp_path / "w.csv"
    )

    from moderation.io import read_export

    disqus = ROOT / "data" / "samples" / "disqus.xml"
    read = read_export(disqus)
    out = tmp_path / "disqus.csv"
    score_export(BatchJob(str(disqus), str(out), chunk_rows=2), moderator=moderator)
    expected = moderator.score(read.comments, read.articles)
    assert out.read_bytes() == written(expected, tmp_path / "dw.csv")


def test_fsspec_url_and_stdout(
    moderator: Moderator,
    export: tuple[Path, Path],
    whole: pd.DataFrame,
    tmp_path: Path,
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    fsspec = pytest.importorskip("fsspec")
    comments, articles = export
    with fsspec.open("memory://exports/comments.csv", "wb") as handle:
        handle.write(comments.read_bytes())
    job = BatchJob("memory://exports/comments.csv", "-", articles=str(articles), chunk_rows=50)
    score_export(job, moderator=moderator)
    assert capfdbinary.readouterr().out == written(whole, tmp_path / "whole.csv")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_review_list_is_streamed_and_equals_the_one_built_in_memory(
    moderator: Moderator,
    export: tuple[Path, Path],
    whole: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
) -> None:
    # Buckets of 7 items and at most 4 bucket files: the spill, its windows and the merge of
    # buckets are all exercised on a small export (the defaults hold 20,000 items a bucket).
    monkeypatch.setattr(batch, "QUEUE_BUCKET_ROWS", 7)
    monkeypatch.setattr(batch, "QUEUE_MAX_BUCKETS", 4)
    comments, articles = export
    out, queue = tmp_path / "scored.csv", tmp_path / f"review{suffix}"
    job = BatchJob(str(comments), str(out), articles=str(articles), chunk_rows=15, queue=str(queue))
    result = score_export(job, moderator=moderator, keep_queue_rows=False)
    expected = build_queue(whole)
    assert result.queue_items == len(expected) > 28  # more items than 4 buckets of 7
    assert result.queue_rows.empty  # nothing gathered in memory
    if suffix == ".parquet":
        got = pd.read_parquet(queue)
        pd.testing.assert_frame_equal(got, pd.read_parquet(io.BytesIO(written(expected, queue))))
    else:
        # Byte for byte, "\r\n" line ends included (a text of the export holds a "\r").
        assert queue.read_bytes() == written(expected, tmp_path / f"whole{suffix}")
    assert not state_dir_for(str(out)).exists()


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "x", "7"]),  # ids repeat, as they may
            st.sampled_from(["allow", "review", "hold", "remove"]),
            st.integers(0, 3),  # few priorities: many ties
            st.sampled_from(["", "", "a", "x", "q"]),  # review groups, led by an id or not
            st.lists(st.sampled_from([0.1, 0.5, 0.9, math.nan]), min_size=2, max_size=2),
        ),
        max_size=25,
    )
)
def test_queue_order_is_build_queues(rows: list[tuple[str, str, int, str, list[float]]]) -> None:
    scored = pd.DataFrame(
        {
            schema.COMMENT_ID: [r[0] for r in rows],
            schema.ACTION: [r[1] for r in rows],
            schema.PRIORITY: np.array([r[2] for r in rows], dtype=np.int64),
            "review_group": [r[3] for r in rows],
            "toxicity": [r[4][0] for r in rows],
            "insult": [r[4][1] for r in rows],
            "pos": np.arange(len(rows), dtype=np.int64),
        }
    )
    expected = build_queue(scored)
    escalated = scored[scored[schema.ACTION] != "allow"]
    severity = {a.value: a.severity for a in schema.Action}
    grouped = escalated["review_group"] != ""
    narrow = pd.DataFrame(
        {
            "pos": escalated["pos"].to_numpy(),
            "priority": escalated[schema.PRIORITY].to_numpy(),
            "severity": escalated[schema.ACTION].map(severity).to_numpy(),
            "score": escalated[["toxicity", "insult"]].max(axis=1).fillna(0).to_numpy(),
            "group": escalated["review_group"].where(grouped, None).to_numpy(dtype=object),
            "id": escalated[schema.COMMENT_ID].where(grouped, None).to_numpy(dtype=object),
        }
    )
    order = batch._queue_order(narrow)
    assert order.positions.tolist() == expected["pos"].tolist()
    assert order.priority.tolist() == expected[schema.PRIORITY].tolist()
    actions = [list(schema.Action)[s].value for s in order.severity.tolist()]
    assert actions == expected[schema.ACTION].tolist()
    assert order.size.tolist() == expected["item_size"].tolist()
    ids = dict(zip(scored["pos"], scored[schema.COMMENT_ID], strict=True))
    listed = [order.members.get(p, ids[p]) for p in order.positions.tolist()]
    assert listed == expected["item_comments"].tolist()


def test_review_list_of_an_export_without_escalations(moderator: Moderator, tmp_path: Path) -> None:
    source = tmp_path / "calm.csv"
    source.write_text("comment_id,thread_id,text\na,t,the treaty text\n", encoding="utf-8")
    out, queue = tmp_path / "out.csv", tmp_path / "review.csv"
    result = score_export(BatchJob(str(source), str(out), queue=str(queue)), moderator=moderator)
    assert result.queue_items == 0
    expected = build_queue(score_whole(moderator, source))
    assert expected.empty
    assert queue.read_bytes() == written(expected, tmp_path / "w.csv")


def test_empty_export(moderator: Moderator, tmp_path: Path) -> None:
    source = tmp_path / "empty.csv"
    source.write_text("comment_id,thread_id,text\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = score_export(BatchJob(str(source), str(out)), moderator=moderator)
    assert result.rows == 0
    scored = pd.read_csv(out, dtype=str)
    assert scored.empty
    assert list(scored.columns[:3]) == ["comment_id", "thread_id", "text"]
    assert {*schema.SCORES, schema.ACTION, schema.PROBLEMS} <= set(scored.columns)
    queue = tmp_path / "review.csv"
    result = score_export(BatchJob(str(source), str(out), queue=str(queue)), moderator=moderator)
    assert result.queue_items == 0
    listed = pd.read_csv(queue, dtype=str)
    assert listed.empty and list(listed.columns) == [*scored.columns, "item_comments", "item_size"]


def test_errors_leave_no_state_behind(moderator: Moderator, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(InputError, match="file not found"):
        score_export(BatchJob(str(tmp_path / "missing.csv"), str(out)), moderator=moderator)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,body\n1,hello\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing required column 'comment_id'"):
        score_export(BatchJob(str(bad), str(out)), moderator=moderator)
    # With workers too, nothing of the run is left.
    with pytest.raises(InputError, match="missing required column 'comment_id'"):
        score_export(BatchJob(str(bad), str(out)), moderator=moderator, runner=LocalRunner(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_resume_refuses_state_of_another_export(
    moderator: Moderator, export: tuple[Path, Path], tmp_path: Path
) -> None:
    comments, _ = export
    out = tmp_path / "out.csv"
    state = state_dir_for(str(out))
    state.mkdir()
    (state / "manifest.json").write_text('{"version": 1, "input": {"sha256": "x"}}')
    job = BatchJob(str(comments), str(out), chunk_rows=80, resume=True)
    with pytest.raises(InputError, match="was started with another export"):
        score_export(job, moderator=moderator)
    assert state.is_dir()  # kept: it is the user's to delete
    with pytest.raises(InputError, match="needs an output file"):
        score_export(BatchJob(str(comments), "-", resume=True), moderator=moderator)


def test_killed_run_resumes_to_the_same_bytes(moderator: Moderator, tmp_path: Path) -> None:
    # Enough chunks (60) that the run cannot finish between two looks at its state directory,
    # even when this process gets little of a busy machine.
    source = write_export(synthetic_comments(600, 60, seed=11), tmp_path / "big.csv")
    out = tmp_path / "scored.csv"
    chunks = state_dir_for(str(out)) / "chunks"
    args = [str(source), "-o", str(out), "--chunk-rows", "10"]
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation", "score", *args, "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while process.poll() is None and len(list(chunks.glob("*.arrow"))) < 2:
            time.sleep(0.01)
        assert process.poll() is None, "the run finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert not out.exists()  # never half an output
    done_before = len(list(chunks.glob("*.arrow")))
    assert done_before >= 2

    code, err = run_cli("score", *args, "--resume")
    assert code == 0, err
    assert f"(resumed: {done_before} of " in err
    assert out.read_bytes() == written(score_whole(moderator, source), tmp_path / "whole.csv")
    assert not state_dir_for(str(out)).exists()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.update(int(child) for child in task.read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; fork is Linux's")
def test_killed_run_leaves_no_workers_behind(tmp_path: Path) -> None:
    source = write_export(synthetic_comments(600, 60, seed=12), tmp_path / "big.csv")
    out = tmp_path / "scored.csv"
    chunks = state_dir_for(str(out)) / "chunks"
    args = [str(source), "-o", str(out), "--chunk-rows", "10", "--workers", "2", "-q"]
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation", "score", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        while process.poll() is None and len(list(chunks.glob("*.arrow"))) < 1:
            time.sleep(0.01)
        workers = {pid for pid in _children(process.pid) if _alive(pid)}
        assert process.poll() is None, "the run finished before it could be killed"
        assert workers, "no worker processes found"
        os.kill(process.pid, signal.SIGTERM)
    finally:
        process.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:  # do not leave them running if the test fails
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"workers outlived the killed run: {left}"


def test_cli_workers_and_options(export: tuple[Path, Path], tmp_path: Path) -> None:
    comments, articles = export
    plain, parallel = tmp_path / "plain.csv", tmp_path / "parallel.csv"
    code, err = run_cli("score", str(comments), "--articles", str(articles), "-o", str(plain))
    assert code == 0, err
    assert "Scored 160 comments" in err
    code, err = run_cli(
        "score",
        str(comments),
        "--articles",
        str(articles),
        "-o",
        str(parallel),
        "--workers",
        "1",
        "--chunk-rows",
        "30",
        "-q",
    )
    assert code == 0, err
    assert err == ""
    assert parallel.read_bytes() == plain.read_bytes()
    code, err = run_cli("score", str(comments), "--scheduler", "tcp://nowhere:1")
    assert code == 2
    assert "--engine dask" in err
    code, err = run_cli("score", str(comments), "--workers", "0")
    assert code == 2


# Progress -----------------------------------------------------------------------------------


def test_render_shows_rate_share_and_time_left() -> None:
    assert render("scoring", 250, 1000, 2.0) == (
        "scoring  25% |██████                  | 250/1,000 rows  125 rows/s  ETA 0:00:06"
    )
    assert render("reading", 5000, None, 2.0) == "reading  5,000 rows  2,500 rows/s"
    assert render("scoring", 0, 10, 0.0).endswith("ETA --:--:--")
    # A resumed run counts only its own rows in the rate.
    assert "50 rows/s" in render("scoring", 600, 1000, 2.0, base=500)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_draws_on_a_terminal_and_is_silent_otherwise() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    clock = FakeClock()
    screen = Terminal()
    bar = Progress(screen, clock=clock)
    bar.start("scoring", 100)
    clock.now = 1.0
    bar.update(40)
    bar.update(41)  # too soon to redraw
    clock.now = 2.0
    bar.update(100)
    bar.finish()
    text = screen.getvalue()
    assert text.count("\r") == 3
    assert "40/100 rows  40 rows/s" in text and "41/100" not in text
    assert text.endswith("100/100 rows  50 rows/s  ETA 0:00:00\n")

    piped = io.StringIO()
    quiet = Progress(piped, clock=clock)
    quiet.start("scoring", 10)
    quiet.update(5)
    quiet.finish()
    assert piped.getvalue() == ""
    muted = Terminal()
    off = Progress(muted, enabled=False)
    off.start("scoring", 10)
    off.finish()
    assert muted.getvalue() == ""


def test_the_merge_reads_a_chunk_batch_only_when_the_output_reaches_it(tmp_path: Path) -> None:
    """Memory stays bounded: a reader leaves batches beyond the merge window on disk."""
    from moderation.batch import BATCH_ROWS, _ChunkReader, save_chunk

    n = 3 * BATCH_ROWS
    scored = pd.DataFrame({"text": [f"t{i}" for i in range(n)], "action": ["allow"] * n})
    scored["problems"] = ""
    positions = np.arange(n, dtype=np.int64) * 2  # every other input row is in this chunk
    path = tmp_path / "chunk-0.arrow"
    save_chunk(path, 0, scored, positions)
    reader = _ChunkReader(path)
    try:
        assert reader.take_below(0) == [] and reader.batches_read == 0
        first = reader.take_below(10)
        assert sum(p.num_rows for p in first) == 5 and reader.batches_read == 1
        rest = reader.take_below(2 * n)
        assert sum(p.num_rows for p in rest) == n - 5 and reader.batches_read == 3
    finally:
        reader.close()
