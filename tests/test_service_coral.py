"""Coral Talk's external moderation phase: signature checks and answers per our rules."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.service.app import create_app
from moderation.service.coral import (
    SIGNATURE_HEADER,
    SignatureError,
    coral_answer,
    sign,
    verify_signature,
)
from moderation.service.settings import ServiceSettings

SECRET = "whsec-test-secret"
ROUTE = "/coral/moderate"


def coral_request(body: str, *, parent: str | None = None) -> bytes:
    """A request in the shape Coral's documentation gives for external moderation phases."""
    payload = {
        "action": "NEW",
        "comment": {"body": body, "parentID": parent},
        "author": {"id": "user-1", "role": "COMMENTER"},
        "story": {"id": "story-1", "url": "https://news.example/story-1"},
        "site": {"id": "site-1"},
        "tenantID": "tenant-1",
        "tenantDomain": "news.example",
    }
    return json.dumps(payload).encode("utf-8")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(coral_secret=SECRET, coral_tolerance=60))) as c:
        yield c


def post(client: TestClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return client.post(ROUTE, content=body, headers=headers)


def test_signed_hostile_comment_is_withheld(client: TestClient) -> None:
    body = coral_request("You are a worthless idiot and a moron.")
    response = post(client, body, sign(SECRET, body))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["actions"] == [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}]
    assert answer["status"] == "SYSTEM_WITHHELD"  # our rules hold a likely insult


def test_signed_harmless_comment_gets_204(client: TestClient) -> None:
    body = coral_request("Thanks for the clear explanation of the new bus timetable.")
    response = post(client, body, sign(SECRET, body))
    assert response.status_code == 204
    assert response.content == b""


def test_timestamped_signature_within_tolerance_is_accepted(client: TestClient) -> None:
    body = coral_request("Thanks for the article.")
    response = post(client, body, sign(SECRET, body, int(time.time())))
    assert response.status_code == 204


def test_rotated_secrets_any_matching_signature_passes(client: TestClient) -> None:
    body = coral_request("Thanks for the article.")
    header = f"{sign('old-secret', body)},{sign(SECRET, body)}"
    assert post(client, body, header).status_code == 204


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_signature_is_401(client: TestClient, header: str | None) -> None:
    body = coral_request("hello")
    response = post(client, body, header)
    assert response.status_code == 401
    assert "not signed" in response.json()["detail"]


@pytest.mark.parametrize("header", ["deadbeef", "sha1=abc", "t=now,sha256=00"])
def test_malformed_signature_is_401(client: TestClient, header: str) -> None:
    response = post(client, coral_request("hello"), header)
    assert response.status_code == 401


def test_wrong_secret_is_403(client: TestClient) -> None:
    body = coral_request("hello")
    response = post(client, body, sign("not-the-secret", body))
    assert response.status_code == 403
    assert "does not match" in response.json()["detail"]


def test_tampered_body_is_403(client: TestClient) -> None:
    signed = coral_request("Thanks for the article.")
    tampered = coral_request("You are a worthless idiot.")
    assert post(client, tampered, sign(SECRET, signed)).status_code == 403


@pytest.mark.parametrize("age", [3600, -3600])
def test_stale_or_future_signature_is_403(client: TestClient, age: int) -> None:
    body = coral_request("hello")
    response = post(client, body, sign(SECRET, body, int(time.time()) - age))
    assert response.status_code == 403
    assert "stale" in response.json()["detail"]


def test_timestamp_is_part_of_what_is_signed(client: TestClient) -> None:
    body = coral_request("hello")
    old = int(time.time()) - 3600
    digest = sign(SECRET, body, old).split("sha256=")[1]
    forged = f"t={int(time.time())},sha256={digest}"  # fresh time, old signature
    assert post(client, body, forged).status_code == 403


def test_signed_garbage_is_400_not_500(client: TestClient) -> None:
    for body in (b"not json", b'{"comment": {}}', b"\xff\xfe", b'{"comment": {"body": "\\ud800"}}'):
        response = post(client, body, sign(SECRET, body))
        assert response.status_code == 400, body


def test_no_secret_configured_refuses_everything() -> None:
    with TestClient(create_app(ServiceSettings())) as open_client:
        body = coral_request("hello")
        response = post(open_client, body, sign("", body))
    assert response.status_code == 403
    assert "MODERATION_CORAL_SECRET" in response.json()["detail"]


def test_answers_follow_our_actions() -> None:
    assert coral_answer("allow") is None
    review = coral_answer("review")
    assert review is not None and review.status is None and review.actions
    assert coral_answer("hold").status == "SYSTEM_WITHHELD"  # type: ignore[union-attr]
    assert coral_answer("remove").status == "REJECTED"  # type: ignore[union-attr]


def test_custom_rules_decide_the_answer(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - name: banned\n    when: {text: {includes-word: [spamword]}}\n"
        "    action: remove\n    priority: 100\n",
        encoding="utf-8",
    )
    settings = ServiceSettings(coral_secret=SECRET, rules=rules)
    with TestClient(create_app(settings)) as strict:
        body = coral_request("Buy now spamword")
        answer = post(strict, body, sign(SECRET, body)).json()
    assert answer["status"] == "REJECTED"


@given(body=st.binary(max_size=200), secret=st.text(min_size=1, max_size=20))
def test_verify_accepts_exactly_its_own_signatures(body: bytes, secret: str) -> None:
    now = time.time()
    verify_signature(sign(secret, body), body, secret, now=now, tolerance=60)
    verify_signature(sign(secret, body, int(now)), body, secret, now=now, tolerance=60)
    with pytest.raises(SignatureError) as wrong:
        verify_signature(sign(secret + "x", body), body, secret, now=now, tolerance=60)
    assert wrong.value.status_code == 403


@given(header=st.text(max_size=100))
def test_arbitrary_headers_never_verify(header: str) -> None:
    with pytest.raises(SignatureError) as refused:
        verify_signature(header, b"{}", "secret", now=time.time(), tolerance=60)
    assert refused.value.status_code in (401, 403)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=JSON
    | st.fixed_dictionaries(
        {"comment": st.fixed_dictionaries({"body": JSON})},
        optional={"action": JSON, "author": JSON, "story": JSON},
    ),
)
def test_signed_random_bodies_never_cause_a_server_error(
    client: TestClient, payload: object
) -> None:
    body = json.dumps(payload).encode("utf-8")
    response = post(client, body, sign(SECRET, body))
    assert response.status_code in (200, 204, 400), response.text
