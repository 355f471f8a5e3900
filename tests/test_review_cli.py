"""`moderation score --queue URL` and `moderation review ...` through the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from moderation.cli import cli
from moderation.reviewqueue import ReviewQueue

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "azerbaijan-csto"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def score_into(url: str, tmp_path: Path) -> str:
    code, _, err = run(
        "score",
        str(EXAMPLE / "comments.csv"),
        "--articles",
        str(EXAMPLE / "articles.csv"),
        "-o",
        str(tmp_path / "scored.csv"),
        "--queue",
        url,
    )
    assert code == 0, err
    return err


@pytest.fixture
def filled(queue_url: str, tmp_path: Path) -> str:
    """A queue (on each backend) holding the example's review items."""
    score_into(queue_url, tmp_path)
    return queue_url


def item_of(url: str, comment_id: str) -> int:
    with ReviewQueue(url) as queue:
        listed = queue.list_items(status=None)
    return int(listed.set_index("comment_id").loc[comment_id, "id"])


def test_score_into_database_twice_adds_nothing_new(queue_url: str, tmp_path: Path) -> None:
    first = score_into(queue_url, tmp_path)
    assert "3 items (3 new, 0 updated, 0 already decided)" in first
    second = score_into(queue_url, tmp_path)
    assert "3 items (0 new, 3 updated, 0 already decided)" in second
    with ReviewQueue(queue_url) as queue:
        listed = queue.list_items()
    assert listed["comment_id"].tolist() == ["c10", "c16", "c03"]  # insult, toxicity, derail
    assert listed["item_size"].tolist() == [1, 1, 9]  # the rest of the dispute is one item


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_titles_come_from_the_articles_file_wherever_it_is(
    sqlite_url: str, tmp_path: Path, scheme: str
) -> None:
    import fsspec  # type: ignore[import-untyped]

    table = pd.read_csv(EXAMPLE / "articles.csv").assign(title="<b>Our</b> title")
    if scheme == "file":
        table.to_csv(tmp_path / "articles.csv", index=False)
        location = f"file://{tmp_path / 'articles.csv'}"
    else:
        location = f"memory://{tmp_path.name}/articles.csv"
        with fsspec.open(location, "w") as sink:
            table.to_csv(sink, index=False)
    code, _, err = run(
        "score", str(EXAMPLE / "comments.csv"), "--articles", location,
        "-o", str(tmp_path / "scored.csv"), "--queue", sqlite_url,
    )  # fmt: skip
    assert code == 0, err
    with ReviewQueue(sqlite_url) as queue:
        listed = queue.list_items()
        spans = queue.item(item_of(sqlite_url, "c16")).comments["spans"].tolist()
    assert set(listed["article_title"]) == {"<b>Our</b> title"}  # every item: its thread's
    assert all(isinstance(s, str) for s in spans)  # the scorer's spans, "{}" when none
    code, out, _ = run("review", "show", str(item_of(sqlite_url, "c16")), "--queue", sqlite_url)
    assert "Article: <b>Our</b> title" in out


def test_a_platform_export_queues_its_posts_titles(sqlite_url: str, tmp_path: Path) -> None:
    wordpress = ROOT / "data" / "samples" / "wordpress.xml"  # posts are the articles
    code, _, err = run(
        "score", str(wordpress), "-o", str(tmp_path / "scored.csv"), "--queue", sqlite_url
    )
    assert code == 0, err
    with ReviewQueue(sqlite_url) as queue:
        titles = set(queue.list_items()["article_title"])
    assert titles == {"Council approves cycle lanes on Harbour Road & Quay Street"}


def test_without_articles_the_list_shows_no_title(sqlite_url: str, tmp_path: Path) -> None:
    code, _, err = run(
        "score", str(EXAMPLE / "comments.csv"), "-o", str(tmp_path / "scored.csv"),
        "--queue", sqlite_url,
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run("review", "list", "--queue", sqlite_url)
    assert code == 0, err
    assert all(line.split()[6] == "-" for line in out.splitlines()[1:])
    code, out, _ = run("review", "show", str(item_of(sqlite_url, "c16")), "--queue", sqlite_url)
    assert "Article:" not in out


def test_list_show_decide_export(filled: str, tmp_path: Path) -> None:
    code, out, err = run("review", "list", "--queue", filled)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "ACTION"]
    assert "ARTICLE" in lines[0]
    assert "c10" in lines[1] and "c16" in lines[2] and "c03" in lines[3]
    assert all("Azerbaijan Mulls Cooperatio…" in line for line in lines[1:])

    sub = item_of(filled, "c03")
    code, out, err = run("review", "show", str(sub), "--queue", filled)
    assert code == 0, err
    assert "derailed sub-thread of 9 comments from c03" in out
    assert "Article: Azerbaijan Mulls Cooperation with CSTO" in out
    assert "in reply to c02:" in out  # thread context
    assert "off_topic 1.00" in out or "off_topic 0.99" in out

    code, _, err = run(
        "review", "decide", str(sub), "--reject", "--moderator", "ana", "--note", "derailed",
        "--queue", filled,
    )  # fmt: skip
    assert code == 0, err
    assert f"Item {sub}: rejected (version 0 -> 1) by ana." in err

    code, _, err = run("review", "decide", str(sub), "--approve", "--moderator", "ben",
                       "--queue", filled)  # fmt: skip
    assert code == 1
    assert "your approve was not applied: already rejected by ana" in err
    assert "Traceback" not in err

    c16 = item_of(filled, "c16")
    code, _, err = run("review", "decide", str(c16), "--relabel", "toxicity=0,insult=0",
                       "--moderator", "ben", "--queue", filled)  # fmt: skip
    assert code == 0, err

    code, out, _ = run("review", "show", str(sub), "--queue", filled)
    assert "ana: reject → applied" in out
    assert "ben: approve → conflict" in out

    code, out, _ = run("review", "list", "--status", "all", "--queue", filled)
    assert code == 0
    assert "rejected" in out and "relabelled" in out

    labels_path = tmp_path / "labels.csv"
    code, _, err = run("review", "export-labels", "-o", str(labels_path), "--queue", filled)
    assert code == 0, err
    assert "Exported 10 labelled comments from 2 decided items" in err
    labels = pd.read_csv(labels_path).set_index("comment_id")
    assert labels.loc["c16", "toxicity"] == 0.0
    assert labels.loc["c16", ["severe_toxicity", "off_topic"]].isna().all()
    assert (labels.drop(index="c16")["off_topic"] == 1.0).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decide", "1", "--moderator", "ana"], "exactly one of --approve, --reject or --relabel"),
        (["decide", "1", "--approve", "--reject", "--moderator", "a"], None),
        (["decide", "1", "--relabel", "insult", "--moderator", "a"], "is not LABEL=0 or LABEL=1"),
        (["decide", "1", "--relabel", "rudeness=1", "--moderator", "a"], "unknown label"),
        (["decide", "99", "--approve", "--moderator", "a"], "no review item 99"),
        (["show", "99"], "no review item 99"),
    ],
)
def test_review_errors(
    sqlite_url: str, tmp_path: Path, args: list[str], message: str | None
) -> None:
    score_into(sqlite_url, tmp_path)
    code, _, err = run("review", *args, "--queue", sqlite_url)
    assert code != 0
    if message:
        assert message in err
    assert "Traceback" not in err


def test_missing_queue_and_bad_url(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    code, _, err = run("review", "list", "--queue", missing)
    assert code == 1
    assert "does not exist; fill it first" in err
    code, _, err = run(
        "score", str(EXAMPLE / "comments.csv"), "-o", str(tmp_path / "s.csv"),
        "--queue", "mysql://u:secret@db/q",
    )  # fmt: skip
    assert code == 1
    assert "Error: --queue mysql://u:***@db/q" in err
    assert "secret" not in err


def test_queue_from_environment(filled: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODERATION_QUEUE", filled)
    code, out, err = run("review", "list", "--min-priority", "50")
    assert code == 0, err
    assert len(out.splitlines()) == 3  # header, c10 (insult) and c16 (toxicity)


def test_rules_see_the_authors_queue_history(filled: str, tmp_path: Path) -> None:
    """After a rejection, a rule on the author's queue history holds their next comments."""
    code, _, err = run(
        "review", "decide", str(item_of(filled, "c16")), "--reject", "--moderator", "ana",
        "--queue", filled,
    )  # fmt: skip
    assert code == 0, err
    rules = tmp_path / "history.yaml"
    rules.write_text(
        "rules:\n  - name: repeat-offender\n    when: {author_queue_rejected: '>= 1'}\n"
        "    action: hold\n    priority: 80\n    reason: 'Author was rejected before'\n",
        encoding="utf-8",
    )
    out = tmp_path / "again.csv"
    code, _, err = run(
        "score", str(EXAMPLE / "comments.csv"), "-o", str(out), "--rules", str(rules),
        "--queue", filled,
    )  # fmt: skip
    assert code == 0, err
    scored = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("comment_id")
    held = scored[scored["action"] == "hold"].index.tolist()
    assert held == ["c16"]  # Rafik Chauhan's only comment; nobody else was rejected
    assert "Author was rejected before" in scored.loc["c16", "reasons"]
