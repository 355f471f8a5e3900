"""Reading exports and writing tables: formats, strings-only reading, errors with locations."""

from __future__ import annotations

import gzip
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from moderation import io as mio
from moderation.errors import InputError, OutputError
from moderation.io import read_articles, read_comments, write_table
from moderation.schema import PROBLEMS

DATA = Path(__file__).parent / "data"
EXPORTS = DATA / "exports"

WriteFile = Callable[[str, bytes | str], Path]

CSV = "comment_id,thread_id,parent_id,text\n007,t1,,Hello\n008,t1,007,\n009,t1,007,3.50\n"


# Reading: formats ---------------------------------------------------------------------------


def test_csv_values_stay_strings_in_file_order(write_file: WriteFile) -> None:
    frame = read_comments(write_file("c.csv", CSV))
    assert frame[["comment_id", "parent_id", "text"]].to_dict("list") == {
        "comment_id": ["007", "008", "009"],
        "parent_id": ["", "007", "007"],
        "text": ["Hello", "", "3.50"],
    }
    assert list(frame.columns) == ["comment_id", "thread_id", "parent_id", "text", PROBLEMS]
    assert all(str(dtype) == "str" for dtype in frame.dtypes)
    assert frame[PROBLEMS].tolist() == ["", "", ""]
    assert not frame.isna().any().any()


@pytest.mark.parametrize("name", ["c.csv.gz", "c.tsv", "c.tsv.gz"])
def test_tsv_and_gzip_read_like_csv(write_file: WriteFile, name: str) -> None:
    text = CSV.replace(",", "\t") if ".tsv" in name else CSV
    data = gzip.compress(text.encode()) if name.endswith(".gz") else text.encode()
    expected = read_comments(write_file("plain.csv", CSV))
    pd.testing.assert_frame_equal(read_comments(write_file(name, data)), expected)


def test_bom_is_stripped(write_file: WriteFile) -> None:
    frame = read_comments(write_file("c.csv", b"\xef\xbb\xbf" + CSV.encode()))
    assert frame.columns[0] == "comment_id"


def test_quoted_newlines_and_separators_survive(write_file: WriteFile) -> None:
    frame = read_comments(write_file("c.csv", 'comment_id,text\na,"one, two\nthree ""q"""\n'))
    assert frame["text"].tolist() == ['one, two\nthree "q"']


@pytest.mark.parametrize("name", ["threads.jsonl", "threads.ndjson", "threads.jsonl.gz"])
def test_jsonl_values_as_text(tmp_path: Path, name: str) -> None:
    data = (EXPORTS / "threads.jsonl").read_bytes()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    frame = read_comments(path)
    assert list(frame.columns) == [
        "comment_id", "thread_id", "parent_id", "text", "score", "meta", PROBLEMS,
    ]  # fmt: skip
    assert frame["comment_id"].tolist() == ["1", "2", "003"]
    assert frame["parent_id"].tolist() == ["", "1", ""]  # null and a missing key are ""
    assert frame["score"].tolist() == ["3.5", "", "-1"]
    assert frame["meta"].tolist() == ["", '{"flagged": false}', ""]


def test_jsonl_booleans_and_non_ascii(write_file: WriteFile) -> None:
    line = {"comment_id": "x", "text": "Grüße — ok", "flag": True}
    frame = read_comments(write_file("c.jsonl", json.dumps(line) + "\n"))
    assert frame["text"].tolist() == ["Grüße — ok"]
    assert frame["flag"].tolist() == ["true"]


def test_parquet_values_as_text(tmp_path: Path) -> None:
    table = pa.table(
        {
            "comment_id": pa.array([7, 8, None], pa.int64()),
            "text": ["a", None, "c"],
            "score": [1.5, None, 2.0],
            "raw": pa.array([b"ok", b"caf\xe9", None], pa.binary()),
        }
    )
    pq.write_table(table, tmp_path / "c.parquet")
    frame = read_comments(tmp_path / "c.parquet")
    assert frame["comment_id"].tolist() == ["7", "8", ""]
    assert frame["text"].tolist() == ["a", "", "c"]
    assert frame["score"].tolist() == ["1.5", "", "2"]
    assert frame["raw"].tolist() == ["ok", "caf\ufffd", ""]
    assert frame[PROBLEMS].tolist() == [
        "",
        "invalid UTF-8 in 'raw' (bytes replaced with U+FFFD)",
        "",
    ]


def test_column_mapping_renames_and_passes_the_rest_through() -> None:
    mapping = {
        "comment_id": "comment_ID",
        "thread_id": "comment_post_ID",
        "parent_id": "comment_parent",
        "author": "comment_author",
        "text": "comment_content",
    }
    frame = read_comments(EXPORTS / "wordpress.csv", columns=mapping)
    assert list(frame.columns) == [
        "comment_id", "thread_id", "parent_id", "author", "text", "comment_approved", PROBLEMS,
    ]  # fmt: skip
    assert frame["comment_id"].tolist() == ["001", "002", "003"]
    assert frame["comment_approved"].tolist() == ["1", "1", "0"]


def test_existing_problems_column_is_extended(write_file: WriteFile) -> None:
    path = write_file("c.csv", b"comment_id,text,problems\na,ok,earlier note\nb,caf\xe9,\n")
    frame = read_comments(path)
    assert frame[PROBLEMS].tolist() == [
        "earlier note",
        "invalid UTF-8 in 'text' (bytes replaced with U+FFFD)",
    ]


# Reading: undecodable bytes ------------------------------------------------------------------


def test_invalid_utf8_is_replaced_per_cell_and_no_row_is_lost() -> None:
    frame = read_comments(EXPORTS / "latin1.csv")
    assert frame["comment_id"].tolist() == ["c1", "c2", "c3"]
    assert frame["text"].tolist() == ["plain ascii", "caf\ufffd au lait", "fine again"]
    assert frame[PROBLEMS].tolist() == [
        "",
        "invalid UTF-8 in 'text' (bytes replaced with U+FFFD)",
        "",
    ]


def test_invalid_utf8_problem_uses_the_mapped_name(write_file: WriteFile) -> None:
    path = write_file("c.csv", b"id,body\n1,\xff\xfe bad\n")
    frame = read_comments(path, columns={"comment_id": "id", "text": "body"})
    assert frame["text"].tolist() == ["\ufffd\ufffd bad"]
    assert frame[PROBLEMS].tolist() == ["invalid UTF-8 in 'text' (bytes replaced with U+FFFD)"]


def test_invalid_utf8_in_jsonl_and_lone_surrogate_escapes(write_file: WriteFile) -> None:
    data = b'{"comment_id": "a", "text": "caf\xe9"}\n{"comment_id": "b", "text": "x\\ud800y"}\n'
    frame = read_comments(write_file("c.jsonl", data))
    assert frame["text"].tolist() == ["caf\ufffd", "x\ufffdy"]
    assert all(problem.startswith("invalid UTF-8 in 'text'") for problem in frame[PROBLEMS])


# Reading: errors ----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        read_comments(tmp_path / "nope.csv")


def test_unknown_extension_lists_supported(write_file: WriteFile) -> None:
    with pytest.raises(InputError, match=r"unknown file type '\.xlsx'.*\.csv, \.tsv, \.jsonl"):
        read_comments(write_file("c.xlsx", CSV))


def test_missing_required_column_names_it_and_suggests_a_mapping(write_file: WriteFile) -> None:
    path = write_file("c.csv", "id,body,user\n1,hi,ann\n")
    with pytest.raises(InputError) as caught:
        read_comments(path, columns={"comment_id": "id"})
    message = str(caught.value)
    assert str(path) in message
    assert "missing required column 'text'" in message
    assert "columns found: 'comment_id', 'body', 'user'" in message
    assert "--map text=<column>" in message
    assert PROBLEMS not in message


def test_mapping_to_a_column_not_in_the_file(write_file: WriteFile) -> None:
    with pytest.raises(
        InputError, match=r"column 'message' \(mapped to 'text'\) is not in the file"
    ):
        read_comments(write_file("c.csv", CSV), columns={"text": "message"})


def test_mapping_onto_an_existing_name_is_refused(write_file: WriteFile) -> None:
    with pytest.raises(InputError, match="column names repeat after mapping"):
        read_comments(write_file("c.csv", CSV), columns={"text": "thread_id"})


def test_malformed_jsonl_names_the_line(write_file: WriteFile) -> None:
    path = write_file("c.jsonl", '{"comment_id": "a", "text": "x"}\n\n{"comment_id": "b", "text"\n')
    with pytest.raises(InputError, match=r"c\.jsonl, line 3, column \d+: not valid JSON"):
        read_comments(path)


def test_jsonl_line_that_is_not_an_object(write_file: WriteFile) -> None:
    path = write_file("c.jsonl", '{"comment_id": "a", "text": "x"}\n["b", "y"]\n')
    with pytest.raises(InputError, match=r"line 2: expected a JSON object, found an array"):
        read_comments(path)


def test_unreadable_parquet(write_file: WriteFile) -> None:
    with pytest.raises(InputError, match=r"c\.parquet: cannot read as Parquet"):
        read_comments(write_file("c.parquet", b"definitely not parquet"))


def test_csv_parse_error_names_the_line(write_file: WriteFile) -> None:
    path = write_file("c.csv", "comment_id,text\na,fine\nb,too,many\n")
    with pytest.raises(
        InputError, match=r"cannot parse as CSV: Expected 2 fields in line 3, saw 3"
    ):
        read_comments(path)


def test_surplus_field_on_the_first_row_is_not_swallowed(write_file: WriteFile) -> None:
    # pandas would otherwise make the first column the index and shift every value.
    with pytest.raises(InputError, match="line 2"):
        read_comments(write_file("c.csv", "comment_id,text\na,b,c\n"))


def test_empty_file(write_file: WriteFile) -> None:
    with pytest.raises(InputError, match="file is empty"):
        read_comments(write_file("c.csv", ""))


def test_header_only_gives_an_empty_frame(write_file: WriteFile) -> None:
    frame = read_comments(write_file("c.csv", "comment_id,text\n"))
    assert frame.empty
    assert list(frame.columns) == ["comment_id", "text", PROBLEMS]


def test_broken_gzip(write_file: WriteFile) -> None:
    with pytest.raises(InputError, match=r"c\.csv\.gz: cannot read"):
        read_comments(write_file("c.csv.gz", b"\x1f\x8b not really"))


def test_errors_are_value_errors_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file not found"):
        read_comments(tmp_path / "missing.csv")


_PIECES = [b",", b'"', b"\n", b"\r", b"\t", b"\x00", b"\xff", b"\xc3", b"\xe9", b"a", b"1"]
_PIECES += [b" ", b"comment_id", b"text", b"{", b"}", b"[", b":", b"null", b"\\ud800", b"\\"]
_MESSY_BYTES = st.one_of(
    st.binary(max_size=300), st.lists(st.sampled_from(_PIECES), max_size=60).map(b"".join)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_MESSY_BYTES, suffix=st.sampled_from([".csv", ".jsonl", ".tsv"]))
@example(data=b"comment_id,text\n1,\xff\n", suffix=".csv")
@example(data=b'{"comment_id": 1, "text": "\\udc80"}', suffix=".jsonl")
@example(data=b"[" * 100_000, suffix=".jsonl")
@example(data=b'{"comment_id": 1, "text": ' + b"9" * 5000 + b"}", suffix=".jsonl")
def test_arbitrary_bytes_give_a_frame_or_input_error(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"export{suffix}"
        path.write_bytes(data)
        try:
            frame = read_comments(path)
        except InputError:
            return
        assert isinstance(frame, pd.DataFrame)
        assert PROBLEMS in frame.columns
        assert all(str(dtype) == "str" for dtype in frame.dtypes)


# Reading in chunks --------------------------------------------------------------------------


def chunks_of(
    path: Path, chunk_rows: int, columns: dict[str, str] | None = None
) -> list[pd.DataFrame]:
    chunks = mio.iter_export(path, chunk_rows=chunk_rows, columns=columns)
    return [chunk.comments for chunk in chunks]


def test_csv_streams_in_chunks_with_bom_gzip_and_mapping(write_file: WriteFile) -> None:
    text = "id,body\r\n" + "".join(f"{n:03},comment {n}\r\n" for n in range(7))
    path = write_file("c.csv.gz", gzip.compress(b"\xef\xbb\xbf" + text.encode()))
    mapping = {"comment_id": "id", "text": "body"}
    chunks = chunks_of(path, 3, columns=mapping)
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert all(list(chunk.columns) == ["comment_id", "text", PROBLEMS] for chunk in chunks)
    assert all(chunk.index.tolist() == list(range(len(chunk))) for chunk in chunks)
    whole = read_comments(path, columns=mapping)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert whole["comment_id"].tolist()[:2] == ["000", "001"]


def test_invalid_utf8_in_a_later_chunk_is_a_problem_of_its_row(write_file: WriteFile) -> None:
    path = write_file("c.csv", b"comment_id,text\na,ok\nb,ok\nc,ok\nd,caf\xe9\ne,ok\n")
    chunks = chunks_of(path, 2)
    assert [chunk[PROBLEMS].tolist() for chunk in chunks] == [
        ["", ""],
        ["", "invalid UTF-8 in 'text' (bytes replaced with U+FFFD)"],
        [""],
    ]
    assert chunks[1]["text"].tolist() == ["ok", "caf\ufffd"]


def test_csv_error_in_a_later_chunk_names_its_line(write_file: WriteFile) -> None:
    rows = "".join(f"{n},text {n}\n" for n in range(9))
    path = write_file("c.csv", f"comment_id,text\n{rows}9,too,many\n")
    with pytest.raises(
        InputError, match=r"c\.csv: cannot parse as CSV: Expected 2 fields in line 11"
    ):
        chunks_of(path, 2)


def test_header_is_checked_before_the_first_chunk(write_file: WriteFile) -> None:
    path = write_file("c.csv", "id,body\n1,a\n2,b\n3,c\n")
    chunks = mio.iter_export(path, chunk_rows=1)
    with pytest.raises(InputError, match="missing required column 'comment_id'"):
        next(chunks)
    with pytest.raises(InputError, match=r"column 'message' \(mapped to 'text'\)"):
        next(mio.iter_export(path, chunk_rows=1, columns={"text": "message"}))


def test_jsonl_chunks_share_every_column_of_the_file(write_file: WriteFile) -> None:
    lines = [{"comment_id": str(n), "text": "t"} for n in range(5)]
    lines[3]["score"] = 2  # type: ignore[assignment]
    path = write_file("c.jsonl", "\n".join(map(json.dumps, lines)) + "\n\n")
    chunks = chunks_of(path, 2)
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    assert all(list(chunk.columns) == ["comment_id", "text", "score", PROBLEMS] for chunk in chunks)
    assert pd.concat(chunks)["score"].tolist() == ["", "", "", "2", ""]


def test_jsonl_error_anywhere_stops_before_the_first_chunk(write_file: WriteFile) -> None:
    good = "".join(json.dumps({"comment_id": str(n), "text": "t"}) + "\n" for n in range(5))
    path = write_file("c.jsonl", good + "\n" + '{"comment_id": "x", "text"\n')
    chunks = mio.iter_export(path, chunk_rows=2)
    with pytest.raises(InputError, match=r"c\.jsonl, line 7, column \d+: not valid JSON"):
        next(chunks)


def test_parquet_streams_by_row_group(tmp_path: Path) -> None:
    table = pa.table({"comment_id": [str(n) for n in range(7)], "text": ["x"] * 7, "n": range(7)})
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=3)
    chunks = chunks_of(tmp_path / "c.parquet", 2)
    assert all(0 < len(chunk) <= 2 for chunk in chunks)
    whole = read_comments(tmp_path / "c.parquet")
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert whole["n"].tolist() == [str(n) for n in range(7)]


def test_empty_tables_give_one_empty_chunk(write_file: WriteFile, tmp_path: Path) -> None:
    table = pa.table({"comment_id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    pq.write_table(table, tmp_path / "c.parquet")
    for path in (write_file("c.csv", "comment_id,text\n"), tmp_path / "c.parquet"):
        (chunk,) = chunks_of(path, 2)
        assert chunk.empty
        assert list(chunk.columns) == ["comment_id", "text", PROBLEMS]


@pytest.mark.parametrize("name", ["c.csv.gz", "c.jsonl.gz"])
@pytest.mark.parametrize("keep", [0.1, 0.6, 0.95])
def test_truncated_gzip_is_refused_wherever_it_ends(
    write_file: WriteFile, name: str, keep: float
) -> None:
    lines = [
        {"comment_id": str(n), "text": f"comment {n} " + "x" * (n % 50)} for n in range(30_000)
    ]
    if name.startswith("c.csv"):
        text = "comment_id,text\n" + "".join(f"{r['comment_id']},{r['text']}\n" for r in lines)
    else:
        text = "".join(json.dumps(line) + "\n" for line in lines)
    data = gzip.compress(text.encode())
    path = write_file(name, data[: int(len(data) * keep)])
    for chunk_rows in (1_000, None):
        with pytest.raises(InputError, match=rf"{name}: cannot read"):
            chunks_of(path, chunk_rows) if chunk_rows else read_comments(path)


def test_chunk_rows_must_be_positive(write_file: WriteFile) -> None:
    with pytest.raises(ValueError, match="chunk_rows must be at least 1"):
        next(mio.iter_export(write_file("c.csv", CSV), chunk_rows=0))


def test_convert_streams_tables_and_writes_atomically(
    write_file: WriteFile, tmp_path: Path
) -> None:
    rows = "".join(f"{n},t{n % 2},,text {n}\n" for n in range(9))
    path = write_file("c.csv", "comment_id,thread_id,parent_id,text\n" + rows)
    for suffix in (".csv", ".jsonl", ".parquet"):
        out = tmp_path / f"out{suffix}"
        assert mio.convert_export(path, out, chunk_rows=2) == (9, 0)
        expected = read_comments(path)
        pd.testing.assert_frame_equal(read_comments(out)[expected.columns], expected)
    out = tmp_path / "out.csv"
    before = out.read_bytes()
    bad = write_file("bad.csv", "comment_id,thread_id,parent_id,text\n" + rows + "9,t,,x,surplus\n")
    with pytest.raises(InputError, match="line 11"):
        mio.convert_export(bad, out, chunk_rows=2)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# Articles -----------------------------------------------------------------------------------


def test_read_articles(articles: pd.DataFrame) -> None:
    assert list(articles.columns) == ["thread_id", "title", "body"]
    assert articles["thread_id"].tolist() == ["library-hours", "bus-fares"]


def test_articles_title_and_body_may_be_absent(write_file: WriteFile) -> None:
    frame = read_articles(write_file("a.csv", "thread_id,body,url\nT1,About it,http://x\n"))
    assert list(frame.columns) == ["thread_id", "title", "body", "url"]
    assert frame["title"].tolist() == [""]


def test_articles_need_thread_id(write_file: WriteFile) -> None:
    with pytest.raises(InputError, match="missing required column 'thread_id'"):
        read_articles(write_file("a.csv", "title,body\nT,B\n"))


def test_duplicate_article_names_the_rows(write_file: WriteFile) -> None:
    path = write_file("a.csv", "thread_id,title\nT1,a\nT2,b\nT1,c\n")
    with pytest.raises(InputError, match=r"duplicate thread_id 'T1' at rows 1, 3"):
        read_articles(path)


# Writing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.jsonl", "out.parquet", "out.csv.gz"])
def test_round_trip(raw_comments: pd.DataFrame, tmp_path: Path, name: str) -> None:
    write_table(raw_comments, tmp_path / name)
    pd.testing.assert_frame_equal(read_comments(tmp_path / name), raw_comments)


def test_jsonl_is_one_utf8_object_per_line_with_null(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ["Grüße", "b"], "score": [0.25, float("nan")], "n": [1, 2]})
    write_table(frame, tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"text": "Grüße", "score": 0.25, "n": 1}'
    assert json.loads(lines[1]) == {"text": "b", "score": None, "n": 2}


def test_csv_has_no_index(tmp_path: Path) -> None:
    write_table(pd.DataFrame({"a": ["x"]}, index=[5]), tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "a\nx\n"


def test_dash_writes_csv_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    write_table(pd.DataFrame({"a": ["x", "y"]}), "-")
    assert capsys.readouterr().out == "a\nx\ny\n"


def test_unknown_output_extension_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"unknown file type '\.xlsx'.*\.parquet"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_missing_output_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "no" / "out.csv")


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old contents\n", encoding="utf-8")

    def half_write(frame: pd.DataFrame, kind: str, handle: object) -> None:
        handle.write(b"partial")  # type: ignore[attr-defined]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(mio, "_write", half_write)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_table(pd.DataFrame({"a": [1]}), target)
    assert target.read_text(encoding="utf-8") == "old contents\n"
    assert [path.name for path in tmp_path.iterdir()] == ["out.csv"]


def test_unwritable_value_is_an_output_error_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    write_table(pd.DataFrame({"a": ["old"]}), target)
    before = target.read_bytes()
    mixed = pd.DataFrame({"a": [object(), 1]})  # pyarrow cannot store arbitrary objects
    with pytest.raises(OutputError, match=r"out\.parquet: cannot write parquet"):
        write_table(mixed, target)
    assert target.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["out.parquet"]


_CELL = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(st.tuples(_CELL, _CELL), min_size=1, max_size=8),
    suffix=st.sampled_from([".csv", ".jsonl", ".parquet"]),
)
def test_any_text_round_trips(cells: list[tuple[str, str]], suffix: str) -> None:
    frame = pd.DataFrame(
        {"comment_id": [a for a, _ in cells], "text": [b for _, b in cells]}, dtype="str"
    )
    frame[PROBLEMS] = pd.Series([""] * len(frame), dtype="str")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"out{suffix}"
        write_table(frame, path)
        pd.testing.assert_frame_equal(read_comments(path), frame)


def test_fixture_exports_are_small() -> None:
    assert all(path.stat().st_size < 10_000 for path in DATA.rglob("*") if path.is_file())


def test_table_writer_can_fix_one_line_end_for_frames_written_in_pieces(tmp_path: Path) -> None:
    # A file written in pieces must not switch terminators when a later piece holds a "\r".
    target = tmp_path / "out.csv"
    with mio.TableWriter(target, newline="\r\n") as writer:
        writer.write(pd.DataFrame({"a": ["x"]}))
        writer.write(pd.DataFrame({"a": ["y\rz"]}))
    assert target.read_bytes() == b'a\r\nx\r\n"y\rz"\r\n'
    assert pd.read_csv(target, dtype=str)["a"].tolist() == ["x", "y\rz"]
