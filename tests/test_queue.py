"""The review queue database, on a real SQLite file and a real PostgreSQL server.

Every test taking ``queue_url`` runs on both backends (see ``tests/conftest.py``).
"""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation import schema
from moderation.reviewqueue import (
    EXPORT_LABELS,
    DecisionConflict,
    ItemNotFound,
    QueueError,
    ReviewQueue,
    item_key,
    safe_url,
)

SCORE_NAMES = list(schema.SCORES)


def scored_frame(thread: str = "t1", prefix: str = "") -> pd.DataFrame:
    """A scored export as `Moderator.score` returns it (only the columns the queue reads).

    ``a`` is allowed; ``b`` (insult) is held; ``c`` <- ``d`` <- ``e`` is a derailed
    sub-thread (review_group ``c``); ``f`` is escalated by a rule with no score over 0.5.
    """
    ids = [f"{prefix}{x}" for x in "abcdef"]
    rows = {
        "comment_id": ids,
        "thread_id": [thread] * 6,
        "parent_id": ["", ids[0], ids[0], ids[2], ids[3], ""],
        "author": ["ann", "bob", "cy", "dee", "cy", "bob"],
        "text": [
            "Thanks for the article.",
            "You are an idiot.",
            "Football tonight?",
            "Yes, the match starts at eight.",
            "Great match yesterday.",
            "Visit my site http://spam.example",
        ],
        "toxicity": [0.1, 0.9, 0.1, 0.05, 0.05, 0.2],
        "severe_toxicity": [0.0, 0.3, 0.0, 0.0, 0.0, 0.0],
        "insult": [0.0, 0.95, 0.0, 0.0, 0.0, 0.1],
        "threat": [0.0] * 6,
        "identity_attack": [0.0] * 6,
        "profanity": [0.0, 0.2, 0.0, 0.0, 0.0, 0.0],
        "off_topic": [0.1, 0.2, 0.9, 0.8, 0.85, 0.3],
        "action": ["allow", "hold", "review", "review", "review", "review"],
        "priority": [0, 80, 25, 25, 25, 40],
        "reasons": ["", "Insult [insult]", "derailed", "derailed", "derailed", "link"],
        "review_group": ["", "", ids[2], ids[2], ids[2], ""],
    }
    return pd.DataFrame(rows)


def count(url: str, table: str) -> int:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        value = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(value)


def by_comment(queue: ReviewQueue) -> dict[str, int]:
    listed = queue.list_items(status=None)
    return dict(zip(listed["comment_id"], listed["id"].astype(int), strict=True))


# --------------------------------------------------------------------------- writing


def test_add_queues_escalated_items_and_subthread_as_one(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        result = queue.add(scored_frame())
        assert (result.added, result.updated, result.already_decided) == (3, 0, 0)
        listed = queue.list_items()
        assert listed["comment_id"].tolist() == ["b", "f", "c"]  # priority 80, 40, 25
        sub = queue.item(by_comment(queue)["c"])
    assert sub.item["kind"] == "subthread"
    assert sub.item["item_size"] == 3
    assert sub.comments["comment_id"].tolist() == ["c", "d", "e"]
    assert sub.comments["parent_text"].tolist() == [
        "Thanks for the article.",
        "Football tonight?",
        "Yes, the match starts at eight.",
    ]
    assert set(sub.comments["flagged"]) == {"off_topic"}
    assert count(queue_url, "review_comments") == 5


def test_rescoring_is_idempotent(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame())
        again = queue.add(scored_frame().assign(priority=lambda f: f["priority"] + 1))
        assert (again.added, again.updated) == (0, 3)
        listed = queue.list_items()
        assert len(listed) == 3
        assert listed["priority"].tolist() == [81, 41, 26]
    assert count(queue_url, "review_items") == 3
    assert count(queue_url, "review_comments") == 5


def test_rescoring_keeps_decisions_and_edited_text_is_a_new_item(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame())
        queue.decide(by_comment(queue)["b"], "reject", moderator="ana")
        again = queue.add(scored_frame())
        assert (again.added, again.updated, again.already_decided) == (0, 2, 1)
        assert queue.item(by_comment(queue)["b"]).item["status"] == "rejected"
        edited = scored_frame()
        edited.loc[1, "text"] = "You are an idiot, edited."
        assert queue.add(edited).added == 1
        assert len(queue.list_items(status=None)) == 4


def test_flagged_labels_use_thresholds_or_the_likeliest_label(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame(), thresholds={"toxicity": 0.95})
        ids = by_comment(queue)
        assert queue.item(ids["b"]).item["flagged"] == "insult"  # toxicity 0.9 < 0.95
        assert queue.item(ids["f"]).item["flagged"] == "off_topic"  # nothing over: likeliest


def test_nothing_escalated_writes_nothing(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        result = queue.add(scored_frame().assign(action="allow"))
        assert result.items == 0
        assert queue.list_items().empty


def test_item_key_is_stable() -> None:
    assert item_key("t", "c", "text") == item_key("t", "c", "text")
    assert item_key("t", "c", "text") != item_key("t", "c", "text!")
    assert item_key("t", "c", "", members=["d", "c"]) == item_key("t", "c", "x", members=["c", "d"])


# --------------------------------------------------------------------------- titles and spans

INSULT_SPANS = '{"insult": [{"begin": 11, "end": 16, "score": 0.95}]}'


def with_spans(frame: pd.DataFrame) -> pd.DataFrame:
    """``scored_frame`` with the ``spans`` column `Moderator.score` writes ("" = none found)."""
    spans = [""] * len(frame)
    spans[1] = INSULT_SPANS  # "You are an idiot.": the insult is "idiot"
    return frame.assign(spans=spans)


def articles_frame(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"thread_id": t, "title": title, "body": "..."} for t, title in rows],
        columns=["thread_id", "title", "body"],
    )


def test_items_store_the_article_title_and_comments_their_spans(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(
            pd.concat([with_spans(scored_frame()), scored_frame("t2", "x")], ignore_index=True),
            articles=articles_frame(("t1", "  Bus fares rise  "), ("t1", "a repeat"), ("t3", "x")),
        )
        listed = queue.list_items().set_index("comment_id")
        assert listed.loc[["b", "f", "c"], "article_title"].tolist() == ["Bus fares rise"] * 3
        assert listed.loc[["xb", "xf", "xc"], "article_title"].isna().all()  # t2: no article
        ids = by_comment(queue)
        held = queue.item(ids["b"])
        assert held.item["article_title"] == "Bus fares rise"
        assert json.loads(str(held.comments.loc[0, "spans"])) == json.loads(INSULT_SPANS)
        sub = queue.item(ids["c"]).comments
        assert sub["spans"].tolist() == ["{}", "{}", "{}"]  # scored: no words to highlight
        unscored = queue.item(ids["xb"]).comments
        assert unscored["spans"].tolist() == [None]  # no spans in its rows: unknown, not empty
        queue.add(scored_frame("t3", "y"))  # a frame without the column at all
        assert queue.item(by_comment(queue)["yb"]).comments["spans"].tolist() == [None]


def test_the_queue_reads_the_scorers_spans_column() -> None:
    from moderation.moderator import SPANS
    from moderation.queueitems import SPANS as QUEUED_SPANS

    assert QUEUED_SPANS == SPANS


def test_rescoring_without_articles_or_spans_keeps_what_was_stored(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(with_spans(scored_frame()), articles=articles_frame(("t1", "Bus fares")))
        again = queue.add(scored_frame().assign(priority=lambda f: f["priority"] + 1))
        assert again.updated == 3
        ids = by_comment(queue)
        item = queue.item(ids["b"])
        assert (item.item["priority"], item.item["article_title"]) == (81, "Bus fares")
        assert item.comments.loc[0, "spans"] == json.dumps(
            json.loads(INSULT_SPANS), separators=(",", ":")
        )
        queue.add(scored_frame(), articles=articles_frame(("t1", "Bus fares, updated")))
        assert queue.item(ids["b"]).item["article_title"] == "Bus fares, updated"


def test_title_from_the_scored_frame_and_from_a_lone_article(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame().assign(article_title="From the frame"))
        queue.add(scored_frame("", "n"), articles=articles_frame(("page", "The only page")))
        queue.add(scored_frame("t9", "o"), articles=articles_frame(("t9", "")))
        titles = queue.list_items().set_index("comment_id")["article_title"]
    assert titles["b"] == "From the frame"
    assert titles["nb"] == "The only page"  # an export without thread ids: the one article
    assert titles["ob"] is None  # an empty title is no title


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        ("", "{}"),
        (float("nan"), None),  # a missing cell: unknown, not "none found"
        (None, None),
        ('{"insult": []}', '{"insult":[]}'),
        ({"insult": [{"begin": 0, "end": 3}]}, '{"insult":[{"begin":0,"end":3}]}'),
        ("not json", None),
        ("[1, 2]", None),
        ('{"insult": [{"begin": 0, "end": 3, "score": NaN}]}', None),
    ],
)
def test_malformed_spans_are_stored_as_unknown(
    sqlite_url: str, cell: object, stored: str | None
) -> None:
    frame = scored_frame()
    frame["spans"] = pd.Series([cell] * len(frame), dtype=object)
    with ReviewQueue(sqlite_url) as queue:
        queue.add(frame)
        assert queue.item(by_comment(queue)["b"]).comments.loc[0, "spans"] == stored


@settings(max_examples=40, deadline=None)
@given(
    titles=st.lists(st.one_of(st.text(max_size=30), st.none(), st.floats()), min_size=1),
    spans=st.one_of(st.text(max_size=30), st.none(), st.floats(), st.integers()),
)
def test_any_titles_and_spans_are_queued_without_error(
    tmp_path_factory: pytest.TempPathFactory, titles: list[object], spans: object
) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('q') / 'queue.db'}"
    articles = pd.DataFrame(
        {"thread_id": ["t1", *[f"t{i}" for i in range(2, len(titles) + 1)]], "title": titles}
    )
    frame = scored_frame()
    frame["spans"] = pd.Series([spans] * len(frame), dtype=object)
    with ReviewQueue(url) as queue:
        assert queue.add(frame, articles=articles).added == 3
        item = queue.item(by_comment(queue)["b"])
    title = item.item["article_title"]
    assert title is None or (isinstance(title, str) and title == title.strip() and title)
    stored = item.comments.loc[0, "spans"]
    assert stored is None or isinstance(json.loads(str(stored)), dict)


# --------------------------------------------------------------------------- reading


def test_list_filters(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame())
        assert queue.list_items(action="hold")["comment_id"].tolist() == ["b"]
        assert queue.list_items(min_priority=30)["comment_id"].tolist() == ["b", "f"]
        assert queue.list_items(limit=1)["comment_id"].tolist() == ["b"]
        queue.decide(by_comment(queue)["f"], "approve", moderator="ana")
        assert queue.list_items(status="approved")["comment_id"].tolist() == ["f"]
        assert queue.list_items()["comment_id"].tolist() == ["b", "c"]
        with pytest.raises(QueueError, match="unknown status 'done'"):
            queue.list_items(status="done")


def test_unknown_item(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame())
        with pytest.raises(ItemNotFound, match=r"no review item 99 .*ids run from 1 to 3"):
            queue.item(99)
        with pytest.raises(ItemNotFound, match="no review item 99"):
            queue.decide(99, "approve", moderator="ana")


# --------------------------------------------------------------------------- deciding


def test_decisions_and_audit_trail(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame())
        ids = by_comment(queue)
        first = queue.decide(ids["b"], "reject", moderator="ana", note="clear insult")
        assert first.outcome == "applied"
        with pytest.raises(DecisionConflict, match="already rejected by ana") as lost:
            queue.decide(ids["b"], "approve", moderator="ben")
        assert lost.value.winner.moderator == "ana"
        assert lost.value.attempt.outcome == "conflict"
        changed = queue.decide(ids["b"], "approve", moderator="ben", override=True)
        assert changed.outcome == "applied"
        item = queue.item(ids["b"])
        assert (item.item["status"], item.item["decided_by"], item.item["version"]) == (
            "approved",
            "ben",
            2,
        )
        assert [(r.moderator, r.decision, r.outcome) for r in item.history] == [
            ("ana", "reject", "applied"),
            ("ben", "approve", "conflict"),
            ("ben", "approve", "applied"),
        ]
        assert item.history[0].note == "clear insult"
        queue.decide(ids["f"], "reject", moderator="cy")  # version 0 -> 1
        with pytest.raises(DecisionConflict, match="changed since version 0"):
            queue.decide(ids["f"], "approve", moderator="dee", expected_version=0, override=True)


@pytest.mark.parametrize(
    ("decision", "labels", "message"),
    [
        ("delete", None, "unknown decision 'delete'"),
        ("relabel", None, "relabel needs labels"),
        ("relabel", {"rudeness": 1}, "unknown label"),
        ("relabel", {"insult": 2}, "labels must be 0 or 1"),
        ("approve", {"insult": 1}, "approve takes no labels"),
    ],
)
def test_bad_decisions(sqlite_url: str, decision: str, labels: Any, message: str) -> None:
    with ReviewQueue(sqlite_url) as queue:
        queue.add(scored_frame())
        with pytest.raises(QueueError, match=message):
            queue.decide(1, decision, moderator="ana", labels=labels)
        with pytest.raises(QueueError, match="moderator's name"):
            queue.decide(1, "approve", moderator=" ")


def test_audit_trail_is_append_only(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame())
        queue.decide(1, "reject", moderator="ana")
        for statement in (
            "UPDATE review_decisions SET moderator = 'eve'",
            "DELETE FROM review_decisions",
        ):
            with (
                pytest.raises(sa.exc.DBAPIError, match="append only"),
                queue.engine.begin() as conn,
            ):
                conn.execute(sa.text(statement))
        assert [r.moderator for r in queue.history()] == ["ana"]


# --------------------------------------------------------------------------- export


def test_export_labels(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame(), thresholds={"toxicity": 0.5, "insult": 0.5})
        ids = by_comment(queue)
        queue.decide(ids["b"], "reject", moderator="ana")
        queue.decide(ids["c"], "approve", moderator="ben")
        queue.decide(ids["f"], "relabel", moderator="cy", labels={"toxicity": 0, "off_topic": 1})
        labels = queue.export_labels().set_index("comment_id")
    assert list(labels.columns[-len(EXPORT_LABELS) :]) == list(EXPORT_LABELS)
    assert sorted(labels.index) == ["b", "c", "d", "e", "f"]
    assert labels.loc[labels["item_id"] == labels.loc["c", "item_id"]].index.tolist() == [
        "c",
        "d",
        "e",
    ]
    assert labels.loc["b", ["toxicity", "insult"]].tolist() == [1.0, 1.0]
    assert labels.loc["b", ["threat", "off_topic"]].isna().all()
    assert (labels.loc[["c", "d", "e"], "off_topic"] == 0.0).all()  # derailing was fine
    assert labels.loc[["c", "d", "e"], list(schema.LABELS)].isna().all().all()
    assert labels.loc["f", ["toxicity", "off_topic"]].tolist() == [0.0, 1.0]
    assert labels.loc["f", "insult"] != labels.loc["f", "insult"]  # NaN: unknown
    assert labels.loc["d", "parent_text"] == "Football tonight?"
    assert labels.loc["b", "moderator"] == "ana"


def test_author_history(sqlite_url: str) -> None:
    with ReviewQueue(sqlite_url) as queue:
        queue.add(scored_frame())
        queue.decide(by_comment(queue)["b"], "reject", moderator="ana")
        history = queue.author_history().set_index("author")
    assert history.loc["bob"].tolist() == [2, 1]
    assert history.loc["cy"].tolist() == [2, 0]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u:secret@host/db", "supports SQLite .* and PostgreSQL"),
        ("sqlite://", "names no database file"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(QueueError, match=message) as error:
        ReviewQueue(url)
    assert "secret" not in str(error.value)


def test_missing_sqlite_file_is_not_created_for_reading(tmp_path: Any) -> None:
    path = tmp_path / "nope.db"
    with pytest.raises(QueueError, match="does not exist; fill it first"):
        ReviewQueue(f"sqlite:///{path}", create=False)
    assert not path.exists()


def test_unreachable_server_names_url_without_password() -> None:
    with socket_port() as port:
        url = f"postgresql://mod:hunter2@127.0.0.1:{port}/queue"
        with pytest.raises(QueueError) as error:
            ReviewQueue(url)
    message = str(error.value)
    assert "cannot be reached" in message
    assert f"postgresql://mod:***@127.0.0.1:{port}/queue" in message
    assert "hunter2" not in message
    assert "\n" not in message


def test_empty_postgres_database_holds_no_queue(postgres_url: str) -> None:
    with pytest.raises(QueueError, match="holds no review queue"):
        ReviewQueue(postgres_url, create=False)


def test_safe_url() -> None:
    assert safe_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert "pw" not in safe_url("post gres://u:pw@h/db")


# --------------------------------------------------------------------------- upgrading

#: The tables exactly as the first release (schema version 1, before article titles and
#: spans) created them, rendered by SQLAlchemy for each backend.
V1_TABLES = """
CREATE TABLE review_items (
    id {serial} NOT NULL, item_key VARCHAR(64) NOT NULL, kind VARCHAR(16) NOT NULL,
    thread_id TEXT NOT NULL, comment_id TEXT NOT NULL, review_group TEXT NOT NULL,
    author TEXT NOT NULL, text TEXT NOT NULL, parent_id TEXT NOT NULL,
    parent_text TEXT NOT NULL, toxicity FLOAT, severe_toxicity FLOAT, insult FLOAT,
    threat FLOAT, identity_attack FLOAT, profanity FLOAT, off_topic FLOAT,
    top_score FLOAT NOT NULL, action VARCHAR(16) NOT NULL, priority INTEGER NOT NULL,
    reasons TEXT NOT NULL, flagged TEXT NOT NULL, comment_ids TEXT NOT NULL,
    item_size INTEGER NOT NULL, status VARCHAR(16) DEFAULT 'pending' NOT NULL,
    version INTEGER DEFAULT '0' NOT NULL, decision VARCHAR(16), labels TEXT,
    decided_by TEXT, decided_at {stamp}, note TEXT, first_seen_at {stamp} NOT NULL,
    last_seen_at {stamp} NOT NULL, times_seen INTEGER DEFAULT '1' NOT NULL,
    PRIMARY KEY (id), UNIQUE (item_key)
);
CREATE INDEX ix_review_items_author ON review_items (author);
CREATE INDEX ix_review_items_status_priority ON review_items (status, priority);
CREATE TABLE review_meta ("key" VARCHAR(64) NOT NULL, value TEXT NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE review_comments (
    item_id INTEGER NOT NULL, comment_id TEXT NOT NULL, position INTEGER NOT NULL,
    thread_id TEXT NOT NULL, parent_id TEXT NOT NULL, author TEXT NOT NULL,
    text TEXT NOT NULL, parent_text TEXT NOT NULL, toxicity FLOAT, severe_toxicity FLOAT,
    insult FLOAT, threat FLOAT, identity_attack FLOAT, profanity FLOAT, off_topic FLOAT,
    action VARCHAR(16) NOT NULL, priority INTEGER NOT NULL, reasons TEXT NOT NULL,
    flagged TEXT NOT NULL,
    PRIMARY KEY (item_id, comment_id), FOREIGN KEY(item_id) REFERENCES review_items (id)
);
CREATE TABLE review_decisions (
    id {serial} NOT NULL, item_id INTEGER NOT NULL, decision VARCHAR(16) NOT NULL,
    labels TEXT NOT NULL, moderator TEXT NOT NULL, note TEXT NOT NULL,
    decided_at {stamp} NOT NULL, based_on_version INTEGER NOT NULL,
    outcome VARCHAR(16) NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (id), FOREIGN KEY(item_id) REFERENCES review_items (id)
);
CREATE INDEX ix_review_decisions_item_id ON review_decisions (item_id);
INSERT INTO review_meta ("key", value) VALUES ('schema_version', '1')
"""
V1_TRIGGERS = {
    "sqlite": [
        f"CREATE TRIGGER review_decisions_no_{verb} BEFORE {verb.upper()} ON review_decisions "
        "BEGIN SELECT RAISE(ABORT, 'review_decisions is append only'); END"
        for verb in ("update", "delete")
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION review_decisions_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'review_decisions is append only'; END $$; "
        "CREATE TRIGGER review_decisions_append_only BEFORE UPDATE OR DELETE "
        "ON review_decisions FOR EACH ROW EXECUTE FUNCTION review_decisions_append_only()"
    ],
}


def engine_of(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def columns_of(url: str, table: str) -> list[str]:
    engine = engine_of(url)
    try:
        return [c["name"] for c in sa.inspect(engine).get_columns(table)]
    finally:
        engine.dispose()


def make_version_1_queue(url: str) -> None:
    """A queue as the first release left it: its tables, one decided item, one pending."""
    engine = engine_of(url)
    dialect = engine.dialect.name
    kinds = (
        {"serial": "SERIAL", "stamp": "TIMESTAMP WITH TIME ZONE"}
        if dialect == "postgresql"
        else {"serial": "INTEGER", "stamp": "DATETIME"}
    )
    stamp = "2024-05-01 10:00:00+00:00" if dialect == "postgresql" else "2024-05-01 10:00:00"
    scores = ", ".join(schema.SCORES)
    with engine.begin() as conn:
        for statement in V1_TABLES.format(**kinds).split(";"):
            conn.exec_driver_sql(statement)
        for statement in V1_TRIGGERS[dialect]:
            conn.exec_driver_sql(statement)
        for n, (key, status) in enumerate([("old-a", "rejected"), ("old-b", "pending")], 1):
            conn.exec_driver_sql(
                "INSERT INTO review_items (item_key, kind, thread_id, comment_id, review_group,"
                f" author, text, parent_id, parent_text, {scores}, top_score, action, priority,"
                " reasons, flagged, comment_ids, item_size, status, first_seen_at, last_seen_at)"
                f" VALUES ('{key}', 'comment', 'old-thread', 'o{n}', '', 'zed', 'You idiot {n}',"
                f" '', '', 0.9, 0.1, 0.95, 0, 0, 0, 0.1, 0.95, 'hold', 80, 'Insult', 'insult',"
                f" 'o{n}', 1, '{status}', '{stamp}', '{stamp}')"
            )
            conn.exec_driver_sql(
                "INSERT INTO review_comments (item_id, comment_id, position, thread_id,"
                f" parent_id, author, text, parent_text, {scores}, action, priority, reasons,"
                f" flagged) VALUES ({n}, 'o{n}', 0, 'old-thread', '', 'zed', 'You idiot {n}', '',"
                " 0.9, 0.1, 0.95, 0, 0, 0, 0.1, 'hold', 80, 'Insult', 'insult')"
            )
        conn.exec_driver_sql(
            "INSERT INTO review_decisions (item_id, decision, labels, moderator, note,"
            " decided_at, based_on_version, outcome, detail) VALUES (1, 'reject', '{}', 'ana',"
            f" 'old', '{stamp}', 0, 'applied', 'rejected')"
        )
        conn.exec_driver_sql(
            "UPDATE review_items SET version = 1, decision = 'reject', decided_by = 'ana',"
            f" decided_at = '{stamp}' WHERE id = 1"
        )
    engine.dispose()


def test_a_version_1_queue_gets_the_new_columns_and_keeps_its_items(queue_url: str) -> None:
    make_version_1_queue(queue_url)
    assert "article_title" not in columns_of(queue_url, "review_items")
    with ReviewQueue(queue_url, create=False) as queue:  # reading commands upgrade it too
        assert "article_title" in columns_of(queue_url, "review_items")
        assert "spans" in columns_of(queue_url, "review_comments")
        old = queue.item(1)
        assert (old.item["status"], old.item["decided_by"], old.item["article_title"]) == (
            "rejected",
            "ana",
            None,
        )
        assert old.comments["spans"].tolist() == [None]  # the review page recomputes these
        assert [(r.moderator, r.note) for r in old.history] == [("ana", "old")]
        assert queue.list_items()["comment_id"].tolist() == ["o2"]
        # New items carry titles and spans; the audit trail is still append only.
        queue.add(with_spans(scored_frame()), articles=articles_frame(("t1", "Bus fares")))
        assert queue.item(by_comment(queue)["b"]).item["article_title"] == "Bus fares"
        queue.decide(by_comment(queue)["b"], "reject", moderator="ben")
        with pytest.raises(QueueError, match="append only"), queue.begin() as conn:
            conn.execute(sa.text("DELETE FROM review_decisions"))
        assert len(queue.export_labels()) == 2
    with ReviewQueue(queue_url) as queue:  # opening again changes nothing
        assert len(queue.list_items(status=None)) == 5
    engine = engine_of(queue_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT value FROM review_meta")).scalar_one()
    engine.dispose()
    assert version == "1"  # an older moderation still reads and writes the upgraded queue


def test_an_older_moderation_can_still_write_an_upgraded_queue(queue_url: str) -> None:
    make_version_1_queue(queue_url)
    ReviewQueue(queue_url).close()
    engine = engine_of(queue_url)
    with engine.begin() as conn:  # the version-1 INSERT, naming only version-1 columns
        conn.exec_driver_sql(
            "INSERT INTO review_comments (item_id, comment_id, position, thread_id, parent_id,"
            " author, text, parent_text, action, priority, reasons, flagged)"
            " VALUES (2, 'o2-reply', 1, 'old-thread', 'o2', 'amy', 'calm down', 'You idiot 2',"
            " 'review', 10, '', 'insult')"
        )
    engine.dispose()
    with ReviewQueue(queue_url) as queue:
        assert queue.item(2).comments["spans"].tolist() == [None, None]


class socket_port:
    """A local TCP port that nothing listens on while the block runs."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


# --------------------------------------------------------------------------- concurrency

WRITERS = 4


def _write(url: str, worker: int, start: Any) -> None:
    start.wait()
    with ReviewQueue(url) as queue:
        for _ in range(2):  # twice: re-scoring while others write
            queue.add(scored_frame())  # shared by every writer
            queue.add(scored_frame(thread=f"own-{worker}", prefix=f"w{worker}-"))


def _decide(url: str, item_id: int, moderator: str, start: Any, results: Any) -> None:
    with ReviewQueue(url) as queue:
        start.wait()
        try:
            queue.decide(item_id, "reject" if moderator.endswith("0") else "approve",
                         moderator=moderator)  # fmt: skip
            results.put((moderator, "applied"))
        except DecisionConflict:
            results.put((moderator, "conflict"))


def _race_writers(queue_url: str) -> None:
    """Start `WRITERS` processes of `_write` at once (a barrier) and wait for each to succeed."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    workers = [context.Process(target=_write, args=(queue_url, w, start)) for w in range(WRITERS)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0


def test_concurrent_writers_lose_and_duplicate_nothing(queue_url: str) -> None:
    ReviewQueue(queue_url).close()  # tables exist before the race (creation is tested below)
    _race_writers(queue_url)
    assert count(queue_url, "review_items") == 3 * (WRITERS + 1)
    assert count(queue_url, "review_comments") == 5 * (WRITERS + 1)
    with ReviewQueue(queue_url) as queue:
        listed = queue.list_items()
        assert not listed.duplicated(["thread_id", "comment_id"]).any()
        assert set(listed["thread_id"]) == {"t1", *(f"own-{w}" for w in range(WRITERS))}


def test_concurrent_writers_create_the_tables_once(queue_url: str) -> None:
    _race_writers(queue_url)
    assert count(queue_url, "review_items") == 3 * (WRITERS + 1)


def test_concurrent_writers_upgrade_a_version_1_queue_once(queue_url: str) -> None:
    make_version_1_queue(queue_url)
    _race_writers(queue_url)
    assert count(queue_url, "review_items") == 2 + 3 * (WRITERS + 1)
    assert columns_of(queue_url, "review_comments").count("spans") == 1


def test_concurrent_decisions_first_commit_wins_and_all_are_recorded(queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        queue.add(scored_frame())
        item_id = by_comment(queue)["b"]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    results = context.Queue()
    moderators = [f"mod{w}" for w in range(WRITERS)]
    workers = [
        context.Process(target=_decide, args=(queue_url, item_id, m, start, results))
        for m in moderators
    ]
    for process in workers:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in moderators)
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    winners = [m for m, outcome in outcomes.items() if outcome == "applied"]
    assert len(winners) == 1
    with ReviewQueue(queue_url) as queue:
        item = queue.item(item_id)
    assert item.item["decided_by"] == winners[0]
    assert item.item["version"] == 1
    trail = [(r.moderator, r.outcome) for r in item.history]
    assert sorted(trail) == sorted(outcomes.items())
    assert trail[0] == (winners[0], "applied")  # the winner committed first
    assert np.all([r.detail for r in item.history[1:]])
