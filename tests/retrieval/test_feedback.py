"""Votes: one per user per answer, stored with question, papers and offsets; JSONL export."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from retrieval.conversations import AnswerRecord
from retrieval.feedback import Feedback, FeedbackUnavailable
from retrieval.store import PaperStore
from tests.retrieval.store_backends import AnyStore, StoreFactory

ANSWER = AnswerRecord(
    answer_id="abc123",
    place=1,
    question="which papers align LLMs without RL?",
    paper_ids=("p1", "p2"),
    quotes={"p1": [(0, 40), (50, 90)], "p2": [(10, 30)]},
    scope=("default",),
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


@pytest.fixture
def store(any_store_factory: StoreFactory) -> AnyStore:
    """The store of each backend (SQLite file, PostgreSQL database)."""
    return any_store_factory()


def test_one_vote_per_user(store: AnyStore) -> None:
    fb = Feedback(store)
    assert not fb.vote(ANSWER, 1111, 1).changed
    assert fb.vote(ANSWER, 1111, 1).repeated
    assert fb.vote(ANSWER, 1111, -1).changed
    fb.vote(ANSWER, 2222, 1)
    assert fb.tally("abc123") == (1, 1)
    with pytest.raises(ValueError):
        fb.vote(ANSWER, 1111, 0)


def test_export_is_jsonl_without_discord_ids(store: AnyStore) -> None:
    fb = Feedback(store)
    fb.vote(ANSWER, 123456789012345678, 1)
    fb.vote(ANSWER, 987654321098765432, -1)
    out = io.StringIO()
    assert fb.export(out) == 2
    text = out.getvalue()
    rows = [json.loads(line) for line in text.splitlines()]
    assert {r["vote"] for r in rows} == {1, -1}
    row = rows[0]
    assert row["question"] == ANSWER.question
    assert row["papers"] == [
        {"id": "p1", "quotes": [[0, 40], [50, 90]]},
        {"id": "p2", "quotes": [[10, 30]]},
    ]
    assert set(row) == {
        "answer_id",
        "voter",
        "vote",
        "question",
        "papers",
        "created_at",
        "updated_at",
    }
    assert "123456789012345678" not in text and "987654321098765432" not in text
    assert rows[0]["voter"] != rows[1]["voter"]


def test_salt_is_per_store(tmp_path: Path) -> None:
    voters = []
    for name in ("a.db", "b.db"):
        fb = Feedback(PaperStore(tmp_path / name))
        fb.vote(ANSWER, 42, 1)
        voters.append(next(fb.rows())["voter"])
    assert voters[0] != voters[1]  # the same user cannot be followed across stores


def test_no_table_reads_empty_and_read_only_refuses(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    fb = Feedback(PaperStore(path))
    assert list(fb.rows()) == [] and fb.tally("x") == (0, 0)
    path.chmod(0o444)
    try:
        ro = Feedback(PaperStore(path, create=False))
        if ro.store.readonly:
            with pytest.raises(FeedbackUnavailable):
                ro.vote(ANSWER, 1, 1)
    finally:
        path.chmod(0o644)


def test_no_table_reads_empty_and_read_only_refuses_on_each_backend(
    any_store_factory: StoreFactory,
) -> None:
    fb = Feedback(any_store_factory())
    assert list(fb.rows()) == [] and fb.tally("x") == (0, 0)
    fb.vote(ANSWER, 7, 1)
    ro = Feedback(any_store_factory(readonly=True))
    assert ro.tally(ANSWER.answer_id) == (1, 0)
    with pytest.raises(FeedbackUnavailable):
        ro.vote(ANSWER, 8, 1)
    assert ro.tally(ANSWER.answer_id) == (1, 0)


def test_missing_tables_read_empty_on_each_backend(any_store_factory: StoreFactory) -> None:
    any_store_factory()  # the paper schema, no vote tables yet
    ro = Feedback(any_store_factory(readonly=True))
    assert list(ro.rows()) == [] and ro.tally("x") == (0, 0)
    assert ro.tally("y") == (0, 0)  # the reader still works after the missing-table error
