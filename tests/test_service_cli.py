"""`moderation serve`: flags override the environment, loopback by default, help has an example."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from moderation.cli import cli
from moderation.service import app as app_module
from moderation.service.settings import ServiceSettings


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run `serve` without loading a model or listening: record what it would start."""
    seen: dict[str, Any] = {}

    def fake_create_app(settings: ServiceSettings) -> str:
        seen["settings"] = settings
        return "app"

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen["app"] = app
        seen.update(kwargs)

    import uvicorn

    monkeypatch.setattr(app_module, "create_app", fake_create_app)
    monkeypatch.setattr(uvicorn, "run", fake_run)
    for name in ("MODERATION_QUEUE", "MODERATION_CORAL_SECRET", "MODERATION_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return seen


def test_serve_binds_loopback_by_default(captured: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    assert captured["host"] == "127.0.0.1" and captured["port"] == 8080
    assert "Warning" not in result.output


def test_flags_override_the_environment(
    captured: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODERATION_QUEUE", "sqlite:///from-env.db")
    monkeypatch.setenv("MODERATION_CORAL_SECRET", "env-secret")
    monkeypatch.setenv("MODERATION_FEEDBACK_DIR", str(tmp_path / "env"))
    result = CliRunner().invoke(
        cli,
        [
            "serve",
            "--port",
            "9123",
            "--queue",
            "sqlite:///from-flag.db",
            "--max-comments",
            "7",
        ],
    )
    assert result.exit_code == 0, result.output
    settings: ServiceSettings = captured["settings"]
    assert settings.queue_url == "sqlite:///from-flag.db"  # the flag wins
    assert settings.coral_secret == "env-secret"  # secrets come from the environment
    assert settings.feedback_dir == tmp_path / "env"
    assert settings.max_comments == 7
    assert captured["port"] == 9123


def test_public_bind_without_api_key_warns(captured: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 0
    assert "without MODERATION_API_KEY" in result.output


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "moderation serve --port" in result.output
    assert "MODERATION_CORAL_SECRET" in result.output


def test_cli_start_up_does_not_import_the_web_stack() -> None:
    import subprocess

    code = "import sys, moderation.cli; print('fastapi' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_workers_get_the_same_settings_and_one_session_key(
    captured: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(app_module.SETTINGS_VARIABLE, raising=False)
    monkeypatch.delenv("MODERATION_SESSION_SECRET", raising=False)
    result = CliRunner().invoke(
        cli, ["serve", "--workers", "2", "--feedback-dir", str(tmp_path), "--max-comments", "9"]
    )
    assert result.exit_code == 0, result.output
    assert captured["app"] == "moderation.service.app:app_from_environment"
    assert captured["factory"] is True and captured["workers"] == 2
    import os

    handed = app_module.settings_from_json(os.environ[app_module.SETTINGS_VARIABLE])
    monkeypatch.delenv(app_module.SETTINGS_VARIABLE)
    assert handed.feedback_dir == tmp_path and handed.max_comments == 9
    assert handed.session_secret  # generated once, shared by every worker
    assert "settings" not in captured  # the parent process loads no model


def test_settings_survive_the_trip_to_a_worker(tmp_path: Path) -> None:
    settings = ServiceSettings(
        model=tmp_path / "bundle",
        rules=tmp_path / "rules.yaml",
        queue_url="sqlite:///q.db",
        coral_secret="s",
        feedback_dir=tmp_path,
        port=9999,
        coral_tolerance=12.5,
    )
    assert app_module.settings_from_json(app_module.settings_to_json(settings)) == settings
