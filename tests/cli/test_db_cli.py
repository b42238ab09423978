"""``paperbot db upgrade`` / ``paperbot db copy``, and the other commands over PostgreSQL: a store
moves SQLite -> PostgreSQL -> SQLite with its papers, collections, generations and the bot's
tables; passwords never reach the terminal."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from retrieval.conversations import AnswerRecord
from retrieval.feedback import Feedback
from retrieval.papers import Paper
from retrieval.store import APPLICATION_ID, SCHEMA_VERSION, PaperStore
from retrieval.store_pg import SCHEMA_VERSION as PG_SCHEMA_VERSION
from retrieval.store_pg import PgPaperStore
from retrieval.stores import AnyStore
from tests.cli.test_cli import ok, run, user_error


def paper(key: str, abstract: str | None = None, **extra: object) -> Paper:
    return Paper(
        id=key,
        title=f"Title {key}",
        abstract=abstract or f"Abstract of {key}.",
        source="test",
        **extra,  # type: ignore[arg-type]
    )


def with_password(url: str) -> str:
    """The same database, with a password in the URL (trust auth ignores it)."""
    return url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@", 1)


def snapshot(store: AnyStore) -> dict[str, object]:
    """Everything a copy must keep: per collection its generation and papers, in order."""
    return {
        c.name: (
            c.generation,
            c.paper_count,
            [p.model_dump() for p in store.iter_papers(c.name)],
        )
        for c in store.collections()
    }


def votes(store: AnyStore) -> list[tuple[object, ...]]:
    rows = store.reader().execute("SELECT * FROM bot_votes ORDER BY 1, 2").fetchall()
    return [tuple(r) for r in rows]


def make_source(path: Path) -> PaperStore:
    store = PaperStore(path)
    store.upsert(
        [paper("2401.00001", metadata={"version": 1}), paper("p1"), paper("p2")], "default"
    )
    store.upsert([paper("p1"), paper("2401.00001")], "guild-1")
    store.upsert([paper("p1", "Guild one's own words.")], "guild-1")  # moves to guild-1:p1
    store.upsert([paper("2401.00001", "Version two.", metadata={"version": 2})], "default")
    store.upsert([paper("p3", published=None, authors=("Ä", "B"))], "guild-1")
    fb = Feedback(store)
    answer = AnswerRecord(
        answer_id="a1",
        place=1,
        question="what?",
        paper_ids=("2401.00001",),
        quotes={"2401.00001": [(0, 5)]},
        scope=("default",),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    fb.vote(answer, 111111111111111111, 1)
    fb.vote(answer, 222222222222222222, -1)
    return store


def test_copy_round_trip_sqlite_postgresql_sqlite(tmp_path: Path, pg_url: str) -> None:
    source = make_source(tmp_path / "source.db")
    expected, expected_votes = snapshot(source), votes(source)
    source.close()
    url = with_password(pg_url)
    out = ok(run(["db", "copy", "--from", str(tmp_path / "source.db"), "--to", url], tmp_path))
    assert "s3cret" not in out and "postgres:***@" in out
    assert "table bot_votes: 2 rows" in out
    middle = PgPaperStore(pg_url, path=tmp_path / "pg")
    assert snapshot(middle) == expected
    assert votes(middle) == expected_votes
    middle.close()

    back = tmp_path / "back.db"
    out = ok(run(["db", "copy", "--from", url, "--to", f"sqlite:///{back}"], tmp_path))
    assert "s3cret" not in out
    final = PaperStore(back, create=False)
    assert snapshot(final) == expected
    assert votes(final) == expected_votes
    # the copy is a working store: the next ingest moves the generation on from the source's
    generation = final.generation("default")
    final.upsert([paper("p9")], "default")
    assert final.generation("default") == generation + 1
    final.close()


def test_copy_refuses_a_store_that_is_not_empty(tmp_path: Path, pg_url: str) -> None:
    make_source(tmp_path / "source.db").close()
    target = PgPaperStore(pg_url, path=tmp_path / "pg")
    target.upsert([paper("x1")], "other")
    target.close()
    args = ["db", "copy", "--from", f"sqlite:///{tmp_path / 'source.db'}", "--to", pg_url]
    message = user_error(run(args, tmp_path))
    assert "not empty" in message and "--force" in message
    ok(run([*args, "--force"], tmp_path))
    merged = PgPaperStore(pg_url, path=tmp_path / "pg")
    assert {c.name for c in merged.collections()} == {"default", "guild-1", "other"}
    merged.close()


def test_copy_user_errors_are_one_line(tmp_path: Path, pg_url: str) -> None:
    missing = user_error(run(["db", "copy", "--from", "nope.db", "--to", pg_url], tmp_path))
    assert "no paper store" in missing
    same = user_error(run(["db", "copy", "--from", pg_url, "--to", pg_url], tmp_path))
    assert "same store" in same
    bad = with_password(pg_url).replace("/paperbot_test", "/no_such_db_paperbot_test")
    unreachable = user_error(run(["db", "copy", "--from", "x.db", "--to", bad], tmp_path))
    assert "s3cret" not in unreachable


def test_upgrade_migrates_postgresql_and_stamps_an_older_sqlite_store(
    tmp_path: Path, pg_url: str
) -> None:
    settings = {"PAPERBOT_DATABASE_URL": with_password(pg_url)}
    out = ok(run(["db", "upgrade"], tmp_path, settings=settings))
    assert f"schema version {PG_SCHEMA_VERSION}" in out and "s3cret" not in out
    assert PgPaperStore(pg_url, path=tmp_path / "pg").schema_version() == PG_SCHEMA_VERSION
    ok(run(["db", "upgrade"], tmp_path, settings=settings))  # idempotent

    db = tmp_path / "old.db"
    PaperStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA application_id = 0")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.close()
    out = ok(run(["db", "upgrade", "--db", str(db)], tmp_path, settings=settings))
    assert f"schema version {SCHEMA_VERSION}" in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_commands_run_on_postgresql_without_showing_the_password(
    tmp_path: Path, pg_url: str
) -> None:
    settings = {"PAPERBOT_DATABASE_URL": with_password(pg_url)}
    papers = tmp_path / "papers.jsonl"
    papers.write_text(
        paper("2405.00001", "We train robots with reinforcement learning.").model_dump_json() + "\n"
    )
    ok(run(["ingest", "file", str(papers)], tmp_path, settings=settings))
    stats = run(["stats"], tmp_path, settings=settings)
    out = ok(stats)
    assert "postgres:***@" in out and "s3cret" not in out + stats.stderr
    found = ok(run(["search", "reinforcement learning robots"], tmp_path, settings=settings))
    assert "2405.00001" in found
    assert not (tmp_path / "data" / "paperbot.db").exists()  # no SQLite store was made
