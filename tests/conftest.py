"""Shared fixtures: a small two-thread export and its articles, written for the tests.

``tests/data/threads.csv`` has two threads:

- ``library-hours`` is civil: lib-1 <- lib-2, and lib-3 <- lib-4 <- lib-5.
- ``bus-fares`` has a hostile reply (bus-2, depth 1, to bus-1) and an off-topic
  reply at depth 2 (bus-3, about football, to bus-2); bus-4 <- bus-5 is civil.

``tests/data/articles.csv`` has one article per thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from moderation.io import read_articles, read_comments
from moderation.schema import validate_comments

DATA = Path(__file__).parent / "data"
EXPORTS = DATA / "exports"

HOSTILE_IDS = ("bus-2",)
OFF_TOPIC_IDS = ("bus-3",)


@pytest.fixture
def data_dir() -> Path:
    """Directory of the test fixtures."""
    return DATA


@pytest.fixture
def raw_comments() -> pd.DataFrame:
    """``threads.csv`` as read, before validation."""
    return read_comments(DATA / "threads.csv")


@pytest.fixture
def comments() -> pd.DataFrame:
    """Two threads: one civil; one with a hostile reply and an off-topic reply at depth 2."""
    return validate_comments(read_comments(DATA / "threads.csv"))


@pytest.fixture
def articles() -> pd.DataFrame:
    """The article of each thread in ``threads.csv``."""
    return read_articles(DATA / "articles.csv")


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, bytes | str], Path]:
    """Write bytes (or UTF-8 text) to a file named `name` under ``tmp_path``."""

    def write(name: str, content: bytes | str) -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return write
