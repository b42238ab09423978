"""LISTEN/NOTIFY: a change committed by one connection is heard by another process's listener;
a rolled-back one is not."""

from __future__ import annotations

import queue

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
