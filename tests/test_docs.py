"""Docs cannot drift: every command has help with an example and appears in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from moderation.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found.extend(commands(command, full + " "))
    return found


@pytest.mark.parametrize(("name", "command"), commands(cli))
def test_command_has_help_with_example(name: str, command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output, f"'moderation {name} --help' has no example"


@pytest.mark.parametrize(("name", "command"), commands(cli))
def test_command_is_in_readme(name: str, command: click.Command) -> None:
    assert f"moderation {name}" in README


def test_top_level_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in cli.commands:
        assert name in result.output


def test_readme_rules_examples_are_valid(tmp_path: Path) -> None:
    import re

    from moderation.rules import check_rules_text

    (tmp_path / "banned.txt").write_text("idiot\n", encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        _, problems = check_rules_text(block, "README.md", base_dir=tmp_path)
        assert problems == [], block
