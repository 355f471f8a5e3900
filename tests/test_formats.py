"""Parsers never crash, and platform exports stream in bounded memory.

Property tests: whatever bytes a file holds, reading it as any format gives an
`Export` or an `InputError`, nothing else.

Chunks: reading a table in chunks of any size gives the rows, problems and
errors of reading it whole.

Memory: a generated export (platform or plain table) is read chunk by chunk
under `tracemalloc`; the peak must stay under a fixed bound and must not grow
when the file is four times larger, which is what incremental parsing means.
`tracemalloc` sees Python objects only, so for tables a subprocess also checks
that the process's peak resident memory (which includes pandas' C parser and
Arrow buffers) does not grow with the file. The default sizes keep the suite
fast (about 0.25 and 4 MB per format; traced peaks stay under 1 MiB); set
``MODERATION_STREAM_MB`` (e.g. ``MODERATION_STREAM_MB=500``) to run the larger
file at that size.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.errors import InputError
from moderation.formats import PLATFORM_FORMATS, detect_format
from moderation.io import Export, iter_export, read_export
from moderation.schema import PROBLEMS

# Property tests ----------------------------------------------------------------------------


def read_or_refuse(data: bytes, name: str, fmt: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        try:
            export = read_export(path, format=fmt)
        except InputError:
            return
        assert isinstance(export, Export)
        assert list(export.comments.columns[:2]) == ["comment_id", "thread_id"] or (
            export.format not in PLATFORM_FORMATS
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=400),
    fmt=st.sampled_from([None, *PLATFORM_FORMATS]),
    name=st.sampled_from(["x.xml", "x.json", "x.ndjson", "x.csv"]),
)
def test_any_bytes_give_a_frame_or_an_input_error(data: bytes, fmt: str | None, name: str) -> None:
    read_or_refuse(data, name, fmt)


_WXR_HEAD = (
    '<?xml version="1.0"?><rss xmlns:wp="http://wordpress.org/export/1.2/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><item>'
    "<wp:post_id>1</wp:post_id><wp:comment><wp:comment_id>1</wp:comment_id>"
    "<wp:comment_content>"
)
_WXR_TAIL = "</wp:comment_content></wp:comment></item></channel></rss>"


@settings(max_examples=150, deadline=None)
@given(body=st.text(max_size=60), cut=st.integers(min_value=0, max_value=400))
def test_wxr_with_any_comment_text(body: str, cut: int) -> None:
    document = (_WXR_HEAD + body + _WXR_TAIL).encode("utf-8", "surrogatepass")
    read_or_refuse(document, "x.xml", None)
    read_or_refuse(document[:cut], "x.xml", "wxr")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["kind", "data", "children", "replies", "body", "id", "parent_id"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=_JSON, kind=st.sampled_from(["Listing", "t1", "t3", "more"]))
def test_reddit_with_any_json(value: object, kind: str) -> None:
    listing = {"kind": "Listing", "data": {"children": [{"kind": kind, "data": value}]}}
    read_or_refuse(json.dumps([listing]).encode(), "x.json", None)
    read_or_refuse(json.dumps(value).encode() + b"\n", "x.ndjson", "reddit-ndjson")


_PIECES = [b",", b'"', b"\n", b"\r", b"\t", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"a", b"1", b" "]
_PIECES += [b"comment_id", b"text", b'{"comment_id": 1, "text": "x"}', b'{"a": null}', b"\\ud800"]
_TABLE_BYTES = st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join)


def read_in_chunks(path: Path, chunk_rows: int | None) -> pd.DataFrame | str:
    """The comments read in chunks of `chunk_rows` (None: whole), or the InputError message."""
    try:
        if chunk_rows is None:
            return read_export(path).comments
        chunks = list(iter_export(path, chunk_rows=chunk_rows))
    except InputError as exc:
        return str(exc)
    columns = [list(chunk.comments.columns) for chunk in chunks]
    assert all(found == columns[0] for found in columns)
    assert all(len(chunk.comments) <= chunk_rows for chunk in chunks)
    assert len(chunks) == 1 or all(len(chunk.comments) for chunk in chunks)
    return pd.concat([chunk.comments for chunk in chunks], ignore_index=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_TABLE_BYTES,
    suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".csv.gz"]),
    chunk_rows=st.integers(min_value=1, max_value=3),
)
def test_tables_read_in_chunks_as_they_read_whole(
    data: bytes, suffix: str, chunk_rows: int
) -> None:
    if suffix != ".jsonl" and data[:1] != b"{":
        data = b"comment_id,text\n" + data
    if suffix == ".tsv":
        data = data.replace(b",", b"\t")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"export{suffix}"
        path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
        whole = read_in_chunks(path, None)
        chunked = read_in_chunks(path, chunk_rows)
    if isinstance(whole, str) or isinstance(chunked, str):
        # Both refuse the file. The reasons may differ when a file has two faults: in chunks
        # the header is checked before a malformed row further down is reached.
        assert isinstance(whole, str) and isinstance(chunked, str), (whole, chunked)
        if "cannot parse" in whole and "cannot parse" in chunked:
            assert chunked == whole
    else:
        pd.testing.assert_frame_equal(chunked, whole)


# Bounded memory ----------------------------------------------------------------------------

_TEXT = "A comment on the council's budget &amp; the new bus lanes, long enough to be typical. " * 3


def write_export(kind: str, path: Path, threads: int, per_thread: int = 100) -> int:
    """Write a generated export of `kind`; reply chains five deep. Returns its comment count."""
    n = 0
    with path.open("w", encoding="utf-8") as out:
        if kind == "wxr":
            out.write(_WXR_HEAD.split("<item>")[0] + "\n")
        elif kind == "disqus":
            out.write(
                '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">\n'
            )
        for t in range(threads):
            if kind == "wxr":
                out.write(f"<item><title>Post {t}</title><wp:post_id>{t}</wp:post_id>\n")
            elif kind == "disqus":
                out.write(f'<thread dsq:id="t{t}"><title>Thread {t}</title></thread>\n')
            else:
                out.write(
                    json.dumps({"id": f"s{t}", "title": f"Post {t}", "subreddit": "x"}) + "\n"
                )
            for c in range(per_thread):
                n += 1
                top = c % 5 == 0
                if kind == "wxr":
                    out.write(
                        f"<wp:comment><wp:comment_id>{n}</wp:comment_id><wp:comment_content>"
                        f"<![CDATA[<p>{_TEXT}</p>]]></wp:comment_content><wp:comment_parent>"
                        f"{0 if top else n - 1}</wp:comment_parent></wp:comment>\n"
                    )
                elif kind == "disqus":
                    parent = "" if top else f'<parent dsq:id="{n - 1}"/>'
                    out.write(
                        f'<post dsq:id="{n}"><message><![CDATA[<p>{_TEXT}</p>]]></message>'
                        f'<thread dsq:id="t{t}"/>{parent}</post>\n'
                    )
                else:
                    parent = f"t3_s{t}" if top else f"t1_c{n - 1}"
                    line = {
                        "id": f"c{n}",
                        "parent_id": parent,
                        "link_id": f"t3_s{t}",
                        "body": _TEXT,
                    }
                    out.write(json.dumps(line) + "\n")
            if kind == "wxr":
                out.write("</item>\n")
        out.write({"wxr": "</channel></rss>\n", "disqus": "</disqus>\n"}.get(kind, ""))
    return n


def streamed_peak(path: Path) -> tuple[int, int]:
    """Comments read and the traced peak (bytes) while streaming `path` in small chunks."""
    count = 0
    tracemalloc.start()
    try:
        for chunk in iter_export(path, chunk_rows=500):
            count += len(chunk.comments)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["wxr", "disqus", "reddit-ndjson"])
def test_large_exports_stream_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    big_mb = float(os.environ.get("MODERATION_STREAM_MB", "4"))
    per_mb = 2_600  # comments per MB of these generated files, roughly
    small, large = tmp_path / "small", tmp_path / "large"
    small_count = write_export(kind, small, threads=max(1, per_mb // 400))
    large_count = write_export(kind, large, threads=max(4, int(big_mb * per_mb) // 100))
    assert detect_format(large) == kind
    assert large.stat().st_size > 3 * small.stat().st_size
    read_small, peak_small = streamed_peak(small)
    read_large, peak_large = streamed_peak(large)
    assert (read_small, read_large) == (small_count, large_count)
    # The peak is one chunk plus parser buffers: fixed, whatever the file size.
    assert peak_large < 8 * 2**20, f"{peak_large / 2**20:.1f} MiB"
    assert peak_large < 1.25 * peak_small + 2**20, (peak_small, peak_large)


_TABLE_ROWS_PER_MB = 3_500  # rows per MB of the generated CSV, roughly
_TABLE_KINDS = ["csv", "csv.gz", "tsv", "jsonl", "jsonl.gz", "parquet"]


def write_table_export(kind: str, path: Path, rows: int) -> int:
    """Write a generated table of `rows` comments, five-deep reply chains; Parquet row groups
    of 1,000 rows. Every 997th text has a byte that is not UTF-8. Returns `rows`."""

    def record(n: int) -> dict[str, str]:
        return {
            "comment_id": f"c{n}",
            "thread_id": f"t{n // 100}",
            "parent_id": "" if n % 5 == 0 else f"c{n - 1}",
            "text": _TEXT.replace("&amp;", "\udcff" if n % 997 == 0 else "&"),
        }

    if kind == "parquet":
        names = list(record(0))
        schema = pa.schema(
            [(name, pa.binary() if name == "text" else pa.string()) for name in names]
        )
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(0, rows, 1_000):
                batch = [record(n) for n in range(start, min(rows, start + 1_000))]
                columns: dict[str, list[str] | list[bytes]] = {
                    name: [r[name] for r in batch] for name in names
                }
                columns["text"] = [r["text"].encode("utf-8", "surrogateescape") for r in batch]
                writer.write_table(pa.table(columns, schema=schema))
        return rows
    plain, _, compressed = kind.partition(".")
    with (gzip.open if compressed else open)(path, "wb") as out:
        if plain == "jsonl":
            for n in range(rows):
                out.write(json.dumps(record(n)).encode().replace(b"\\udcff", b"\xff") + b"\n")
            return rows
        sep = "\t" if plain == "tsv" else ","
        out.write(sep.join(record(0)).encode() + b"\r\n")
        for n in range(rows):
            line = sep.join(f'"{value}"' for value in record(n).values())
            out.write(line.encode("utf-8", "surrogateescape") + b"\r\n")
    return rows


@pytest.mark.parametrize("kind", _TABLE_KINDS)
def test_large_tables_stream_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    big_mb = float(os.environ.get("MODERATION_STREAM_MB", "4"))
    small, large = tmp_path / f"small.{kind}", tmp_path / f"large.{kind}"
    small_count = write_table_export(kind, small, _TABLE_ROWS_PER_MB // 4)
    large_count = write_table_export(kind, large, int(big_mb * _TABLE_ROWS_PER_MB))
    assert large_count > 3 * small_count
    read_small, peak_small = streamed_peak(small)
    read_large, peak_large = streamed_peak(large)
    assert (read_small, read_large) == (small_count, large_count)
    assert peak_large < 8 * 2**20, f"{peak_large / 2**20:.1f} MiB"
    assert peak_large < 1.25 * peak_small + 2**20, (peak_small, peak_large)


def test_streamed_tables_keep_problems_on_their_rows(tmp_path: Path) -> None:
    for kind in ("csv", "jsonl", "parquet"):
        path = tmp_path / f"problems.{kind}"
        write_table_export(kind, path, 2_500)
        flagged = []
        for number, chunk in enumerate(iter_export(path, chunk_rows=300)):
            rows = chunk.comments[chunk.comments[PROBLEMS] != ""]
            flagged += [
                (number, position, cid)
                for position, cid in zip(rows.index, rows["comment_id"], strict=True)
            ]
            assert rows["text"].str.contains("\ufffd").all()
        assert flagged == [(n // 300, n % 300, f"c{n}") for n in range(0, 2_500, 997)], kind


_RSS_SCRIPT = """
import resource, sys
from moderation.io import iter_export
for path in sys.argv[1:]:
    rows = sum(len(chunk.comments) for chunk in iter_export(path, chunk_rows=500))
    print(rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is KiB on Linux")
@pytest.mark.parametrize("kind", ["csv.gz", "jsonl", "parquet"])
def test_large_tables_stream_in_bounded_resident_memory(tmp_path: Path, kind: str) -> None:
    """Peak RSS, which sees pandas' C parser and Arrow, must not rise on a file 16 times larger.

    The small file, then the large one, is read in a fresh process; read whole,
    the large file (8 MB by default) would add 10 to 50 MiB.
    """
    big_mb = max(8.0, float(os.environ.get("MODERATION_STREAM_MB", "8")))
    rows = int(big_mb * _TABLE_ROWS_PER_MB)
    small, large = tmp_path / f"small.{kind}", tmp_path / f"large.{kind}"
    write_table_export(kind, small, rows // 16)
    write_table_export(kind, large, rows)
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(small), str(large)],
        capture_output=True,
        text=True,
        check=True,
    )
    (read_small, peak_small), (read_large, peak_large) = (
        (int(count), int(peak) / 1024) for count, peak in map(str.split, done.stdout.splitlines())
    )
    assert (read_small, read_large) == (rows // 16, rows)
    assert peak_large - peak_small < 4, f"peak RSS {peak_small:.0f} -> {peak_large:.0f} MiB"
