"""Parsers never crash, and platform exports stream in bounded memory.

Property tests: whatever bytes a file holds, reading it as any format gives an
`Export` or an `InputError`, nothing else.

Memory: a generated export is read chunk by chunk under `tracemalloc`; the peak
must stay under a fixed bound and must not grow when the file is four times
larger, which is what incremental parsing means. The default sizes keep the
suite fast (about 0.25 and 4 MB per format; peaks stay under 1 MiB); set ``MODERATION_STREAM_MB`` (e.g.
``MODERATION_STREAM_MB=500``) to run the larger file at that size.
"""

from __future__ import annotations

import json
import os
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.errors import InputError
from moderation.formats import PLATFORM_FORMATS, detect_format
from moderation.io import Export, iter_export, read_export

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
