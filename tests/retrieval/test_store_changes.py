"""The store's change log: what changed in a collection since a generation, for delta indexes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import store as store_module
from retrieval.papers import Paper
from retrieval.store import SCHEMA_VERSION, PaperStore
from tests.retrieval.store_backends import AnyStore, StoreFactory, sqlite_only
from tests.retrieval.store_backends import query as query_store


def paper(key: int | str, *, abstract: str | None = None, version: int | None = None) -> Paper:
    return Paper(
        id=key if isinstance(key, str) else f"p{key}",
        title=f"Paper {key}",
        abstract=abstract or f"Abstract number {key}.",
        source="test",
        metadata={"version": version} if version is not None else {},
    )


def arxiv(i: int, *, abstract: str | None = None) -> Paper:
    return paper(f"2401.{i:05d}", abstract=abstract)


@pytest.fixture
def store(any_store_factory: StoreFactory) -> AnyStore:
    """A new store on each backend (closed by the factory)."""
    return any_store_factory()


def query(path: Path | AnyStore, sql: str, params: tuple = ()) -> list[tuple]:
    if not isinstance(path, Path):
        return query_store(path, sql, params)
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def log(path: Path | AnyStore, collection: str | None = None) -> list[tuple]:
    """The change log as ``(collection, generation, pk)`` rows, or ``(generation, pk)`` of one."""
    if collection is None:
        return query(path, "SELECT * FROM collection_changes ORDER BY 1, 2, 3")
    return query(
        path,
        "SELECT generation, pk FROM collection_changes WHERE collection = ? ORDER BY 1, 2",
        (collection,),
    )


def pk(store: PaperStore, paper_id: str) -> int:
    return int(query(store, "SELECT pk FROM papers WHERE id = ?", (paper_id,))[0][0])


def test_additions_are_logged_under_the_new_generation(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "c")
    p1, p2 = pk(store, "p1"), pk(store, "p2")
    assert store.generation("c") == 1
    assert log(store) == [("c", 1, p1), ("c", 1, p2)]
    assert store.changes_since("c", 0) == [p1, p2]
    assert store.changes_since("c", 1) == []
    store.upsert([paper(3)], "c")
    assert store.changes_since("c", 1) == [pk(store, "p3")]
    # an existing paper joining another collection is an addition there, and only there
    store.upsert([paper(1)], "d")
    assert log(store, "d") == [(1, p1)]
    assert store.generation("c") == 2


def test_changed_text_is_logged_and_an_unchanged_reingest_logs_nothing(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2), paper(3)], "c")
    store.upsert([paper(1), paper(2, abstract="Changed."), paper(3)], "c")
    assert store.generation("c") == 2
    assert store.changes_since("c", 1) == [pk(store, "p2")]
    before = log(store)
    result = store.upsert([paper(1), paper(2, abstract="Changed."), paper(3)], "c")
    assert result.unchanged == 3
    assert store.generation("c") == 2
    assert log(store) == before
    # an older arXiv version is left alone: nothing changed, nothing logged
    store.upsert([paper(4, version=2)], "c")
    before = log(store)
    assert store.upsert([paper(4, abstract="Older.", version=1)], "c").unchanged == 1
    assert log(store) == before
    assert store.generation("c") == 3
    assert store.changes_since("c", 3) == []


def test_unchanged_reingest_does_not_bump_or_log(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "c")
    before = log(store)
    store.upsert([paper(2), paper(1)], "c")
    assert store.generation("c") == 1
    assert log(store) == before


def test_an_arxiv_paper_updated_through_another_collection_is_logged_in_both(
    store: PaperStore,
) -> None:
    store.upsert([arxiv(1), arxiv(2)], "a")
    store.upsert([arxiv(1)], "b")
    x1 = pk(store, "2401.00001")
    g_a, g_b = store.generation("a"), store.generation("b")
    store.upsert([arxiv(1, abstract="New words.")], "a")
    assert (store.generation("a"), store.generation("b")) == (g_a + 1, g_b + 1)
    assert store.changes_since("a", g_a) == [x1]
    assert store.changes_since("b", g_b) == [x1]
    assert log(store, "b") == [(g_b, x1), (g_b + 1, x1)]


def test_each_collection_is_bumped_once_per_ingest_however_many_batches(
    store: PaperStore,
) -> None:
    """More changed papers than one internal batch (500): still one generation, one log."""
    papers = [arxiv(i) for i in range(1200)]
    store.upsert(papers, "a")
    store.upsert(papers, "b")
    g_a, g_b = store.generation("a"), store.generation("b")
    store.upsert([arxiv(i, abstract=f"Revised {i}.") for i in range(1200)], "a")
    assert (store.generation("a"), store.generation("b")) == (g_a + 1, g_b + 1)
    everything = sorted(pk for pk, _, _ in store.iter_texts("b"))
    assert store.changes_since("a", g_a) == everything
    assert store.changes_since("b", g_b) == everything


def test_a_move_to_the_collections_own_id_logs_removal_and_addition(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "a")
    store.upsert([paper(1)], "b")  # the same record: one shared paper
    shared = pk(store, "p1")
    g_a, g_b = store.generation("a"), store.generation("b")
    a_log = log(store, "a")
    store.upsert([paper(1, abstract="B's own words.")], "b")  # b's copy moves to b:p1
    own = pk(store, "b:p1")
    assert store.generation("b") == g_b + 1
    assert log(store, "b")[-2:] == [(g_b + 1, shared), (g_b + 1, own)]
    assert store.changes_since("b", g_b) == sorted([shared, own])
    # the removed pk is not in b any more: the delta reads only the new one
    assert list(store.iter_texts_by_pks("b", store.changes_since("b", g_b) or [])) == [
        (own, "Paper 1", "B's own words.")
    ]
    assert store.generation("a") == g_a  # a's paper did not change
    assert log(store, "a") == a_log


def test_changes_since_spans_several_generations(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "c")  # 1
    store.upsert([paper(3)], "c")  # 2
    store.upsert([paper(1, abstract="Again.")], "c")  # 3
    store.upsert([paper(4), paper(3, abstract="Once more.")], "c")  # 4
    store.upsert([paper(9)], "other")
    p1, p2, p3, p4 = (pk(store, f"p{i}") for i in range(1, 5))
    assert store.generation("c") == 4
    assert store.changes_since("c", 0) == [p1, p2, p3, p4]
    assert store.changes_since("c", 1) == [p1, p3, p4]
    assert store.changes_since("c", 2) == [p1, p3, p4]
    assert store.changes_since("c", 3) == [p3, p4]
    assert store.changes_since("c", 4) == []
    assert store.changes_since("c", 5) is None  # a generation it never had
    assert store.changes_since("c", -1) is None
    assert store.changes_since("unknown", 0) == []  # an empty collection has changed nothing
    assert store.changes_since("unknown", 1) is None


def test_a_write_after_the_generation_was_read_is_left_out(
    store: PaperStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process may commit between reading the generation and the log: the answer stops
    at the generation read, so recording that one reports the write again next time."""
    store.upsert([paper(1)], "c")
    store.upsert([paper(2)], "c")
    monkeypatch.setattr(store, "generation", lambda collection: 1)  # read before the 2nd write
    assert store.changes_since("c", 0) == [pk(store, "p1")]


def test_more_than_the_limit_is_logged_as_too_many(
    store: PaperStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CHANGE_LOG_LIMIT", 3)
    store.upsert([paper(i) for i in range(4)], "c")  # 1: four additions, over the limit
    assert log(store, "c") == [(1, -1)]
    assert store.changes_since("c", 0) is None
    store.upsert([paper(i) for i in range(4, 7)], "c")  # 2: exactly the limit, listed
    store.upsert([paper(7)], "c")  # 3
    listed = [pk(store, f"p{i}") for i in range(4, 8)]
    assert store.changes_since("c", 1) == listed
    assert store.changes_since("c", 2) == listed[-1:]
    assert store.changes_since("c", 0) is None  # generation 1 still cannot be listed
    assert all(row[1] >= 0 for row in log(store, "c")[1:])


def test_only_the_last_generations_are_kept(
    store: PaperStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CHANGE_LOG_GENERATIONS", 3)
    for i in range(1, 6):
        store.upsert([paper(i)], "c")
        store.upsert([paper(i)], "other")
    assert [g for g, _ in log(store, "c")] == [3, 4, 5]
    assert [g for g, _ in log(store, "other")] == [3, 4, 5]
    assert store.changes_since("c", 2) == [pk(store, f"p{i}") for i in (3, 4, 5)]
    assert store.changes_since("c", 1) is None  # generation 2 was pruned
    assert store.changes_since("c", 0) is None


def test_a_failed_ingest_logs_nothing(store: PaperStore) -> None:
    store.upsert([paper(1)], "c")
    before = log(store)

    def failing() -> Iterator[Paper]:
        yield paper(1, abstract="Updated text.")
        yield from (paper(i) for i in range(2, 700))
        raise RuntimeError("network dropped")

    with pytest.raises(RuntimeError):
        store.upsert(failing(), "c")
    assert log(store) == before
    assert store.changes_since("c", 0) == [pk(store, "p1")]


def older(path: Path) -> None:
    """Make ``path`` a store as the previous schema wrote it: no change log, user_version 1."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TABLE collection_changes")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
        conn.commit()
    finally:
        conn.close()


@sqlite_only
def test_an_older_store_has_no_log_until_its_first_write(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "c")
    store.upsert([paper(2), paper(3)], "d")
    store.close()
    older(store.path)
    reopened = PaperStore(store.path, create=False)
    assert reopened.changes_since("c", 0) is None
    assert reopened.changes_since("c", 1) == []  # nothing changed since the current generation
    assert [pk for pk, _, _ in reopened.iter_texts_by_pks("c", [1, 2, 3])] == [1, 2]
    assert query(store, "PRAGMA user_version") == [(SCHEMA_VERSION - 1,)]  # reads: no write
    reopened.upsert([paper(4)], "c")
    assert query(store, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert reopened.changes_since("c", 1) == [pk(reopened, "p4")]
    assert reopened.changes_since("c", 0) is None  # generation 1 was written without a log
    # other collections are logged from the upgrade on too
    reopened.upsert([paper(5)], "d")
    assert reopened.changes_since("d", 1) == [pk(reopened, "p5")]
    reopened.close()


@sqlite_only
def test_a_read_only_store_answers_without_writing(store: PaperStore) -> None:
    store.upsert([paper(1), paper(2)], "c")
    store.upsert([paper(3)], "c")
    store.close()
    before = store.path.read_bytes(), store.path.stat().st_mtime_ns
    ro = PaperStore(store.path, create=False, readonly=True)
    assert ro.changes_since("c", 1) == [pk(store, "p3")]
    assert [t[0] for t in ro.iter_texts_by_pks("c", [3, 1])] == [1, 3]
    ro.close()
    assert (store.path.read_bytes(), store.path.stat().st_mtime_ns) == before
    older(store.path)
    before = store.path.read_bytes(), store.path.stat().st_mtime_ns
    ro = PaperStore(store.path, create=False, readonly=True)
    assert ro.changes_since("c", 1) is None  # an older read-only store: the table is missing
    assert ro.changes_since("c", 2) == []
    ro.close()
    assert (store.path.read_bytes(), store.path.stat().st_mtime_ns) == before
    tables = query(store, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert ("collection_changes",) not in tables


def test_iter_texts_by_pks_reads_only_members_in_pk_order(store: PaperStore) -> None:
    store.upsert([paper(i) for i in range(1200)], "c")
    store.upsert([paper(i) for i in range(0, 1200, 2)], "evens")
    evens = [pk for pk, _, _ in store.iter_texts("evens")]
    asked = [*reversed(range(1, 1300)), 7, 7, -1]  # unsorted, repeated, unknown, odd
    got = list(store.iter_texts_by_pks("evens", asked))
    assert [row[0] for row in got] == evens  # all 600 members (spanning batches), none else
    assert got == list(store.iter_texts("evens"))  # same columns as iter_texts
    assert list(store.iter_texts_by_pks("c", [])) == []
    assert list(store.iter_texts_by_pks("nowhere", [1, 2])) == []
