"""Opening a store a second time in one process must not cost the first its SQLite locks.

Closing any descriptor of a file releases every POSIX lock the process holds on it, SQLite's
included. If a second ``PaperStore`` read the header with ``open()`` while the first had
connections, a writer in another process would believe itself the last user, reset the WAL, and
the first store's connections would then fail ("file is not a database")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from retrieval.papers import Paper
from retrieval.store import PaperStore

WRITER = """
import sys
from retrieval.papers import Paper
from retrieval.store import PaperStore
store = PaperStore(sys.argv[1])
for round in range(int(sys.argv[2])):
    papers = [Paper(id=f"w{round}-{i}", title="t", abstract="a b c", source="t") for i in range(50)]
    store.upsert(papers, "default")
"""


def _papers(prefix: str, n: int) -> list[Paper]:
    return [Paper(id=f"{prefix}{i}", title="t", abstract="a b c", source="t") for i in range(n)]


def test_a_second_open_keeps_the_first_stores_connections_working(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = PaperStore(path)
    first.upsert(_papers("a", 10), "default")
    assert first.count("default") == 10  # the first store's connection is open and used
    for _ in range(3):
        PaperStore(path)  # a restart of the bot in the same process, say
    subprocess.run(
        [sys.executable, "-c", WRITER, str(path), "5"],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert first.count("default") == 260
    first.upsert(_papers("b", 10), "default")
    assert PaperStore(path).count("default") == 270
