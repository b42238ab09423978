"""Features' own tables beside the papers: made once, written atomically, none when read-only."""

from __future__ import annotations

import pytest

from retrieval.store import StoreError
from tests.retrieval.store_backends import StoreFactory

DDL = "CREATE TABLE IF NOT EXISTS feature_rows (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"


def test_tables_are_created_once_and_shared_between_connections(
    any_store_factory: StoreFactory,
) -> None:
    store = any_store_factory()
    assert not store.has_table("feature_rows")
    assert store.ensure_tables(DDL) and store.ensure_tables(DDL)
    with store.transaction() as conn:
        conn.execute("INSERT INTO feature_rows VALUES ('a', 1)")
    other = any_store_factory()
    assert other.has_table("feature_rows")
    assert other.reader().execute("SELECT v FROM feature_rows").fetchall() == [(1,)]


def test_a_failed_transaction_writes_nothing(any_store_factory: StoreFactory) -> None:
    store = any_store_factory()
    store.ensure_tables(DDL)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO feature_rows VALUES ('a', 1)")
        raise RuntimeError("boom")
    assert store.reader().execute("SELECT count(*) FROM feature_rows").fetchone() == (0,)


def test_read_only_store_creates_nothing_and_refuses_writes(
    any_store_factory: StoreFactory,
) -> None:
    any_store_factory().close()
    store = any_store_factory(create=False, readonly=True)
    assert store.ensure_tables(DDL) is False
    assert not store.has_table("feature_rows")
    with pytest.raises(StoreError), store.transaction():
        pass
