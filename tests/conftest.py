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


# PostgreSQL for the review queue tests ------------------------------------------------------
#
# A throwaway server per test session: initdb into a temporary directory, start it on a free
# port with its unix socket in that directory, one fresh database per test. As root (CI),
# initdb and postgres refuse to run, so they run as the unprivileged user ``nobody``.

import glob  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402


def _postgres_bin() -> Path | None:
    """Directory holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[dict[str, str]]:
    """A running PostgreSQL server: ``{"socket_dir", "port", "user"}``; skipped without binaries."""
    bindir = _postgres_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) not found; .ci/run installs them")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found; .ci/run installs them")
    base = Path(tempfile.mkdtemp(prefix="moderation-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and runuser is missing: cannot start PostgreSQL")
        as_user = [runuser, "-u", "nobody", "--"]
        shutil.chown(base, "nobody")
    data, log = base / "data", base / "server.log"
    port = str(_free_port())

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, cwd=base)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--no-locale")  # fmt: skip
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace") if exc.stderr else ""
        if log.exists():
            detail += log.read_text(errors="replace")
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL from {bindir}: {detail}")
    try:
        yield {"socket_dir": str(base), "port": port, "user": "postgres"}
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            cwd=base,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: dict[str, str]) -> str:
    """URL of a fresh, empty database on the session's PostgreSQL server."""
    import sqlalchemy as sa

    name = f"queue_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server['port']}/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return f"postgresql://postgres@127.0.0.1:{postgres_server['port']}/{name}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new SQLite queue file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'queue.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty queue database, once per backend."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url
