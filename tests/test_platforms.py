"""Platform exports: WordPress WXR, Disqus XML, Reddit listings and dumps, mapping files.

Every sample in ``data/samples/`` is read with its reply structure and articles
checked; each tricky case (five-deep chains, replies to deleted comments,
entities and markup, CDATA, emoji, right-to-left text, empty threads, CRLF) has
a test; malformed and malicious files end in an `InputError` naming the file and
position, or in a per-comment problem with every other comment kept.
"""

from __future__ import annotations

import gzip
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from moderation.cli import cli
from moderation.errors import InputError
from moderation.formats import detect_format, html_to_text
from moderation.io import (
    convert_export,
    iter_export,
    read_articles,
    read_column_map,
    read_comments,
    read_export,
)
from moderation.schema import PROBLEMS, validate_comments
from moderation.thread import attach_context

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
EXPORTS = Path(__file__).parent / "data" / "exports"

WriteFile = Callable[[str, bytes | str], Path]

# sample -> (format, {comment_id: parent_id}, {thread_id: words of the article body}).
EXPECTED = {
    "wordpress.xml": (
        "wxr",
        {"1": "", "2": "1", "3": "2", "4": "3", "5": "4", "6": "5", "7": "", "9": "8"},
        {"101": "protected cycle lanes", "102": "opens 11:00\u201316:00 on Sundays"},
    ),
    "disqus.xml": (
        "disqus",
        {"50001": "", "50002": "50001", "50006": "50005", "50007": "", "50008": "50007"},
        {"7301": "Hollin Reservoir fell to 38%", "7302": "", "7303": "closes for six weeks"},
    ),
    "reddit-listing.json": (
        "reddit",
        {"t1_l0e1": "t3_1c9xq2a", "t1_l0e5": "t1_l0e4", "t1_l0f2": "t1_l0f1"},
        {"t3_1c9xq2a": "single fares go from £2.00 to £2.40"},
    ),
    "reddit-dump.ndjson": (
        "reddit-ndjson",
        {"t1_m1a": "t3_1cb0a11", "t1_m1c": "t1_m1b", "t1_m1e": "t1_m1d"},
        {"t3_1cb0a11": "Tea & cake provided", "t3_1cb0b22": ""},
    ),
}


def context_of(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a sample and attach thread context, indexed by comment_id."""
    export = read_export(path)
    valid = validate_comments(export.comments)
    context = attach_context(valid, export.articles)
    return valid.set_index("comment_id"), context.set_index(valid["comment_id"])


# Every sample: format, reply structure, articles --------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_format_parents_and_articles(name: str) -> None:
    fmt, parents, bodies = EXPECTED[name]
    path = SAMPLES / name
    assert detect_format(path) == fmt
    export = read_export(path)
    assert export.format == fmt
    comments = export.comments.set_index("comment_id")
    for comment, parent in parents.items():
        assert comments.loc[comment, "parent_id"] == parent, comment
    assert export.articles is not None
    articles = export.articles.set_index("thread_id")
    assert set(bodies) <= set(articles.index)
    for thread, words in bodies.items():
        assert (
            words in articles.loc[thread, "body"] if words else articles.loc[thread, "body"] == ""
        )
    assert list(export.comments.columns[:6]) == [
        "comment_id",
        "thread_id",
        "parent_id",
        "author",
        "text",
        "created_at",
    ]
    assert export.comments.columns[-1] == PROBLEMS
    assert all(str(dtype) == "str" for dtype in export.comments.dtypes)
    # every comment belongs to an article of the export
    assert set(export.comments["thread_id"]) <= set(articles.index)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_thread_context_joins_articles(name: str) -> None:
    _, bodies = EXPECTED[name][1:]
    valid, context = context_of(SAMPLES / name)
    commented = {t: w for t, w in bodies.items() if w and t in set(valid["thread_id"])}
    for thread, words in commented.items():
        in_thread = context[valid["thread_id"] == thread]
        assert in_thread["article_body"].str.contains(words, regex=False).all()


@pytest.mark.parametrize(
    ("name", "deepest"),
    [("wordpress.xml", "6"), ("disqus.xml", "50006"), ("reddit-listing.json", "t1_l0e6")],
)
def test_reply_chain_five_deep(name: str, deepest: str) -> None:
    valid, context = context_of(SAMPLES / name)
    assert context.loc[deepest, "depth"] == 5
    assert len(context.loc[deepest, "thread_path"].split("/")) == 6
    assert valid.loc[deepest, PROBLEMS] == ""


def test_wordpress_reply_to_a_comment_deleted_from_the_site() -> None:
    valid, context = context_of(SAMPLES / "wordpress.xml")
    assert valid.loc["9", PROBLEMS] == "parent_id '8' not found in this export"
    assert context.loc["9", "depth"] == 1
    others = valid.drop(index="9")
    assert (others[PROBLEMS] == "").all()


def test_disqus_reply_to_a_deleted_post() -> None:
    valid, context = context_of(SAMPLES / "disqus.xml")
    assert valid.loc["50007", "status"] == "deleted"
    assert valid.loc["50007", "text"] == ""
    assert valid.loc["50007", PROBLEMS] == "empty text"
    assert valid.loc["50008", PROBLEMS] == ""
    assert context.loc["50008", "parent_text"] == ""
    assert context.loc["50008", "depth"] == 1


def test_reddit_deleted_and_removed_keep_their_place() -> None:
    comments = read_comments(SAMPLES / "reddit-listing.json").set_index("comment_id")
    assert comments.loc["t1_l0f1", ["status", "text"]].tolist() == ["deleted", ""]
    assert comments.loc["t1_l0g1", ["status", "text"]].tolist() == ["removed", ""]
    assert comments.loc["t1_l0f2", "parent_id"] == "t1_l0f1"
    dump = read_comments(SAMPLES / "reddit-dump.ndjson").set_index("comment_id")
    assert dump.loc["t1_m1d", "status"] == "removed"


def test_statuses_and_types_are_kept_not_dropped() -> None:
    comments = read_comments(SAMPLES / "wordpress.xml").set_index("comment_id")
    assert comments["status"].to_dict() == {
        **dict.fromkeys(["1", "2", "3", "4", "5", "7", "9", "12"], "approved"),
        "6": "pending",
        "10": "spam",
        "11": "trash",
    }
    assert comments.loc["12", "type"] == "pingback"
    disqus = read_comments(SAMPLES / "disqus.xml").set_index("comment_id")
    assert disqus.loc["50010", "status"] == "spam"


def test_html_becomes_text_and_the_markup_is_kept() -> None:
    wp = read_comments(SAMPLES / "wordpress.xml").set_index("comment_id")
    assert wp.loc["1", "text"].startswith("Finally! I ride Harbour Road every day & it's")
    assert "\n\nProtected lanes" in wp.loc["1", "text"]  # paragraph break kept
    assert wp.loc["4", "text"].endswith("have no idea how a small business works.")
    assert "<strong>no idea</strong>" in wp.loc["4", "text_html"]
    assert wp.loc["9", "text"].startswith("Whatever that comment said, it's gone now <3")
    assert wp.loc["10", "text"] == "Great post!!! Visit best watches for 90% off"
    assert (
        wp.loc["12", "text"]
        == "[…] the Gazette reports the council\u2019s vote on Harbour Road […]"
    )
    disqus = read_comments(SAMPLES / "disqus.xml").set_index("comment_id")
    assert disqus.loc["50003", "text"].startswith(
        "Source? The board's report says the plant uses < 2%"
    )
    assert disqus.loc["50003", "text_html"].startswith("<p>Source? The board&#39;s report")
    articles = read_articles(SAMPLES / "wordpress.xml").set_index("thread_id")
    assert (
        articles.loc["101", "title"] == "Council approves cycle lanes on Harbour Road & Quay Street"
    )
    assert "wp:paragraph" not in articles.loc["101", "body"]
    assert "9\u20134" in articles.loc["101", "body"]


def test_reddit_entities_emoji_and_rtl() -> None:
    comments = read_comments(SAMPLES / "reddit-listing.json").set_index("comment_id")
    assert comments.loc["t1_l0e2", "text"].startswith("> the buses are fine\n\nAre you serious?")
    assert "10 & nobody" in comments.loc["t1_l0e2", "text"]
    assert comments.loc["t1_l0e5", "text"].endswith("👋")  # a JSON surrogate-pair escape
    assert comments.loc["t1_l0i1", "text"] == "الحافلة رقم ٤٢ تتأخر كل صباح."
    assert comments.loc["t1_l0e1", "created_at"] == "2024-04-18T08:08:20Z"
    assert (comments[PROBLEMS] == "").all()


def test_emoji_rtl_and_crlf_in_xml() -> None:
    raw = (SAMPLES / "disqus.xml").read_bytes()
    assert b"\r\n" in raw  # the sample really has Windows line endings
    disqus = read_comments(SAMPLES / "disqus.xml").set_index("comment_id")
    assert not disqus["text"].str.contains("\r").any()
    assert disqus.loc["50005", "text"] == "Ok, and what would convince you? 🙂"
    assert disqus.loc["50009", "text"] == "מקווה שיירד גשם בקרוב, הגינה שלנו כבר צהובה."
    assert disqus.loc["50009", "author_name"] == "נועה כהן"
    wp = read_comments(SAMPLES / "wordpress.xml").set_index("comment_id")
    assert wp.loc["7", "author"] == "نادية الحسن"
    assert wp.loc["1", "text"].endswith("🚲")


def test_empty_threads_are_articles_without_comments() -> None:
    for name, thread in [
        ("wordpress.xml", "102"),
        ("disqus.xml", "7302"),
        ("reddit-dump.ndjson", "t3_1cb0b22"),
    ]:
        export = read_export(SAMPLES / name)
        assert export.articles is not None
        assert thread in set(export.articles["thread_id"])
        assert thread not in set(export.comments["thread_id"])


def test_wordpress_attachments_are_not_articles_and_dates_are_iso() -> None:
    export = read_export(SAMPLES / "wordpress.xml")
    assert export.articles is not None
    assert export.articles["thread_id"].tolist() == ["101", "102"]
    comments = export.comments.set_index("comment_id")
    assert comments.loc["1", "created_at"] == "2024-03-05T10:12:00Z"
    assert comments.loc["12", "created_at"] == "2024-03-06T08:00:00"  # local: no GMT date


def test_reddit_dump_numbers_and_strings_for_times_and_wrapped_lines() -> None:
    comments = read_comments(SAMPLES / "reddit-dump.ndjson").set_index("comment_id")
    assert comments.loc["t1_m1a", "created_at"] == "2024-04-24T23:08:20Z"
    assert comments.loc["t1_m1b", "created_at"] == "2024-04-24T23:09:20Z"  # "1714000160"
    assert comments.loc["t1_m1c", "parent_id"] == "t1_m1b"  # {"kind": "t1", "data": ...}


def test_reddit_dump_with_crlf(write_file: WriteFile) -> None:
    data = (SAMPLES / "reddit-dump.ndjson").read_bytes().replace(b"\n", b"\r\n")
    crlf = read_comments(write_file("dump.ndjson", data))
    pd.testing.assert_frame_equal(crlf, read_comments(SAMPLES / "reddit-dump.ndjson"))


# Detection and --format ---------------------------------------------------------------------


def test_detection_ignores_the_name_and_reads_gzip(tmp_path: Path) -> None:
    renamed = tmp_path / "download.bin"
    shutil.copy(SAMPLES / "disqus.xml", renamed)
    assert detect_format(renamed) == "disqus"
    zipped = tmp_path / "export.xml.gz"
    zipped.write_bytes(gzip.compress((SAMPLES / "wordpress.xml").read_bytes()))
    assert detect_format(zipped) == "wxr"
    pd.testing.assert_frame_equal(read_comments(zipped), read_comments(SAMPLES / "wordpress.xml"))


def test_tables_keep_being_chosen_by_extension() -> None:
    assert detect_format(SAMPLES / "forum-dump.csv") == "csv"
    assert detect_format(EXPORTS / "threads.jsonl") == "jsonl"


def test_forced_format(write_file: WriteFile) -> None:
    path = write_file("dump.txt", "comment_id,text\n1,hello\n")
    with pytest.raises(InputError, match=r"unknown file type '\.txt'.*--format"):
        read_comments(path)
    assert read_comments(path, format="csv")["text"].tolist() == ["hello"]
    with pytest.raises(InputError, match=r"dump\.txt, line 1, column 1: not valid XML"):
        read_comments(path, format="disqus")
    with pytest.raises(InputError, match="unknown format 'xml'"):
        read_comments(path, format="xml")


def test_other_xml_is_not_taken_for_an_export(write_file: WriteFile) -> None:
    path = write_file("feed.xml", '<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    with pytest.raises(InputError, match=r"unknown file type '\.xml'"):
        read_comments(path)


def test_column_mappings_do_not_apply_to_platform_exports() -> None:
    with pytest.raises(InputError, match="disqus export has fixed fields"):
        read_comments(SAMPLES / "disqus.xml", columns={"text": "message"})


# Malformed and malicious files --------------------------------------------------------------


def test_truncated_xml_names_file_line_and_column() -> None:
    with pytest.raises(InputError, match=r"truncated\.xml, line \d+, column \d+: not valid XML"):
        read_comments(EXPORTS / "truncated.xml")


def test_entity_bomb_is_refused_fast_with_its_position() -> None:
    start = time.perf_counter()
    with pytest.raises(InputError) as caught:
        read_comments(EXPORTS / "entity-bomb.xml", format="disqus")
    assert time.perf_counter() - start < 1
    message = str(caught.value)
    assert "entity-bomb.xml, line 3, column" in message
    assert "refused: the XML declares entities" in message


def test_external_entity_is_refused(write_file: WriteFile) -> None:
    with pytest.raises(InputError, match=r"external-entity\.xml, line 2, column \d+: refused"):
        read_comments(EXPORTS / "external-entity.xml")


def test_post_in_a_missing_thread_is_a_problem_and_the_rest_is_read() -> None:
    comments = read_comments(EXPORTS / "missing-thread.xml").set_index("comment_id")
    assert comments[PROBLEMS].to_dict() == {
        "10": "",
        "11": "thread '999' not found in this export",
        "12": "",
    }
    valid = validate_comments(comments.reset_index()).set_index("comment_id")
    assert valid.loc["11", PROBLEMS] == "thread '999' not found in this export"


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ('[{"kind": "Listing", "data": {"children": [}}]', r"l\.json, line 1, column \d+"),
        ('{"kind": "Listing", "data": {"children": []}}', "no Reddit comment"),
    ],
)
def test_bad_listing(write_file: WriteFile, content: str, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        read_comments(write_file("l.json", content), format="reddit")


def test_bad_dump_line_is_named(write_file: WriteFile) -> None:
    good = '{"id": "a", "body": "hi", "parent_id": "t3_x", "link_id": "t3_x"}\n'
    with pytest.raises(InputError, match=r"d\.ndjson, line 3, column \d+: not valid JSON"):
        read_comments(write_file("d.ndjson", good + "\n" + '{"id": "b", "body"\n'))
    with pytest.raises(InputError, match="line 2: neither a Reddit comment"):
        read_comments(write_file("e.ndjson", good + '{"score": 3}\n'))


def test_invalid_utf8_in_a_dump_is_a_cell_problem(write_file: WriteFile) -> None:
    line = b'{"id": "a", "body": "caf\xe9", "parent_id": "t3_x", "link_id": "t3_x"}\n'
    comments = read_comments(write_file("d.ndjson", line))
    assert comments["text"].tolist() == ["caf\ufffd"]
    assert comments[PROBLEMS].tolist() == ["invalid UTF-8 in 'text' (bytes replaced with U+FFFD)"]


# HTML to text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("plain text", "plain text"),
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("a<br>b", "a\nb"),
        ("Tom &amp; Jerry &lt;3 &#8217; &hearts;", "Tom & Jerry <3 \u2019 ♥"),
        ('<a href="https://x.example">label</a> after', "label after"),
        ("<script>alert(1)</script>visible", "visible"),
        ("a < b and c > d", "a < b and c > d"),
        ("<b>unclosed <i>tags", "unclosed tags"),
        ("line one\r\nline two", "line one\nline two"),
        ("  lots   of\tspace  ", "lots of space"),
        ("<!-- wp:paragraph --><p>x</p><!-- /wp:paragraph -->", "x"),
    ],
)
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


# Mapping files ------------------------------------------------------------------------------


def test_mapping_file_reads_a_database_dump() -> None:
    mapping = read_column_map(SAMPLES / "forum-dump.map.yaml")
    assert mapping.comments["text"] == "message"
    comments = read_comments(SAMPLES / "forum-dump.csv", columns=mapping.comments)
    articles = read_articles(SAMPLES / "forum-topics.csv", columns=mapping.articles)
    valid = validate_comments(comments)
    context = attach_context(valid, articles)
    assert (valid[PROBLEMS] == "").all()
    assert context["depth"].tolist() == [0, 1, 2, 3, 0, 0]
    assert context["article_title"].tolist()[-1] == "Lost and found"
    assert "is_hidden" in comments.columns  # extra columns pass through


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("text: body\ncomment_id: id\n", None),
        ("comments:\n  txt: body\n", "'txt' in 'comments' is not a canonical column"),
        ("articles:\n  title: [a, b]\n", "'articles.title' must name a column"),
        ("- a\n- b\n", "expected 'comments:'"),
        ("comments: [1]\n", "'comments' must map"),
        ("comments: {text: body\n", "cannot read the mapping file"),
        ("comments: {}\nextra: {}\n", "unknown section 'extra'"),
    ],
)
def test_mapping_file_errors(write_file: WriteFile, content: str, pattern: str | None) -> None:
    path = write_file("map.yaml", content)
    if pattern is None:
        assert read_column_map(path).comments == {"text": "body", "comment_id": "id"}
        return
    with pytest.raises(InputError, match=pattern):
        read_column_map(path)


# Convert and the command line ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".csv.gz"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_convert_round_trips(tmp_path: Path, name: str, suffix: str) -> None:
    out, articles_out = tmp_path / f"c{suffix}", tmp_path / f"a{suffix}"
    counts = convert_export(SAMPLES / name, out, articles_output=articles_out, chunk_rows=3)
    export = read_export(SAMPLES / name)
    assert export.articles is not None
    assert counts == (len(export.comments), len(export.articles))
    pd.testing.assert_frame_equal(read_comments(out), export.comments)
    written = read_articles(articles_out)
    pd.testing.assert_frame_equal(written, export.articles)


def test_cli_convert_with_map_file_and_format(tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "convert",
            str(SAMPLES / "forum-dump.csv"),
            "--map-file",
            str(SAMPLES / "forum-dump.map.yaml"),
            "--map",
            "author=is_hidden",
            "--format",
            "csv",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Converted 6 comments" in result.stderr
    comments = read_comments(out)
    assert comments["author"].tolist() == ["0"] * 5 + ["1"]  # --map wins over the file
    assert comments["text"].iloc[0].startswith("Plot 14 has been flooded")


def test_cli_convert_reports_bad_xml(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["convert", str(EXPORTS / "entity-bomb.xml"), "-o", str(tmp_path / "c.csv")]
    )
    assert result.exit_code == 1
    assert "refused: the XML declares entities" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_iter_export_chunks_carry_their_articles() -> None:
    chunks = list(iter_export(SAMPLES / "disqus.xml", chunk_rows=4))
    assert [len(chunk.comments) for chunk in chunks] == [4, 4, 3]
    assert chunks[0].articles is not None
    assert chunks[0].articles["thread_id"].tolist() == ["7301", "7302", "7303"]
    whole = read_comments(SAMPLES / "disqus.xml")
    pd.testing.assert_frame_equal(
        pd.concat([chunk.comments for chunk in chunks], ignore_index=True), whole
    )


# End to end ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_sample_scores_end_to_end(tmp_path: Path, name: str) -> None:
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(cli, ["score", str(SAMPLES / name), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    export = read_export(SAMPLES / name)
    assert scored["comment_id"].tolist() == export.comments["comment_id"].tolist()
    assert scored["parent_id"].tolist() == export.comments["parent_id"].tolist()
    assert {"status", "text_html", "toxicity", "off_topic", "action", "depth"} <= set(scored)
    _, parents, _ = EXPECTED[name]
    depth = scored.set_index("comment_id")["depth"]
    assert all(depth[c] == "0" for c, parent in parents.items() if parent in ("", "t3_1c9xq2a"))


def test_library_scores_a_platform_export() -> None:
    from moderation import Moderator

    export = read_export(SAMPLES / "disqus.xml")
    scored = Moderator.load().score(export.comments, export.articles)
    assert len(scored) == len(export.comments)
    assert scored.set_index("comment_id").loc["50007", PROBLEMS] == "empty text"


@pytest.mark.parametrize(
    ("sample", "fmt"),
    [
        ("wordpress.xml", None),
        ("disqus.xml", "disqus"),
        ("reddit-listing.json", "reddit"),
        ("reddit-dump.ndjson", "reddit-ndjson"),
    ],
)
def test_broken_gzip_export(write_file: WriteFile, sample: str, fmt: str | None) -> None:
    whole = gzip.compress((SAMPLES / sample).read_bytes())
    path = write_file("export.gz", whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"export\.gz: cannot read"):
        read_comments(path, format=fmt)
