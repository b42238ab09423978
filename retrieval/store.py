"""The paper store: one SQLite file (WAL), papers upserted by id, grouped in named collections.

Why SQLite: texts of a million abstracts must not live in RAM (the index keeps only numbers), a
single file is trivial to back up and to mount as a Docker volume, and a transaction gives the
all-or-nothing ingest the product promises: a failure half-way leaves the store as it was.

A paper is stored once; collections (``default``, later one per Discord guild) are memberships.
Each collection has a *generation* that increases whenever what it contains changes, so a saved
index can tell cheaply whether it is still current. An arXiv id names the same paper in every
collection; any other id (a BEIR ``_id``, a title slug) belongs to the collections that ingested
it, so a different record under the same id from another collection is kept under
``<collection>:<id>`` instead of changing their paper (see :meth:`PaperStore.upsert`).

A generation says *that* a collection changed, not *what* changed, so a stale index could only be
rebuilt from scratch: minutes for millions of papers, after adding one. The change log
(``collection_changes``) says what: each bump records, under the collection's new generation,
the pks added to it, removed from it or whose text changed in it. An index of generation *g* can
then be brought up to date by indexing just :meth:`PaperStore.changes_since` ``(name, g)`` (read
with :meth:`PaperStore.iter_texts_by_pks`) beside it and masking their old versions. The log is
kept short: a transaction that changes more than :data:`CHANGE_LOG_LIMIT` papers of a collection
(a first big ingest, where a rebuild is due anyway) logs one ``pk = -1`` row meaning "too many to
list", and only the last :data:`CHANGE_LOG_GENERATIONS` generations of each collection are kept.
Whenever the log cannot tell (a store from before it, a pruned or too-large change), the answer
is None, and the caller rebuilds as before.

A store is recognised by ``PRAGMA application_id`` (:data:`APPLICATION_ID`); a store written by
an older paperbot (no application id, but paperbot's tables) is opened too and stamped on its
next write. Any other file is refused before anything is written to it, and a store that cannot
be written (a read-only file or directory) is opened read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from retrieval.papers import Paper, is_arxiv_id

SCHEMA_VERSION = 2  # 2: collection_changes, the change log
APPLICATION_ID = 0x50424F54  # "PBOT" in the SQLite header: this file is a paperbot store
SQLITE_HEADER = b"SQLite format 3\x00"
_OUR_TABLES = frozenset({"papers", "collection_papers"})  # what an older paperbot store has
_BATCH = 500
# More pks than this changed in one collection in one transaction: log "too many" (pk -1) instead,
# so a first ingest of millions of papers does not also write millions of log rows.
CHANGE_LOG_LIMIT = 50_000
# Generations of each collection's log kept: an index older than that is rebuilt anyway.
CHANGE_LOG_GENERATIONS = 1000
_TOO_MANY = -1  # the pk of the one log row standing for more than CHANGE_LOG_LIMIT changes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS papers (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL,
    authors TEXT NOT NULL DEFAULT '[]',
    published TEXT,
    url TEXT,
    source TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collection_papers (
    collection TEXT NOT NULL REFERENCES collections(name),
    pk INTEGER NOT NULL REFERENCES papers(pk),
    added_at TEXT NOT NULL,
    PRIMARY KEY (collection, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS collection_papers_pk ON collection_papers(pk);
CREATE TABLE IF NOT EXISTS collection_changes (
    collection TEXT NOT NULL,
    generation INTEGER NOT NULL,
    pk INTEGER NOT NULL,
    PRIMARY KEY (collection, generation, pk)
) WITHOUT ROWID;
"""


# Files (device, inode) this process has opened as stores: never read again with open() (see
# PaperStore._check), because closing a descriptor releases the process's SQLite locks on it.
_CHECKED: set[tuple[int, int]] = set()


def _file_identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


class StoreError(Exception):
    """A store problem worth one clear line to the user (missing file, newer schema...)."""


def is_sqlite_file(path: str | Path) -> bool:
    """Whether ``path`` is an SQLite database (by its 16 header bytes; False if unreadable)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def store_is_writable(path: str | Path) -> bool:
    """Whether an existing store can be written: the file, and its directory (WAL keeps its
    ``-wal`` and ``-shm`` files beside it). Otherwise it is opened read-only (``mode=ro``).
    ``os.access`` also says no on a read-only file system, for root too."""
    path = Path(path)
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What one ingest did, counted against the target collection."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


@dataclass(frozen=True, slots=True)
class StoredCollection:
    name: str
    paper_count: int
    generation: int
    updated_at: datetime | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _content_hash(paper: Paper) -> str:
    payload = paper.model_dump_json(exclude={"id"})
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()


def _version(metadata: dict[str, Any]) -> int | None:
    value = metadata.get("version")
    return value if isinstance(value, int) else None


class _Changes:
    """The pks whose membership or text changed, per collection, during one transaction.

    Gathered in memory so that each collection's generation is bumped once and its log written
    once, at the end. A collection past :data:`CHANGE_LOG_LIMIT` keeps no pks at all (it will be
    logged as "too many"): a first ingest of millions of papers holds no set of millions."""

    def __init__(self) -> None:
        self._pks: dict[str, set[int] | None] = {}  # None: more than CHANGE_LOG_LIMIT

    def add(self, collection: str, pk: int) -> None:
        pks = self._pks.setdefault(collection, set())
        if pks is not None:
            pks.add(pk)
            if len(pks) > CHANGE_LOG_LIMIT:
                self._pks[collection] = None

    def items(self) -> list[tuple[str, set[int] | None]]:
        """Changed collections by name, each with its pks (never empty; None: too many)."""
        return sorted(self._pks.items())


class PaperStore:
    """Papers in a SQLite file. Safe to share between threads: one connection per thread."""

    def __init__(
        self, path: str | Path, *, create: bool = True, readonly: bool | None = None
    ) -> None:
        """Open the store at ``path``. A missing file (or an empty one) becomes a new store
        when ``create`` is true, else it is a :class:`StoreError`; an existing file must be a
        paperbot store, checked without writing to it. ``readonly`` None: read-only exactly
        when the file or its directory cannot be written (:func:`store_is_writable`)."""
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._immutable = False  # read-only and no -shm can be made: nobody can write it either
        self._stamp = False  # an older paperbot store: stamp the application id on next write
        self._ensured: set[str] = set()  # feature DDLs already applied (ensure_tables)
        if self._is_new(create):
            self.readonly = False
            self._create()
        else:
            self.readonly = not store_is_writable(self.path) if readonly is None else readonly
            self._check()

    def _is_new(self, create: bool) -> bool:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = None
        except OSError as exc:  # a file where a directory should be, no permission...
            raise StoreError(f"cannot open a paper store at {self.path}: {_reason(exc)}") from exc
        if size is None or (size == 0 and not Path(f"{self.path}-wal").exists()):
            if not create:
                if size is None:
                    raise StoreError(f"no paper store at {self.path}")
                raise StoreError(f"{self.path} is an empty file, not a paperbot store")
            return True
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory, not a paperbot store")
        return False

    def _create(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create a paper store at {self.path}: {_reason(exc)}") from exc
        if not os.access(self.path.parent, os.W_OK):  # sqlite would only say "unable to open"
            raise StoreError(
                f"cannot create a paper store at {self.path}: {self.path.parent} is not writable"
            )
        try:
            conn = self._conn()
            with self._write_lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._write_schema(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, StoreError) as exc:
            self.close()
            detail = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
            raise StoreError(f"cannot create a paper store at {self.path} ({detail})") from exc
        _CHECKED.add(_file_identity(self.path))

    @staticmethod
    def _write_schema(conn: sqlite3.Connection) -> None:
        """Tables, schema version and application id, inside the caller's transaction."""
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def _check(self) -> None:
        """Refuse anything but a paperbot store, reading it only (a foreign database must not
        get paperbot's tables or a WAL journal)."""
        try:
            identity = _file_identity(self.path)
            if identity in _CHECKED:
                # Already opened by this process, whose SQLite connections may hold POSIX locks
                # on it: closing any other descriptor of the file would drop them all, and a
                # writer in another process could then reset the WAL under those connections.
                header = SQLITE_HEADER
                quiet = False
            else:
                with open(self.path, "rb") as fh:
                    header = fh.read(100)
                wal = len(header) > 19 and header[18] == header[19] == 2
                # A WAL database without a -wal file has nothing outside the main file: read
                # it as immutable, so probing creates no -shm or -wal beside another program's.
                quiet = wal and not Path(f"{self.path}-wal").exists()
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {_reason(exc)}") from exc
        if not header.startswith(SQLITE_HEADER):
            raise StoreError(f"{self.path} is not a paperbot store (not an SQLite database)")
        try:
            probe = self._connect_readonly(immutable=quiet)
            try:
                app_id = probe.execute("PRAGMA application_id").fetchone()[0]
                version = probe.execute("PRAGMA user_version").fetchone()[0]
                tables = {
                    row[0]
                    for row in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
            finally:
                probe.close()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path} is not a paperbot store ({exc})") from exc
        if app_id != APPLICATION_ID:
            if app_id != 0 or not _OUR_TABLES.issubset(tables):
                raise StoreError(
                    f"{self.path} is not a paperbot store (an SQLite database of another "
                    "program; left as it was)"
                )
            self._stamp = True  # written by an older paperbot
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer paperbot (schema {version} > {SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            self._stamp = True
        _CHECKED.add(identity)

    # -- connections ------------------------------------------------------------------------------
    def _connect_readonly(self, *, immutable: bool = False) -> sqlite3.Connection:
        """A ``mode=ro`` connection; when even that cannot open (a WAL store in a read-only
        directory with no ``-shm`` file), ``immutable=1``: then nobody can be writing it."""
        uri = "file:" + quote(str(self.path.absolute()), safe="/")
        conn = sqlite3.connect(
            f"{uri}?mode=ro{'&immutable=1' if immutable else ''}",
            uri=True,
            timeout=30,
            isolation_level=None,
        )
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            if immutable:
                raise
            conn = self._connect_readonly(immutable=True)
            self._immutable = True
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self.readonly:
                    conn = self._connect_readonly(immutable=self._immutable)
                    conn.execute("PRAGMA cache_size=-262144")
                else:
                    conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    # A bulk ingest is one transaction: a larger page cache keeps it from spilling.
                    conn.execute("PRAGMA cache_size=-262144")
                    conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a paperbot store ({exc})") from exc
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- the bot's tables beside the papers -------------------------------------------------------
    def ensure_tables(self, ddl: str) -> bool:
        """Create a feature's own tables (``CREATE TABLE IF NOT EXISTS ...;`` statements) in
        this store, once per store and DDL. Why here: follows, digests, conversations and votes
        must survive restarts and be shared by every process using the store, and one file is
        one thing to back up. False on a read-only store (the tables may then be missing, and
        readers treat a missing table as empty: :meth:`has_table`)."""
        if self.readonly:
            return False
        key = hashlib.blake2b(ddl.encode("utf-8"), digest_size=8).hexdigest()
        done = self._ensured
        if key in done:
            return True
        with self.transaction() as conn:
            for statement in ddl.split(";"):
                if statement.strip():
                    conn.execute(statement)
        done.add(key)
        return True

    def has_table(self, name: str) -> bool:
        row = self._conn().execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``, so two processes never interleave) on
        this thread's connection, committed on success and rolled back on any exception. For
        the bot's own tables; papers go through :meth:`upsert`."""
        if self.readonly:
            raise StoreError(f"{self.path} is read-only")
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def reader(self) -> sqlite3.Connection:
        """This thread's connection, for reading the bot's own tables (autocommit: each
        statement sees the latest committed state)."""
        return self._conn()

    def upgrade(self) -> int:
        """Bring an older store's schema up to date now rather than on its next write
        (``paperbot db upgrade``); the schema version."""
        if self._stamp:
            with self.transaction() as conn:
                self._write_schema(conn)
            self._stamp = False
        return SCHEMA_VERSION

    # -- writing ----------------------------------------------------------------------------------
    def upsert(
        self,
        papers: Iterable[Paper],
        collection: str = "default",
        progress: Callable[[int], None] | None = None,
    ) -> UpsertResult:
        """Insert or update ``papers`` and add them to ``collection``, all in one transaction.

        If iterating ``papers`` raises (a loader, a network source) or anything else fails, the
        transaction is rolled back and the exception propagates: the store is exactly as before.
        A paper whose stored ``metadata["version"]`` is newer than the incoming one is left alone
        (the newest arXiv version wins).

        An arXiv id is the same paper in every collection, so its update shows everywhere. Any
        other id belongs to the collections holding it: when another collection holds a
        *different* paper under that id, the incoming one is stored as ``<collection>:<id>``
        (and this collection's own copy, if it shared the old one, moves there), so nothing
        ingested into one collection changes through another and nothing is dropped.
        """
        if not collection or len(collection) > 100:
            raise ValueError("collection name must be 1-100 characters")
        if self.readonly:
            raise StoreError(f"{self.path} is read-only: papers cannot be added to it")
        conn = self._conn()
        added = updated = unchanged = 0
        changed_pks: list[int] = []  # text updated: other collections holding them changed too
        changes = _Changes()
        now = _now()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if self._stamp:
                    self._write_schema(conn)
                conn.execute(
                    "INSERT OR IGNORE INTO collections(name, generation, created_at, updated_at)"
                    " VALUES (?, 0, ?, ?)",
                    (collection, now, now),
                )
                iterator = iter(papers)
                seen = 0
                while batch := list(islice(iterator, _BATCH)):
                    a, u, n, pks = self._upsert_batch(conn, batch, collection, now, changes)
                    added, updated, unchanged = added + a, updated + u, unchanged + n
                    changed_pks.extend(pks)
                    seen += len(batch)
                    if progress is not None:
                        progress(seen)
                # Something is logged for this collection exactly when added or updated > 0.
                self._note_holders_of(conn, changed_pks, collection, changes)
                self._bump_and_log(conn, changes, now)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a Ctrl-C after COMMIT: nothing left to undo
                    conn.execute("ROLLBACK")
                raise
        self._stamp = False
        return UpsertResult(added, updated, unchanged)

    @staticmethod
    def _stored(
        conn: sqlite3.Connection, ids: list[str]
    ) -> tuple[dict[str, tuple[int, str, str]], dict[int, set[str]]]:
        """``id -> (pk, content_hash, metadata)`` of the stored ids, and ``pk -> collections``."""
        marks = ",".join("?" * len(ids))
        existing = {
            row[1]: (row[0], row[2], row[3])
            for row in conn.execute(
                f"SELECT pk, id, content_hash, metadata FROM papers WHERE id IN ({marks})", ids
            )
        }
        holders: dict[int, set[str]] = {row[0]: set() for row in existing.values()}
        if holders:
            pk_marks = ",".join("?" * len(holders))
            for pk, name in conn.execute(
                f"SELECT pk, collection FROM collection_papers WHERE pk IN ({pk_marks})",
                list(holders),
            ):
                holders[pk].add(name)
        return existing, holders

    def _upsert_batch(
        self,
        conn: sqlite3.Connection,
        batch: list[Paper],
        collection: str,
        now: str,
        changes: _Changes,
    ) -> tuple[int, int, int, list[int]]:
        """One batch of :meth:`upsert`: counts for ``collection``, the pks whose text changed;
        every pk added to, removed from or changed in ``collection`` is noted in ``changes``."""
        # Later duplicates in one batch win, as they would in a row-by-row upsert.
        by_id: dict[str, Paper] = {}
        for paper in batch:
            by_id[paper.id] = paper
        # One query for the rows and one for their collections (by the pk index), per batch.
        existing, holders = self._stored(conn, list(by_id))
        added = updated = unchanged = 0
        changed_pks: list[int] = []
        for paper_id, paper in by_id.items():
            digest = _content_hash(paper)
            key, moved = paper_id, False
            row = existing.get(key)
            while (
                row is not None
                and row[1] != digest
                and holders.get(row[0], set()) - {collection}
                and not is_arxiv_id(paper_id)
            ):
                # Another collection's different paper: leave it, use this collection's id.
                if collection in holders[row[0]]:
                    conn.execute(
                        "DELETE FROM collection_papers WHERE collection = ? AND pk = ?",
                        (collection, row[0]),
                    )
                    holders[row[0]].discard(collection)
                    changes.add(collection, row[0])  # gone from this collection
                    moved = True
                key = f"{collection}:{key}"
                found, found_holders = self._stored(conn, [key])
                existing.update(found)
                holders.update(found_holders)
                row = found.get(key)
            if key != paper_id:
                paper = paper.model_copy(update={"id": key})
            if row is None:
                cur = conn.execute(
                    "INSERT INTO papers(id, title, abstract, authors, published, url, source,"
                    " metadata, content_hash, added_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (*self._columns(paper), digest, now, now),
                )
                pk = int(cur.lastrowid or 0)
                existing[key] = (pk, digest, self._columns(paper)[7])
                holders[pk] = set()
                status = "added"
            else:
                pk, old_hash, old_meta = row
                stored_version = _version(json.loads(old_meta))
                new_version = _version(paper.metadata)
                older = (
                    stored_version is not None
                    and new_version is not None
                    and new_version < stored_version
                )
                if old_hash == digest or older:
                    status = "same"
                else:
                    conn.execute(
                        "UPDATE papers SET title=?, abstract=?, authors=?, published=?, url=?,"
                        " source=?, metadata=?, content_hash=?, updated_at=? WHERE pk=?",
                        (*self._columns(paper)[1:], digest, now, pk),
                    )
                    existing[key] = (pk, digest, self._columns(paper)[7])
                    changed_pks.append(pk)
                    changes.add(collection, pk)  # in this collection now, if not before
                    status = "updated"
            if collection not in holders.setdefault(pk, set()):
                conn.execute(
                    "INSERT OR IGNORE INTO collection_papers(collection, pk, added_at)"
                    " VALUES (?,?,?)",
                    (collection, pk, now),
                )
                holders[pk].add(collection)
                changes.add(collection, pk)
                if moved:
                    updated += 1  # this collection's paper changed (it now has its own copy)
                else:
                    added += 1
            elif status == "updated" or moved:
                updated += 1
            else:
                unchanged += 1
        return added, updated, unchanged, changed_pks

    @staticmethod
    def _columns(paper: Paper) -> tuple[Any, ...]:
        return (
            paper.id,
            paper.title,
            paper.abstract,
            json.dumps(list(paper.authors), ensure_ascii=False),
            paper.published.isoformat() if paper.published else None,
            paper.url,
            paper.source,
            json.dumps(paper.metadata, ensure_ascii=False, default=str),
        )

    @staticmethod
    def _note_holders_of(
        conn: sqlite3.Connection, pks: list[int], skip: str, changes: _Changes
    ) -> None:
        """Other collections holding a paper whose text changed must re-index it too: note the
        pks each holds (by the pk index), so each is bumped once however many batches it spans."""
        for start in range(0, len(pks), _BATCH):
            chunk = pks[start : start + _BATCH]
            marks = ",".join("?" * len(chunk))
            for name, pk in conn.execute(
                f"SELECT collection, pk FROM collection_papers WHERE pk IN ({marks})"
                " AND collection != ?",
                [*chunk, skip],
            ):
                changes.add(name, pk)

    @staticmethod
    def _bump_and_log(conn: sqlite3.Connection, changes: _Changes, now: str) -> None:
        """Bump each changed collection's generation once and log its pks under the new one (or
        one "too many" row), in the caller's transaction: a generation is never without its log.
        Generations past :data:`CHANGE_LOG_GENERATIONS` are pruned from the log here too.

        The log is written first and the bumps last, so a bump stays the last statement before
        COMMIT (tests/cli/test_concurrency.py interrupts the COMMIT by hooking that statement).
        """
        changed = changes.items()
        for name, pks in changed:
            (current,) = conn.execute(
                "SELECT generation FROM collections WHERE name = ?", (name,)
            ).fetchone()
            generation = int(current) + 1  # the bump below, in this same write transaction
            listed = [_TOO_MANY] if pks is None else sorted(pks)
            conn.executemany(
                "INSERT INTO collection_changes(collection, generation, pk) VALUES (?, ?, ?)",
                ((name, generation, pk) for pk in listed),
            )
            conn.execute(
                "DELETE FROM collection_changes WHERE collection = ? AND generation <= ?",
                (name, generation - CHANGE_LOG_GENERATIONS),
            )
        for name, _ in changed:
            conn.execute(
                "UPDATE collections SET generation = generation + 1, updated_at = ? WHERE name = ?",
                (now, name),
            )

    # -- reading ----------------------------------------------------------------------------------
    _PAPER_COLUMNS = (
        "p.id, p.title, p.abstract, p.authors, p.published, p.url, p.source, p.metadata"
    )

    @staticmethod
    def _paper(row: Sequence[Any]) -> Paper:
        return Paper.model_construct(
            id=row[0],
            title=row[1],
            abstract=row[2],
            authors=tuple(json.loads(row[3])),
            published=date.fromisoformat(row[4]) if row[4] else None,
            url=row[5],
            source=row[6],
            metadata=json.loads(row[7]),
        )

    def get(self, paper_id: str) -> Paper | None:
        row = (
            self._conn()
            .execute(f"SELECT {self._PAPER_COLUMNS} FROM papers p WHERE p.id = ?", (paper_id,))
            .fetchone()
        )
        return self._paper(row) if row else None

    def get_many(self, paper_ids: Sequence[str]) -> list[Paper]:
        """Papers in the order asked; unknown ids are left out."""
        found: dict[str, Paper] = {}
        for start in range(0, len(paper_ids), _BATCH):
            chunk = list(paper_ids[start : start + _BATCH])
            marks = ",".join("?" * len(chunk))
            for row in self._conn().execute(
                f"SELECT {self._PAPER_COLUMNS} FROM papers p WHERE p.id IN ({marks})", chunk
            ):
                found[row[0]] = self._paper(row)
        return [found[i] for i in paper_ids if i in found]

    def get_by_pks(self, pks: Sequence[int]) -> list[Paper]:
        """Papers for store keys (the index's doc handles), in the order asked."""
        found = self.papers_by_pks(pks)
        return [found[int(pk)] for pk in pks if int(pk) in found]

    def papers_by_pks(self, pks: Sequence[int]) -> dict[int, Paper]:
        """Store key -> paper, for the keys that still exist."""
        found: dict[int, Paper] = {}
        for start in range(0, len(pks), _BATCH):
            chunk = [int(pk) for pk in pks[start : start + _BATCH]]
            marks = ",".join("?" * len(chunk))
            for row in self._conn().execute(
                f"SELECT p.pk, {self._PAPER_COLUMNS} FROM papers p WHERE p.pk IN ({marks})", chunk
            ):
                found[row[0]] = self._paper(row[1:])
        return found

    def titles_by_pks(self, pks: Sequence[int]) -> list[tuple[str, str, str | None]]:
        """``(id, title, url)`` for store keys, in order: all a search result list needs."""
        found: dict[int, tuple[str, str, str | None]] = {}
        chunk = [int(pk) for pk in pks]
        for start in range(0, len(chunk), _BATCH):
            part = chunk[start : start + _BATCH]
            marks = ",".join("?" * len(part))
            for row in self._conn().execute(
                f"SELECT pk, id, title, url FROM papers WHERE pk IN ({marks})", part
            ):
                found[row[0]] = (row[1], row[2], row[3])
        return [found[pk] for pk in chunk if pk in found]

    def count_pks(self, pks: Sequence[int]) -> int:
        """How many of these store keys exist (an index naming keys the store lacks is
        damaged: papers are never deleted)."""
        found = 0
        unique = sorted({int(pk) for pk in pks})
        for start in range(0, len(unique), _BATCH):
            part = unique[start : start + _BATCH]
            marks = ",".join("?" * len(part))
            found += (
                self._conn()
                .execute(f"SELECT COUNT(*) FROM papers WHERE pk IN ({marks})", part)
                .fetchone()[0]
            )
        return found

    def collections_of(self, paper_id: str) -> set[str]:
        """The collections holding a paper (one index seek by the paper's key)."""
        return {
            row[0]
            for row in self._conn().execute(
                "SELECT c.collection FROM papers p JOIN collection_papers c ON c.pk = p.pk"
                " WHERE p.id = ?",
                (paper_id,),
            )
        }

    def count(self, collection: str = "default") -> int:
        return int(
            self._conn()
            .execute("SELECT COUNT(*) FROM collection_papers WHERE collection = ?", (collection,))
            .fetchone()[0]
        )

    def generation(self, collection: str) -> int:
        row = (
            self._conn()
            .execute("SELECT generation FROM collections WHERE name = ?", (collection,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def collections(self) -> list[StoredCollection]:
        rows = self._conn().execute(
            "SELECT c.name, c.generation, c.updated_at,"
            " (SELECT COUNT(*) FROM collection_papers m WHERE m.collection = c.name)"
            " FROM collections c ORDER BY c.name"
        )
        return [
            StoredCollection(
                name=row[0],
                generation=int(row[1]),
                updated_at=datetime.fromisoformat(row[2]) if row[2] else None,
                paper_count=int(row[3]),
            )
            for row in rows
        ]

    def iter_papers(self, collection: str = "default") -> Iterator[Paper]:
        """Every paper of a collection in insertion order, streamed (never all in memory)."""
        cursor = self._conn().execute(
            f"SELECT {self._PAPER_COLUMNS} FROM collection_papers c JOIN papers p ON p.pk = c.pk"
            " WHERE c.collection = ? ORDER BY c.pk",
            (collection,),
        )
        for row in cursor:
            yield self._paper(row)

    def iter_texts(self, collection: str = "default") -> Iterator[tuple[int, str, str]]:
        """``(pk, title, abstract)`` of a collection in pk order: what the index builder reads."""
        cursor = self._conn().execute(
            "SELECT p.pk, p.title, p.abstract FROM collection_papers c JOIN papers p ON p.pk = c.pk"
            " WHERE c.collection = ? ORDER BY c.pk",
            (collection,),
        )
        yield from cursor

    def changes_since(self, collection: str, generation: int) -> list[int] | None:
        """The pks added to, removed from or changed in ``collection`` after ``generation``
        (sorted, distinct): what an index of that generation must re-read to be current. ``[]``
        when ``generation`` is current. None when the log cannot tell, and the index must be
        rebuilt: a store from before the log (until its first write; or read-only), a generation
        the collection never had, a logged change too large to list, or a generation pruned or
        written without a log.

        The answer covers up to the generation current when it is read; read :meth:`generation`
        *before* calling and record that, so a write in between is reported again next time
        rather than missed. No snapshot is needed: a generation's rows are written with its bump
        and pruned whole, so a concurrent write either is left out (past the generation read) or
        shows as a missing generation (None).

        One range scan of the log's primary key; removed pks are not in the collection any more,
        which :meth:`iter_texts_by_pks` shows by leaving them out."""
        current = self.generation(collection)
        if generation < 0 or generation > current:
            return None
        if generation == current:
            return []
        try:
            rows = self._conn().execute(
                "SELECT generation, pk FROM collection_changes"
                " WHERE collection = ? AND generation > ? AND generation <= ?",
                (collection, int(generation), current),
            )
            return logged_changes(rows, current - generation)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # written by an older paperbot, not written since
                return None
            raise

    def iter_texts_by_pks(
        self, collection: str, pks: Sequence[int]
    ) -> Iterator[tuple[int, str, str]]:
        """``(pk, title, abstract)`` of those of ``pks`` that ``collection`` holds now, in pk
        order, as :meth:`iter_texts` reads the whole collection: what a delta index reads for
        :meth:`changes_since`. A pk no longer in the collection is left out."""
        unique = sorted({int(pk) for pk in pks})
        for start in range(0, len(unique), _BATCH):
            part = unique[start : start + _BATCH]
            marks = ",".join("?" * len(part))
            yield from self._conn().execute(
                "SELECT p.pk, p.title, p.abstract FROM collection_papers c"
                " JOIN papers p ON p.pk = c.pk"
                f" WHERE c.collection = ? AND c.pk IN ({marks}) ORDER BY c.pk",
                [collection, *part],
            )

    def iter_titles(self, collection: str = "default") -> Iterator[tuple[int, str, str]]:
        """``(pk, id, title)`` of a collection: for in-memory autocomplete."""
        cursor = self._conn().execute(
            "SELECT p.pk, p.id, p.title FROM collection_papers c JOIN papers p ON p.pk = c.pk"
            " WHERE c.collection = ? ORDER BY c.pk",
            (collection,),
        )
        yield from cursor


class _StoredPapers(Protocol):
    """What :func:`merge_with_stored` reads: either store backend."""

    def get_many(self, paper_ids: Sequence[str]) -> list[Paper]: ...


def logged_changes(rows: Iterable[tuple[int, int]], generations: int) -> list[int] | None:
    """What :meth:`PaperStore.changes_since` answers from the log's ``(generation, pk)`` rows
    after a generation (both stores): the sorted distinct pks, or None when the rows do not
    cover every one of the ``generations`` since (one pruned or written without a log) or one
    change was too large to list."""
    logged: set[int] = set()
    pks: set[int] = set()
    for logged_generation, pk in rows:
        if pk == _TOO_MANY:
            return None
        logged.add(int(logged_generation))
        pks.add(int(pk))
    if len(logged) != generations:
        return None
    return sorted(pks)


def merge_with_stored(
    store: _StoredPapers, papers: Iterable[Paper], *, batch: int = 500
) -> Iterator[Paper]:
    """Yield ``papers`` with the stored metadata folded in (incoming keys win).

    The store replaces a paper's row on update; without this, ingesting a paper from Hugging
    Face after arXiv would drop its arXiv categories and version (and vice versa for upvotes).
    Meant to be iterated *inside* ``store.upsert`` (same thread, same transaction), so what is
    read is exactly what the upsert then compares against.
    """
    pending: list[Paper] = []

    def flush() -> Iterator[Paper]:
        stored = {p.id: p for p in store.get_many([p.id for p in pending])}
        for paper in pending:
            old = stored.get(paper.id)
            if old is None or not old.metadata:
                yield paper
                continue
            merged = {**old.metadata, **paper.metadata}
            old_version, new_version = old.metadata.get("version"), paper.metadata.get("version")
            if isinstance(old_version, int) and not isinstance(new_version, int):
                merged["version"] = old_version
            if merged != paper.metadata:
                paper = paper.model_copy(update={"metadata": merged})
            yield paper
        pending.clear()

    for paper in papers:
        pending.append(paper)
        if len(pending) >= batch:
            yield from flush()
    if pending:
        yield from flush()
