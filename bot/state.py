"""The bot's own small state: which channels capture paper links, how far the daily refresh got.

Where it lives: in the paper store (:mod:`retrieval.botstate`), so every bot process using the
store (SQLite file or PostgreSQL database) shares it and each change is one transaction. A state
file from an earlier paperbot (``<store>.bot.json``) is imported into the store once.

Without a writable store (``paperbot sync`` has no library; a read-only store) it is the JSON
file as before: writes go to a temporary file that is then renamed over the old one, so a crash
mid-write leaves the previous state, never a torn file. A missing or unreadable file is an empty
state (logged), never a reason not to start.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.botstate import StoredState
    from retrieval.sqlcompat import FeatureStore

_log = logging.getLogger("paperbot.bot.state")

VERSION = 1
_DONE_THROUGH = "daily.done_through"
_SUMMARY = "daily.last_summary"
_IMPORTED = "imported.bot_json"


def default_state_path(store_path: Path) -> Path:
    """``<store>.bot.json`` next to the store (so a Docker volume holding the store holds it)."""
    return store_path.with_name(store_path.name + ".bot.json")


class BotState:
    """Thread-safe accessors over the state (in ``store`` when it is given and writable, else
    in the file at ``path``); every change is written through at once."""

    def __init__(self, path: Path, *, store: FeatureStore | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, Any] = self._read()
        self._stored: StoredState | None = None
        if store is not None:
            from retrieval.botstate import StoredState

            stored = StoredState(store)
            if stored.writable:
                self._stored = stored
                self._import_file(stored)
                self._data = {"version": VERSION}  # the store is read from now on
            else:
                _log.warning("the store is read-only: bot state stays in %s", self.path)

    @property
    def in_store(self) -> bool:
        return self._stored is not None

    def _import_file(self, stored: StoredState) -> None:
        """The JSON file's state into the store, once per store (see the module docs)."""
        if not self.path.exists():
            return
        watched: dict[int, list[int]] = {}
        for guild, channels in (self._data.get("watched") or {}).items():
            try:
                watched[int(guild)] = [int(c) for c in channels]
            except (TypeError, ValueError):
                _log.warning("bot state %s: ignoring watched entry %r", self.path, guild)
        daily = self._data.get("daily") or {}
        values = {
            key: daily[name]
            for key, name in ((_DONE_THROUGH, "done_through"), (_SUMMARY, "last_summary"))
            if isinstance(daily.get(name), str)
        }
        if stored.import_once(_IMPORTED, watched, values):
            _log.info("bot state %s imported into the store; the file is no longer read", self.path)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": VERSION}
        except (OSError, ValueError) as exc:
            _log.warning("ignoring unreadable bot state %s (%s); starting empty", self.path, exc)
            return {"version": VERSION}
        if not isinstance(data, dict):
            _log.warning("ignoring bot state %s: not a JSON object", self.path)
            return {"version": VERSION}
        return data

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- watched channels ---------------------------------------------------------------------
    def watched(self, guild_id: int, channel_id: int) -> bool:
        if self._stored is not None:
            return self._stored.is_watched(guild_id, channel_id)
        with self._lock:
            return str(channel_id) in self._data.get("watched", {}).get(str(guild_id), [])

    def watched_channels(self, guild_id: int) -> list[int]:
        if self._stored is not None:
            return self._stored.watched(guild_id)
        with self._lock:
            return [int(c) for c in self._data.get("watched", {}).get(str(guild_id), [])]

    def set_watched(self, guild_id: int, channel_id: int, on: bool) -> bool:
        """Turn capture on/off for a channel; returns whether anything changed."""
        if self._stored is not None:
            return self._stored.set_watched(guild_id, channel_id, on)
        with self._lock:
            watched: dict[str, list[str]] = self._data.setdefault("watched", {})
            channels = watched.setdefault(str(guild_id), [])
            key = str(channel_id)
            if on == (key in channels):
                return False
            if on:
                channels.append(key)
            else:
                channels.remove(key)
                if not channels:
                    del watched[str(guild_id)]
            self._write()
            return True

    # -- daily refresh ------------------------------------------------------------------------
    def daily_done_through(self) -> date | None:
        """The last day whose Hugging Face list is final and stored (or known empty)."""
        if self._stored is not None:
            value: Any = self._stored.get(_DONE_THROUGH)
        else:
            with self._lock:
                value = self._data.get("daily", {}).get("done_through")
        try:
            return date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    def record_daily(self, done_through: date | None, summary: str) -> None:
        if self._stored is not None:
            values = {_SUMMARY: summary}
            if done_through is not None:
                values[_DONE_THROUGH] = done_through.isoformat()
            self._stored.put(values)
            return
        with self._lock:
            daily = self._data.setdefault("daily", {})
            if done_through is not None:
                daily["done_through"] = done_through.isoformat()
            daily["last_summary"] = summary
            self._write()

    def daily_summary(self) -> str | None:
        if self._stored is not None:
            return self._stored.get(_SUMMARY)
        with self._lock:
            value = self._data.get("daily", {}).get("last_summary")
        return value if isinstance(value, str) else None
