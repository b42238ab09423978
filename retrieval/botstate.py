"""The bot's small shared state in the store: which channels capture paper links, and named
values (how far the daily refresh got, its last summary).

Why in the store rather than a file beside it: several bot processes (shards, or hosts sharing
one PostgreSQL database) must agree on which channels are watched and on how far the refresh
got; a file is per host and its read-modify-write is not atomic across processes. Every read
goes to the store (nothing cached), every change is one transaction.

Nothing here knows of Discord: a guild and a channel are opaque integers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from retrieval.sqlcompat import FeatureStore, is_missing_table

_log = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS bot_watched (
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
CREATE TABLE IF NOT EXISTS bot_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class StoredState:
    """Watched channels and named values of the bot, in ``store`` (see module)."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self.writable = store.ensure_tables(DDL)

    # -- watched channels -------------------------------------------------------------------------
    def is_watched(self, guild_id: int, channel_id: int) -> bool:
        try:
            row = (
                self.store.reader()
                .execute(
                    "SELECT 1 FROM bot_watched WHERE guild_id = ? AND channel_id = ?",
                    (guild_id, channel_id),
                )
                .fetchone()
            )
        except Exception as exc:
            if is_missing_table(exc):
                return False
            raise
        return row is not None

    def watched(self, guild_id: int) -> list[int]:
        """A guild's watched channels, in the order they were turned on."""
        try:
            rows = (
                self.store.reader()
                .execute(
                    "SELECT channel_id FROM bot_watched WHERE guild_id = ? ORDER BY seq",
                    (guild_id,),
                )
                .fetchall()
            )
        except Exception as exc:
            if is_missing_table(exc):
                return []
            raise
        return [int(r[0]) for r in rows]

    def set_watched(self, guild_id: int, channel_id: int, on: bool) -> bool:
        """Turn capture on/off for a channel; whether anything changed (one statement each
        way, so two processes doing the same never both report a change)."""
        with self.store.transaction() as conn:
            if on:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO bot_watched (guild_id, channel_id, seq)"
                    " SELECT ?, ?, COALESCE(MAX(seq), 0) + 1 FROM bot_watched",
                    (guild_id, channel_id),
                )
            else:
                cur = conn.execute(
                    "DELETE FROM bot_watched WHERE guild_id = ? AND channel_id = ?",
                    (guild_id, channel_id),
                )
            return int(cur.rowcount) > 0

    # -- named values -----------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        try:
            row = (
                self.store.reader()
                .execute("SELECT value FROM bot_state WHERE key = ?", (key,))
                .fetchone()
            )
        except Exception as exc:
            if is_missing_table(exc):
                return None
            raise
        return str(row[0]) if row is not None else None

    def put(self, values: Mapping[str, str]) -> None:
        """Set several values in one transaction."""
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO bot_state (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    def import_once(
        self, marker: str, watched: Mapping[int, list[int]], values: Mapping[str, str]
    ) -> bool:
        """Bring in state kept elsewhere before (the old JSON file), once per store: the
        ``marker`` value is set in the same transaction, so a second process or a restart does
        not import again (and never overwrites what changed since). True when imported now."""
        with self.store.transaction() as conn:
            done = conn.execute(
                "INSERT OR IGNORE INTO bot_state (key, value) VALUES (?, ?)", (marker, "1")
            )
            if int(done.rowcount) == 0:
                return False
            for guild_id, channels in watched.items():
                for channel_id in channels:
                    conn.execute(
                        "INSERT OR IGNORE INTO bot_watched (guild_id, channel_id, seq)"
                        " SELECT ?, ?, COALESCE(MAX(seq), 0) + 1 FROM bot_watched",
                        (guild_id, channel_id),
                    )
            conn.executemany(
                "INSERT OR IGNORE INTO bot_state (key, value) VALUES (?, ?)",
                list(values.items()),
            )
        _log.info(
            "imported the bot state file: %d watched channels, %d values",
            sum(len(c) for c in watched.values()),
            len(values),
        )
        return True
