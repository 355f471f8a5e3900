"""The review page over HTTP (FastAPI's TestClient): sign-in, CSRF, escaping, decisions.

Decisions land in a real SQLite queue file, filled by scoring the test threads plus two
attacker-written comments with the default model, exactly as `moderation score --queue` does.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation import Moderator, schema
from moderation.cli import cli
from moderation.io import read_articles, read_comments
from moderation.reviewqueue import EXPORT_LABELS, QueueError, QueueItem, ReviewQueue
from moderation.schema import validate_comments
from moderation.service.auth import (
    AccountError,
    Session,
    SessionSigner,
    SignInThrottle,
    add_user,
    hash_password,
    read_users,
    remove_user,
    verify_password,
    verify_user,
)
from moderation.service.reviewpage import (
    COOKIE,
    SECURITY_HEADERS,
    Piece,
    _comments,
    _Spans,
    highlight,
    install_review,
)
from moderation.service.settings import ServiceSettings

DATA = Path(__file__).parent / "data"
PASSWORD = "correct horse battery"
#: A hostile reply whose text and author try to inject markup into the page.
SCRIPT_TEXT = '<script>alert("pwned")</script> You are a stupid idiot and everyone here knows it.'
SCRIPT_AUTHOR = "<img src=x onerror=alert(1)>"


def scored_threads() -> tuple[pd.DataFrame, dict[str, float]]:
    """The test threads plus two hostile replies, scored with the default model and rules."""
    comments = validate_comments(read_comments(DATA / "threads.csv"))
    extra = pd.DataFrame(
        {
            "comment_id": ["bus-6", "bus-7"],
            "thread_id": ["bus-fares", "bus-fares"],
            "parent_id": ["bus-1", "bus-6"],
            "author": [SCRIPT_AUTHOR, "troll_b"],
            "text": [SCRIPT_TEXT, "Shut up, you pathetic moron <b>bold</b> & proud"],
            "created_at": ["2024-03-05T10:00:00Z", "2024-03-05T10:05:00Z"],
        }
    )
    comments = validate_comments(pd.concat([comments, extra], ignore_index=True))
    moderator = Moderator.load()
    scored = moderator.score(comments, read_articles(DATA / "articles.csv"))
    return scored, {**moderator.bundle.thresholds, schema.OFF_TOPIC: 0.5}


@pytest.fixture(scope="session")
def scored() -> tuple[pd.DataFrame, dict[str, float]]:
    return scored_threads()


def fill_queue(
    path: Path,
    scored: tuple[pd.DataFrame, dict[str, float]],
    articles: pd.DataFrame | None = None,
) -> str:
    """A SQLite queue file holding the scored threads' review items and titles; its URL."""
    url = f"sqlite:///{path}"
    with ReviewQueue(url) as queue:
        queue.add(
            scored[0],
            thresholds=scored[1],
            articles=read_articles(DATA / "articles.csv") if articles is None else articles,
        )
    return url


def item_of(url: str, comment_id: str) -> int:
    with ReviewQueue(url) as queue:
        listed = queue.list_items(status=None)
    ids = dict(zip(listed["comment_id"], listed["id"], strict=True))
    return int(ids[comment_id])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def sign_in(client: TestClient, name: str = "ana", password: str = PASSWORD) -> None:
    page = client.get("/review/sign-in")
    response = client.post(
        "/review/sign-in",
        data={"name": name, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/review"


@pytest.fixture
def queue_url(tmp_path: Path, scored: tuple[pd.DataFrame, dict[str, float]]) -> str:
    return fill_queue(tmp_path / "queue.db", scored)


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "moderators.txt"
    add_user(path, "ana", PASSWORD)
    add_user(path, "ben", PASSWORD + "!")
    return path


@pytest.fixture
def app(queue_url: str, users_file: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/elsewhere")
    def elsewhere() -> dict[str, str]:  # another part of the service
        return {"ok": "yes"}

    install_review(
        app, ServiceSettings(queue_url=queue_url, users_file=users_file, session_secret="k")
    )
    return app


@contextmanager
def page_on(url: str, users_file: Path) -> Iterator[TestClient]:
    """A signed-in client of a review page on another queue than the ``queue_url`` fixture."""
    app = FastAPI()
    install_review(app, ServiceSettings(queue_url=url, users_file=users_file, session_secret="k"))
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client)
        yield client


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    sign_in(client)
    return client


# --------------------------------------------------------------------------- sign-in


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/review"),
        ("get", "/review?status=all"),
        ("get", "/review/items/1"),
        ("get", "/review/items/999"),
        ("post", "/review/items/1/decision"),
    ],
)
def test_anonymous_requests_are_sent_to_sign_in(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, data={"decision": "approve", "version": "0"})
    assert response.status_code == 303
    back = "%2Freview%2Fitems%2F1" if method == "post" else quote(path, safe="")
    assert response.headers["location"] == f"/review/sign-in?next={back}"
    assert "pwned" not in response.text


def test_anonymous_post_decides_nothing(client: TestClient, queue_url: str) -> None:
    item = item_of(queue_url, "bus-6")
    client.post(f"/review/items/{item}/decision", data={"decision": "approve", "version": "0"})
    with ReviewQueue(queue_url) as queue:
        assert queue.item(item).item["status"] == "pending"
        assert queue.history(item) == []


def test_sign_in_sets_a_hardened_cookie_and_returns_to_the_page_asked_for(
    client: TestClient,
) -> None:
    first = client.get("/review/items/1")
    target = first.headers["location"]
    page = client.get(target)
    assert page.status_code == 200
    assert 'value="/review/items/1"' in page.text
    response = client.post(
        "/review/sign-in",
        data={
            "name": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "/review/items/1",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/review/items/1"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/review" in cookie
    assert client.get("/review/items/1").status_code == 200


@pytest.mark.parametrize(
    ("name", "password"),
    [("ana", "wrong password"), ("nobody", PASSWORD), ("ana", ""), ("", ""), ("ben", PASSWORD)],
)
def test_wrong_name_or_password_is_refused(client: TestClient, name: str, password: str) -> None:
    page = client.get("/review/sign-in")
    response = client.post(
        "/review/sign-in",
        data={"name": name, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "Wrong name or password." in response.text
    assert client.get("/review").status_code == 303


def test_sign_in_needs_the_csrf_token_of_its_own_form(client: TestClient) -> None:
    data = {"name": "ana", "password": PASSWORD}
    assert client.post("/review/sign-in", data=data).status_code == 403  # no cookie, no token
    client.get("/review/sign-in")
    assert client.post("/review/sign-in", data={**data, "csrf_token": "x"}).status_code == 403
    assert client.get("/review").status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/review",
        "/elsewhere",
        "/reviewer",
        "/review/../elsewhere",
        "/review\\@evil.example",
    ],
)
def test_sign_in_never_redirects_off_the_review_page(client: TestClient, target: str) -> None:
    page = client.get("/review/sign-in", params={"next": target})
    response = client.post(
        "/review/sign-in",
        data={
            "name": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": target,
        },
    )
    assert response.headers["location"] == "/review"


def test_sign_in_rotates_the_session(client: TestClient, app: FastAPI) -> None:
    client.get("/review/sign-in")
    before = client.cookies[COOKIE]
    sign_in(client)
    signer = app.state.review_page.signer
    old, new = signer.loads(before), signer.loads(client.cookies[COOKIE])
    assert old is None  # the anonymous session is revoked at sign-in
    assert new is not None and new.user == "ana"


def test_sign_out_ends_the_session_even_for_a_copied_cookie(signed_in: TestClient) -> None:
    copied = signed_in.cookies[COOKIE]
    page = signed_in.get("/review")
    assert signed_in.post("/review/sign-out", data={"csrf_token": "nope"}).status_code == 403
    response = signed_in.post("/review/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/review/sign-in"
    assert signed_in.get("/review").status_code == 303
    signed_in.cookies.clear()
    signed_in.cookies.set(COOKIE, copied, path="/review")
    assert signed_in.get("/review").status_code == 303


def test_a_forged_or_altered_cookie_is_anonymous(
    client: TestClient, app: FastAPI, users_file: Path
) -> None:
    other = SessionSigner("another secret").dumps(Session.new("ana"))
    client.cookies.set(COOKIE, other, path="/review")
    assert client.get("/review").status_code == 303
    client.cookies.clear()
    sign_in(client)
    value = client.cookies[COOKIE]
    payload, _, signature = value.partition(".")
    client.cookies.clear()
    client.cookies.set(COOKIE, payload[:-2] + "xx." + signature, path="/review")
    assert client.get("/review").status_code == 303


def test_a_removed_account_is_signed_out(signed_in: TestClient, users_file: Path) -> None:
    assert signed_in.get("/review").status_code == 200
    remove_user(users_file, "ana")
    assert signed_in.get("/review").status_code == 303


def test_no_accounts_file_means_nobody_signs_in(queue_url: str, tmp_path: Path) -> None:
    app = FastAPI()
    install_review(app, ServiceSettings(queue_url=queue_url, users_file=tmp_path / "none.txt"))
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/review/sign-in")
        assert "moderation users add" in page.text
        data = {"name": "ana", "password": PASSWORD, "csrf_token": csrf_of(page.text)}
        assert client.post("/review/sign-in", data=data).status_code == 401


def test_repeated_failures_from_one_address_are_throttled(client: TestClient) -> None:
    page = client.get("/review/sign-in")
    token = csrf_of(page.text)
    for _ in range(10):
        data = {"name": "ana", "password": "guess", "csrf_token": token}
        assert client.post("/review/sign-in", data=data).status_code == 401
    data = {"name": "ana", "password": PASSWORD, "csrf_token": token}
    refused = client.post("/review/sign-in", data=data)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 600
    assert "Too many failed sign-ins" in refused.text
    assert client.get("/review").status_code == 303


def test_throttle_counts_per_address_and_forgets_on_success() -> None:
    throttle = SignInThrottle(limit=2, window=600)
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert 0 < throttle.retry_after("10.0.0.1") <= 600
    assert throttle.retry_after("10.0.0.2") == 0
    throttle.succeeded("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0


def test_a_broken_accounts_file_is_reported_to_the_operator_not_the_visitor(
    queue_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "moderators.txt"
    broken.write_text("ana has no hash\n", encoding="utf-8")
    app = FastAPI()
    install_review(app, ServiceSettings(queue_url=queue_url, users_file=broken))
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/review/sign-in")
        data = {"name": "ana", "password": PASSWORD, "csrf_token": csrf_of(page.text)}
        response = client.post("/review/sign-in", data=data)
    assert response.status_code == 503
    assert str(tmp_path) not in response.text
    assert "moderators.txt, line 1" in caplog.text


def test_without_a_queue_there_is_no_review_page() -> None:
    with pytest.raises(QueueError, match="queue_url"):
        install_review(FastAPI(), ServiceSettings())


# --------------------------------------------------------------------------- the queue and items


def test_queue_lists_items_by_priority(signed_in: TestClient, queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        expected = queue.list_items()["id"].tolist()
    page = signed_in.get("/review")
    assert page.status_code == 200
    shown = [int(i) for i in re.findall(r'data-item="(\d+)"', page.text)]
    assert shown == expected and len(shown) >= 2
    assert "Signed in as <strong>ana</strong>" in page.text


def test_item_shows_context_reasons_and_highlighted_spans(
    signed_in: TestClient, queue_url: str
) -> None:
    item = item_of(queue_url, "bus-6")
    page = signed_in.get(f"/review/items/{item}")
    assert page.status_code == 200
    html = page.text
    # Thread context: the parent it answers.
    assert "In reply to bus-1:" in html
    assert "A 20% increase is steep" in html
    # The words behind the insult are highlighted, as escaped text inside <mark>.
    marks = re.findall(r'<mark class="span"[^>]*data-labels="([^"]*)">([^<]*)</mark>', html)
    assert any("insult" in labels.split() and "idiot" in text for labels, text in marks), marks
    # Reasons from the rules.
    with ReviewQueue(queue_url) as queue:
        reasons = queue.item(item).item["reasons"].split("; ")
    assert all(f"<li>{r.replace(chr(39), '&#39;')}</li>" in html for r in reasons)


def test_item_and_queue_show_the_article_title(signed_in: TestClient, queue_url: str) -> None:
    item = item_of(queue_url, "bus-6")
    html = signed_in.get(f"/review/items/{item}").text
    assert '<dd class="article">Council approves 20% bus fare increase</dd>' in html
    assert '<dd class="thread">bus-fares</dd>' in html
    listed = signed_in.get("/review").text
    entry = re.search(rf'data-item="{item}">(.*?)</li>', listed, re.DOTALL)
    assert entry and "Council approves 20% bus fare increase" in entry.group(1)


def test_a_hostile_article_title_is_shown_as_text(
    tmp_path: Path, users_file: Path, scored: tuple[pd.DataFrame, dict[str, float]]
) -> None:
    title = '<script>alert("t")</script> Fares & <b>"more"</b>'
    articles = pd.DataFrame({"thread_id": ["bus-fares"], "title": [title], "body": ["..."]})
    url = fill_queue(tmp_path / "hostile.db", scored, articles)
    escaped = "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; Fares &amp; &lt;b&gt;&#34;more&#34;&lt;/b&gt;"
    with page_on(url, users_file) as client:
        for path in ("/review", f"/review/items/{item_of(url, 'bus-6')}"):
            html = client.get(path).text
            assert escaped in html
            assert "<script" not in html and "<b>" not in html


def test_the_page_highlights_the_stored_spans_without_the_model(
    signed_in: TestClient, app: FastAPI, queue_url: str
) -> None:
    item = item_of(queue_url, "bus-6")
    with ReviewQueue(queue_url) as queue:
        stored = queue.item(item).comments["spans"].tolist()
    assert "idiot" in SCRIPT_TEXT[slice(*_first_span(stored[0], "insult"))]
    app.state.review_page.spans = _NoModel(None)
    html = signed_in.get(f"/review/items/{item}").text
    marks = re.findall(r'<mark class="span"[^>]*data-labels="([^"]*)">([^<]*)</mark>', html)
    assert any("insult" in labels.split() and "idiot" in text for labels, text in marks), marks


def test_comments_queued_without_spans_are_highlighted_by_the_model(
    tmp_path: Path, users_file: Path, scored: tuple[pd.DataFrame, dict[str, float]]
) -> None:
    url = fill_queue(tmp_path / "nospans.db", (scored[0].drop(columns="spans"), scored[1]))
    with page_on(url, users_file) as client:
        html = client.get(f"/review/items/{item_of(url, 'bus-6')}").text
    marks = re.findall(r'<mark class="span"[^>]*data-labels="([^"]*)">([^<]*)</mark>', html)
    assert any("insult" in labels.split() and "idiot" in text for labels, text in marks), marks


def test_a_queue_made_by_the_first_release_is_shown_and_highlighted(
    tmp_path: Path, users_file: Path
) -> None:
    from test_queue import make_version_1_queue

    url = f"sqlite:///{tmp_path / 'v1.db'}"
    make_version_1_queue(url)
    with page_on(url, users_file) as client:
        html = client.get("/review/items/2").text
        listed = client.get("/review").text
    assert '<dd class="thread">old-thread</dd>' in html
    assert '<dd class="article">' not in html  # no title was stored: none is invented
    marks = re.findall(r'<mark class="span"[^>]*data-labels="([^"]*)">([^<]*)</mark>', html)
    assert any("idiot" in text for _, text in marks), marks  # recomputed by the model
    assert 'on <span class="thread">old-thread</span>' in listed


def test_subthread_item_shows_each_comment(signed_in: TestClient, queue_url: str) -> None:
    with ReviewQueue(queue_url) as queue:
        listed = queue.list_items()
        sizes = dict(zip(listed["id"], listed["item_size"], strict=True))
        item = max(sizes, key=lambda k: sizes[k])
        members = queue.item(int(item)).comments["comment_id"].tolist()
    html = signed_in.get(f"/review/items/{item}").text
    for comment_id in members:
        assert f"· {comment_id}" in html


def test_comment_markup_is_shown_as_text(signed_in: TestClient, queue_url: str) -> None:
    item = item_of(queue_url, "bus-6")
    for path in ("/review?status=all", f"/review/items/{item}"):
        html = signed_in.get(path).text
        assert "<script" not in html.lower()
        assert "<img" not in html.lower()
        assert "&lt;script&gt;" in html  # the comment's markup, visible as text
        assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the author's too
    other = signed_in.get(f"/review/items/{item_of(queue_url, 'bus-7')}").text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; proud" in other
    assert "<b>" not in other


@pytest.mark.parametrize("path", ["/review/items/999", "/review/items/0"])
def test_unknown_item_is_404(signed_in: TestClient, path: str) -> None:
    response = signed_in.get(path)
    assert response.status_code == 404
    assert "no review item" in response.text


def test_unknown_status_is_400(signed_in: TestClient) -> None:
    assert signed_in.get("/review?status=<b>").status_code == 400


# --------------------------------------------------------------------------- decisions


def decide(client: TestClient, item: int, **fields: str | list[str]) -> httpx.Response:
    page = client.get(f"/review/items/{item}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    data: dict[str, str | list[str]] = {
        "csrf_token": csrf_of(page.text),
        "version": version.group(1),
        **fields,
    }
    response: httpx.Response = client.post(f"/review/items/{item}/decision", data=data)
    return response


def test_approve_lands_in_the_queue_with_the_moderator_and_leaves_the_list(
    signed_in: TestClient, queue_url: str
) -> None:
    item = item_of(queue_url, "bus-6")
    response = decide(signed_in, item, decision="approve", note="quoting <a> troll")
    assert response.status_code == 303
    assert response.headers["location"] == f"/review?decided={item}"
    with ReviewQueue(queue_url) as queue:
        record = queue.item(item)
        history = queue.history(item)
    assert record.item["status"] == "approved"
    assert record.item["decided_by"] == "ana"
    assert [(h.decision, h.moderator, h.outcome, h.note) for h in history] == [
        ("approve", "ana", "applied", "quoting <a> troll")
    ]
    listed = signed_in.get(f"/review?decided={item}").text
    assert f'data-item="{item}"' not in listed
    assert f"Item {item} decided." in listed
    approved = signed_in.get("/review?status=approved").text
    assert f'data-item="{item}"' in approved
    shown = signed_in.get(f"/review/items/{item}").text
    assert "quoting &lt;a&gt; troll" in shown  # the note is escaped too
    assert "approve · applied" in shown


def test_relabel_records_ticked_and_unticked_labels(signed_in: TestClient, queue_url: str) -> None:
    item = item_of(queue_url, "bus-7")
    response = decide(signed_in, item, decision="relabel", labels=["insult", "toxicity"])
    assert response.status_code == 303
    with ReviewQueue(queue_url) as queue:
        labels = queue.item(item).item["labels"]
    assert labels == {label: int(label in ("insult", "toxicity")) for label in EXPORT_LABELS}


def test_reject_is_recorded(signed_in: TestClient, queue_url: str) -> None:
    item = item_of(queue_url, "bus-7")
    assert decide(signed_in, item, decision="reject").status_code == 303
    with ReviewQueue(queue_url) as queue:
        assert queue.item(item).item["status"] == "rejected"


@pytest.mark.parametrize("token", ["", "forged", "stale"])
def test_decisions_need_the_sessions_csrf_token(
    signed_in: TestClient, app: FastAPI, queue_url: str, token: str
) -> None:
    item = item_of(queue_url, "bus-6")
    if token == "stale":  # a real token, of another moderator's session
        other = TestClient(app, follow_redirects=False)
        sign_in(other, "ben", PASSWORD + "!")
        token = csrf_of(other.get("/review").text)
    response = signed_in.post(
        f"/review/items/{item}/decision",
        data={"decision": "approve", "version": "0", "csrf_token": token},
    )
    assert response.status_code == 403
    with ReviewQueue(queue_url) as queue:
        assert queue.item(item).item["status"] == "pending"
        assert queue.history(item) == []


def test_a_decision_on_a_stale_screen_is_a_conflict(signed_in: TestClient, queue_url: str) -> None:
    item = item_of(queue_url, "bus-6")
    page = signed_in.get(f"/review/items/{item}")
    with ReviewQueue(queue_url) as queue:
        queue.decide(item, "reject", moderator="ben")  # meanwhile, in another tab
    response = signed_in.post(
        f"/review/items/{item}/decision",
        data={"decision": "approve", "version": "0", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 409
    assert "was not applied" in response.text
    with ReviewQueue(queue_url) as queue:
        assert queue.item(item).item["status"] == "rejected"
        assert [h.outcome for h in queue.history(item)] == ["applied", "conflict"]
    again = decide(signed_in, item, decision="approve", override="yes")
    assert again.status_code == 303


@pytest.mark.parametrize(
    "fields",
    [
        {"decision": "delete"},
        {"decision": "approve", "version": "x"},
        {"decision": "relabel", "labels": ["<b>spam</b>"]},
        {"decision": "approve", "note": "n" * 2001},
    ],
)
def test_bad_decision_forms_are_400_and_change_nothing(
    signed_in: TestClient, queue_url: str, fields: dict[str, str | list[str]]
) -> None:
    item = item_of(queue_url, "bus-6")
    page = signed_in.get(f"/review/items/{item}")
    data = {"version": "0", "csrf_token": csrf_of(page.text), **fields}
    response = signed_in.post(f"/review/items/{item}/decision", data=data)
    assert response.status_code == 400
    assert "<b>spam" not in response.text
    with ReviewQueue(queue_url) as queue:
        assert queue.history(item) == []


form_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    decision=st.one_of(st.sampled_from(["approve", "reject", "relabel"]), form_text),
    version=st.one_of(st.just("0"), form_text),
    labels=st.lists(st.one_of(st.sampled_from(EXPORT_LABELS), form_text), max_size=3),
    note=form_text,
    item=st.integers(-3, 40),
    forged=st.booleans(),
)
def test_any_decision_form_gets_a_page_never_a_server_error(
    signed_in: TestClient,
    decision: str,
    version: str,
    labels: list[str],
    note: str,
    item: int,
    forged: bool,
) -> None:
    token = "forged" if forged else csrf_of(signed_in.get("/review").text)
    response = signed_in.post(
        f"/review/items/{item}/decision",
        data={
            "decision": decision,
            "version": version,
            "labels": labels,
            "note": note,
            "csrf_token": token,
        },
    )
    assert response.status_code in (303, 400, 403, 404, 409), response.text
    if response.status_code == 303:
        assert response.headers["location"] == f"/review?decided={item}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=form_text, password=form_text, target=form_text)
def test_any_sign_in_form_gets_a_page_never_a_server_error(
    client: TestClient, name: str, password: str, target: str
) -> None:
    client.cookies.clear()
    page = client.get("/review/sign-in", params={"next": target})
    assert page.status_code == 200
    data = {"name": name, "password": password, "csrf_token": csrf_of(page.text), "next": target}
    response = client.post("/review/sign-in", data=data)
    assert response.status_code in (303, 401, 429)


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "path", ["/review", "/review/sign-in", "/review/items/1", "/review/static/review.css"]
)
def test_security_headers_on_every_review_response(client: TestClient, path: str) -> None:
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    policy = response.headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy


def test_stylesheet_is_public_and_other_routes_keep_their_headers(client: TestClient) -> None:
    css = client.get("/review/static/review.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "content-security-policy" not in client.get("/elsewhere").headers


def test_pages_have_no_inline_script_or_style(signed_in: TestClient, queue_url: str) -> None:
    item = item_of(queue_url, "bus-6")
    for path in ("/review", f"/review/items/{item}", "/review/items/999"):
        html = signed_in.get(path).text
        assert "<script" not in html and "style=" not in html and "<style" not in html
        assert not re.search(r"<[^>]*\son\w+\s*=", html, re.IGNORECASE)  # no event handlers


# --------------------------------------------------------------------------- highlighting


def test_highlight_merges_overlapping_spans_of_several_labels() -> None:
    text = "you utter idiot, fine"
    spans = {
        "insult": [{"begin": 10, "end": 15, "score": 0.9}],
        "toxicity": [{"begin": 4, "end": 12, "score": 0.7}],
    }
    assert highlight(text, spans) == [
        Piece("you "),
        Piece("utter idiot", ("insult", "toxicity"), 0.9),
        Piece(", fine"),
    ]


def test_highlight_reads_the_scored_json_and_ignores_nonsense() -> None:
    text = "a <b>bad</b> word"
    assert highlight(text, '{"insult": [{"begin": 5, "end": 8, "score": 1.0}]}')[1] == Piece(
        "bad", ("insult",), 1.0
    )
    for junk in ("", "not json", "[]", '{"x": 3}', '{"x": [{"begin": "a", "end": 2}]}', None):
        assert highlight(text, junk) == [Piece(text)]
    assert highlight(text, {"x": [{"begin": -5, "end": 99}]}) == [Piece(text, ("x",), 0.0)]


class _NoModel(_Spans):
    """Highlights that must come from the queue: asking the model fails the test."""

    def compute(self, texts: list[str], labels: list[list[str]]) -> list[dict[str, Any]]:
        raise AssertionError("stored spans must be used")


class _CountingModel(_Spans):
    """Highlights recomputed as a fixed span, remembering which texts were asked for."""

    def __init__(self) -> None:
        super().__init__(None)
        self.asked: list[str] = []

    def compute(self, texts: list[str], labels: list[list[str]]) -> list[dict[str, Any]]:
        self.asked += texts
        return [{"insult": [{"begin": 0, "end": 3, "score": 0.8}]} for _ in texts]


def _first_span(spans: str, label: str) -> tuple[int, int]:
    first = json.loads(spans)[label][0]
    return int(first["begin"]), int(first["end"])


def test_only_comments_stored_without_spans_ask_the_model() -> None:
    frame = pd.DataFrame(
        {
            "comment_id": ["c1", "c2", "c3"],
            "text": ["you fool", "calm down", "get lost"],
            "flagged": ["insult", "insult", "insult"],
            "spans": ['{"insult": [{"begin": 4, "end": 8, "score": 0.9}]}', "{}", None],
        },
        dtype=object,
    )
    model = _CountingModel()
    shown = _comments(QueueItem({"comment_id": "c1"}, frame, []), model)
    assert model.asked == ["get lost"]  # "{}" is an answer (no words found), NULL is not
    assert [p.labels for p in shown[0].pieces] == [(), ("insult",)]
    assert shown[1].pieces == [Piece("calm down")]
    assert shown[2].pieces == [Piece("get", ("insult",), 0.8), Piece(" lost")]


def test_spans_stored_with_the_comments_win_over_recomputing() -> None:
    frame = pd.DataFrame(
        {
            "comment_id": ["c1"],
            "parent_id": [""],
            "author": ["x"],
            "text": ["you fool"],
            "parent_text": [""],
            "flagged": ["insult"],
            "insult": [0.9],
            "spans": ['{"insult": [{"begin": 4, "end": 8, "score": 0.9}]}'],
        }
    )
    shown = _comments(QueueItem({"comment_id": "c1"}, frame, []), _NoModel(None))
    assert shown[0].pieces == [Piece("you "), Piece("fool", ("insult",), 0.9)]
    assert shown[0].scores == [("insult", 0.9, True)]


span_values = st.one_of(
    st.integers(-50, 200),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
spans_json = st.dictionaries(
    st.text(max_size=8),
    st.lists(st.dictionaries(st.sampled_from(["begin", "end", "score", "x"]), span_values)),
    max_size=4,
)


@given(st.text(max_size=120), st.one_of(spans_json, st.text(max_size=40)))
def test_highlight_pieces_always_rebuild_the_text(text: str, spans: object) -> None:
    pieces = highlight(text, spans)
    assert "".join(p.text for p in pieces) == text
    assert all(p.text for p in pieces) or pieces == [Piece("")]


# --------------------------------------------------------------------------- accounts


def test_password_hashes_are_salted_scrypt() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("scrypt$16384$8$1$") and first != second
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + " ", first)


@given(st.text(max_size=200))
def test_malformed_hashes_never_match_or_raise(stored: str) -> None:
    assert not verify_password(PASSWORD, stored)


@pytest.mark.parametrize(
    "stored",
    [
        "scrypt$1048577$8$1$AAAA$AAAA",  # N not a power of two
        "scrypt$4194304$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,  # N above the cap
        "scrypt$16384$64$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,  # r above the cap
        "md5$16384$8$1$AAAA$AAAA",
    ],
)
def test_hashes_outside_the_accepted_costs_are_refused(stored: str) -> None:
    assert not verify_password(PASSWORD, stored)


def test_users_file_is_private_and_refuses_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    assert add_user(path, "ana", PASSWORD) is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(AccountError, match="already has an account"):
        add_user(path, "ana", "another password")
    assert add_user(path, "ana", "another password", replace=True) is True
    assert verify_user(path, "ana", "another password")
    assert not verify_user(path, "ana", PASSWORD)
    assert list(read_users(path)) == ["ana"]


@pytest.mark.parametrize("name", ["", "a:b", "a b", "-ana", "x" * 65, "ana\n", "<b>"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(AccountError, match="bad moderator name"):
        add_user(tmp_path / "users.txt", name, PASSWORD)


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AccountError, match="at least 8"):
        add_user(tmp_path / "users.txt", "ana", "short")


def test_a_broken_users_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("# moderators\nana:scrypt$1$2$3$4$5\nben has no hash\n", encoding="utf-8")
    with pytest.raises(AccountError, match=r"users.txt, line 3"):
        read_users(path)


def test_cli_users_add_prompts_twice_or_reads_stdin(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["users", "add", "ana", "--users", str(path)], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert verify_user(path, "ana", PASSWORD)
    result = runner.invoke(
        cli,
        ["users", "add", "ben", "--password-stdin"],
        input="piped password\n",
        env={"MODERATION_USERS": str(path)},
    )
    assert result.exit_code == 0, result.output
    assert verify_user(path, "ben", "piped password")
    result = runner.invoke(cli, ["users", "add", "ben", "--users", str(path)], input="x\nx\n")
    assert result.exit_code == 1
    assert "already has an account" in result.stderr
    result = runner.invoke(cli, ["users", "remove", "ben", "--users", str(path)])
    assert result.exit_code == 0
    assert list(read_users(path)) == ["ana"]


def test_cli_users_add_refuses_mismatched_confirmation(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    result = CliRunner().invoke(
        cli, ["users", "add", "ana", "--users", str(path)], input=f"{PASSWORD}\nother one\n"
    )
    assert result.exit_code != 0
    assert not path.exists()


def test_the_service_app_serves_the_page_with_its_own_model_and_queue(
    queue_url: str, users_file: Path
) -> None:
    from moderation.service.app import create_app

    settings = ServiceSettings(queue_url=queue_url, users_file=users_file, session_secret="k")
    app = create_app(settings)
    page, service = app.state.review_page, app.state.service
    assert page.spans.bundle is service.moderator.bundle  # one model in memory
    assert page.queue() is service.queue
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/review").status_code == 303
        assert "content-security-policy" not in client.get("/healthz").headers
        sign_in(client)
        item = item_of(queue_url, "bus-6")
        assert "<mark" in client.get(f"/review/items/{item}").text
        assert not any(p.startswith("/review") for p in client.get("/openapi.json").json()["paths"])


def test_decisions_through_the_page_land_in_postgresql(
    postgres_url: str, users_file: Path, scored: tuple[pd.DataFrame, dict[str, float]]
) -> None:
    with ReviewQueue(postgres_url) as queue:
        queue.add(scored[0], thresholds=scored[1])
    app = FastAPI()
    settings = ServiceSettings(queue_url=postgres_url, users_file=users_file, session_secret="k")
    install_review(app, settings)
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client)
        item = item_of(postgres_url, "bus-7")
        assert "&lt;b&gt;bold&lt;/b&gt;" in client.get(f"/review/items/{item}").text
        assert decide(client, item, decision="reject", note="pg").status_code == 303
    with ReviewQueue(postgres_url) as queue:
        record = queue.item(item).item
    assert (record["status"], record["decided_by"], record["note"]) == ("rejected", "ana", "pg")
