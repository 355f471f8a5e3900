"""validate_comments: canonical dtypes, per-row problems, never a lost or moved row."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.errors import InputError
from moderation.schema import (
    MAX_TEXT_CHARS,
    MISSING_PARENT,
    PROBLEMS,
    TOP_LEVEL,
    find_cycles,
    resolve_parents,
    validate_comments,
)


def frame(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def problems(comments: pd.DataFrame) -> list[str]:
    out = validate_comments(comments)
    assert len(out) == len(comments)
    assert out.index.equals(comments.index)
    assert out["comment_id"].tolist() == [str(v) for v in comments["comment_id"].fillna("")]
    result: list[str] = out[PROBLEMS].tolist()
    return result


def test_fixture_is_clean(comments: pd.DataFrame) -> None:
    assert comments[PROBLEMS].tolist() == [""] * 10


def test_returns_a_new_frame_and_keeps_the_columns(raw_comments: pd.DataFrame) -> None:
    before = raw_comments.copy()
    out = validate_comments(raw_comments)
    pd.testing.assert_frame_equal(raw_comments, before)
    assert out is not raw_comments
    assert list(out.columns) == list(raw_comments.columns)


def test_optional_columns_are_not_added_and_problems_is() -> None:
    out = validate_comments(frame(comment_id=["a"], text=["hi"], extra=[1]))
    assert list(out.columns) == ["comment_id", "text", "extra", PROBLEMS]
    assert out["extra"].tolist() == [1]  # extra columns pass through untouched


def test_canonical_dtypes_from_library_frames() -> None:
    comments = pd.DataFrame(
        {
            "comment_id": [7.0, 8.0, np.nan],
            "parent_id": [None, 7, np.nan],
            "author": [pd.NA, "ann", 3],
            "text": ["a", "b", "c"],
        },
        index=[10, 11, 12],
    )
    out = validate_comments(comments)
    assert all(str(out[c].dtype) == "str" for c in ["comment_id", "parent_id", "author", "text"])
    assert out["comment_id"].tolist() == ["7", "8", ""]
    assert out["parent_id"].tolist() == ["", "7", ""]
    assert out["author"].tolist() == ["", "ann", "3"]
    assert out[PROBLEMS].tolist() == ["", "", "missing comment_id"]
    assert out.index.tolist() == [10, 11, 12]


def test_missing_required_column() -> None:
    with pytest.raises(InputError, match=r"missing required column 'text'.*--map text=<column>"):
        validate_comments(frame(comment_id=["a"], body=["x"]))


def test_repeated_column_names() -> None:
    comments = pd.DataFrame([["a", "x", "y"]], columns=["comment_id", "text", "text"])
    with pytest.raises(InputError, match="column names repeat: text"):
        validate_comments(comments)


def test_empty_and_whitespace_text() -> None:
    assert problems(frame(comment_id=["a", "b", "c"], text=["ok", "", " \n\t"])) == [
        "",
        "empty text",
        "empty text",
    ]


def test_missing_comment_id() -> None:
    assert problems(frame(comment_id=["a", "", "  "], text=["x", "y", "z"])) == [
        "",
        "missing comment_id",
        "missing comment_id",
    ]


def test_duplicate_ids_point_at_the_first_row() -> None:
    comments = frame(comment_id=["a", "b", "x", "x", "x"], text=list("12345"))
    assert problems(comments) == [
        "",
        "",
        "",
        "duplicate comment_id 'x' (first at row 3)",
        "duplicate comment_id 'x' (first at row 3)",
    ]


def test_parent_not_found() -> None:
    comments = frame(comment_id=["a", "b"], parent_id=["", "zz"], text=["x", "y"])
    assert problems(comments) == ["", "parent_id 'zz' not found in this export"]


def test_top_level_markers_are_not_missing_parents() -> None:
    comments = frame(
        comment_id=["a", "b", "c"],
        thread_id=["t3_abc", "t3_abc", "42"],
        parent_id=["t3_abc", "0", " "],
        text=["x", "y", "z"],
    )
    assert problems(comments) == ["", "", ""]
    assert resolve_parents(comments).tolist() == [TOP_LEVEL] * 3


def test_zero_is_a_parent_when_a_comment_has_that_id() -> None:
    comments = frame(comment_id=["0", "b"], parent_id=["", "0"], text=["x", "y"])
    assert resolve_parents(comments).tolist() == [TOP_LEVEL, 0]


def test_parent_cycle_flags_every_member() -> None:
    comments = frame(
        comment_id=["a", "b", "c", "d"], parent_id=["b", "a", "a", ""], text=list("wxyz")
    )
    assert problems(comments) == [
        "parent cycle: a -> b -> a",
        "parent cycle: b -> a -> b",
        "",  # hangs off the cycle but is not on it
        "",
    ]


def test_own_parent_is_a_cycle() -> None:
    comments = frame(comment_id=["a", "b"], parent_id=["a", ""], text=["x", "y"])
    assert problems(comments) == ["parent cycle: a -> a", ""]


def test_long_cycle_is_abbreviated() -> None:
    ids = [f"c{i}" for i in range(20)]
    parents = ids[1:] + ids[:1]
    found = problems(frame(comment_id=ids, parent_id=parents, text=ids))
    assert found[0] == (
        "parent cycle: c0 -> c1 -> c2 -> c3 -> c4 -> c5 -> c6 -> c7 -> ... (20 comments) -> c0"
    )
    assert all(problem.startswith("parent cycle: ") for problem in found)


def test_parent_in_another_thread() -> None:
    comments = frame(
        comment_id=["a", "b"], thread_id=["T2", "T1"], parent_id=["", "a"], text=["x", "y"]
    )
    assert problems(comments) == ["", "parent 'a' is in thread 'T2', not 'T1'"]


def test_without_thread_id_all_comments_are_one_thread() -> None:
    comments = frame(comment_id=["a", "b"], parent_id=["", "a"], text=["x", "y"])
    assert problems(comments) == ["", ""]


def test_enormous_text_is_flagged_but_kept() -> None:
    long = "word " * 5000
    comments = frame(comment_id=["a", "b"], text=[long, "x" * MAX_TEXT_CHARS])
    out = validate_comments(comments)
    assert out[PROBLEMS].tolist() == ["text is 25,000 characters; scored on the first 20,000", ""]
    assert out["text"].iloc[0] == long


def test_problems_join_in_order_and_extend_read_problems() -> None:
    comments = frame(
        comment_id=["a", "a"],
        parent_id=["", "nope"],
        text=["x", " "],
        problems=["", "invalid UTF-8 in 'text' (bytes replaced with U+FFFD)"],
    )
    assert problems(comments) == [
        "",
        "invalid UTF-8 in 'text' (bytes replaced with U+FFFD); empty text; "
        "duplicate comment_id 'a' (first at row 1); parent_id 'nope' not found in this export",
    ]


def test_validation_is_idempotent() -> None:
    comments = frame(comment_id=["a", "a", ""], parent_id=["a", "", "q"], text=["", "x", "y"])
    once = validate_comments(comments)
    pd.testing.assert_frame_equal(validate_comments(once), once)


def test_lone_surrogates_from_library_frames_are_replaced() -> None:
    # pandas cannot even build a str column from such text; object columns can hold it.
    comments = pd.DataFrame(
        {"comment_id": ["a", "b"], "text": ["fine", "bad \udce9 byte"]}, dtype=object
    )
    out = validate_comments(comments)
    assert out["text"].tolist() == ["fine", "bad \ufffd byte"]
    assert out[PROBLEMS].tolist() == ["", "invalid UTF-8 in 'text' (bytes replaced with U+FFFD)"]


def test_long_ids_are_shortened_in_messages() -> None:
    long_id = "x" * 500
    found = problems(frame(comment_id=["a"], parent_id=[long_id], text=["t"]))
    assert len(found[0]) < 150
    assert "…' not found" in found[0]


def test_empty_frame() -> None:
    out = validate_comments(frame(comment_id=[], text=[]))
    assert out.empty
    assert PROBLEMS in out.columns


def test_a_large_export_validates_quickly() -> None:
    n = 200_000
    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(n)]
    parents = [ids[j] if j >= 0 else "" for j in rng.integers(-n // 10, n, n)]
    comments = frame(comment_id=ids, parent_id=parents, text=["some words"] * n)
    start = time.perf_counter()
    out = validate_comments(comments)
    assert time.perf_counter() - start < 10  # about 0.5 s on the development machines
    assert len(out) == n


def reference_cycle_members(parents: list[int]) -> set[int]:
    """Slow, obviously right: a node is on a cycle if walking up returns to it."""
    members = set()
    for start in range(len(parents)):
        node, steps = parents[start], 0
        while node >= 0 and node != start and steps <= len(parents):
            node, steps = parents[node], steps + 1
        if node == start:
            members.add(start)
    return members


@settings(max_examples=200, deadline=None)
@given(links=st.lists(st.integers(-3, 12), min_size=0, max_size=14), data=st.data())
def test_random_parent_links_never_lose_rows(links: list[int], data: st.DataObject) -> None:
    n = len(links)
    ids = data.draw(
        st.lists(st.sampled_from(["a", "b", "c", "d", "", "0"]), min_size=n, max_size=n)
    )
    ids = [cid if i % 3 else f"n{i}" for i, cid in enumerate(ids)]  # mostly unique, some repeats
    parent_ids = [ids[j] if 0 <= j < n else ("", "zz", "0")[j % 3] for j in links]
    threads = data.draw(st.lists(st.sampled_from(["T1", "T2"]), min_size=n, max_size=n))
    comments = frame(comment_id=ids, thread_id=threads, parent_id=parent_ids, text=ids)
    out = validate_comments(comments)
    assert out["comment_id"].tolist() == ids
    assert out["parent_id"].tolist() == parent_ids

    parents = resolve_parents(comments)
    assert ((parents >= TOP_LEVEL) | (parents == MISSING_PARENT)).all()
    members = reference_cycle_members(parents.tolist())
    assert {pos for cycle in find_cycles(parents) for pos in cycle} == members
    flagged = {i for i, problem in enumerate(out[PROBLEMS]) if "parent cycle:" in problem}
    assert flagged == members


def test_replies_in_an_export_without_ids_are_missing_parents() -> None:
    comments = frame(comment_id=["", ""], thread_id=["t", "t"], parent_id=["x", ""])
    positions = resolve_parents(comments)
    assert positions[0] == MISSING_PARENT
    assert positions[1] == TOP_LEVEL
