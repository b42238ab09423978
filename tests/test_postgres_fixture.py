"""The throwaway cluster works: a fresh database per test, usable and empty."""

from __future__ import annotations

import pytest


def test_each_test_gets_a_fresh_empty_database(pg_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE probe (id BIGINT PRIMARY KEY)")
        conn.execute("INSERT INTO probe VALUES (%s)", (1 << 62,))
        assert conn.execute("SELECT id FROM probe").fetchone() == (1 << 62,)
