"""Hearing at once that another process changed a collection (PostgreSQL ``LISTEN/NOTIFY``).

Why: every process serves questions from its own memory-mapped index, and checks the store's
generation at most once a second on a query (:data:`retrieval.index.serving.GENERATION_TTL`), then
builds the change aside while still answering from the old index. That polling is the fallback,
and all SQLite offers. With PostgreSQL, a write commits a ``NOTIFY`` on :data:`CHANNEL` naming the
collections it changed (:func:`notify`), and a listener in each process starts the refresh as
soon as it hears, so the first question after a ``/add`` on another process already finds the
paper.

A lost connection is retried with a growing pause; missed notifications cost nothing but speed
(the polling still catches every change).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

CHANNEL = "paperbot_changes"
RETRY_MAX = 30.0  # seconds between reconnection attempts, at most


def notify(conn: Any, collections: list[str]) -> None:
    """Inside a write transaction on PostgreSQL: tell every listener, on commit, which
    collections changed (delivered only if the transaction commits)."""
    for name in collections:
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, name))


class ChangeWatcher:
    """A daemon thread that LISTENs on :data:`CHANNEL` and calls ``on_change(collection)``."""

    def __init__(self, url: str, on_change: Callable[[str], None]) -> None:
        self._url = url
        self._on_change = on_change
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="paperbot-changes", daemon=True)

    def start(self, wait: float = 5.0) -> bool:
        """Start listening; True once the LISTEN is in place (within ``wait`` seconds)."""
        self._thread.start()
        return self._ready.wait(wait)

    def stop(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        pause = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    pause = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._deliver(note.payload)
            except Exception as exc:  # the server went away: listen again after a pause
                if self._stop.is_set():
                    return
                log.warning("change listener: %s; retrying in %.0f s", _one_line(exc), pause)
                self._stop.wait(pause)
                pause = min(RETRY_MAX, pause * 2)
            finally:
                self._conn = None

    def _deliver(self, collection: str) -> None:
        try:
            self._on_change(collection)
        except Exception:  # a failing callback must not end the listening
            log.exception("change listener: handling a change of %r failed", collection)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
