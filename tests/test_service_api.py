"""The HTTP service's Perspective routes, batch and thread routes: shapes, limits and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.feedbacklabels import feedback_rows, read_feedback
from moderation.reviewqueue import ReviewQueue
from moderation.service.app import create_app
from moderation.service.perspective import FEEDBACK_FILE
from moderation.service.settings import ServiceSettings

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
HOSTILE = "You are an idiot and everyone knows it. The weather was lovely today."


@pytest.fixture(scope="module")
def feedback_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback")


@pytest.fixture(scope="module")
def client(feedback_dir: Path) -> Iterator[TestClient]:
    app = create_app(ServiceSettings(feedback_dir=feedback_dir, max_comments=5, max_text_chars=500))
    with TestClient(app) as test_client:
        yield test_client


def analyze(client: TestClient, **body: Any) -> Any:
    body.setdefault("comment", {"text": HOSTILE})
    body.setdefault("requestedAttributes", {"TOXICITY": {}})
    return client.post(ANALYZE, json=body)


def perspective_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"] and "@type" in error["details"][0]
    return dict(error)


def test_analyze_returns_perspective_shape(client: TestClient) -> None:
    response = analyze(
        client,
        requestedAttributes={"TOXICITY": {"scoreType": "PROBABILITY"}, "INSULT": {}},
        clientToken="token-1",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"attributeScores", "languages", "detectedLanguages", "clientToken"}
    assert body["clientToken"] == "token-1"
    assert body["languages"] == ["en"]
    assert set(body["attributeScores"]) == {"TOXICITY", "INSULT"}
    for scores in body["attributeScores"].values():
        assert set(scores) == {"summaryScore"}  # no spans unless asked
        assert scores["summaryScore"]["type"] == "PROBABILITY"
        assert 0.5 < scores["summaryScore"]["value"] <= 1.0


def test_analyze_scores_match_the_library(client: TestClient) -> None:
    state = client.app.state.service  # type: ignore[attr-defined]
    expected = state.moderator.score_one(HOSTILE).scores
    response = analyze(client, requestedAttributes={"THREAT": {}, "PROFANITY": {}})
    got = response.json()["attributeScores"]
    assert got["THREAT"]["summaryScore"]["value"] == pytest.approx(expected["threat"])
    assert got["PROFANITY"]["summaryScore"]["value"] == pytest.approx(expected["profanity"])


def test_span_annotations_score_every_sentence(client: TestClient) -> None:
    response = analyze(client, spanAnnotations=True, requestedAttributes={"INSULT": {}})
    spans = response.json()["attributeScores"]["INSULT"]["spanScores"]
    assert [HOSTILE[s["begin"] : s["end"]] for s in spans] == [
        "You are an idiot and everyone knows it.",
        "The weather was lovely today.",
    ]
    assert spans[0]["score"]["value"] > 0.5 > spans[1]["score"]["value"]
    assert all(s["score"]["type"] == "PROBABILITY" for s in spans)


def test_score_threshold_drops_low_scores_and_spans(client: TestClient) -> None:
    response = analyze(
        client,
        spanAnnotations=True,
        requestedAttributes={"INSULT": {"scoreThreshold": 0.5}, "THREAT": {"scoreThreshold": 0.9}},
    )
    scores = response.json()["attributeScores"]
    assert "THREAT" not in scores
    assert len(scores["INSULT"]["spanScores"]) == 1


def test_off_topic_uses_the_context(client: TestClient) -> None:
    article = "Azerbaijan mulls cooperation with the CSTO military alliance, officials said."
    on = analyze(
        client,
        comment={"text": "Cooperation with the CSTO alliance would anger Azerbaijan's neighbours."},
        context={"entries": [{"text": article}]},
        requestedAttributes={"OFF_TOPIC": {}},
    )
    off = analyze(
        client,
        comment={"text": "My sourdough starter finally rose, use rye flour and warm water."},
        context={"articleAndParentComment": {"article": {"text": article}}},
        requestedAttributes={"OFF_TOPIC": {}},
    )
    on_value = on.json()["attributeScores"]["OFF_TOPIC"]["summaryScore"]["value"]
    off_value = off.json()["attributeScores"]["OFF_TOPIC"]["summaryScore"]["value"]
    assert off_value > on_value


def test_off_topic_without_an_article_is_an_error(client: TestClient) -> None:
    error = perspective_error(analyze(client, requestedAttributes={"OFF_TOPIC": {}}))
    assert "context" in error["message"]


def test_unknown_attribute_is_a_perspective_error(client: TestClient) -> None:
    error = perspective_error(analyze(client, requestedAttributes={"SPAM": {}}))
    assert "SPAM" in error["message"]
    violation = error["details"][0]["fieldViolations"][0]
    assert violation["field"] == "requestedAttributes.SPAM"


def test_unsupported_language_is_a_perspective_error(client: TestClient) -> None:
    error = perspective_error(analyze(client, languages=["de"]))
    assert error["message"] == "Attribute TOXICITY does not support request languages: de"
    detail = error["details"][0]
    assert detail["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert detail["languageNotSupportedByAttributeError"]["attribute"] == "TOXICITY"


def test_regional_english_is_accepted_and_echoed(client: TestClient) -> None:
    body = analyze(client, languages=["en-GB"]).json()
    assert body["languages"] == ["en-GB"]
    assert "detectedLanguages" not in body


def test_non_latin_text_without_languages_is_not_guessed(client: TestClient) -> None:
    error = perspective_error(analyze(client, comment={"text": "Это очень хорошая статья"}))
    assert error["details"][0]["languageNotSupportedByAttributeError"]["detectedLanguages"] == [
        "und"
    ]


def test_look_alike_letters_still_count_as_english(client: TestClient) -> None:
    # Cyrillic letters that look Latin inside English words are obfuscation, not Russian.
    text = "y\u043eu \u0430r\u0435 \u0430n \u0456d\u0456ot"
    response = analyze(client, comment={"text": text})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "extra": 1}, "extra"),
        ({"requestedAttributes": {"TOXICITY": {}}}, "comment"),
        ({"comment": {"text": "hi"}}, "requestedAttributes"),
        ({"comment": {"text": 3}, "requestedAttributes": {"TOXICITY": {}}}, "comment.text"),
        (
            {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 2}}},
            "requestedAttributes.TOXICITY.scoreThreshold",
        ),
    ],
)
def test_malformed_requests_name_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    error = perspective_error(client.post(ANALYZE, json=body))
    fields = [v["field"] for v in error["details"][0]["fieldViolations"]]
    assert field in fields


def test_invalid_json_is_a_perspective_error(client: TestClient) -> None:
    response = client.post(
        ANALYZE, content=b'{"comment": ', headers={"content-type": "application/json"}
    )
    perspective_error(response)


@pytest.mark.parametrize(
    ("comment", "words"),
    [({"text": "   "}, "non-empty"), ({"text": "x" * 501}, "too long")],
)
def test_empty_or_long_comment_is_refused(
    client: TestClient, comment: dict[str, str], words: str
) -> None:
    assert words in perspective_error(analyze(client, comment=comment))["message"]


def test_unsupported_score_type(client: TestClient) -> None:
    error = perspective_error(
        analyze(client, requestedAttributes={"TOXICITY": {"scoreType": "STD_DEV_SCORE"}})
    )
    assert "PROBABILITY" in error["message"]


def test_html_comment_is_scored_as_the_text_a_reader_sees(client: TestClient) -> None:
    plain = analyze(client, comment={"text": "you are an idiot"}).json()
    html = analyze(client, comment={"text": "<p>you are an <b>idiot</b></p>", "type": "HTML"})
    assert html.json()["attributeScores"] == plain["attributeScores"]


def test_lone_surrogate_is_a_clear_error_not_a_crash(client: TestClient) -> None:
    raw = b'{"comment": {"text": "bad \\ud800 text"}, "requestedAttributes": {"TOXICITY": {}}}'
    response = client.post(ANALYZE, content=raw, headers={"content-type": "application/json"})
    assert "surrogate" in perspective_error(response)["message"]


def test_suggest_score_is_feedback_train_can_read(client: TestClient, feedback_dir: Path) -> None:
    response = client.post(
        SUGGEST,
        json={
            "comment": {"text": "what a clueless take"},
            "context": {"entries": [{"text": "An article about trains."}]},
            "attributeScores": {
                "INSULT": {"summaryScore": {"value": 0.9}},
                "THREAT": {"summaryScore": {"value": 0.0, "type": "PROBABILITY"}},
            },
            "communityId": "Coral:example.org",
            "clientToken": "c-7",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["clientToken"] == "c-7"
    path = feedback_dir / FEEDBACK_FILE
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    row = rows[-1]
    assert (row["insult"], row["threat"], row["toxicity"]) == (1, 0, None)
    assert row["community_id"] == "Coral:example.org"
    feedback = read_feedback(path)  # what `moderation train --feedback` reads
    last = feedback.iloc[-1]
    assert (last["insult"], last["threat"]) == (1.0, 0.0)
    assert last["toxicity"] != last["toxicity"]  # unknown stays unknown (NaN)
    assert "what a clueless take" in feedback_rows(feedback)["text"].tolist()


def test_suggest_score_refuses_unknown_attributes_and_bad_values(client: TestClient) -> None:
    base = {"comment": {"text": "hello"}}
    unknown = client.post(
        SUGGEST, json={**base, "attributeScores": {"FLIRTATION": {"summaryScore": {"value": 1}}}}
    )
    perspective_error(unknown)
    out_of_range = client.post(
        SUGGEST, json={**base, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 3}}}}
    )
    assert "[0, 1]" in perspective_error(out_of_range)["message"]


def test_suggest_score_without_feedback_dir_says_how_to_turn_it_on() -> None:
    with TestClient(create_app(ServiceSettings())) as plain:
        response = plain.post(
            SUGGEST,
            json={
                "comment": {"text": "hello"},
                "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
            },
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "FAILED_PRECONDITION"
    assert "--feedback-dir" in error["message"]


# --- batch and thread -------------------------------------------------------------------------

THREAD = [
    {"comment_id": "a", "author": "ana", "text": "Cooperation with the CSTO makes sense."},
    {"comment_id": "b", "parent_id": "a", "author": "ben", "text": "Shut up, you moron."},
    {"comment_id": "c", "parent_id": "b", "author": "ana", "text": ""},
]


def test_batch_returns_one_result_per_comment_in_order(client: TestClient) -> None:
    comments = [{**c, "thread_id": "t1"} for c in THREAD]
    response = client.post("/v1/score", json={"comments": comments, "doNotStore": True})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["comment_id"] for r in results] == ["a", "b", "c"]
    hostile = results[1]
    assert hostile["action"] != "allow"
    assert hostile["reasons"] and hostile["priority"] > 0
    assert hostile["depth"] == 1
    assert "insult" in hostile["spans"]
    assert set(results[2]["scores"].values()) == {None}  # empty text: no scores
    assert results[2]["problems"] == ["empty text"]


def test_batch_extra_fields_reach_scoped_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - name: kids\n    scope: {site: kids}\n"
        "    when: {length: '>= 1'}\n    action: hold\n    priority: 5\n",
        encoding="utf-8",
    )
    with TestClient(create_app(ServiceSettings(rules=rules))) as scoped:
        comments = [
            {"comment_id": "1", "text": "hello", "fields": {"site": "kids"}},
            {"comment_id": "2", "text": "hello", "fields": {"site": "news"}},
        ]
        results = scoped.post("/v1/score", json={"comments": comments}).json()["results"]
    assert [r["action"] for r in results] == ["hold", "allow"]


def test_empty_batch_is_an_empty_answer(client: TestClient) -> None:
    assert client.post("/v1/score", json={"comments": []}).json() == {"results": []}


def test_too_many_comments_is_413(client: TestClient) -> None:
    comments = [{"comment_id": str(i), "text": "hi"} for i in range(6)]
    response = client.post("/v1/score", json={"comments": comments})
    assert response.status_code == 413
    assert "limit is 5" in response.json()["detail"]


def test_long_text_in_a_batch_names_the_comment(client: TestClient) -> None:
    comments = [{"comment_id": "ok", "text": "hi"}, {"comment_id": "big", "text": "x" * 501}]
    response = client.post("/v1/score", json={"comments": comments})
    assert response.status_code == 400
    assert "comments[1]" in response.json()["detail"] and "'big'" in response.json()["detail"]


@pytest.mark.parametrize("name", ["text", "comment_id", "1abc", "a b", ""])
def test_unusable_field_names_are_refused(client: TestClient, name: str) -> None:
    comments = [{"comment_id": "1", "text": "hi", "fields": {name: "x"}}]
    response = client.post("/v1/score", json={"comments": comments})
    assert response.status_code == 400
    assert "column name" in response.json()["detail"]


def test_oversized_body_is_413_before_parsing() -> None:
    with TestClient(create_app(ServiceSettings(max_body_bytes=1000))) as small:
        response = small.post("/v1/score", content=b"[" + b"1," * 2000 + b"1]")
        assert response.status_code == 413
        assert "limit is 1000 bytes" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(30):
                yield b" " * 100

        streamed = small.post(
            "/v1/score", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413


def test_thread_reports_derailment_and_actions(client: TestClient) -> None:
    body = {
        "thread_id": "csto",
        "article": {
            "title": "Azerbaijan mulls cooperation with CSTO",
            "body": "Azerbaijan is considering closer cooperation with the CSTO alliance.",
        },
        "comments": [
            {"comment_id": "1", "text": "Azerbaijan and the CSTO: cooperation makes sense."},
            {"comment_id": "2", "parent_id": "1", "text": "The CSTO alliance needs Azerbaijan."},
            {
                "comment_id": "3",
                "parent_id": "2",
                "text": "My sourdough bread recipe uses rye flour, honey and warm water.",
            },
            {
                "comment_id": "4",
                "parent_id": "3",
                "text": "Bake the sourdough loaf at high heat with steam for a crisp crust.",
            },
        ],
        "doNotStore": True,
    }
    response = client.post("/v1/thread", json=body)
    assert response.status_code == 200, response.text
    thread = response.json()
    assert thread["thread_id"] == "csto"
    assert [c["comment_id"] for c in thread["comments"]] == ["1", "2", "3", "4"]
    assert sum(thread["actions"].values()) == 4
    by_id = {c["comment_id"]: c for c in thread["comments"]}
    assert by_id["4"]["scores"]["off_topic"] > by_id["1"]["scores"]["off_topic"]
    derailed = [c["derailed_at"] for c in thread["comments"] if c["derailed_at"]]
    assert thread["derailed_at"] == list(dict.fromkeys(derailed))


def test_batch_and_analyze_queue_escalated_comments(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    settings = ServiceSettings(queue_url=url, users_file=tmp_path / "users.txt")
    (tmp_path / "users.txt").write_text("", encoding="utf-8")
    with TestClient(create_app(settings)) as queued:
        comments = [{**c, "thread_id": "t1"} for c in THREAD]
        assert queued.post("/v1/score", json={"comments": comments}).status_code == 200
        kept = queued.post(
            ANALYZE,
            json={
                "comment": {"text": "Shut up already, you absolute moron."},
                "context": {"entries": [{"text": "article"}, {"text": "You are a moron too."}]},
                "requestedAttributes": {"TOXICITY": {}},
                "clientToken": "p-1",
            },
        )
        private = analyze(queued, comment={"text": "You utter moron."}, doNotStore=True)
        assert kept.status_code == private.status_code == 200
    with ReviewQueue(url, create=False) as queue:
        items = queue.list_items(status=None)
    texts = " | ".join(items["text"].astype(str))
    assert "Shut up, you moron." in texts  # from the batch
    assert "Shut up already, you absolute moron." in texts  # from analyze
    assert "You are a moron too." not in texts  # the parent is context, never queued
    assert "You utter moron." not in texts  # doNotStore is honoured


def test_thread_queues_its_items_with_the_article_title(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    settings = ServiceSettings(queue_url=url, users_file=tmp_path / "users.txt")
    (tmp_path / "users.txt").write_text("", encoding="utf-8")
    body = {
        "thread_id": "csto",
        "article": {"title": "Azerbaijan mulls <b>CSTO</b>", "body": "About the CSTO alliance."},
        "comments": [{"comment_id": "1", "text": "Shut up, you worthless idiot."}],
    }
    with TestClient(create_app(settings)) as queued:
        assert queued.post("/v1/thread", json=body).status_code == 200
    with ReviewQueue(url, create=False) as queue:
        items = queue.list_items(status=None)
    assert items["article_title"].tolist() == ["Azerbaijan mulls <b>CSTO</b>"]


def test_api_key_is_checked_when_configured() -> None:
    with TestClient(create_app(ServiceSettings(api_key="k-123"))) as keyed:
        body = {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}}
        missing = keyed.post(ANALYZE, json=body)
        assert "API key not valid" in perspective_error(missing)["message"]
        assert keyed.post(f"{ANALYZE}?key=k-123", json=body).status_code == 200
        header = keyed.post(ANALYZE, json=body, headers={"X-Goog-Api-Key": "k-123"})
        assert header.status_code == 200
        assert keyed.post("/v1/score", json={"comments": []}).status_code == 403
        assert keyed.post("/v1/score?key=k-123", json={"comments": []}).status_code == 200


def test_health_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and "OFF_TOPIC" in health["labels"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {ANALYZE, SUGGEST, "/v1/score", "/v1/thread", "/coral/moderate"} <= set(paths)
    assert client.get("/docs").status_code == 404  # its page would load scripts from a CDN


def test_broken_reply_structure_is_reported_per_comment(client: TestClient) -> None:
    comments = [
        {"comment_id": "a", "parent_id": "b", "text": "first"},
        {"comment_id": "b", "parent_id": "a", "text": "second"},
        {"comment_id": "b", "text": "again"},
    ]
    response = client.post("/v1/thread", json={"comments": comments, "doNotStore": True})
    assert response.status_code == 200
    problems = [c["problems"] for c in response.json()["comments"]]
    assert any("cycle" in p for p in problems[0])
    assert any("duplicate" in p for p in problems[2])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300), attributes=st.lists(st.text(max_size=20), max_size=3))
def test_analyze_never_fails_on_any_text(
    client: TestClient, text: str, attributes: list[str]
) -> None:
    body = {
        "comment": {"text": text},
        "requestedAttributes": {name: {} for name in [*attributes, "TOXICITY"]},
        "spanAnnotations": True,
    }
    raw = json.dumps(body).encode("utf-8")  # surrogates travel as \\u escapes
    response = client.post(ANALYZE, content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        for scores in response.json()["attributeScores"].values():
            assert 0.0 <= scores["summaryScore"]["value"] <= 1.0
            for span in scores.get("spanScores", []):
                assert 0 <= span["begin"] < span["end"] <= len(text)


def test_unwritable_feedback_dir_is_reported_not_hidden(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    with TestClient(create_app(ServiceSettings(feedback_dir=blocker))) as broken:
        response = broken.post(
            SUGGEST,
            json={
                "comment": {"text": "hello"},
                "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
            },
        )
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["status"] == "INTERNAL" and "not-a-dir" in error["message"]
