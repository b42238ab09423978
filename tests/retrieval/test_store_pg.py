"""What only the PostgreSQL store has to get right: writers in several processes, schema
migrations, a foreign or read-only database, passwords kept out of messages, and the whole
library (ingest, search, ask, delta indexes, a merge in a child process) on top of it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from config.settings import Settings
from retrieval.index import serving
from retrieval.papers import Paper
from retrieval.search import Library
from retrieval.store import StoreError
from retrieval.store_pg import SCHEMA_VERSION, PgPaperStore, local_path, mask_url
from retrieval.stores import describe, open_store, reopen_spec, reopen_store
from tests.paths import REPO


def paper(key: int | str, *, abstract: str | None = None, **extra: object) -> Paper:
    return Paper(
        id=key if isinstance(key, str) else f"p{key}",
        title=f"Paper {key}",
        abstract=abstract or f"Abstract number {key}.",
        source="test",
        **extra,  # type: ignore[arg-type]
    )


def rows(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []


_WRITER = """
import sys
from retrieval.papers import Paper
from retrieval.store_pg import PgPaperStore
url, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = PgPaperStore(url)
for r in range(rounds):
    # each round: new papers of its own, and one shared arXiv paper both writers update
    papers = [
        Paper(id=f"{name}-{r}-{i}", title=f"T {name} {r} {i}", abstract="Text.", source="t")
        for i in range(150)
    ]
    papers.append(
        Paper(id="2401.00001", title="Shared", abstract=f"By {name} in round {r}.", source="t")
    )
    store.upsert(papers, "shared")
store.close()
"""


def test_two_processes_ingesting_at_once_serialise(pg_url: str, tmp_path: Path) -> None:
    """Every ingest is one generation, logged whole; nothing is lost or interleaved."""
    PgPaperStore(pg_url, path=tmp_path / "pg").close()  # schema first: the writers race on data
    rounds = 8
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, pg_url, name, str(rounds)], cwd=REPO)
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    store = PgPaperStore(pg_url, path=tmp_path / "pg")
    assert store.count("shared") == 2 * rounds * 150 + 1
    # the first round of the first writer adds the shared paper; every other one updates it
    assert store.generation("shared") == 2 * rounds
    logged = rows(
        pg_url,
        "SELECT generation, count(*) FROM collection_changes WHERE collection = 'shared'"
        " GROUP BY generation ORDER BY generation",
    )
    assert [g for g, _ in logged] == list(range(1, 2 * rounds + 1))
    assert all(n == 151 for _, n in logged)  # 150 new + the shared paper, in every generation
    everything = sorted(pk for pk, _, _ in store.iter_texts("shared"))
    assert store.changes_since("shared", 0) == everything
    store.close()


def test_migrations_are_applied_once_even_when_processes_start_together(
    pg_url: str, tmp_path: Path
) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        try:
            barrier.wait()
            PgPaperStore(pg_url, path=tmp_path / "pg").close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert rows(pg_url, "SELECT version FROM schema_migrations") == [(SCHEMA_VERSION,)]
    store = PgPaperStore(pg_url, path=tmp_path / "pg")
    assert store.migrate() == SCHEMA_VERSION  # idempotent
    assert store.schema_version() == SCHEMA_VERSION
    assert rows(pg_url, "SELECT count(*) FROM schema_migrations") == [(1,)]
    store.close()


def test_a_newer_schema_is_refused(pg_url: str, tmp_path: Path) -> None:
    PgPaperStore(pg_url, path=tmp_path / "pg").close()
    rows(pg_url, "INSERT INTO schema_migrations VALUES (%s, now())", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer paperbot"):
        PgPaperStore(pg_url, path=tmp_path / "pg")


def test_a_foreign_or_empty_database_is_refused_untouched(pg_url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no paper store"):
        PgPaperStore(pg_url, path=tmp_path / "pg", create=False)
    rows(pg_url, "CREATE TABLE papers (title TEXT)")
    with pytest.raises(StoreError, match="not a paperbot store"):
        PgPaperStore(pg_url, path=tmp_path / "pg")
    tables = rows(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert tables == [("papers",)]


def test_a_read_only_store_reads_and_refuses_writes(pg_url: str, tmp_path: Path) -> None:
    store = PgPaperStore(pg_url, path=tmp_path / "pg")
    store.upsert([paper(1), paper(2)], "c")
    ro = PgPaperStore(pg_url, path=tmp_path / "pg", create=False, readonly=True)
    assert [p.id for p in ro.iter_papers("c")] == ["p1", "p2"]
    assert ro.count("c") == 2 and ro.changes_since("c", 0) is not None
    with pytest.raises(StoreError, match="read-only"):
        ro.upsert([paper(3)], "c")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        ro.reader().execute("CREATE TABLE x (a INTEGER)")
    assert store.count("c") == 2
    ro.close()
    store.close()


def test_metadata_and_dates_read_back_as_stored(pg_url: str, tmp_path: Path) -> None:
    from datetime import date

    store = PgPaperStore(pg_url, path=tmp_path / "pg")
    original = paper(
        "2405.21046",
        authors=("Ä. Author", "B. Author"),
        published=date(2024, 5, 31),
        url="https://arxiv.org/abs/2405.21046",
        metadata={"categories": ["cs.LG"], "upvotes": 3, "version": 2, "nested": {"x": 1.5}},
    )
    store.upsert([original])
    assert store.get("2405.21046") == original
    assert store.upsert([original]).unchanged == 1  # the hash is of the paper, not the JSONB
    (kind,) = rows(pg_url, "SELECT jsonb_typeof(metadata) FROM papers")[0]
    assert kind == "object"
    store.close()


def test_a_nul_character_does_not_fail_an_ingest(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL text and JSONB cannot hold NUL (SQLite can): stored as U+FFFD instead."""
    store = PgPaperStore(pg_url, path=tmp_path / "pg")
    odd = paper(1, abstract="Scraped\x00 text.", metadata={"note": "a\x00b", "raw": "\\u0000"})
    assert store.upsert([odd, paper(2)]).added == 2
    got = store.get("p1")
    assert got is not None and got.abstract == "Scraped\ufffd text."
    assert got.metadata == {"note": "a\ufffdb", "raw": "\\u0000"}
    assert store.upsert([odd]).unchanged == 1  # hashed as ingested: no change next time
    store.close()


def test_streaming_iterators_read_past_one_fetch_and_leave_the_thread_free(
    pg_url: str, tmp_path: Path
) -> None:
    store = PgPaperStore(pg_url, path=tmp_path / "pg")
    store.upsert([paper(i) for i in range(4500)], "c")
    texts = store.iter_texts("c")
    first = next(texts)
    store.upsert([paper("late")], "c")  # the thread's connection is free meanwhile
    rest = list(texts)
    assert len(rest) == 4499 and first[1] == "Paper 0"  # one snapshot: "late" is not in it
    assert len(list(store.iter_titles("c"))) == 4501
    assert sum(1 for _ in store.iter_papers("c")) == 4501
    store.close()


def test_the_password_never_shows(pg_url: str, tmp_path: Path) -> None:
    assert mask_url("postgresql://bot:s3cret@db.example:5433/papers") == (
        "postgresql://bot:***@db.example:5433/papers"
    )
    assert "s3cret" not in mask_url("postgresql://db/papers?user=bot&password=s3cret")
    bad = pg_url.replace("postgresql://postgres@", "postgresql://nobody:s3cret@")
    with pytest.raises(StoreError) as caught:
        PgPaperStore(bad, path=tmp_path / "pg")
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)
    settings = Settings(data_dir=tmp_path, database_url=bad)
    assert "s3cret" not in describe(settings) and "s3cret" not in repr(settings)


def test_the_local_path_names_the_database_under_the_data_dir(tmp_path: Path) -> None:
    url = "postgresql://bot:pw@db.example:5433/papers"
    assert local_path(url, tmp_path) == tmp_path / "pg-db.example-5433-papers"
    socket = "postgresql://postgres@/papers?host=/run/pg&port=5432"
    assert local_path(socket, tmp_path) == tmp_path / "pg-run_pg-5432-papers"


def test_open_store_chooses_by_the_setting_and_reopens_in_another_process(
    pg_url: str, tmp_path: Path
) -> None:
    sqlite = open_store(Settings(data_dir=tmp_path))
    assert sqlite.path == tmp_path / "paperbot.db"
    store = open_store(Settings(data_dir=tmp_path, database_url=pg_url))
    assert isinstance(store, PgPaperStore) and store.path.parent == tmp_path
    store.upsert([paper(1)], "c")
    again = reopen_store(reopen_spec(store))
    assert isinstance(again, PgPaperStore) and again.count("c") == 1
    with pytest.raises(StoreError, match="postgresql://"):
        open_store(Settings(data_dir=tmp_path, database_url="mysql://u:pw@h/db"))


TOPICS = (
    ("graph neural networks", "message passing on molecular graphs"),
    ("protein folding", "predicting protein structure from sequence"),
    ("speech recognition", "acoustic models for low resource languages"),
    ("reinforcement learning", "policy gradients for robot control"),
    ("image segmentation", "pixel level labels for medical scans"),
)


def corpus(start: int, stop: int) -> list[Paper]:
    out = []
    for i in range(start, stop):
        topic, detail = TOPICS[i % len(TOPICS)]
        out.append(
            paper(
                f"2402.{i:05d}",
                abstract=f"We study {topic} (paper {i}). Our method addresses {detail}. "
                f"Experiments on benchmark {i % 17} show consistent gains.",
            )
        )
    return out


def test_the_library_over_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest, search, ask, a delta index after a second ingest, and a merge in a child
    process that reopens the same database."""
    settings = Settings(data_dir=tmp_path, database_url=pg_url, semantic=False, sparse_threshold=0)
    library = Library.open(settings)  # an empty database is seeded with the bundled corpus
    seeded = library.count()
    assert seeded > 0 and library.store_size() > 0
    library.indexes.background = False
    library.add_papers(corpus(0, 400))
    assert library.count() == seeded + 400
    hits = library.search("protein structure prediction from sequence", k=3)
    assert hits and all("protein" in (library.paper(h.id) or paper(0)).abstract for h in hits)
    answer = library.ask("How do they predict protein structure?")
    assert answer.answered
    before = library.index()
    zr = paper(
        "2403.00001",
        abstract="We measure cryogenic strain hardening of Zr3Ti lattices.",
    )
    library.add_papers([zr])
    live = library.index()
    assert live.delta is not None and live.meta.generation == library.store.generation("default")
    assert live.paper_count == before.paper_count + 1
    assert library.search("Zr3Ti cryogenic strain", k=1)[0].id == "2403.00001"
    # the index files live under the data dir, named after the database
    assert any(tmp_path.glob("pg-*.index"))

    monkeypatch.setattr(serving, "MERGE_IN_CHILD_MIN", 0)
    library.indexes.merge("default")
    deadline = time.monotonic() + 120
    while library.index().delta is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    merged = library.index()
    assert merged.delta is None and merged.n_docs == seeded + 401
    assert library.search("Zr3Ti cryogenic strain", k=1)[0].id == "2403.00001"
    library.store.close()
