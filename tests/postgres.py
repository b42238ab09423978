"""A throwaway PostgreSQL cluster for the tests that run against both store backends.

Why the tests make their own: they must never touch a cluster they did not create, and the README's
``make test`` must work on a fresh clone of a machine that has the distribution's ``postgresql``
package. The cluster lives in a temporary directory, listens on a Unix socket there only (no TCP),
trusts local connections, and is stopped and deleted when the test session ends. Each test gets a
fresh database (``pg_url``), dropped afterwards.

``PAPERBOT_TEST_DATABASE_URL`` names an existing cluster made for tests instead (an admin URL);
``.ci/run`` sets ``PAPERBOT_TESTS_REQUIRE_POSTGRES=1``, which turns "no PostgreSQL here" from a
skip into a failure, so CI cannot pass by skipping.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_POSTGRES = os.environ.get("PAPERBOT_TESTS_REQUIRE_POSTGRES") == "1"
ADMIN_URL_ENV = "PAPERBOT_TEST_DATABASE_URL"
_PORT = 55499  # only names the socket file: the cluster listens on no TCP port


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: Debian keeps them out of PATH, per major version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(versions[0]).parent if versions else None


def _unavailable(reason: str) -> None:
    message = f"no PostgreSQL for the tests: {reason}"
    if REQUIRE_POSTGRES:
        pytest.fail(f"{message}; PAPERBOT_TESTS_REQUIRE_POSTGRES=1 forbids skipping")
    pytest.skip(message)


class Cluster:
    """A cluster this test session started, in ``root``; ``admin_url`` connects as superuser."""

    def __init__(self, bindir: Path, root: Path, run_as: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.run_as = run_as
        self.data = root / "data"
        self.admin_url = f"postgresql://postgres@/postgres?host={root}&port={_PORT}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:  # initdb refuses to run as root
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> str | None:
        """None when running, else why not."""
        made = self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        if made.returncode != 0:
            return f"initdb failed: {made.stderr.strip()[-300:]}"
        options = f"-k {self.root} -p {_PORT} -c listen_addresses='' -c fsync=off"
        started = self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        if started.returncode != 0:
            log = (self.root / "log").read_text(errors="replace")[-300:]
            return f"pg_ctl start failed: {started.stderr.strip()[-200:]} {log}"
        return None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _start_cluster() -> Cluster | str:
    bindir = _bindir()
    if bindir is None:
        return "the distribution's postgresql package is not installed (no initdb)"
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
        run_as = "postgres"
    root = Path(tempfile.mkdtemp(prefix="paperbot-pg-"))
    if run_as:
        os.chown(root, pwd.getpwnam(run_as).pw_uid, -1)
    cluster = Cluster(bindir, root, run_as)
    problem = cluster.start()
    if problem:
        cluster.stop()
        return problem
    return cluster


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A superuser URL of a cluster made for these tests (started here, or named by the env)."""
    given = os.environ.get(ADMIN_URL_ENV)
    if given:
        yield given
        return
    started = _start_cluster()
    if isinstance(started, str):
        _unavailable(started)
        return
    try:
        yield started.admin_url
    finally:
        started.stop()


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the test cluster, dropped after the test."""
    psycopg = pytest.importorskip("psycopg")
    name = f"paperbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = pg_admin_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    try:
        yield url
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
