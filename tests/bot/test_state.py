"""The bot's small state (watched channels, daily refresh bookkeeping) in the store, on each
backend; the old JSON file imported once; the file itself when there is no writable store."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from bot.state import BotState, default_state_path
from tests.retrieval import store_backends
from tests.retrieval.store_backends import StoreFactory

# Both store backends, as the store tests have them (tests/retrieval/conftest.py).
any_store_factory = store_backends.any_store_factory
backend = store_backends.backend

GUILD, OTHER_GUILD = 1_180_000_000_000_000_001, 7
A, B, C = 1_180_000_000_000_000_010, 1_180_000_000_000_000_020, 30


def test_state_in_the_store_is_shared_by_every_process(
    any_store_factory: StoreFactory, tmp_path: Path
) -> None:
    first = BotState(tmp_path / "unused.json", store=any_store_factory())
    second = BotState(tmp_path / "unused.json", store=any_store_factory())  # another process
    assert first.in_store and second.in_store
    assert not first.watched(GUILD, A) and first.watched_channels(GUILD) == []
    assert first.set_watched(GUILD, B, True) and first.set_watched(GUILD, A, True)
    assert not second.set_watched(GUILD, A, True)  # already on: nothing changed
    second.set_watched(OTHER_GUILD, C, True)
    assert second.watched(GUILD, A) and second.watched_channels(GUILD) == [B, A]  # order kept
    assert first.watched_channels(OTHER_GUILD) == [C]
    assert second.set_watched(GUILD, B, False) and not first.set_watched(GUILD, B, False)
    assert first.watched_channels(GUILD) == [A] and not first.watched(GUILD, B)

    assert first.daily_done_through() is None and first.daily_summary() is None
    first.record_daily(date(2026, 6, 7), "30 papers, 2 new")
    assert second.daily_done_through() == date(2026, 6, 7)
    second.record_daily(None, "failed: timeout")  # a failure does not move the day
    assert first.daily_done_through() == date(2026, 6, 7)
    assert first.daily_summary() == "failed: timeout"
    assert not (tmp_path / "unused.json").exists()  # nothing written beside the store


def test_an_old_state_file_is_imported_once(
    any_store_factory: StoreFactory, tmp_path: Path
) -> None:
    path = default_state_path(tmp_path / "papers.db")
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "watched": {str(GUILD): [str(A), str(B)], "7": ["30"]},
                "daily": {"done_through": "2026-05-31", "last_summary": "12 papers"},
            }
        ),
        encoding="utf-8",
    )
    state = BotState(path, store=any_store_factory())
    assert state.watched_channels(GUILD) == [A, B] and state.watched(OTHER_GUILD, C)
    assert state.daily_done_through() == date(2026, 5, 31)
    assert state.daily_summary() == "12 papers"
    state.set_watched(GUILD, A, False)
    state.record_daily(date(2026, 6, 1), "3 papers")
    # A restart (or a second process) finds the file still there: it is not imported again.
    again = BotState(path, store=any_store_factory())
    assert again.watched_channels(GUILD) == [B]
    assert again.daily_done_through() == date(2026, 6, 1)


def test_an_unreadable_state_file_imports_nothing(
    any_store_factory: StoreFactory, tmp_path: Path
) -> None:
    path = tmp_path / "papers.db.bot.json"
    path.write_text("{not json", encoding="utf-8")
    state = BotState(path, store=any_store_factory())
    assert state.in_store and state.watched_channels(GUILD) == []
    assert state.set_watched(GUILD, A, True) and state.watched(GUILD, A)


def test_a_read_only_store_keeps_the_state_in_the_file(
    any_store_factory: StoreFactory, tmp_path: Path
) -> None:
    any_store_factory()
    path = tmp_path / "state.json"
    state = BotState(path, store=any_store_factory(readonly=True))
    assert not state.in_store
    assert state.set_watched(GUILD, A, True)
    assert BotState(path).watched_channels(GUILD) == [A]  # written to the file


def test_without_a_store_the_file_is_the_state(tmp_path: Path) -> None:
    """``paperbot sync`` has no library: the bot still starts, with the file as before."""
    path = tmp_path / "state.json"
    state = BotState(path)
    assert not state.in_store
    assert state.set_watched(GUILD, A, True) and not state.set_watched(GUILD, A, True)
    state.record_daily(date(2026, 6, 9), "earlier")
    again = BotState(path)
    assert again.watched_channels(GUILD) == [A]
    assert again.daily_done_through() == date(2026, 6, 9) and again.daily_summary() == "earlier"
