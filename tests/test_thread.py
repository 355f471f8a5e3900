"""attach_context: parent, root, depth, path, siblings and article for every comment."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.schema import CONTEXT_COLUMNS, validate_comments
from moderation.thread import attach_context


def context(articles: pd.DataFrame | None = None, **columns: list[str]) -> pd.DataFrame:
    comments = validate_comments(pd.DataFrame(columns))
    out = attach_context(comments, articles)
    assert list(out.columns) == list(CONTEXT_COLUMNS)
    assert out.index.equals(comments.index)
    return out


def test_fixture_threads(comments: pd.DataFrame, articles: pd.DataFrame) -> None:
    out = attach_context(comments, articles).set_axis(comments["comment_id"])
    assert out["depth"].to_dict() == {
        "lib-1": 0, "lib-2": 1, "lib-3": 0, "lib-4": 1, "lib-5": 2,
        "bus-1": 0, "bus-2": 1, "bus-3": 2, "bus-4": 0, "bus-5": 1,
    }  # fmt: skip
    assert out.loc["bus-3", "thread_path"] == "bus-1/bus-2/bus-3"
    assert out.loc["bus-3", "root_id"] == "bus-1"
    assert out.loc["bus-3", "parent_text"].startswith("Only an idiot")
    assert out.loc["bus-3", "root_text"].startswith("A 20% increase")
    assert out.loc["bus-3", "article_title"] == "Council approves 20% bus fare increase"
    assert out.loc["lib-5", "article_body"].startswith("From April")
    assert out.loc["lib-1", "parent_text"] == ""
    assert out["sibling_index"].tolist() == [1, 1, 2, 1, 1, 1, 1, 1, 2, 1]


def test_dtypes(comments: pd.DataFrame) -> None:
    out = attach_context(comments)
    assert out["depth"].dtype == np.int64
    assert out["sibling_index"].dtype == np.int64
    text_columns = [c for c in CONTEXT_COLUMNS if c not in ("depth", "sibling_index")]
    assert all(str(out[c].dtype) == "str" for c in text_columns)
    assert (out[["article_title", "article_body"]] == "").all().all()


def test_keeps_a_non_default_index_and_order() -> None:
    comments = validate_comments(
        pd.DataFrame(
            {"comment_id": ["b", "a"], "parent_id": ["a", ""], "text": ["reply", "top"]},
            index=["x", "y"],
        )
    )
    out = attach_context(comments)
    assert out.index.tolist() == ["x", "y"]
    assert out["parent_text"].tolist() == ["top", ""]
    assert out["depth"].tolist() == [1, 0]


def test_missing_parent_counts_as_one_ancestor() -> None:
    out = context(comment_id=["a", "b"], parent_id=["gone", "a"], text=["x", "y"])
    assert out["depth"].tolist() == [1, 2]
    assert out["root_id"].tolist() == ["a", "a"]  # the highest comment that is present
    assert out["root_text"].tolist() == ["x", "x"]
    assert out["parent_text"].tolist() == ["", "x"]
    assert out["thread_path"].tolist() == ["a", "a/b"]


def test_cycles_terminate_and_stop_before_repeating() -> None:
    out = context(
        comment_id=["e", "f", "h", "g", "k"],
        parent_id=["f", "e", "e", "g", "g"],
        text=["E", "F", "H", "G", "K"],
    )
    assert out["root_id"].tolist() == ["f", "e", "f", "g", "g"]
    assert out["depth"].tolist() == [1, 1, 2, 0, 1]
    assert out["thread_path"].tolist() == ["f/e", "e/f", "f/e/h", "g", "g/k"]
    assert out["parent_text"].tolist() == ["F", "E", "E", "", "G"]  # own parent: no parent text


def test_duplicate_ids_resolve_to_the_first_occurrence() -> None:
    out = context(comment_id=["a", "a", "b"], parent_id=["", "", "a"], text=["first", "2nd", "r"])
    assert out["parent_text"].tolist() == ["", "", "first"]
    assert out["root_id"].tolist() == ["a", "a", "a"]


def test_siblings_count_per_thread_and_parent_in_input_order() -> None:
    out = context(
        comment_id=["t1", "r1", "t2", "r2", "u1", "r3"],
        thread_id=["A", "A", "A", "A", "B", "A"],
        parent_id=["", "t1", "", "t1", "", "t2"],
        text=list("abcdef"),
    )
    assert out["sibling_index"].tolist() == [1, 1, 2, 2, 1, 1]


def test_articles_join_by_thread() -> None:
    articles = pd.DataFrame({"thread_id": ["A", "A"], "title": ["T", "dup"], "body": ["B", "x"]})
    out = context(articles, comment_id=["a", "b"], thread_id=["A", "Z"], text=["x", "y"])
    assert out["article_title"].tolist() == ["T", ""]  # first row wins; no article -> ""
    assert out["article_body"].tolist() == ["B", ""]


def test_one_article_for_an_export_without_thread_id() -> None:
    articles = pd.DataFrame({"thread_id": ["page"], "title": ["T"], "body": ["B"]})
    out = context(articles, comment_id=["a", "b"], parent_id=["", "a"], text=["x", "y"])
    assert out["article_title"].tolist() == ["T", "T"]
    assert out["sibling_index"].tolist() == [1, 1]


def test_empty_frame() -> None:
    out = context(comment_id=[], text=[])
    assert out.empty
    assert list(out.columns) == list(CONTEXT_COLUMNS)


def test_a_large_export_gets_context_quickly() -> None:
    n = 200_000
    rng = np.random.default_rng(0)
    positions = np.arange(n)
    start = positions // 100 * 100  # threads of 100 comments
    parents = start + (rng.random(n) * (positions - start)).astype(int)
    ids = [f"c{i}" for i in range(n)]
    comments = validate_comments(
        pd.DataFrame(
            {
                "comment_id": ids,
                "thread_id": [f"t{i}" for i in start],
                "parent_id": [ids[p] if p < i else "" for i, p in enumerate(parents)],
                "text": ["some words"] * n,
            }
        )
    )
    began = time.perf_counter()
    out = attach_context(comments)
    assert time.perf_counter() - began < 10  # about 0.5 s on the development machines
    assert len(out) == n


def reference(ids: list[str], parent_ids: list[str]) -> list[tuple[str, int, str]]:
    """Walk up one comment at a time, as the docstring describes: (root_id, depth, path)."""
    first: dict[str, int] = {}
    for pos, cid in enumerate(ids):
        if cid:
            first.setdefault(cid, pos)
    rows = []
    for pos in range(len(ids)):
        walk, depth = [pos], 0
        while True:
            parent = parent_ids[walk[-1]]
            if parent.strip() == "" or (parent == "0" and "0" not in first):
                break
            if parent not in first:
                depth += 1
                break
            if first[parent] in walk:
                break
            walk.append(first[parent])
            depth += 1
        rows.append((ids[walk[-1]], depth, "/".join(ids[p] for p in reversed(walk))))
    return rows


@settings(max_examples=300, deadline=None)
@given(links=st.lists(st.integers(-3, 12), max_size=14), data=st.data())
def test_random_parent_links_match_a_slow_walk(links: list[int], data: st.DataObject) -> None:
    n = len(links)
    ids = data.draw(st.lists(st.sampled_from(["a", "b", "c", "", "0"]), min_size=n, max_size=n))
    ids = [cid if i % 3 else f"n{i}" for i, cid in enumerate(ids)]
    parent_ids = [ids[j] if 0 <= j < n else ("", "zz", "0")[j % 3] for j in links]
    comments = validate_comments(
        pd.DataFrame({"comment_id": ids, "parent_id": parent_ids, "text": ids})
    )
    out = attach_context(comments)
    assert len(out) == n
    got = list(zip(out["root_id"], out["depth"].tolist(), out["thread_path"], strict=True))
    assert got == reference(ids, parent_ids)
