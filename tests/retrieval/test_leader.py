"""Leadership: one process runs the once-only jobs, and another takes over when it dies."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.leader import FileLeadership, PgLeadership, leadership_for

REPO = Path(__file__).resolve().parents[2]

HOLD_FILE = """
import sys, time
from pathlib import Path
from retrieval.leader import FileLeadership
lead = FileLeadership(Path(sys.argv[1]))
assert lead.try_acquire()
print("held", flush=True)
time.sleep(60)
"""

HOLD_PG = """
import sys, time
from retrieval.leader import PgLeadership
lead = PgLeadership(sys.argv[1])
assert lead.try_acquire()
print("held", flush=True)
time.sleep(60)
"""


def _holder(script: str, arg: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", script, arg], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def _taken_over(lead: FileLeadership | PgLeadership, timeout: float = 10.0) -> float:
    started = time.monotonic()
    while not lead.try_acquire():
        assert time.monotonic() - started < timeout, "nobody took over"
        time.sleep(0.01)
    return time.monotonic() - started


def test_file_leadership_is_exclusive_and_passes_on_when_the_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "store.db.leader.lock"
    child = _holder(HOLD_FILE, str(path))
    try:
        mine = FileLeadership(path)
        assert not mine.try_acquire() and not mine.held()
        child.kill()
        child.wait()
        _taken_over(mine)
        assert mine.held() and mine.try_acquire()  # idempotent while held
        mine.release()
        assert not mine.held()
        again = FileLeadership(path)
        assert again.try_acquire()
        again.release()
    finally:
        child.kill()


def test_pg_leadership_is_exclusive_and_passes_on_when_the_holder_dies(pg_url: str) -> None:
    child = _holder(HOLD_PG, pg_url)
    try:
        mine = PgLeadership(pg_url)
        assert not mine.try_acquire()
        child.kill()
        child.wait()
        _taken_over(mine)
        other = PgLeadership(pg_url)
        assert not other.try_acquire()
        mine.release()
        assert other.try_acquire()
        other.release()
    finally:
        child.kill()


def test_an_unreachable_database_is_no_leadership_and_no_error() -> None:
    lead = PgLeadership("postgresql://nobody@/nothing?host=/nonexistent&port=1")
    assert lead.try_acquire() is False and not lead.held()


def test_the_store_decides_which_lock(tmp_path: Path) -> None:
    class SqliteLike:
        path = tmp_path / "s.db"

    class PgLike:
        url = "postgresql://u@/db?host=/tmp"
        path = tmp_path / "pg-db"

    assert isinstance(leadership_for(SqliteLike()), FileLeadership)
    assert isinstance(leadership_for(PgLike()), PgLeadership)


@pytest.mark.parametrize("n", [3])
def test_one_of_many_contenders_leads(tmp_path: Path, n: int) -> None:
    leads = [FileLeadership(tmp_path / "l.lock") for _ in range(n)]
    # flock is per open file description: contenders in one process exclude each other too.
    assert [lead.try_acquire() for lead in leads] == [True] + [False] * (n - 1)
