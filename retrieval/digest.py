"""The daily digest's state and selection: which channel gets which Hugging Face day, once.

What is kept (tables in the store, SQLite or PostgreSQL, so a restart or a second bot process
over the same store sees the same state; nothing is held in memory):

* ``digests``: one row per channel (guild, channel, time ``HH:MM`` UTC, count, who set it, when),
  the UTC date of its last run (``last_run``: posted, or skipped because nothing was new) and
  the Hugging Face day it last posted (``last_day``);
* ``digest_posts``: every paper posted in a channel (with its day and the message), so no paper
  is ever posted twice in one channel, whatever happens to the schedule;
* ``digest_days``: which papers of a collection are on which day's Hugging Face daily list, with
  their upvotes. Filled from the papers' metadata (``hf_daily_date``, ``upvotes``: see
  :mod:`retrieval.ingest.hf`) and brought up to date from the store's change log
  (:meth:`PaperStore.changes_since`), so a day's papers are one index range scan rather than a
  ``json_extract`` over every paper (0.3 s per 100k papers), and papers written by another
  process (``paperbot ingest``) are seen too.

The selection for a channel: the most recent Hugging Face day (at most ``today``) after the day
it last got, whose papers it has not had; its top ``count`` papers by upvotes. No such day: the
run is skipped (recorded, so it is not tried again that day). Why "after the day it last got"
rather than "any paper not had yet": yesterday's list always has papers below the top N, and a
digest of leftovers would be a second digest of the same day.

Exactly once: a run is *claimed* in one transaction (``last_run`` set to today, the papers
inserted into ``digest_posts``) before the message is sent, and released again if the send
fails in a way worth retrying. A crash between the claim and the send loses that day's digest
rather than posting it twice: for a once-a-day message, missing one is the lesser harm.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from retrieval.sqlcompat import SqlConnection

if TYPE_CHECKING:
    from retrieval.papers import Paper
    from retrieval.stores import Store

_log = logging.getLogger("paperbot.retrieval.digest")

MAX_COUNT = 10  # papers in one digest: one embed each, and a message holds at most 10 embeds
MAX_FAILURES = 3  # retried sends of one day's digest before giving up until tomorrow
_BATCH = 500

DDL = """
CREATE TABLE IF NOT EXISTS digests (
    channel_id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    count INTEGER NOT NULL,
    set_by INTEGER NOT NULL,
    set_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'on',
    last_run TEXT,
    last_day TEXT,
    failed_on TEXT,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS digests_guild ON digests(guild_id);
CREATE TABLE IF NOT EXISTS digest_posts (
    channel_id INTEGER NOT NULL,
    pk INTEGER NOT NULL,
    paper_id TEXT NOT NULL,
    day TEXT NOT NULL,
    posted_on TEXT NOT NULL,
    message_id INTEGER,
    PRIMARY KEY (channel_id, pk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS digest_days (
    collection TEXT NOT NULL,
    pk INTEGER NOT NULL,
    day TEXT NOT NULL,
    upvotes INTEGER NOT NULL,
    PRIMARY KEY (collection, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS digest_days_day ON digest_days(collection, day, upvotes);
CREATE TABLE IF NOT EXISTS digest_synced (
    collection TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
"""

_TIME = re.compile(r"^\s*([01]?\d|2[0-3])\s*[:h.]\s*([0-5]\d)\s*$")

ON = "on"
STOPPED = "stopped"  # by /digest time:off
DELETED = "off: the channel was deleted"


def parse_time(value: str) -> str | None:
    """``"8:00"``, ``"08:00"``, ``"8h00"`` -> ``"08:00"``; None for anything else."""
    match = _TIME.match(value or "")
    if not match:
        return None
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def clamp_count(count: int) -> int:
    return max(1, min(MAX_COUNT, int(count)))


@dataclass(frozen=True, slots=True)
class Digest:
    channel_id: int
    guild_id: int
    at: str  # HH:MM UTC
    count: int
    set_by: int
    set_at: str
    status: str
    last_run: date | None
    last_day: date | None

    @property
    def on(self) -> bool:
        return self.status == ON


@dataclass(frozen=True, slots=True)
class DayPaper:
    paper: Paper
    upvotes: int
    pk: int


@dataclass(frozen=True, slots=True)
class Selection:
    """What one channel's digest posts: ``papers`` (best first) of ``day``'s list of ``total``."""

    channel_id: int
    day: date
    papers: tuple[DayPaper, ...]
    total: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A run claimed for ``today``; :meth:`Digests.release` undoes it (see the module docs)."""

    selection: Selection
    today: date
    previous_run: date | None
    previous_day: date | None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _int(value: Any) -> int:
    """Upvotes as read from the metadata: a JSON number on SQLite, its text on PostgreSQL."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return 0


def _lock(conn: SqlConnection, channel_id: int) -> None:
    """Lock a digest's row for the rest of the transaction before reading it: a no-op on
    SQLite (its write transactions are exclusive already); on PostgreSQL a second process
    claiming the same digest waits here, then reads what the first one wrote."""
    conn.execute("UPDATE digests SET status = status WHERE channel_id = ?", (channel_id,))


class Digests:
    """The digest tables of one store for one (shared) collection."""

    _COLUMNS = "channel_id, guild_id, at, count, set_by, set_at, status, last_run, last_day"

    def __init__(self, store: Store, collection: str) -> None:
        self.store = store
        self.collection = collection
        self.writable = store.ensure_tables(DDL)

    def _ready(self) -> bool:
        """Whether the tables exist (a read-only store without them reads as empty)."""
        return self.writable or self.store.has_table("digests")

    # -- configuration ----------------------------------------------------------------------
    def set(
        self,
        *,
        guild_id: int,
        channel_id: int,
        at: str,
        count: int,
        set_by: int,
        now: datetime,
    ) -> Digest:
        """Create, change or restart a channel's digest. It runs from the *next* ``at``
        (today's when it is still ahead), so setting one up never posts at once, and what the
        channel already had is kept (``last_run``, ``last_day``, its posts), so moving the time
        or stopping and starting again never posts twice in a day."""
        normal = parse_time(at)
        if normal is None:
            raise ValueError(f"not a time of day: {at!r}")
        today = now.date().isoformat()
        first_run = today if now.strftime("%H:%M") >= normal else None
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO digests (channel_id, guild_id, at, count, set_by, set_at, status,"
                " last_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(channel_id) DO UPDATE SET guild_id=excluded.guild_id,"
                " at=excluded.at, count=excluded.count, set_by=excluded.set_by,"
                " set_at=excluded.set_at, status=excluded.status, failures=0, failed_on=NULL,"
                # the later of the two runs (a NULL is no run); CASE: no 2-argument MAX on
                # PostgreSQL, no GREATEST on SQLite
                " last_run=CASE WHEN digests.last_run IS NULL"
                " OR excluded.last_run > digests.last_run THEN excluded.last_run"
                " ELSE digests.last_run END",
                (
                    channel_id,
                    guild_id,
                    normal,
                    clamp_count(count),
                    set_by,
                    now.isoformat(timespec="seconds"),
                    ON,
                    first_run,
                ),
            )
        digest = self.get(channel_id)
        assert digest is not None
        return digest

    def get(self, channel_id: int) -> Digest | None:
        if not self._ready():
            return None
        row = (
            self.store.reader()
            .execute(f"SELECT {self._COLUMNS} FROM digests WHERE channel_id = ?", (channel_id,))
            .fetchone()
        )
        return self._digest(row) if row else None

    def of_guild(self, guild_id: int) -> list[Digest]:
        if not self._ready():
            return []
        rows = self.store.reader().execute(
            f"SELECT {self._COLUMNS} FROM digests WHERE guild_id = ? AND status != ?"
            " ORDER BY at, channel_id",
            (guild_id, STOPPED),
        )
        return [self._digest(row) for row in rows]

    def stop(self, channel_id: int) -> bool:
        """Stop a channel's digest (on, or switched off for a reason). Its row is kept, hidden
        from the list, so that starting it again remembers what the channel already had. False
        if there was none."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE digests SET status = ? WHERE channel_id = ? AND status != ?",
                (STOPPED, channel_id, STOPPED),
            )
            return cursor.rowcount > 0

    def disable(self, channel_id: int, status: str) -> None:
        """Switch a digest off for a reason shown in the list (e.g. its channel was deleted)."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE digests SET status = ? WHERE channel_id = ?", (status, channel_id))

    @staticmethod
    def _digest(row: Sequence[Any]) -> Digest:
        return Digest(
            channel_id=int(row[0]),
            guild_id=int(row[1]),
            at=str(row[2]),
            count=int(row[3]),
            set_by=int(row[4]),
            set_at=str(row[5]),
            status=str(row[6]),
            last_run=_date(row[7]),
            last_day=_date(row[8]),
        )

    # -- scheduling -------------------------------------------------------------------------
    def due(self, now: datetime) -> list[Digest]:
        """Digests whose time of day has come today and that have not run today. After a
        downtime of several days this is still one run per channel: the latest day's."""
        if not self._ready():
            return []
        rows = self.store.reader().execute(
            f"SELECT {self._COLUMNS} FROM digests WHERE status = ? AND at <= ?"
            " AND (last_run IS NULL OR last_run < ?) ORDER BY at, channel_id",
            (ON, now.strftime("%H:%M"), now.date().isoformat()),
        )
        return [self._digest(row) for row in rows]

    def select(self, digest: Digest, today: date) -> Selection | None:
        """The papers ``digest`` would post today (see the module docs), or None: nothing new."""
        self.sync_days()
        conn = self.store.reader()
        after = digest.last_day.isoformat() if digest.last_day else ""
        not_posted = "pk NOT IN (SELECT pk FROM digest_posts WHERE channel_id = ?)"
        row = conn.execute(
            "SELECT day FROM digest_days WHERE collection = ? AND day <= ? AND day > ?"
            f" AND {not_posted} ORDER BY day DESC LIMIT 1",
            (self.collection, today.isoformat(), after, digest.channel_id),
        ).fetchone()
        if row is None:
            return None
        day = str(row[0])
        total = int(
            conn.execute(
                "SELECT COUNT(*) FROM digest_days WHERE collection = ? AND day = ?",
                (self.collection, day),
            ).fetchone()[0]
        )
        ranked = conn.execute(
            "SELECT pk, upvotes FROM digest_days WHERE collection = ? AND day = ?"
            f" AND {not_posted} ORDER BY upvotes DESC, pk LIMIT ?",
            (self.collection, day, digest.channel_id, clamp_count(digest.count)),
        ).fetchall()
        papers = self.store.papers_by_pks([int(pk) for pk, _ in ranked])
        chosen = tuple(
            DayPaper(papers[int(pk)], int(upvotes), int(pk))
            for pk, upvotes in ranked
            if int(pk) in papers
        )
        if not chosen:
            return None
        return Selection(digest.channel_id, date.fromisoformat(day), chosen, total)

    def claim(self, digest: Digest, selection: Selection, today: date) -> Claim | None:
        """Record the run and its papers before sending. None when another tick or process
        already ran this digest today (the check and the write are one transaction)."""
        with self.store.transaction() as conn:
            _lock(conn, digest.channel_id)
            row = conn.execute(
                "SELECT last_run, last_day, status FROM digests WHERE channel_id = ?",
                (digest.channel_id,),
            ).fetchone()
            if row is None or row[2] != ON or (row[0] and row[0] >= today.isoformat()):
                return None
            conn.execute(
                "UPDATE digests SET last_run = ?, last_day = ? WHERE channel_id = ?",
                (today.isoformat(), selection.day.isoformat(), digest.channel_id),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO digest_posts (channel_id, pk, paper_id, day, posted_on)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        digest.channel_id,
                        item.pk,
                        item.paper.id,
                        selection.day.isoformat(),
                        today.isoformat(),
                    )
                    for item in selection.papers
                ],
            )
        return Claim(selection, today, _date(row[0]), _date(row[1]))

    def posted(self, claim: Claim, message_id: int) -> None:
        """The claimed digest was sent as ``message_id``."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE digest_posts SET message_id = ? WHERE channel_id = ? AND posted_on = ?"
                " AND message_id IS NULL",
                (message_id, claim.selection.channel_id, claim.today.isoformat()),
            )
            conn.execute(
                "UPDATE digests SET failures = 0, failed_on = NULL WHERE channel_id = ?",
                (claim.selection.channel_id,),
            )

    def release(self, claim: Claim, *, retry: bool) -> bool:
        """The send failed. ``retry``: undo the claim so a later tick tries again, at most
        :data:`MAX_FAILURES` times a day; otherwise (the bot may not post there) the day stays
        claimed but its papers are freed for a later day. Returns whether it will be retried."""
        channel = claim.selection.channel_id
        today = claim.today.isoformat()
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM digest_posts WHERE channel_id = ? AND posted_on = ?"
                " AND message_id IS NULL",
                (channel, today),
            )
            _lock(conn, channel)
            row = conn.execute(
                "SELECT failed_on, failures FROM digests WHERE channel_id = ?", (channel,)
            ).fetchone()
            failures = (int(row[1]) if row and row[0] == today else 0) + 1
            again = retry and failures < MAX_FAILURES
            conn.execute(
                "UPDATE digests SET failed_on = ?, failures = ?, last_run = ?, last_day = ?"
                " WHERE channel_id = ?",
                (
                    today,
                    failures,
                    (claim.previous_run.isoformat() if claim.previous_run else None)
                    if again
                    else today,
                    claim.previous_day.isoformat() if claim.previous_day else None,
                    channel,
                ),
            )
        return again

    def skipped(self, digest: Digest, today: date) -> None:
        """Nothing new for ``digest`` today: not tried again until tomorrow."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE digests SET last_run = ? WHERE channel_id = ?"
                " AND (last_run IS NULL OR last_run < ?)",
                (today.isoformat(), digest.channel_id, today.isoformat()),
            )

    def posts(self, channel_id: int) -> list[tuple[str, date, date]]:
        """``(paper id, day, posted on)`` of everything posted in a channel, oldest first."""
        if not self._ready():
            return []
        rows = self.store.reader().execute(
            "SELECT paper_id, day, posted_on FROM digest_posts WHERE channel_id = ?"
            " ORDER BY posted_on, day, pk",
            (channel_id,),
        )
        return [(str(r[0]), date.fromisoformat(r[1]), date.fromisoformat(r[2])) for r in rows]

    # -- which papers are on which day's list -----------------------------------------------
    def sync_days(self) -> int:
        """Bring ``digest_days`` up to date with the collection; returns the papers re-read.

        Incremental from the store's change log; a full pass when the log cannot tell (first
        use, a store written by an older paperbot, a very large change)."""
        if not self.writable:
            return 0
        store = self.store
        generation = store.generation(self.collection)  # read before the log (see changes_since)
        row = (
            store.reader()
            .execute(
                "SELECT generation FROM digest_synced WHERE collection = ?", (self.collection,)
            )
            .fetchone()
        )
        synced = int(row[0]) if row else None
        if synced == generation:
            return 0
        changed = store.changes_since(self.collection, synced) if synced is not None else None
        with store.transaction() as conn:
            if changed is None:
                conn.execute("DELETE FROM digest_days WHERE collection = ?", (self.collection,))
                rows = conn.execute(
                    "SELECT p.pk, json_extract(p.metadata, '$.hf_daily_date'),"
                    " json_extract(p.metadata, '$.upvotes')"
                    " FROM collection_papers c JOIN papers p ON p.pk = c.pk"
                    " WHERE c.collection = ?"
                    " AND json_extract(p.metadata, '$.hf_daily_date') IS NOT NULL",
                    (self.collection,),
                ).fetchall()
                seen = len(rows)
            else:
                rows = []
                for start in range(0, len(changed), _BATCH):
                    part = changed[start : start + _BATCH]
                    marks = ",".join("?" * len(part))
                    conn.execute(
                        f"DELETE FROM digest_days WHERE collection = ? AND pk IN ({marks})",
                        [self.collection, *part],
                    )
                    rows.extend(
                        conn.execute(
                            "SELECT p.pk, json_extract(p.metadata, '$.hf_daily_date'),"
                            " json_extract(p.metadata, '$.upvotes')"
                            " FROM collection_papers c JOIN papers p ON p.pk = c.pk"
                            f" WHERE c.collection = ? AND c.pk IN ({marks})"
                            " AND json_extract(p.metadata, '$.hf_daily_date') IS NOT NULL",
                            [self.collection, *part],
                        ).fetchall()
                    )
                seen = len(changed)
            conn.executemany(
                "INSERT INTO digest_days (collection, pk, day, upvotes) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(collection, pk) DO UPDATE SET day = excluded.day,"
                " upvotes = excluded.upvotes",
                [
                    (self.collection, int(pk), str(day)[:10], _int(upvotes))
                    for pk, day, upvotes in rows
                    if isinstance(day, str) and _valid_day(day[:10])
                ],
            )
            conn.execute(
                "INSERT INTO digest_synced (collection, generation) VALUES (?, ?)"
                " ON CONFLICT(collection) DO UPDATE SET generation = excluded.generation",
                (self.collection, generation),
            )
        _log.debug("digest days of %r synced: %d papers re-read", self.collection, seen)
        return seen

    def day_papers(self, day: date) -> list[tuple[str, int]]:
        """``(paper id, upvotes)`` of one day's list, most upvoted first."""
        self.sync_days()
        if not self._ready():
            return []
        rows = self.store.reader().execute(
            "SELECT p.id, d.upvotes FROM digest_days d JOIN papers p ON p.pk = d.pk"
            " WHERE d.collection = ? AND d.day = ? ORDER BY d.upvotes DESC, d.pk",
            (self.collection, day.isoformat()),
        )
        return [(str(r[0]), int(r[1])) for r in rows]


def _valid_day(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
