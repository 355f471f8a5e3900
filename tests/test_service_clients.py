"""Existing clients against a real `moderation serve` on a loopback port.

Google's API client library builds a Perspective client from a discovery URL (as
Perspective's own Python example does); pointing that URL at the service is the only change.
Plain HTTP clients send the request exactly as Perspective's documentation shows it, and
Coral's signed webhook goes over a real socket too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from googleapiclient import discovery
from googleapiclient.errors import HttpError

from moderation.service.coral import sign

SECRET = "coral-secret-for-tests"
#: Longest wait for the server to load the model and listen.
START_TIMEOUT = 90.0

#: A request in the documented format (Perspective's methods page: AnalyzeComment example).
DOCUMENTED_REQUEST = """
{ "comment": {"text": "You are a complete idiot. Read the article first.", "type": "PLAIN_TEXT"},
  "context": {"entries": [{"text": "Council approves new bus timetable.", "type": "PLAIN_TEXT"}]},
  "requestedAttributes": {"TOXICITY": {"scoreType": "PROBABILITY", "scoreThreshold": 0.0},
                          "INSULT": {}},
  "spanAnnotations": true, "languages": ["en"], "doNotStore": true,
  "clientToken": "token-42", "sessionId": "session-9" }
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``moderation serve`` in a subprocess; yields its base URL and feedback folder."""
    feedback = tmp_path_factory.mktemp("feedback")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env["MODERATION_CORAL_SECRET"] = SECRET
    log = feedback.parent / "serve.log"
    output = log.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moderation",
            "serve",
            "--port",
            str(port),
            "--feedback-dir",
            str(feedback),
        ],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                printed = log.read_text(encoding="utf-8", errors="replace")
                pytest.fail(f"moderation serve exited with {process.returncode}:\n{printed}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"moderation serve did not answer within {START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        yield base, feedback
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def perspective_client(base: str) -> Any:
    """Perspective's documented client setup, with only the discovery URL's host changed."""
    return discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey="any-key",
        discoveryServiceUrl=f"{base}/$discovery/rest?version=v1alpha1",
        static_discovery=False,
        cache_discovery=False,
    )


def test_google_api_client_analyzes(server: tuple[str, Path]) -> None:
    analyze_request = {
        "comment": {"text": "You are a complete idiot."},
        "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
    }
    with perspective_client(server[0]) as client:
        response = client.comments().analyze(body=analyze_request).execute()
    assert response["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5
    assert response["attributeScores"]["INSULT"]["summaryScore"]["type"] == "PROBABILITY"
    assert response["languages"] == ["en"]


def test_google_api_client_sees_perspective_errors(server: tuple[str, Path]) -> None:
    request = {"comment": {"text": "hello"}, "requestedAttributes": {"FLIRTATION": {}}}
    with perspective_client(server[0]) as client, pytest.raises(HttpError) as raised:
        client.comments().analyze(body=request).execute()
    assert raised.value.resp.status == 400
    assert "Unknown attribute: FLIRTATION" in raised.value.reason


def test_google_api_client_suggests_scores(server: tuple[str, Path]) -> None:
    base, feedback = server
    suggestion = {
        "comment": {"text": "That was a thoughtful reply."},
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.0}}},
        "clientToken": "s-1",
    }
    with perspective_client(base) as client:
        response = client.comments().suggestscore(body=suggestion).execute()
    assert response["clientToken"] == "s-1"
    lines = (feedback / "suggestions.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["toxicity"] == 0


def test_documented_request_over_plain_http(server: tuple[str, Path]) -> None:
    status, body = post(
        f"{server[0]}/v1alpha1/comments:analyze?key=any-key",
        DOCUMENTED_REQUEST.encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    assert body["clientToken"] == "token-42"
    assert body["languages"] == ["en"]
    toxicity = body["attributeScores"]["TOXICITY"]
    assert toxicity["summaryScore"]["value"] > 0.5
    first = toxicity["spanScores"][0]
    assert (first["begin"], first["end"]) == (0, len("You are a complete idiot."))


def test_coral_webhook_over_http(server: tuple[str, Path]) -> None:
    body = json.dumps(
        {
            "action": "NEW",
            "comment": {"body": "You are a worthless moron.", "parentID": None},
            "author": {"id": "u1", "role": "COMMENTER"},
            "story": {"id": "s1", "url": "https://news.example/s1"},
            "tenantID": "t1",
            "tenantDomain": "news.example",
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    status, answer = post(
        f"{server[0]}/coral/moderate", body, {**headers, "X-Coral-Signature": sign(SECRET, body)}
    )
    assert status == 200
    assert answer["actions"][0]["actionType"] == "FLAG"
    status, _ = post(f"{server[0]}/coral/moderate", body, headers)
    assert status == 401
