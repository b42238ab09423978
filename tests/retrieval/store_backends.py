"""Both paper store backends behind one fixture, for the store tests that must hold on each.

``backend`` is ``sqlite`` or ``postgres``; ``any_store_factory(**options)`` opens the store of
that backend at one fixed place per test (so a second call reopens the same store), and
:func:`query` reads it with plain SQL (SQLite-flavoured, translated for PostgreSQL). A test that
is about SQLite files only is marked :data:`sqlite_only`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval.sqlcompat import Dialect, translate
from retrieval.store import PaperStore
from retrieval.store_pg import PgPaperStore

AnyStore = PaperStore | PgPaperStore
StoreFactory = Callable[..., Any]

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def any_store_factory(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StoreFactory]:
    opened: list[AnyStore] = []
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None

    def make(**options: Any) -> AnyStore:
        store: AnyStore
        if url is None:
            store = PaperStore(tmp_path / "papers.db", **options)
        else:
            store = PgPaperStore(url, path=tmp_path / "pg-test", **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def query(store: AnyStore, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read on a connection of its own, as tuples."""
    if isinstance(store, PgPaperStore):
        import psycopg

        with psycopg.connect(store.url, autocommit=True) as pg:
            return [tuple(row) for row in pg.execute(translate(sql, Dialect.postgres), params)]
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
