"""A Google API discovery document, so Google's client libraries can call this service.

Perspective's documented Python example builds its client from a discovery URL::

    discovery.build("commentanalyzer", "v1alpha1", developerKey=KEY,
                    discoveryServiceUrl=".../$discovery/rest?version=v1alpha1",
                    static_discovery=False)

Pointing that URL at this service is the only change such a client needs: the document
served here describes ``comments.analyze`` and ``comments.suggestscore`` with this server as
the root URL, so the generated client posts back here. (google-api-python-client does not
ship a static document for ``commentanalyzer``, so the discovery URL is the switch.)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

__all__ = ["DISCOVERY_PATH", "discovery_document", "router"]

#: Where Perspective's discovery document lives (relative to the service root).
DISCOVERY_PATH = "/$discovery/rest"
_NAME = "commentanalyzer"
_VERSION = "v1alpha1"


def _method(name: str, description: str, request: str, response: str) -> dict[str, Any]:
    return {
        "id": f"{_NAME}.comments.{name}",
        "path": f"{_VERSION}/comments:{name}",
        "flatPath": f"{_VERSION}/comments:{name}",
        "httpMethod": "POST",
        "description": description,
        "parameters": {},
        "parameterOrder": [],
        "request": {"$ref": request},
        "response": {"$ref": response},
    }


def _object(name: str, description: str) -> dict[str, Any]:
    # Bodies are passed through as JSON; the OpenAPI schema (/openapi.json) has their fields.
    return {"id": name, "type": "object", "description": description}


def discovery_document(root_url: str) -> dict[str, Any]:
    """The ``commentanalyzer`` v1alpha1 discovery document with ``root_url`` as its root."""
    root = root_url if root_url.endswith("/") else root_url + "/"
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"{_NAME}:{_VERSION}",
        "name": _NAME,
        "version": _VERSION,
        "title": "moderation: Perspective-compatible comment analyzer",
        "description": "Offline, self-hosted scoring of comments in Perspective's format.",
        "protocol": "rest",
        "rootUrl": root,
        "servicePath": "",
        "baseUrl": root,
        "batchPath": "batch",
        "parameters": {
            "key": {
                "type": "string",
                "location": "query",
                "description": "API key (checked only when the service has one).",
            },
            "alt": {
                "type": "string",
                "location": "query",
                "default": "json",
                "enum": ["json"],
                "description": "Data format for the response.",
            },
        },
        "resources": {
            "comments": {
                "methods": {
                    "analyze": _method(
                        "analyze",
                        "Analyzes the provided text and returns scores for requested attributes.",
                        "AnalyzeCommentRequest",
                        "AnalyzeCommentResponse",
                    ),
                    "suggestscore": _method(
                        "suggestscore",
                        "Suggests a score for a comment; kept as feedback for retraining.",
                        "SuggestCommentScoreRequest",
                        "SuggestCommentScoreResponse",
                    ),
                }
            }
        },
        "schemas": {
            "AnalyzeCommentRequest": _object("AnalyzeCommentRequest", "A comment to score."),
            "AnalyzeCommentResponse": _object("AnalyzeCommentResponse", "Attribute scores."),
            "SuggestCommentScoreRequest": _object(
                "SuggestCommentScoreRequest", "A suggested score."
            ),
            "SuggestCommentScoreResponse": _object(
                "SuggestCommentScoreResponse", "Acknowledgement."
            ),
        },
    }


router = APIRouter(tags=["Perspective"])


@router.get(DISCOVERY_PATH, summary="Discovery document for Google API client libraries")
def discovery(request: Request, version: str = _VERSION) -> dict[str, Any]:
    """The discovery document (``?version=v1alpha1``) rooted at this server's URL."""
    if version != _VERSION:
        raise HTTPException(404, f"no discovery document for version {version!r}; use v1alpha1")
    return discovery_document(str(request.base_url))
