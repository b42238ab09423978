"""Helpers for tests that run paperbot as several real processes and send them real signals.

Every paperbot process here is started in its own session (so a Ctrl-C can be sent to its
whole process group, as a terminal does) through :data:`PAPERBOT`, which runs the real
``cli.main.main`` with index chunks small enough that a few thousand papers are built by worker
processes, as a million are in production.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.paths import REPO

PAPERBOT = (
    "import os, sys\n"
    "import retrieval.index.build as build\n"
    "build.CHUNK_DOCS = 250\n"
    "build._PARALLEL_MIN_DOCS = 500\n"
    "os.cpu_count = lambda: 2\n"
    "from cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)

_SYLLABLES = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "an", "or")]


def write_papers(path: Path, n: int, *, prefix: str, seed: int = 0) -> list[dict[str, str]]:
    """``n`` BEIR lines (``_id``, ``title``, ``text``) of made-up words; returns them."""
    rng = random.Random(f"{prefix}-{seed}")
    vocab = ["".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))) for _ in range(4000)]
    papers = []
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            paper = {
                "_id": f"{prefix}-{i}",
                "title": " ".join(rng.choices(vocab, k=rng.randint(5, 9))).capitalize(),
                "text": " ".join(rng.choices(vocab, k=rng.randint(60, 120))) + ".",
            }
            papers.append(paper)
            fh.write(json.dumps(paper) + "\n")
    return papers


def env(tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    out["PAPERBOT_DATA_DIR"] = str(tmp_path / "data")
    out["PYTHONPATH"] = str(REPO)
    return out


def start(args: list[str], tmp_path: Path, *, script: str = PAPERBOT) -> subprocess.Popen[str]:
    """``paperbot ARGS`` (or ``script`` with ARGS) in its own session, output captured."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=tmp_path,
        env=env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def paperbot(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    proc = start(args, tmp_path)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Holder:
    """A separate process holding one of paperbot's lock files (``fcntl.flock``, exclusive), as
    an ingest that is writing or building holds it, until :meth:`release`; ``then`` is code run
    once it holds the lock (``fd`` is the lock's descriptor)."""

    def __init__(self, tmp_path: Path, lock_file: Path, then: str = "") -> None:
        script = (
            "import fcntl, os, sys\n"
            f"path = {str(lock_file)!r}\n"
            "os.makedirs(os.path.dirname(path), exist_ok=True)\n"
            "fd = os.open(path, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            f"{then}\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env=env(tmp_path),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=60)

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def build_lock_holder(tmp_path: Path, db: Path, collection: str = "default") -> Holder:
    """Another process building ``collection``'s index (it holds the build lock)."""
    return Holder(tmp_path, db.with_name(db.name + ".index") / collection / ".build.lock")


def writer_holder(tmp_path: Path, db: Path) -> Holder:
    """Another ingest in the middle of its write: the store's write lock and a SQLite write
    transaction."""
    return Holder(
        tmp_path,
        db.with_name(db.name + ".index") / ".write.lock",
        "import sqlite3\n"
        f"conn = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')",
    )
