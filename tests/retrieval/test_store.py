"""The SQLite paper store: upserts, collections, generations and all-or-nothing ingests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.papers import Paper
from retrieval.store import PaperStore, StoreError


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
def store(tmp_path: Path) -> PaperStore:
    return PaperStore(tmp_path / "papers.db")


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_upsert_counts_added_updated_unchanged(store: PaperStore) -> None:
    assert store.upsert([paper(1), paper(2)]).added == 2
    result = store.upsert([paper(1), paper(2, abstract="Changed."), paper(3)])
    assert (result.added, result.updated, result.unchanged) == (1, 1, 1)
    assert store.get("p2").abstract == "Changed."
    assert store.count() == 3


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
    before = rows(store.path, "SELECT * FROM papers ORDER BY pk")
    generation = store.generation("default")

    def failing() -> Iterator[Paper]:
        yield paper(1, abstract="Updated text.")
        for i in range(2, 1200):  # spans several internal batches before failing
            yield paper(i)
        raise RuntimeError("network dropped")

    with pytest.raises(RuntimeError):
        store.upsert(failing())
    assert rows(store.path, "SELECT * FROM papers ORDER BY pk") == before
    assert store.count() == 1
    assert store.generation("default") == generation


def test_collections_are_memberships(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "default")
    store.upsert([paper(2), paper(3)], "guild-1")
    assert store.count("default") == 2
    assert store.count("guild-1") == 2
    assert rows(store.path, "SELECT COUNT(*) FROM papers") == [(3,)]
    assert {c.name: c.paper_count for c in store.collections()} == {"default": 2, "guild-1": 2}


def test_generation_moves_only_on_change(store: PaperStore) -> None:
    store.upsert([paper(1)], "default")
    store.upsert([paper(1)], "other")
    g_default, g_other = store.generation("default"), store.generation("other")
    store.upsert([paper(1)], "default")
    assert store.generation("default") == g_default
    store.upsert([paper(1, abstract="New words.")], "default")
    assert store.generation("default") == g_default + 1
    # the other collection holds the same paper, so its index is stale too
    assert store.generation("other") == g_other + 1


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
