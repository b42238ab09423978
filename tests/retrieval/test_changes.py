"""LISTEN/NOTIFY: a change committed by one connection is heard by another process's listener;
a rolled-back one is not."""

from __future__ import annotations

import queue
import time
from typing import Any

import pytest

from retrieval.changes import ChangeWatcher, notify


def test_a_committed_change_is_heard_and_a_rolled_back_one_is_not(pg_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    heard: queue.Queue[str] = queue.Queue()
    watcher = ChangeWatcher(pg_url, heard.put)
    assert watcher.start()
    try:
        with psycopg.connect(pg_url) as conn:
            with conn.transaction():
                notify(conn, ["guild-1", "default"])
            with pytest.raises(RuntimeError), conn.transaction():
                notify(conn, ["never"])
                raise RuntimeError("rolled back")
        assert {heard.get(timeout=5), heard.get(timeout=5)} == {"guild-1", "default"}
        with pytest.raises(queue.Empty):
            heard.get(timeout=0.5)
    finally:
        watcher.stop()


def test_a_failing_callback_does_not_stop_the_listening(pg_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    heard: queue.Queue[str] = queue.Queue()

    def on_change(name: str) -> None:
        if name == "bad":
            raise ValueError("boom")
        heard.put(name)

    watcher = ChangeWatcher(pg_url, on_change)
    assert watcher.start()
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            notify(conn, ["bad"])
            notify(conn, ["good"])
        assert heard.get(timeout=5) == "good"
    finally:
        watcher.stop()


def test_a_heard_change_refreshes_the_served_index_before_the_next_query(tmp_path: Any) -> None:
    from retrieval.papers import Paper
    from retrieval.search import Library
    from retrieval.store import PaperStore

    def paper(pid: str, title: str) -> Paper:
        return Paper(id=pid, title=title, abstract=f"{title}. We study it.", source="t")

    reader = Library(PaperStore(tmp_path / "s.db"), semantic=False)
    reader.add_papers([paper("2401.00001", "Graph neural networks for molecules")])
    assert [h.id for h in reader.search("molecules")] == ["2401.00001"]
    writer = Library(PaperStore(tmp_path / "s.db"), semantic=False)
    writer.add_papers([paper("2401.00002", "Robot grasping with tactile sensing")])
    served = reader.indexes._served["default"]
    reader.indexes.changed("default")  # as the LISTEN thread does on a NOTIFY
    deadline = time.monotonic() + 10
    while reader.indexes._served["default"].index.meta.generation == served.index.meta.generation:
        assert time.monotonic() < deadline, "the change was not picked up"
        time.sleep(0.01)
    assert [h.id for h in reader.search("grasping")] == ["2401.00002"]


def test_another_process_writing_to_postgres_is_heard_and_served(
    pg_url: str, tmp_path: Any
) -> None:
    from retrieval.papers import Paper
    from retrieval.search import Library
    from retrieval.store_pg import PgPaperStore

    def paper(pid: str, title: str) -> Paper:
        return Paper(id=pid, title=title, abstract=f"{title}. We study it.", source="t")

    def library(host: str) -> Library:
        # Two hosts: each its own local index directory over the one database.
        store = PgPaperStore(pg_url, path=tmp_path / host / "pg-store")
        return Library(store, semantic=False)

    reader = library("b")
    writer = library("a")
    writer.add_papers([paper("2401.00001", "Graph neural networks for molecules")])
    assert [h.id for h in reader.search("molecules")] == ["2401.00001"]
    watcher = ChangeWatcher(pg_url, reader.indexes.changed)
    assert watcher.start()
    try:
        served = reader.indexes._served["default"].index.meta.generation
        writer.add_papers([paper("2401.00002", "Robot grasping with tactile sensing")])
        deadline = time.monotonic() + 10
        while reader.indexes._served["default"].index.meta.generation == served:
            assert time.monotonic() < deadline, "the NOTIFY was not acted on"
            time.sleep(0.01)
        assert [h.id for h in reader.search("grasping")] == ["2401.00002"]
    finally:
        watcher.stop()
