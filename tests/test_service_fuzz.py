"""The served OpenAPI schema is valid, and requests generated from it never cause a 5xx.

Schemathesis derives requests from ``/openapi.json`` (valid ones and, in negative mode,
deliberately invalid ones) and sends them to the app in process. (Unsigned Coral requests
only reach the signature check; signed random bodies are fuzzed in test_service_coral.py.) Every answer must be below
500 and, for documented statuses, match the schema. Examples per operation are bounded so
the test takes well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from moderation.service.app import create_app
from moderation.service.settings import ServiceSettings

#: Generated requests per operation and generation mode.
EXAMPLES = 40
#: Seconds one request may take on a busy 2-core machine (a hang, not a slow answer, fails).
TIMEOUT = 120


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    users = folder / "users.txt"
    users.write_text("", encoding="utf-8")
    return create_app(
        ServiceSettings(
            queue_url=f"sqlite:///{folder / 'queue.db'}",
            users_file=users,
            feedback_dir=folder / "feedback",
            coral_secret="fuzz-secret",
            max_comments=20,
            max_text_chars=2000,
        )
    )


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_openapi_schema_is_valid(app: FastAPI) -> None:
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    validate(document)
    paths = document["paths"]
    assert paths["/v1alpha1/comments:analyze"]["post"]["requestBody"]["required"] is True
    assert "413" in paths["/v1/score"]["post"]["responses"]


#: Operations fuzzed (the review page is HTML and has its own browser tests).
OPERATIONS = [
    ("/v1alpha1/comments:analyze", "POST"),
    ("/v1alpha1/comments:suggestscore", "POST"),
    ("/$discovery/rest", "GET"),
    ("/coral/moderate", "POST"),
    ("/v1/score", "POST"),
    ("/v1/thread", "POST"),
    ("/healthz", "GET"),
]


def test_every_api_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    served = {
        (operation.path, operation.method.upper())
        for result in api_schema.get_all_operations()
        if (operation := result.ok()) is not None and not operation.path.startswith("/review")
    }
    assert served == set(OPERATIONS)


#: Operations with something to get wrong (negative mode needs a body or parameter to break).
WITH_INPUT = [op for op in OPERATIONS if op[0] not in ("/healthz", "/coral/moderate")]
CASES = [(*op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (*op, GenerationMode.NEGATIVE) for op in WITH_INPUT
]


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_no_request_causes_a_server_error(
    api_schema: schemathesis.BaseSchema, path: str, method: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(timeout=TIMEOUT)
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if response.status_code == 200:
            case.validate_response(response, checks=[response_schema_conformance])

    fuzz()


@pytest.fixture(scope="module", autouse=True)
def _close(app: FastAPI) -> Iterator[None]:
    yield
    app.state.service.close()
