"""The paper store: one SQLite file (WAL), papers upserted by id, grouped in named collections.

Why SQLite: texts of a million abstracts must not live in RAM (the index keeps only numbers), a
single file is trivial to back up and to mount as a Docker volume, and a transaction gives the
all-or-nothing ingest the product promises: a failure half-way leaves the store as it was.

A paper is stored once; collections (``default``, later one per Discord guild) are memberships.
Each collection has a *generation* that increases whenever what it contains changes, so a saved
index can tell cheaply whether it is still current.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from retrieval.papers import Paper

SCHEMA_VERSION = 1
_BATCH = 500

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
"""


class StoreError(Exception):
    """A store problem worth one clear line to the user (missing file, newer schema...)."""


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


class PaperStore:
    """Papers in a SQLite file. Safe to share between threads: one connection per thread."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no paper store at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        conn = self._conn()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer paperbot (schema {version} > {SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- connections ------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
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
        """
        if not collection or len(collection) > 100:
            raise ValueError("collection name must be 1-100 characters")
        conn = self._conn()
        added = updated = unchanged = 0
        changed_pks: list[int] = []
        now = _now()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT OR IGNORE INTO collections(name, generation, created_at, updated_at)"
                    " VALUES (?, 0, ?, ?)",
                    (collection, now, now),
                )
                iterator = iter(papers)
                seen = 0
                while batch := list(islice(iterator, _BATCH)):
                    a, u, n, pks = self._upsert_batch(conn, batch, collection, now)
                    added, updated, unchanged = added + a, updated + u, unchanged + n
                    changed_pks.extend(pks)
                    seen += len(batch)
                    if progress is not None:
                        progress(seen)
                if added or updated:
                    conn.execute(
                        "UPDATE collections SET generation = generation + 1, updated_at = ?"
                        " WHERE name = ?",
                        (now, collection),
                    )
                self._bump_collections_of(conn, changed_pks, collection, now)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return UpsertResult(added, updated, unchanged)

    def _upsert_batch(
        self, conn: sqlite3.Connection, batch: list[Paper], collection: str, now: str
    ) -> tuple[int, int, int, list[int]]:
        # Later duplicates in one batch win, as they would in a row-by-row upsert.
        by_id: dict[str, Paper] = {}
        for paper in batch:
            by_id[paper.id] = paper
        ids = list(by_id)
        marks = ",".join("?" * len(ids))
        existing = {
            row[1]: (row[0], row[2], row[3])
            for row in conn.execute(
                f"SELECT pk, id, content_hash, metadata FROM papers WHERE id IN ({marks})", ids
            )
        }
        # Membership by (collection, pk), the primary key: one seek per known paper. (Starting
        # from the collection would scan all its members for every batch: quadratic ingests.)
        known_pks = [row[0] for row in existing.values()]
        member_pks: set[int] = set()
        if known_pks:
            pk_marks = ",".join("?" * len(known_pks))
            member_pks = {
                row[0]
                for row in conn.execute(
                    f"SELECT pk FROM collection_papers WHERE collection = ? AND pk IN ({pk_marks})",
                    [collection, *known_pks],
                )
            }
        members = {pid for pid, row in existing.items() if row[0] in member_pks}
        added = updated = unchanged = 0
        changed_pks: list[int] = []
        for paper_id, paper in by_id.items():
            digest = _content_hash(paper)
            row = existing.get(paper_id)
            if row is None:
                cur = conn.execute(
                    "INSERT INTO papers(id, title, abstract, authors, published, url, source,"
                    " metadata, content_hash, added_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (*self._columns(paper), digest, now, now),
                )
                pk = int(cur.lastrowid or 0)
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
                    changed_pks.append(pk)
                    status = "updated"
            if paper_id not in members:
                conn.execute(
                    "INSERT OR IGNORE INTO collection_papers(collection, pk, added_at)"
                    " VALUES (?,?,?)",
                    (collection, pk, now),
                )
                added += 1
            elif status == "updated":
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

    def _bump_collections_of(
        self, conn: sqlite3.Connection, pks: list[int], skip: str, now: str
    ) -> None:
        """Other collections holding a paper whose text changed must re-index too."""
        for start in range(0, len(pks), _BATCH):
            chunk = pks[start : start + _BATCH]
            marks = ",".join("?" * len(chunk))
            conn.execute(
                "UPDATE collections SET generation = generation + 1, updated_at = ?"
                f" WHERE name != ? AND name IN (SELECT DISTINCT collection FROM collection_papers"
                f" WHERE pk IN ({marks}))",
                [now, skip, *chunk],
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

    def iter_titles(self, collection: str = "default") -> Iterator[tuple[int, str, str]]:
        """``(pk, id, title)`` of a collection: for in-memory autocomplete."""
        cursor = self._conn().execute(
            "SELECT p.pk, p.id, p.title FROM collection_papers c JOIN papers p ON p.pk = c.pk"
            " WHERE c.collection = ? ORDER BY c.pk",
            (collection,),
        )
        yield from cursor


def merge_with_stored(
    store: PaperStore, papers: Iterable[Paper], *, batch: int = 500
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
