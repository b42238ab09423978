"""What ``paperbot`` does with the files it is pointed at, as a subprocess the way a user runs
it: an export never destroys a store or a file it could not replace whole; a source id never
changes another collection's paper; a database that is not a store is refused untouched; a
read-only store is served; and broken paths, settings and index files are one line each.

Read-only cases run the command with its directory (or file) made read-only: with chmod for an
ordinary user; as root (whom chmod does not stop) inside a private mount namespace with a
read-only bind mount, which the kernel enforces for root too. Only when neither is possible do
they skip, saying why.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from retrieval.index import index_root
from retrieval.index.persist import read_manifest
from retrieval.store import APPLICATION_ID, SQLITE_HEADER
from tests.cli.test_cli import ok, run, user_error
from tests.paths import REPO, REQUIRE_SHARED


def beir(path: Path, *records: tuple[str, str, str]) -> Path:
    path.write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": a}) + "\n" for i, t, a in records)
    )
    return path


def native(path: Path, *records: tuple[str, str, str]) -> Path:
    """paperbot's own export format (keeps an arXiv id as the id)."""
    lines = [
        json.dumps({"id": i, "title": t, "abstract": a, "source": "test"}) + "\n"
        for i, t, a in records
    ]
    path.write_text("".join(lines))
    return path


def exported(tmp_path: Path, db: Path, collection: str) -> list[dict[str, object]]:
    out = ok(run(["export", "--db", str(db), "--collection", collection], tmp_path))
    return [json.loads(line) for line in out.splitlines()]


def store_with(tmp_path: Path, name: str = "s.db", collection: str = "c") -> Path:
    db = tmp_path / name
    corpus = beir(
        tmp_path / f"{name}.jsonl",
        ("q1", "Quasar spectra", "Quasar spectra show broad emission lines."),
        ("q2", "Pulsar timing", "Pulsar timing arrays detect gravitational waves."),
    )
    ok(run(["ingest", str(corpus), "--db", str(db), "--collection", collection], tmp_path))
    return db


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- 1. export ------------------------------------------------------------------------------------
def test_export_onto_its_own_store_is_refused_and_the_store_survives(tmp_path: Path) -> None:
    db = store_with(tmp_path)
    before = db.read_bytes()
    line = user_error(
        run(["export", "--db", str(db), "--collection", "c", "--out", str(db)], tmp_path)
    )
    assert "store itself" in line
    assert db.read_bytes() == before
    # the same file by another name (a relative path) is refused too
    line = user_error(
        run(["export", "--db", str(db), "--collection", "c", "--out", "./s.db"], tmp_path)
    )
    assert db.read_bytes() == before
    hits = json.loads(
        ok(run(["search", "--json", "quasar", "--db", str(db), "--collection", "c"], tmp_path))
    )
    assert hits["results"][0]["id"] == "q1"


def test_export_never_overwrites_an_sqlite_file(tmp_path: Path) -> None:
    db = store_with(tmp_path)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    before = other.read_bytes()
    assert before.startswith(SQLITE_HEADER)
    line = user_error(
        run(["export", "--db", str(db), "--collection", "c", "--out", str(other)], tmp_path)
    )
    assert "SQLite database" in line
    assert other.read_bytes() == before


def test_export_of_an_unknown_collection_is_an_error_and_keeps_the_file(tmp_path: Path) -> None:
    db = store_with(tmp_path)
    existing = tmp_path / "existing.jsonl"
    existing.write_text("precious\n")
    line = user_error(
        run(["export", "--db", str(db), "--collection", "typo", "--out", str(existing)], tmp_path)
    )
    assert "typo" in line and "'c'" in line
    assert existing.read_text() == "precious\n"
    user_error(run(["export", "--db", str(db), "--collection", "typo"], tmp_path))


@pytest.mark.parametrize("out", ["/nonexistent/x.jsonl", "folder", "s.db.jsonl/x.jsonl"])
def test_export_to_an_impossible_path_is_one_line(tmp_path: Path, out: str) -> None:
    db = store_with(tmp_path)
    (tmp_path / "folder").mkdir()
    user_error(run(["export", "--db", str(db), "--collection", "c", "--out", out], tmp_path))


def test_export_replaces_a_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    db = store_with(tmp_path)
    out = tmp_path / "out" / "papers.jsonl"
    out.parent.mkdir()
    out.write_text("old\n")
    out.chmod(0o640)
    proc = run(["export", "--db", str(db), "--collection", "c", "--out", str(out)], tmp_path)
    ok(proc)
    assert "exported 2 papers" in proc.stderr
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["q1", "q2"]
    assert os.listdir(out.parent) == ["papers.jsonl"]
    assert out.stat().st_mode & 0o777 == 0o640


# -- 2. the same source id in two collections -----------------------------------------------------
def test_same_id_in_two_collections_never_changes_the_others_paper(tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    a = beir(tmp_path / "a.jsonl", ("1", "A", "Alpha quasars are bright."))
    b = beir(tmp_path / "b.jsonl", ("1", "B", "Beta pulsars spin fast."))
    ok(run(["ingest", str(a), "--db", str(db), "--collection", "A"], tmp_path))
    ok(run(["ingest", str(b), "--db", str(db), "--collection", "B"], tmp_path))
    assert [(p["id"], p["title"]) for p in exported(tmp_path, db, "A")] == [("1", "A")]
    assert [(p["id"], p["title"]) for p in exported(tmp_path, db, "B")] == [("B:1", "B")]
    search = ["search", "--json", "--db", str(db), "--collection", "A", "alpha quasars"]
    assert json.loads(ok(run(search, tmp_path)))["results"][0]["id"] == "1"
    # idempotent: re-ingesting either file changes nothing
    assert "1 unchanged" in ok(
        run(["ingest", str(b), "--db", str(db), "--collection", "B"], tmp_path)
    )
    assert "1 unchanged" in ok(
        run(["ingest", str(a), "--db", str(db), "--collection", "A"], tmp_path)
    )
    # a shared record (same text) stays one paper; B's later edit moves B's copy, not A's
    ok(run(["ingest", str(a), "--db", str(db), "--collection", "C"], tmp_path))
    edited = beir(tmp_path / "a2.jsonl", ("1", "A", "Alpha quasars, revised by C."))
    assert "1 updated" in ok(
        run(["ingest", str(edited), "--db", str(db), "--collection", "C"], tmp_path)
    )
    assert [p["abstract"] for p in exported(tmp_path, db, "A")] == ["Alpha quasars are bright."]
    assert [(p["id"], p["abstract"]) for p in exported(tmp_path, db, "C")] == [
        ("C:1", "Alpha quasars, revised by C.")
    ]


def test_arxiv_ids_stay_one_paper_everywhere(tmp_path: Path) -> None:
    db = tmp_path / "arxiv.db"
    first = native(
        tmp_path / "v1.jsonl", ("2405.21046", "XPO", "Exploratory preference optimization.")
    )
    second = native(tmp_path / "v2.jsonl", ("2405.21046", "XPO", "XPO, the revised abstract."))
    ok(run(["ingest", str(first), "--db", str(db), "--collection", "A"], tmp_path))
    ok(run(["ingest", str(second), "--db", str(db), "--collection", "B"], tmp_path))
    for collection in ("A", "B"):
        papers = exported(tmp_path, db, collection)
        assert [(p["id"], p["abstract"]) for p in papers] == [
            ("2405.21046", "XPO, the revised abstract.")
        ]


# -- 3. a database that is not a paperbot store ---------------------------------------------------
@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize(
    "command",
    [
        ["search", "x"],
        ["ask", "what is x?"],
        ["stats"],
        ["export"],
        ["ingest", "IN"],
    ],
)
def test_a_foreign_sqlite_database_is_refused_byte_identical(
    tmp_path: Path, journal: str, command: list[str]
) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir()
    foreign = folder / "app.db"
    conn = sqlite3.connect(foreign)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    corpus = beir(tmp_path / "in.jsonl", ("1", "T", "Some text."))
    before = snapshot(folder)
    args = [str(corpus) if word == "IN" else word for word in command]
    line = user_error(run([*args, "--db", str(foreign)], tmp_path))
    assert "not a paperbot store" in line
    assert snapshot(folder) == before  # same bytes, same mtime, no -wal/-shm/.index beside it


def test_a_read_command_never_makes_a_store_of_an_existing_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for command in (["search", "x"], ["stats"], ["export"]):
        assert "empty" in user_error(run([*command, "--db", str(empty)], tmp_path))
    assert empty.stat().st_size == 0
    # ingesting into it is how a user makes it a store (mktemp, then ingest)
    corpus = beir(tmp_path / "in.jsonl", ("1", "T", "Some text."))
    ok(run(["ingest", str(corpus), "--db", str(empty)], tmp_path))


def test_an_older_store_without_the_application_id_opens_and_is_stamped_on_write(
    tmp_path: Path,
) -> None:
    db = store_with(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA application_id = 0")  # as every store before the pragma
    conn.close()

    def app_id() -> int:
        with sqlite3.connect(db) as check:
            value = int(check.execute("PRAGMA application_id").fetchone()[0])
        check.close()
        return value

    assert app_id() == 0
    search = ["search", "--json", "pulsar", "--db", str(db), "--collection", "c"]
    assert json.loads(ok(run(search, tmp_path)))["results"][0]["id"] == "q2"
    assert app_id() == 0  # a read does not write
    corpus = beir(tmp_path / "more.jsonl", ("q3", "Magnetars", "Magnetars flare."))
    ok(run(["ingest", str(corpus), "--db", str(db), "--collection", "c"], tmp_path))
    assert app_id() == APPLICATION_ID


# -- 10. read-only stores and index directories ---------------------------------------------------
@functools.cache
def _bind_mounts_work() -> str | None:
    """None when this root process can make read-only bind mounts, else why not."""
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind -o ro /tmp /tmp && ! touch /tmp/.paperbot-ro"],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"unshare/mount failed: {probe.stderr.strip()}"


@contextmanager
def read_only(*paths: Path) -> Iterator[list[str]]:
    """Make ``paths`` read-only while the command runs; yields the command prefix to use."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(p.stat().st_mode & ~0o222)
        try:
            yield []
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    why = _bind_mounts_work()
    if why:
        reason = f"running as root, where chmod does not stop writes, and {why}"
        if REQUIRE_SHARED:  # set by .ci/run, where no check may pass by skipping
            pytest.fail(reason)
        pytest.skip(reason)
    mounts = " && ".join(
        f"mount --bind -o ro {shlex.quote(str(p))} {shlex.quote(str(p))}" for p in paths
    )
    yield ["unshare", "-m", "sh", "-c", f'{mounts} && exec "$@"', "sh"]


def run_in(prefix: list[str], args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``paperbot ARGS`` like :func:`tests.cli.test_cli.run`, behind ``prefix``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env["PAPERBOT_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [*prefix, sys.executable, "-m", "cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("what", ["directory", "file"])
def test_a_read_only_store_serves_every_read_command(tmp_path: Path, what: str) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = store_with(folder)
    shutil.rmtree(db.with_name(db.name + ".index"))  # nothing saved: the index must be built
    for extra in folder.glob("*.jsonl"):
        extra.unlink()
    before = snapshot(folder)
    out = tmp_path / "export.jsonl"
    with read_only(folder if what == "directory" else db) as prefix:
        base = ["--db", str(db), "--collection", "c"]
        search = run_in(prefix, ["search", "--json", "quasar", *base], tmp_path)
        assert json.loads(ok(search))["results"][0]["id"] == "q1"
        if what == "directory":
            assert "keeping it in memory" in search.stderr
        assert json.loads(ok(run_in(prefix, ["ask", "--json", "quasar spectra?", *base], tmp_path)))
        assert "c: 2 papers" in ok(run_in(prefix, ["stats", *base], tmp_path))
        ok(run_in(prefix, ["export", *base, "--out", str(out)], tmp_path))
        assert len(out.read_text().splitlines()) == 2
        corpus = beir(tmp_path / "more.jsonl", ("q3", "Magnetars", "Magnetars flare."))
        line = user_error(run_in(prefix, ["ingest", str(corpus), *base], tmp_path))
        assert "read-only" in line
    after = snapshot(folder)
    assert after[db.name] == before[db.name]  # the store's bytes and mtime
    if what == "directory":
        assert after == before


def test_a_read_only_index_directory_keeps_the_index_in_memory(tmp_path: Path) -> None:
    db = store_with(tmp_path)
    index_dir = db.with_name(db.name + ".index")
    shutil.rmtree(index_dir)
    index_dir.mkdir()
    base = ["--db", str(db), "--collection", "c"]
    with read_only(index_dir) as prefix:
        search = run_in(prefix, ["search", "--json", "pulsar", *base], tmp_path)
        assert json.loads(ok(search))["results"][0]["id"] == "q2"
        assert "keeping it in memory only" in search.stderr
        assert len(search.stderr.strip().splitlines()) == 1
        corpus = beir(tmp_path / "more.jsonl", ("q3", "Magnetars", "Magnetars flare."))
        assert "1 added" in ok(run_in(prefix, ["ingest", str(corpus), *base], tmp_path))
    assert list(index_dir.iterdir()) == []


def test_a_read_only_data_dir_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with read_only(data) as prefix:
        line = user_error(run_in(prefix, ["search", "quasar"], tmp_path))
    assert "not writable" in line
    assert list(data.iterdir()) == []


# -- 10. paths, settings and index files that cannot work -----------------------------------------
def test_a_data_dir_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    settings = {"PAPERBOT_DATA_DIR": str(tmp_path / "plain" / "data")}
    assert "Not a directory" in user_error(run(["search", "quasar"], tmp_path, settings=settings))


def test_a_db_path_through_a_file_is_one_line(tmp_path: Path) -> None:
    corpus = beir(tmp_path / "c.jsonl", ("1", "T", "Some text."))
    user_error(run(["ingest", str(corpus), "--db", "c.jsonl/x.db"], tmp_path))
    user_error(run(["search", "x", "--db", "c.jsonl/x.db"], tmp_path))
    assert corpus.is_file()


def test_a_non_utf8_env_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"PAPERBOT_TOP_K=3\n\xff\xfe junk\n")
    line = user_error(run(["search", "quasar"], tmp_path))
    assert ".env" in line and "UTF-8" in line


def _damage(db: Path, array: str, how: str) -> None:
    found = read_manifest(index_root(db, "c"))
    assert found is not None
    path = found[0] / f"{array}.npy"
    values = np.load(path).copy()
    if how == "huge":
        values[:] = np.iinfo(values.dtype).max
    elif how == "short":
        values = values[: len(values) // 2]
    np.save(path, values)


@pytest.mark.parametrize(
    ("array", "how"),
    [("docs", "huge"), ("docs", "short"), ("indptr", "huge"), ("doc_pks", "huge"), ("tf", "short")],
)
def test_a_damaged_index_file_is_rebuilt(tmp_path: Path, array: str, how: str) -> None:
    db = store_with(tmp_path)
    base = ["--db", str(db), "--collection", "c"]
    clean = ok(run(["search", "--json", "pulsar timing", *base], tmp_path))
    _damage(db, array, how)
    proc = run(["search", "--json", "pulsar timing", *base], tmp_path)
    assert ok(proc) == clean
    assert "damaged" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    again = run(["ask", "--json", "how do pulsar timing arrays work?", *base], tmp_path)
    assert json.loads(ok(again))["papers"][0]["id"] == "q2"
    assert again.stderr == ""  # the rebuilt index was saved over the damaged one
