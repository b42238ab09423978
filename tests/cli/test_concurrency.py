"""``paperbot`` beside other paperbot processes, and under Ctrl-C: real processes, real signals.

A Ctrl-C is sent the way a terminal sends it, to the whole process group (the index build's
workers included). Timeouts are generous: what is asserted is that a command ends (a hang never
does), with the right code and one line saying what was kept, never how fast.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import psutil

from retrieval.index import index_root
from retrieval.index.persist import read_manifest
from retrieval.store import PaperStore
from tests.procs import build_lock_holder, paperbot, start, wait_for, write_papers, writer_holder

HANG = 60  # seconds after Ctrl-C that can only mean a hang


def _current(db: Path) -> str:
    return (index_root(db, "default") / "CURRENT").read_text()


def _saved_generation(db: Path) -> int | None:
    found = read_manifest(index_root(db, "default"))
    return None if found is None else found[1]["generation"]


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- Ctrl-C ----------------------------------------------------------------------------------------
def test_ctrl_c_during_the_index_build_exits_130_saying_the_papers_are_kept(
    tmp_path: Path,
) -> None:
    """Ctrl-C while an ingest's index is being built by worker processes: exit 130 with one
    line (the papers are committed, the index is rebuilt on next use), no worker traceback, no
    worker left behind; several times, since a hang was intermittent."""
    db = tmp_path / "s.db"
    write_papers(tmp_path / "base.jsonl", 300, prefix="base")
    _ok(paperbot(["ingest", "base.jsonl", "--db", str(db)], tmp_path))
    total = 300
    for round_ in range(3):
        papers = write_papers(tmp_path / f"r{round_}.jsonl", 5000, prefix=f"r{round_}")
        proc = start(["ingest", f"r{round_}.jsonl", "--db", str(db)], tmp_path)
        err, workers = _ctrl_c_during_the_build(proc)
        total += len(papers)
        assert proc.returncode == 130, err
        assert err.splitlines() == [
            "paperbot: interrupted: all 5,000 papers are saved in 'default' (5,000 added, "
            "0 updated); its index will be rebuilt on next use"
        ]
        assert wait_for(lambda ws=workers: all(_gone(w) for w in ws), HANG)
        assert PaperStore(db, create=False).count("default") == total
    # The next use rebuilds the index, and finds the interrupted ingests' papers.
    hits = json.loads(
        _ok(paperbot(["search", "--json", papers[7]["title"], "--db", str(db)], tmp_path))
    )
    assert hits["results"][0]["id"] == papers[7]["_id"]
    assert _saved_generation(db) == PaperStore(db, create=False).generation("default")


def _ctrl_c_during_the_build(
    proc: subprocess.Popen[str],
) -> tuple[str, list[psutil.Process]]:
    """Wait for the ingest's build workers, Ctrl-C the process group; (stderr, workers)."""
    me = psutil.Process(proc.pid)

    def workers() -> list[psutil.Process]:
        try:
            return me.children()
        except psutil.NoSuchProcess:
            return []

    assert wait_for(lambda: workers() or proc.poll() is not None, 300)
    started = workers()
    assert started and proc.poll() is None, "the index build never started"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=HANG)
    return err, started


def test_ctrl_c_while_the_command_starts_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C before ``main`` runs (the command is still importing its modules)."""
    starting = (  # what `python -m cli` does first, then a Ctrl-C before main() is reached
        "import os, signal, sys, time\n"
        "sys.argv[0] = '-m'\n"
        "import cli.main\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(60)\n"
    )
    proc = start([], tmp_path, script=starting)
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 130
    assert err == "paperbot: interrupted\n"


# Runs paperbot with a real SIGINT sent to itself while SQLite executes the ingest's COMMIT: a
# progress handler (C code: no Python runs, so the signal is handled after COMMIT returns)
# installed by the generation bump, the last statement before COMMIT, takes effect in COMMIT.
_SIGINT_IN_COMMIT = """
import ctypes, functools, os, signal, sys
from retrieval import store
kill = functools.partial(ctypes.CDLL(None).kill, os.getpid(), signal.SIGINT)
connect, hooked = store.PaperStore._conn, set()
def conn(self):
    c = connect(self)
    if id(c) not in hooked:
        hooked.add(id(c))
        def trace(stmt):
            if stmt.startswith("UPDATE collections SET generation = generation + 1"):
                c.set_progress_handler(kill, 1)
            elif stmt.strip() != "COMMIT":
                c.set_progress_handler(None, 1)
        c.set_trace_callback(trace)
    return c
store.PaperStore._conn = conn
from cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_the_write_commits_keeps_every_paper_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    write_papers(tmp_path / "base.jsonl", 50, prefix="base")
    _ok(paperbot(["ingest", "base.jsonl", "--db", str(db)], tmp_path))
    write_papers(tmp_path / "more.jsonl", 700, prefix="more")
    proc = start(["ingest", "more.jsonl", "--db", str(db)], tmp_path, script=_SIGINT_IN_COMMIT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert err.splitlines() == [
        "paperbot: interrupted: all 700 papers are saved in 'default' (700 added, 0 updated); "
        "its index will be rebuilt on next use"
    ]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert PaperStore(db, create=False).count("default") == 750
    _ok(paperbot(["stats", "--db", str(db)], tmp_path))
    assert _saved_generation(db) == PaperStore(db, create=False).generation("default")


def test_ctrl_c_while_waiting_for_another_writer_exits_at_once_writing_nothing(
    tmp_path: Path,
) -> None:
    """A second ingest waits for the first one's write where Ctrl-C reaches it (not in SQLite's
    busy wait, which ignores it for up to 30 s)."""
    db = tmp_path / "s.db"
    write_papers(tmp_path / "base.jsonl", 50, prefix="base")
    _ok(paperbot(["ingest", "base.jsonl", "--db", str(db)], tmp_path))
    write_papers(tmp_path / "more.jsonl", 200, prefix="more")
    with writer_holder(tmp_path, db):  # another ingest, in the middle of its write
        proc = start(["ingest", "more.jsonl", "--db", str(db)], tmp_path)
        assert wait_for(lambda: _waits_on_a_lock(proc.pid) or proc.poll() is not None, 300)
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 130, err
    assert err.splitlines() == [
        "paperbot: interrupted: nothing was written to 'default' (the store is as it was)"
    ]
    assert PaperStore(db, create=False).count("default") == 50


def _waits_on_a_lock(pid: int) -> bool:
    """Whether ``pid`` is blocked on a file lock (``/proc/locks`` lists waiters with ``->``)."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    return any("->" in line and f" {pid} " in line for line in lines)


# -- readers while another process builds ---------------------------------------------------------
def test_readers_answer_from_the_previous_index_while_another_process_builds(
    tmp_path: Path,
) -> None:
    """The store moved on and another process holds the build lock (an ingest building):
    search, ask and stats answer at once from the saved index, say so once on stderr, and
    build nothing. Once the lock is free, the next reader brings the index up to date."""
    db = tmp_path / "s.db"
    old = write_papers(tmp_path / "old.jsonl", 400, prefix="old")
    _ok(paperbot(["ingest", "old.jsonl", "--db", str(db)], tmp_path))
    before = _current(db)
    new = write_papers(tmp_path / "new.jsonl", 150, prefix="new")
    note = (
        "paperbot: note: the index of 'default' is being rebuilt by another process; "
        "answering from the previous one (150 papers behind)"
    )
    with build_lock_holder(tmp_path, db):
        from retrieval.papers import Paper

        store = PaperStore(db, create=False)
        store.upsert(
            (Paper(id=p["_id"], title=p["title"], abstract=p["text"], source="test") for p in new),
            "default",
        )
        store.close()
        for argv in (
            ["search", "--json", old[3]["title"]],
            ["ask", "--json", old[3]["title"]],
            ["stats"],
        ):
            proc = paperbot([*argv, "--db", str(db)], tmp_path)
            assert proc.returncode == 0 and proc.stderr.splitlines() == [note], proc.stderr
            if argv[0] == "search":
                assert json.loads(proc.stdout)["results"][0]["id"] == old[3]["_id"]
            assert _current(db) == before  # nothing was built
    hits = json.loads(
        _ok(paperbot(["search", "--json", new[5]["title"], "--db", str(db)], tmp_path))
    )
    assert hits["results"][0]["id"] == new[5]["_id"]
    assert _current(db) != before
    assert _saved_generation(db) == PaperStore(db, create=False).generation("default")


def test_an_ingest_that_changes_nothing_builds_nothing_and_waits_for_no_one(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    write_papers(tmp_path / "p.jsonl", 600, prefix="p")
    _ok(paperbot(["ingest", "p.jsonl", "--db", str(db)], tmp_path))
    before = _current(db)
    with build_lock_holder(tmp_path, db):  # someone else building must not hold it up
        out = _ok(paperbot(["ingest", "p.jsonl", "--db", str(db)], tmp_path))
    assert "0 added, 0 updated, 600 unchanged" in out and "indexed 600 papers" in out
    assert _current(db) == before
