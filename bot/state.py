"""The bot's own small state: which channels capture paper links, how far the daily refresh got.

Why a JSON file beside the store rather than tables in it: the store belongs to ``retrieval``
(its schema is versioned and shared with the CLI), and this state is a handful of ids and one
date that only the bot reads. Writes go to a temporary file that is then renamed over the old
one, so a crash mid-write leaves the previous state, never a torn file. A missing or unreadable
file is an empty state (logged), never a reason not to start.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Any

_log = logging.getLogger("paperbot.bot.state")

VERSION = 1


def default_state_path(store_path: Path) -> Path:
    """``<store>.bot.json`` next to the store (so a Docker volume holding the store holds it)."""
    return store_path.with_name(store_path.name + ".bot.json")


class BotState:
    """Thread-safe accessors over the state file; every change is written through at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, Any] = self._read()

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
        with self._lock:
            return str(channel_id) in self._data.get("watched", {}).get(str(guild_id), [])

    def watched_channels(self, guild_id: int) -> list[int]:
        with self._lock:
            return [int(c) for c in self._data.get("watched", {}).get(str(guild_id), [])]

    def set_watched(self, guild_id: int, channel_id: int, on: bool) -> bool:
        """Turn capture on/off for a channel; returns whether anything changed."""
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
        with self._lock:
            value = self._data.get("daily", {}).get("done_through")
        try:
            return date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    def record_daily(self, done_through: date | None, summary: str) -> None:
        with self._lock:
            daily = self._data.setdefault("daily", {})
            if done_through is not None:
                daily["done_through"] = done_through.isoformat()
            daily["last_summary"] = summary
            self._write()

    def daily_summary(self) -> str | None:
        with self._lock:
            value = self._data.get("daily", {}).get("last_summary")
        return value if isinstance(value, str) else None
