"""End to end through the command line, in a temporary directory, with the bundled model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from moderation import schema
from moderation.cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "azerbaijan-csto"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_score_example_with_queue(tmp_path: Path) -> None:
    out, queue = tmp_path / "scored.csv", tmp_path / "review.csv"
    code, _, err = run(
        "score",
        str(EXAMPLE / "comments.csv"),
        "--articles",
        str(EXAMPLE / "articles.csv"),
        "-o",
        str(out),
        "--queue",
        str(queue),
    )
    assert code == 0, err
    assert "Scored 17 comments" in err
    scored, source = read(out), read(EXAMPLE / "comments.csv")
    assert scored["comment_id"].tolist() == source["comment_id"].tolist()
    assert list(scored.columns[: len(source.columns)]) == list(source.columns)
    pd.testing.assert_frame_equal(scored[source.columns], source)
    for column in (*schema.SCORES, schema.ACTION, schema.PRIORITY, schema.REASONS, schema.PROBLEMS):
        assert column in scored.columns
    review = read(queue)
    assert set(review["comment_id"]) <= set(scored["comment_id"])
    assert (review[schema.ACTION] != "allow").all()
    priorities = review[schema.PRIORITY].astype(int).tolist()
    assert priorities == sorted(priorities, reverse=True)
    # Streamed from the chunk files, the list is the one built from the whole scored frame.
    from moderation import Moderator
    from moderation.io import read_articles, read_export, write_table
    from moderation.review import build_queue

    whole = Moderator.load().score(
        read_export(EXAMPLE / "comments.csv").comments, read_articles(EXAMPLE / "articles.csv")
    )
    write_table(build_queue(whole), tmp_path / "expected.csv")
    assert queue.read_bytes() == (tmp_path / "expected.csv").read_bytes()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_other_output_formats(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"scored{suffix}"
    code, _, err = run("score", str(EXAMPLE / "comments.csv"), "-o", str(out), "-q")
    assert code == 0, err
    frame = pd.read_json(out, lines=True) if suffix == ".jsonl" else pd.read_parquet(out)
    assert len(frame) == 17
    assert frame["toxicity"].between(0, 1).all()


def test_stdout_is_csv(tmp_path: Path) -> None:
    code, out, err = run("score", str(EXAMPLE / "comments.csv"), "-q")
    assert code == 0, err
    assert out.splitlines()[0].startswith("comment_id,thread_id,parent_id,author,text,toxicity")


def test_column_mapping(tmp_path: Path) -> None:
    export = tmp_path / "dump.jsonl"
    rows = [
        {"id": "1", "body": "Thanks for the clear article about the budget.", "reply_to": None},
        {"id": "2", "body": "You are a complete idiot and a liar.", "reply_to": "1"},
    ]
    export.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    code, _, err = run(
        "score",
        str(export),
        "--map",
        "comment_id=id,text=body",
        "--map",
        "parent_id=reply_to",
        "-o",
        str(out),
    )
    assert code == 0, err
    scored = read(out)
    assert scored["comment_id"].tolist() == ["1", "2"]
    assert scored.loc[1, "depth"] == "1"
    assert float(scored.loc[1, "toxicity"]) > float(scored.loc[0, "toxicity"])


def test_missing_column_is_one_clear_line(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text("id,body\n1,hello\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    code, _, err = run("score", str(export), "-o", str(out))
    assert code == 1
    assert "comment_id" in err and "body" in err and "Traceback" not in err
    assert not out.exists()


def test_bad_rows_are_kept_with_problems(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(
        "comment_id,thread_id,parent_id,text\n"
        "a,t1,,First comment on the article\n"
        "a,t1,,Same id again\n"
        "b,t1,zzz,Reply to nothing\n"
        "c,t1,d,Cycle one\n"
        "d,t1,c,Cycle two\n"
        "e,t2,a,Reply across threads\n"
        "f,t1,a,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    code, _, err = run("score", str(export), "-o", str(out))
    assert code == 0, err
    scored = read(out)
    assert scored["comment_id"].tolist() == ["a", "a", "b", "c", "d", "e", "f"]
    problems = scored[schema.PROBLEMS].tolist()
    assert problems[0] == ""
    assert "duplicate" in problems[1]
    assert "not found" in problems[2]
    assert "cycle" in problems[3] and "cycle" in problems[4]
    assert "thread" in problems[5]
    assert "empty" in problems[6]
    assert scored.loc[6, "toxicity"] == ""  # nothing to score
    assert "with problems" in err


def test_failed_run_leaves_existing_output_alone(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("previous results\n", encoding="utf-8")
    code, _, _ = run("score", str(tmp_path / "missing.csv"), "-o", str(out))
    assert code == 1
    assert out.read_text(encoding="utf-8") == "previous results\n"
    assert list(tmp_path.iterdir()) == [out]


def test_bad_queue_target_fails_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    code, _, err = run("score", str(EXAMPLE / "comments.csv"), "-o", str(out), "--queue", "q.txt")
    assert code == 1 and "--queue" in err
    assert not out.exists()


def test_score_without_a_queue_database_does_not_import_sqlalchemy(tmp_path: Path) -> None:
    """SQLAlchemy's import is serial time in every run; only ``--queue`` needs it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from moderation.cli import cli\n"
        "cli(['score', sys.argv[1], '-o', sys.argv[2], '--queue', sys.argv[3], '--quiet'],\n"
        "    standalone_mode=False)\n"
        "print('sqlalchemy' in sys.modules)\n"
    )
    out, queue = tmp_path / "out.csv", tmp_path / "queue.csv"
    done = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLE / "comments.csv"), str(out), str(queue)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "False", done.stdout + done.stderr
    assert out.exists() and queue.exists()


def test_bad_map_is_a_usage_error() -> None:
    code, _, err = run("score", str(EXAMPLE / "comments.csv"), "--map", "txt=body")
    assert code == 2 and "canonical" in err


def test_rules_check(tmp_path: Path) -> None:
    code, out, _ = run("rules", "check", str(ROOT / "moderation" / "defaults" / "rules.yaml"))
    assert code == 0 and "no problems" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: a\n    when: {toxicty: '>= 0.8'}\n    action: hold\n")
    code, _, err = run("rules", "check", str(bad))
    assert code == 1
    assert f"{bad}:3:12: unknown column or operator 'toxicty'" in err


def test_rules_check_warns_about_removing_off_topic_comments(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: gone\n    when: {derailed: '== 1'}\n    action: remove\n")
    code, out, err = run("rules", "check", str(path))
    assert code == 0  # a warning, not a failure
    assert err.startswith(f"{path}:2:5: warning: rule 'gone' removes comments for 'derailed'")
    assert "1 rules, no problems, 1 warning." in out


def test_bad_rules_stop_scoring(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: a\n    when: {toxicity: '>= 0.8'}\n    action: hodl\n")
    out = tmp_path / "out.csv"
    code, _, err = run("score", str(EXAMPLE / "comments.csv"), "--rules", str(bad), "-o", str(out))
    assert code == 1 and "hodl" in err and "4:" in err
    assert not out.exists()


def test_traceback_flag_reraises(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--traceback", "score", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1
    assert result.exception is not None and not isinstance(result.exception, SystemExit)
