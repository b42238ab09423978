"""Which process runs the work that must happen once: the daily refresh, digests, topic alerts.

Several bot processes can share one store (a shard range each, or replicas). Each of them serves
questions, but a digest posted by two of them is posted twice. So that work runs only in the
process holding the *leadership*, a lock that the operating system or the database releases by
itself when its holder dies, so another process takes over without anyone cleaning up:

* SQLite (processes on one host): an exclusive ``flock`` on ``<store>.leader.lock``. The kernel
  drops it when the process exits, however it exits.
* PostgreSQL (processes anywhere): a session-level advisory lock (``pg_try_advisory_lock``) on a
  connection of its own. The server drops it when that connection ends, which a dead process's
  connection does at once on a Unix socket and within TCP keepalive elsewhere.

Nobody waits for it: every process calls :meth:`Leadership.try_acquire` now and then (cheap,
non-blocking), and the scheduled jobs ask :meth:`Leadership.held` before running.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

# The advisory lock's key: a fixed 63-bit number derived from a name, so that another
# application sharing the database cannot collide with it by accident.
LOCK_NAME = "paperbot:leader"
LOCK_KEY = int.from_bytes(hashlib.blake2b(LOCK_NAME.encode(), digest_size=8).digest(), "big") >> 1


class Leadership(Protocol):
    def try_acquire(self) -> bool:
        """Take the leadership if it is free (never blocks); True while this process holds it."""
        ...

    def held(self) -> bool: ...

    def release(self) -> None: ...


class FileLeadership:
    """Leadership among processes on one host sharing a SQLite store: a ``flock`` on a file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self._fd is not None:
                return True
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:  # a read-only directory: nobody can write the store either
                log.debug("leadership lock %s unavailable: %s", self.path, exc)
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            log.info("this process now runs the scheduled jobs (lock %s)", self.path)
            return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)  # closing the descriptor releases the flock
                self._fd = None


class PgLeadership:
    """Leadership among processes sharing a PostgreSQL store: an advisory lock held by a
    connection of its own (autocommit, so it never holds a transaction open)."""

    def __init__(self, url: str, *, key: int = LOCK_KEY) -> None:
        self._url = url
        self.key = key
        self._conn: Any = None
        self._lock = threading.Lock()

    def _alive(self) -> bool:
        conn = self._conn
        if conn is None or conn.closed:
            return False
        try:
            conn.execute("SELECT 1").fetchone()
        except Exception:  # the server restarted or the network dropped: the lock is gone
            with contextlib.suppress(Exception):
                conn.close()
            self._conn = None
            log.warning("lost the connection holding the leadership; trying to take it again")
            return False
        return True

    def try_acquire(self) -> bool:
        import psycopg

        with self._lock:
            if self._alive():
                return True
            try:
                conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            except psycopg.Error as exc:
                log.warning("cannot reach the database to take the leadership: %s", _one_line(exc))
                return False
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            except psycopg.Error as exc:
                conn.close()
                log.warning("advisory lock failed: %s", _one_line(exc))
                return False
            if not (row and row[0]):
                conn.close()
                return False
            self._conn = conn
            log.info("this process now runs the scheduled jobs (advisory lock %d)", self.key)
            return True

    def held(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def release(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()  # ends the session: the server drops the lock
                self._conn = None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def leadership_for(store: Any) -> Leadership:
    """The leadership matching a store: an advisory lock when it is PostgreSQL (it has a
    ``url``), else a lock file beside the SQLite file."""
    url = getattr(store, "url", None)
    if isinstance(url, str) and url.startswith(("postgresql://", "postgres://")):
        return PgLeadership(url)
    path = Path(store.path)
    return FileLeadership(path.with_name(path.name + ".leader.lock"))
