"""👍/👎 on answers: one vote per user per answer, kept with what was asked and what was quoted.

Why this shape: the votes are training data for a future sentence model, so each one carries
the question, the papers in the order shown and the quoted offsets into their abstracts, copied
when the vote is cast (the answer itself may be pruned later). Why a salted hash of the user id:
one vote per user needs to recognise a second click, not to know who clicked; the salt is made
once per store and never exported, so the export carries no Discord ids and cannot be joined
back to them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from retrieval.clock import Clock, utc_now
from retrieval.sqlcompat import FeatureStore, SqlConnection, is_missing_table

if TYPE_CHECKING:
    from retrieval.conversations import AnswerRecord

DDL = """
CREATE TABLE IF NOT EXISTS bot_votes (
    answer_id TEXT NOT NULL,
    voter TEXT NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    question TEXT NOT NULL,
    paper_ids TEXT NOT NULL,
    quotes TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (answer_id, voter)
);
CREATE TABLE IF NOT EXISTS bot_vote_salt (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    salt TEXT NOT NULL
);
"""


class FeedbackUnavailable(Exception):
    """The store is read-only: votes cannot be kept."""


@dataclass(frozen=True, slots=True)
class VoteResult:
    vote: int
    changed: bool  # an earlier, different vote by the same user was replaced
    repeated: bool  # the same vote again: nothing changed


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class Feedback:
    """Votes on answers, in the store beside the papers."""

    def __init__(self, store: FeatureStore, *, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock

    def _salt(self, conn: SqlConnection) -> bytes:
        row = conn.execute("SELECT salt FROM bot_vote_salt WHERE id = 1").fetchone()
        if row is None:
            # Two processes may both find no salt (PostgreSQL does not serialise the reads):
            # the first insert wins and both use what was kept.
            conn.execute(
                "INSERT INTO bot_vote_salt (id, salt) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
                (secrets.token_hex(16),),
            )
            row = conn.execute("SELECT salt FROM bot_vote_salt WHERE id = 1").fetchone()
        return str(row[0]).encode()

    @staticmethod
    def _voter(salt: bytes, user_id: int) -> str:
        return hashlib.blake2b(str(user_id).encode(), key=salt, digest_size=16).hexdigest()

    def vote(self, answer: AnswerRecord, user_id: int, vote: int) -> VoteResult:
        """Record ``vote`` (+1 or -1) by ``user_id`` on ``answer``; a second vote by the same
        user replaces the first."""
        if vote not in (1, -1):
            raise ValueError("a vote is +1 or -1")
        if not self.store.ensure_tables(DDL):
            raise FeedbackUnavailable(f"{self.store.path} is read-only")
        now = self.clock().timestamp()
        with self.store.transaction() as conn:
            voter = self._voter(self._salt(conn), user_id)
            row = conn.execute(
                "SELECT vote FROM bot_votes WHERE answer_id = ? AND voter = ?",
                (answer.answer_id, voter),
            ).fetchone()
            if row is not None and int(row[0]) == vote:
                return VoteResult(vote, changed=False, repeated=True)
            conn.execute(
                "INSERT INTO bot_votes (answer_id, voter, vote, question, paper_ids, quotes,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(answer_id, voter) DO UPDATE SET vote = excluded.vote,"
                " updated_at = excluded.updated_at",
                (
                    answer.answer_id,
                    voter,
                    vote,
                    answer.question,
                    json.dumps(list(answer.paper_ids)),
                    json.dumps(answer.quotes),
                    now,
                    now,
                ),
            )
        return VoteResult(vote, changed=row is not None, repeated=False)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every vote, oldest first, as exported (no Discord ids: the voter is a salted hash)."""
        try:
            cursor = self.store.reader().execute(
                "SELECT answer_id, voter, vote, question, paper_ids, quotes, created_at,"
                " updated_at FROM bot_votes ORDER BY created_at, answer_id, voter"
            )
        except Exception as exc:
            if is_missing_table(exc):
                return
            raise
        for aid, voter, vote, question, ids, quotes, created, updated in cursor:
            paper_ids = json.loads(ids)
            offsets = json.loads(quotes)
            yield {
                "answer_id": aid,
                "voter": voter,
                "vote": int(vote),
                "question": question,
                "papers": [
                    {"id": pid, "quotes": [list(span) for span in offsets.get(pid, [])]}
                    for pid in paper_ids
                ],
                "created_at": _iso(float(created)),
                "updated_at": _iso(float(updated)),
            }

    def export(self, fh: TextIO) -> int:
        """Write every vote as one JSON object per line; returns how many."""
        count = 0
        for row in self.rows():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count

    def tally(self, answer_id: str) -> tuple[int, int]:
        """(👍, 👎) on one answer."""
        try:
            row = (
                self.store.reader()
                .execute(
                    "SELECT COALESCE(SUM(CASE WHEN vote = 1 THEN 1 ELSE 0 END), 0),"
                    " COALESCE(SUM(CASE WHEN vote = -1 THEN 1 ELSE 0 END), 0)"
                    " FROM bot_votes WHERE answer_id = ?",
                    (answer_id,),
                )
                .fetchone()
            )
        except Exception as exc:
            if is_missing_table(exc):
                return 0, 0
            raise
        return int(row[0]), int(row[1])
