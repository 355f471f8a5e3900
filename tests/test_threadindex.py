"""The on-disk thread index: whole threads per chunk, linked threads together, input order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_fixtures import synthetic_articles, synthetic_comments
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.threadindex import COMMENT_WEIGHT, ThreadIndex


def as_read(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame as `iter_export` yields it: every column ``str``, then ``problems``."""
    out = frame.astype("str")
    out["problems"] = pd.array([""] * len(frame), dtype="str")
    return out


def in_chunks(frame: pd.DataFrame, rows: int) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    return [
        (frame.iloc[i : i + rows].reset_index(drop=True), None)
        for i in range(0, max(len(frame), 1), rows)
    ]


def build(tmp_path: Path, frame: pd.DataFrame, chunk_rows: int, **options: object) -> ThreadIndex:
    return ThreadIndex.build(
        tmp_path / "index.sqlite",
        in_chunks(as_read(frame), 7),
        chunk_rows=chunk_rows,
        **options,  # type: ignore[arg-type]
    )


def chunks_of(index: ThreadIndex) -> list[tuple[pd.DataFrame, list[int]]]:
    found = []
    for number in range(index.chunks):
        frame, positions = index.chunk(number)
        found.append((frame, positions.tolist()))
    return found


def check_partition(index: ThreadIndex, frame: pd.DataFrame) -> dict[str, int]:
    """Every row in exactly one chunk, in input order, and each thread in one chunk."""
    original = as_read(frame)
    seen: list[int] = []
    chunk_of_thread: dict[str, int] = {}
    for number, (chunk, positions) in enumerate(chunks_of(index)):
        assert positions == sorted(positions)
        expected = original.iloc[positions].reset_index(drop=True)
        pd.testing.assert_frame_equal(chunk, expected)
        for thread in chunk["thread_id"].unique().tolist():
            assert chunk_of_thread.setdefault(thread, number) == number, thread
        seen.extend(positions)
    assert sorted(seen) == list(range(len(frame)))
    assert index.rows == len(frame)
    return chunk_of_thread


def test_chunks_hold_whole_threads_in_input_order(tmp_path: Path) -> None:
    frame = synthetic_comments(300, 40, seed=1)
    index = build(tmp_path, frame, chunk_rows=25)
    assert index.chunks > 5
    assert index.columns == [*frame.columns, "problems"]
    check_partition(index, frame)
    sizes = index.chunk_sizes()
    assert sum(sizes) == len(frame)
    assert len(sizes) == index.chunks


def test_linked_threads_share_a_chunk(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "comment_id": ["a1", "b1", "c1", "d1", "a2", "b2", "e1"],
            "thread_id": ["A", "B", "C", "D", "A", "B", "E"],
            "parent_id": ["", "", "", "", "a1", "c1", ""],  # b2 replies across to thread C
            "author": ["ann", "bob", "cy", "dee", "ann", "bob", "dee"],
            "text": ["x"] * 7,
        }
    )
    frame.loc[6, "comment_id"] = "d1"  # thread E repeats an id of thread D
    index = build(tmp_path, frame, chunk_rows=1)
    where = check_partition(index, frame)
    assert where["B"] == where["C"]
    assert where["D"] == where["E"]
    assert len({where["A"], where["B"], where["D"]}) == 3

    by_author = build(tmp_path, frame, chunk_rows=1, link_authors=True)
    where = check_partition(by_author, frame)
    assert where["D"] == where["E"]  # dee writes in both
    assert where["A"] != where["B"]


def test_small_components_are_packed_up_to_the_chunk_size(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "comment_id": [f"c{i}" for i in range(10)],
            "thread_id": [f"t{i // 2}" for i in range(10)],
            "text": ["x"] * 10,
        }
    )
    index = build(tmp_path, frame, chunk_rows=4)
    assert index.chunk_sizes() == [4, 4, 2]


def test_without_thread_id_everything_is_one_chunk(tmp_path: Path) -> None:
    frame = pd.DataFrame({"comment_id": [f"c{i}" for i in range(30)], "text": ["x"] * 30})
    index = build(tmp_path, frame, chunk_rows=5)
    assert index.chunks == 1
    assert index.chunk(0)[1].tolist() == list(range(30))


def test_empty_export_has_no_chunks(tmp_path: Path) -> None:
    frame = pd.DataFrame({"comment_id": [], "text": []}, dtype="str")
    index = build(tmp_path, frame, chunk_rows=5)
    assert (index.rows, index.chunks) == (0, 0)
    assert index.columns == ["comment_id", "text", "problems"]


def test_articles_first_occurrence_wins_and_follow_their_chunk(tmp_path: Path) -> None:
    frame = synthetic_comments(60, 6, seed=2)
    articles = synthetic_articles(6).astype("str")
    repeated = pd.concat([articles, articles.assign(title="later copy")], ignore_index=True)
    chunks = in_chunks(as_read(frame), 20)
    chunks[0] = (chunks[0][0], repeated.iloc[:3])
    chunks[1] = (chunks[1][0], repeated.iloc[3:])
    index = ThreadIndex.build(tmp_path / "i.sqlite", chunks, chunk_rows=10)
    everything = index.articles(None)
    assert everything is not None
    pd.testing.assert_frame_equal(everything, articles)
    for number in range(index.chunks):
        threads = set(index.chunk(number)[0]["thread_id"])
        own = index.articles(number)
        assert own is not None
        assert set(own["thread_id"]) == threads & set(articles["thread_id"])


def test_an_articles_file_replaces_the_exports_own(tmp_path: Path) -> None:
    frame = synthetic_comments(30, 3, seed=3)
    own = synthetic_articles(3).astype("str").assign(title="from the export")
    given_file = synthetic_articles(3).astype("str")
    index = ThreadIndex.build(
        tmp_path / "i.sqlite", [(as_read(frame), own)], articles=given_file, chunk_rows=100
    )
    found = index.articles(0)
    assert found is not None
    assert set(found["title"]) == set(given_file["title"])


def test_open_finds_only_finished_indexes(tmp_path: Path) -> None:
    assert ThreadIndex.open(tmp_path / "missing.sqlite") is None
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all")
    assert ThreadIndex.open(tmp_path / "junk.sqlite") is None
    sqlite3.connect(tmp_path / "half.sqlite").execute("CREATE TABLE meta (key, value)").close()
    assert ThreadIndex.open(tmp_path / "half.sqlite") is None
    frame = synthetic_comments(40, 4)
    built = build(tmp_path, frame, chunk_rows=10)
    opened = ThreadIndex.open(built.path)
    assert opened == built


def test_chunk_rows_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_rows must be at least 1"):
        build(tmp_path, synthetic_comments(5, 1), chunk_rows=0)


_ids = st.sampled_from(["a", "b", "c", "d", "e", "", "0", " a"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(_ids, st.sampled_from(["T1", "T2", "T3", "", "a"]), _ids, _ids),
        min_size=1,
        max_size=25,
    ),
    chunk_rows=st.integers(1, 6),
)
def test_any_export_is_partitioned_with_links_kept(
    tmp_path: Path, rows: list[tuple[str, str, str, str]], chunk_rows: int
) -> None:
    frame = pd.DataFrame(rows, columns=["comment_id", "thread_id", "parent_id", "author"])
    frame["text"] = "some text"
    index = build(tmp_path, frame, chunk_rows=chunk_rows, link_authors=True)
    where = check_partition(index, frame)
    first_thread: dict[str, str] = {}
    for cid, thread in zip(frame["comment_id"], frame["thread_id"], strict=True):
        if cid:
            first_thread.setdefault(cid, thread)
    for cid, thread, parent, _ in rows:
        if cid:
            assert where[thread] == where[first_thread[cid]]
        if parent in first_thread:
            assert where[thread] == where[first_thread[parent]]
    authors: dict[str, int] = {}
    for thread, author in zip(frame["thread_id"], frame["author"], strict=True):
        if author:
            assert authors.setdefault(author, where[thread]) == where[thread]


def test_too_few_chunks_are_split_by_scoring_weight_from_the_same_read(tmp_path: Path) -> None:
    """Workers get chunks of equal scoring cost (text plus a per-comment share), not rows."""
    frame = pd.DataFrame(
        {
            "comment_id": [f"c{i}" for i in range(64)],
            "thread_id": [f"t{i // 4}" for i in range(64)],  # 16 threads of 4, in order
            "parent_id": "",
            "author": "",
            # The first half of the export writes ten times more than the second.
            "text": ["x" * (640 if i < 32 else 64) for i in range(64)],
        }
    )

    def plan(name: str, chunk_rows: int, **split: int) -> tuple[ThreadIndex, list[list[int]]]:
        (tmp_path / name).mkdir()
        index = build(tmp_path / name, frame, chunk_rows=chunk_rows, **split)
        return index, [positions for _, positions in chunks_of(index)]

    split, split_plan = plan("split", 1_000, min_chunks=4, min_chunk_rows=10)
    check_partition(split, frame)
    assert split.chunks == 4
    weight = frame["text"].str.len().to_numpy() + COMMENT_WEIGHT
    per_chunk = [int(weight[positions].sum()) for positions in split_plan]
    thread = int(weight[:4].sum())  # the heaviest thread
    assert all(abs(w - weight.sum() / 4) <= thread for w in per_chunk), per_chunk
    # Long comments come first: the first chunk holds far fewer of them than the last.
    assert 2 * len(split_plan[0]) < len(split_plan[-1])
    # Equal weight would put more comments in a chunk than --chunk-rows allows: equal rows
    # instead (rows / 4 + 5% = 17, then whole threads of 4: chunks of 16).
    capped, capped_plan = plan("capped", 24, min_chunks=4, min_chunk_rows=10)
    check_partition(capped, frame)
    assert [len(p) for p in capped_plan] == [16, 16, 16, 16]
    # Below the floor of comments per wanted chunk, or with chunks enough, the plan is kept.
    assert plan("kept", 1_000, min_chunks=4, min_chunk_rows=17)[0].chunks == 1
    assert plan("enough", 10, min_chunks=4, min_chunk_rows=1)[1] == plan("plain", 10)[1]


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40), st.integers(1, 6))
def test_balanced_parts_are_in_order_and_within_a_component_of_equal(
    weights: list[int], parts: int
) -> None:
    from moderation.threadindex import _balance

    comp = np.array([w + 1 for w in weights], dtype=np.float64)
    order = list(range(len(comp)))[::-1]  # any order of the components
    chunk_of, chunks = _balance(order, comp, parts)
    along = chunk_of[order]
    assert along[0] == 0 and (np.diff(along) >= 0).all() and (np.diff(along) <= 1).all()
    assert chunks == int(along.max()) + 1 <= parts
    heaviest = comp.max()
    for number in range(chunks):
        total = comp[order][along == number].sum()
        assert total <= comp.sum() / parts + heaviest
