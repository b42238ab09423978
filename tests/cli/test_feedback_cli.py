"""``paperbot feedback export``: votes stored by the bot come out as JSON lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from retrieval.conversations import AnswerRecord
from retrieval.feedback import Feedback
from retrieval.store import PaperStore
from tests.cli.test_cli import ok, run, user_error


def _answer(aid: str) -> AnswerRecord:
    return AnswerRecord(
        answer_id=aid,
        place=1,
        question=f"question {aid}?",
        paper_ids=("2310.10505",),
        quotes={"2310.10505": [(0, 42)]},
        scope=("default",),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _store_with_votes(tmp_path: Path) -> Path:
    db = tmp_path / "votes.db"
    fb = Feedback(PaperStore(db))
    fb.vote(_answer("a1"), 111111111111111111, 1)
    fb.vote(_answer("a1"), 222222222222222222, -1)
    fb.vote(_answer("a2"), 111111111111111111, 1)
    return db


def test_export_to_stdout(tmp_path: Path) -> None:
    db = _store_with_votes(tmp_path)
    out = ok(run(["feedback", "export", "--db", str(db)], tmp_path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["answer_id"], r["vote"]) for r in rows] == [("a1", 1), ("a1", -1), ("a2", 1)]
    assert rows[0]["papers"] == [{"id": "2310.10505", "quotes": [[0, 42]]}]
    assert "111111111111111111" not in out


def test_export_to_file(tmp_path: Path) -> None:
    db = _store_with_votes(tmp_path)
    proc = run(["feedback", "export", "-o", "votes.jsonl", "--db", str(db)], tmp_path)
    assert ok(proc) == ""
    assert "exported 3 votes" in proc.stderr
    assert len((tmp_path / "votes.jsonl").read_text().splitlines()) == 3


def test_no_votes_is_empty_and_store_is_protected(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    PaperStore(db)
    assert ok(run(["feedback", "export", "--db", str(db)], tmp_path)) == ""
    line = user_error(run(["feedback", "export", "-o", str(db), "--db", str(db)], tmp_path))
    assert "refusing" in line
