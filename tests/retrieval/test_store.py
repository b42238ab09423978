"""The SQLite paper store: upserts, collections, generations and all-or-nothing ingests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.papers import Paper
from retrieval.store import (
    APPLICATION_ID,
    SQLITE_HEADER,
    PaperStore,
    StoreError,
    store_is_writable,
)
from tests.retrieval.store_backends import AnyStore, StoreFactory, query, sqlite_only


def paper(i: int, *, abstract: str | None = None, version: int | None = None) -> Paper:
    meta = {"version": version} if version is not None else {}
    return Paper(
        id=f"p{i}",
        title=f"Paper {i}",
        abstract=abstract or f"Abstract number {i}.",
        source="test",
        metadata=meta,
    )


@pytest.fixture
def store(any_store_factory: StoreFactory) -> AnyStore:
    """A new store on each backend (SQLite-only tests are marked ``sqlite_only``)."""
    return any_store_factory()


def rows(path: Path | AnyStore, sql: str) -> list[tuple]:
    if not isinstance(path, Path):
        return query(path, sql)
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_upsert_counts_added_updated_unchanged(store: PaperStore) -> None:
    assert store.upsert([paper(1), paper(2)]).added == 2
    result = store.upsert([paper(1), paper(2, abstract="Changed."), paper(3)])
    assert (result.added, result.updated, result.unchanged) == (1, 1, 1)
    assert store.get("p2").abstract == "Changed."
    assert store.count() == 3


@sqlite_only
def test_store_is_a_wal_sqlite_file(store: PaperStore) -> None:
    store.upsert([paper(1)])
    assert rows(store.path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(store.path, "SELECT id FROM papers") == [("p1",)]


def test_round_trip_keeps_every_field(store: PaperStore) -> None:
    from datetime import date

    original = Paper(
        id="2405.21046",
        title="XPO",
        abstract="We propose XPO.",
        authors=("A. Author", "B. Author"),
        published=date(2024, 5, 31),
        url="https://arxiv.org/abs/2405.21046",
        source="arxiv",
        metadata={"categories": ["cs.LG"], "upvotes": 3},
    )
    store.upsert([original])
    assert store.get("2405.21046") == original
    assert store.get_many(["missing", "2405.21046"]) == [original]


def test_failed_ingest_leaves_store_exactly_as_it_was(store: PaperStore) -> None:
    store.upsert([paper(1)])
    before = rows(store, "SELECT * FROM papers ORDER BY pk")
    generation = store.generation("default")

    def failing() -> Iterator[Paper]:
        yield paper(1, abstract="Updated text.")
        for i in range(2, 1200):  # spans several internal batches before failing
            yield paper(i)
        raise RuntimeError("network dropped")

    with pytest.raises(RuntimeError):
        store.upsert(failing())
    assert rows(store, "SELECT * FROM papers ORDER BY pk") == before
    assert store.count() == 1
    assert store.generation("default") == generation


def test_collections_are_memberships(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "default")
    store.upsert([paper(2), paper(3)], "guild-1")
    assert store.count("default") == 2
    assert store.count("guild-1") == 2
    assert rows(store, "SELECT COUNT(*) FROM papers") == [(3,)]
    assert {c.name: c.paper_count for c in store.collections()} == {"default": 2, "guild-1": 2}


def test_generation_moves_only_on_change(store: PaperStore) -> None:
    xpo = paper(1).model_copy(update={"id": "2405.21046"})
    store.upsert([xpo], "default")
    store.upsert([xpo], "other")
    g_default, g_other = store.generation("default"), store.generation("other")
    store.upsert([xpo], "default")
    assert store.generation("default") == g_default
    store.upsert([xpo.model_copy(update={"abstract": "New words."})], "default")
    assert store.generation("default") == g_default + 1
    # an arXiv paper is the same paper everywhere: the other collection's index is stale too
    assert store.generation("other") == g_other + 1
    assert store.get("2405.21046").abstract == "New words."


def test_other_ids_never_change_another_collections_paper(store: PaperStore) -> None:
    store.upsert([paper(1)], "a")
    store.upsert([paper(1)], "b")  # the same record: one shared paper
    assert store.collections_of("p1") == {"a", "b"}
    g_a = store.generation("a")
    result = store.upsert([paper(1, abstract="B's own words.")], "b")
    assert (result.added, result.updated, result.unchanged) == (0, 1, 0)
    assert store.get("p1").abstract == "Abstract number 1."  # a's paper is untouched
    assert store.generation("a") == g_a
    assert [p.id for p in store.iter_papers("b")] == ["b:p1"]
    assert store.get("b:p1").abstract == "B's own words."
    # idempotent: the same record again changes nothing, and a's own update stays in a
    assert store.upsert([paper(1, abstract="B's own words.")], "b").unchanged == 1
    assert store.upsert([paper(1, abstract="A's update.")], "a").updated == 1
    assert store.get("b:p1").abstract == "B's own words."
    assert store.get("p1").abstract == "A's update."
    # a different paper under a new id in another collection: stored under that collection's id
    store.upsert([paper(2)], "a")
    assert store.upsert([paper(2, abstract="Another text.")], "c").added == 1
    assert store.get("p2").abstract == "Abstract number 2."
    assert [p.abstract for p in store.iter_papers("c")] == ["Another text."]


def test_newest_version_wins(store: PaperStore) -> None:
    store.upsert([paper(1, abstract="Version two.", version=2)])
    result = store.upsert([paper(1, abstract="Version one.", version=1)])
    assert result.unchanged == 1
    assert store.get("p1").abstract == "Version two."
    store.upsert([paper(1, abstract="Version three.", version=3)])
    assert store.get("p1").abstract == "Version three."


def test_duplicates_within_one_ingest_keep_the_last(store: PaperStore) -> None:
    result = store.upsert([paper(1, abstract="First."), paper(1, abstract="Second.")])
    assert result.added == 1
    assert store.get("p1").abstract == "Second."


def test_iterators_stream_in_insertion_order(store: PaperStore) -> None:
    store.upsert([paper(i) for i in range(5)])
    assert [p.id for p in store.iter_papers()] == [f"p{i}" for i in range(5)]
    assert [t[1] for t in store.iter_texts()] == [f"Paper {i}" for i in range(5)]
    pks = [pk for pk, _, _ in store.iter_titles()]
    assert [p.id for p in store.get_by_pks(list(reversed(pks)))] == [
        f"p{i}" for i in range(4, -1, -1)
    ]


def test_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("this is not sqlite " * 100)
    with pytest.raises(StoreError):
        PaperStore(bogus)
    with pytest.raises(StoreError):
        PaperStore(tmp_path / "missing.db", create=False)


def test_store_shared_between_threads(store: PaperStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store.upsert([paper(i) for i in range(20)])
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: store.count(), range(16)))
    assert counts == [20] * 16


def test_collections_of(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "default")
    store.upsert([paper(2)], "guild-9")
    assert store.collections_of("p1") == {"default"}
    assert store.collections_of("p2") == {"default", "guild-9"}
    assert store.collections_of("nope") == set()


@sqlite_only
def test_a_new_store_carries_paperbots_application_id(store: PaperStore) -> None:
    assert rows(store.path, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert store.path.read_bytes().startswith(SQLITE_HEADER)


def test_a_foreign_database_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    before = foreign.read_bytes(), foreign.stat().st_mtime_ns
    with pytest.raises(StoreError, match="not a paperbot store"):
        PaperStore(foreign)
    assert (foreign.read_bytes(), foreign.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreError, match="empty"):
        PaperStore(empty, create=False)
    assert empty.stat().st_size == 0


@sqlite_only
def test_an_older_store_is_stamped_on_its_next_write(store: PaperStore) -> None:
    store.upsert([paper(1)])
    store.close()
    with sqlite3.connect(store.path) as conn:
        conn.execute("PRAGMA application_id = 0")
    conn.close()
    older = PaperStore(store.path, create=False)
    assert older.get("p1") is not None
    assert rows(store.path, "PRAGMA application_id") == [(0,)]
    older.upsert([paper(2)])
    assert rows(store.path, "PRAGMA application_id") == [(APPLICATION_ID,)]


@sqlite_only
def test_a_read_only_store_reads_and_refuses_writes_untouched(store: PaperStore) -> None:
    """The path the CLI takes when the file or its directory cannot be written (tested here
    directly because root writes through chmod; the CLI tests make it read-only for real)."""
    store.upsert([paper(1), paper(2)], "c")
    store.close()
    before = store.path.read_bytes(), store.path.stat().st_mtime_ns
    ro = PaperStore(store.path, create=False, readonly=True)
    assert [p.id for p in ro.iter_papers("c")] == ["p1", "p2"]
    assert ro.count("c") == 2 and ro.get("p2") is not None
    with pytest.raises(StoreError, match="read-only"):
        ro.upsert([paper(3)], "c")
    ro.close()
    assert (store.path.read_bytes(), store.path.stat().st_mtime_ns) == before


def test_store_is_writable_decides_read_only(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.touch()
    assert store_is_writable(path)
    # A store that cannot be written (read-only file, directory or volume, as root too) is
    # checked end to end in tests/cli/test_store_safety.py, under a read-only bind mount when
    # the tests run as root (chmod does not stop root's writes).
    assert not store_is_writable(tmp_path / "no-such-dir" / "s.db")
