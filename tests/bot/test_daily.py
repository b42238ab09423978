"""The daily Hugging Face refresh: its logic against the loopback fixture server with injected
dates (no waiting for a clock), and its scheduling inside the running bot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.daily import DailyRefresher, days_to_fetch
from bot.exts.daily import DailyCog, parse_time
from bot.state import BotState
from retrieval.ingest.http import RetryPolicy
from tests.bot.conftest import running_bot
from tests.discord_standin import DiscordStandIn
from tests.retrieval.ingest.server import HF_DAILY, Fault, FixtureServer, rewrite_daily

D = date.fromisoformat
FAST = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02, total_timeout=2.0)


@pytest.fixture
def upstream() -> Iterator[FixtureServer]:
    """Three days with papers (06-08, 06-10, 06-12: distinct ids), every other day empty."""
    with FixtureServer() as server:
        server.daily_default = None
        server.daily = {
            "2026-06-08": rewrite_daily(HF_DAILY.read_bytes(), "2601"),
            "2026-06-10": rewrite_daily(HF_DAILY.read_bytes(), "2602"),
            "2026-06-12": HF_DAILY.read_bytes(),
        }
        yield server


def settings_for(make_settings: Any, server: FixtureServer, **overrides: Any) -> Any:
    return make_settings(
        hf_base_url=server.url,
        arxiv_api_url=f"{server.url}/api/query",
        arxiv_oai_url=f"{server.url}/oai",
        http_timeout=0.5,
        http_max_attempts=2,
        http_total_timeout=3.0,
        arxiv_min_interval=0.0,
        **overrides,
    )


@pytest.fixture
def refresher(make_settings: Any, upstream: FixtureServer, library: Any, tmp_path: Path) -> Any:
    state = BotState(tmp_path / "state.json")
    return DailyRefresher(settings_for(make_settings, upstream), library, state)


def days_asked(server: FixtureServer) -> list[str]:
    return [s.query["date"][0] for s in server.requests_to("/api/daily_papers")]


def test_days_to_fetch() -> None:
    today = D("2026-06-12")
    assert days_to_fetch(None, today, 7) == [today]
    assert days_to_fetch(D("2026-06-11"), today, 7) == [today]
    assert days_to_fetch(D("2026-06-09"), today, 7) == [D("2026-06-10"), D("2026-06-11"), today]
    assert days_to_fetch(D("2026-05-01"), today, 3) == [D("2026-06-10"), D("2026-06-11"), today]
    assert days_to_fetch(D("2026-06-20"), today, 7) == [today]  # the clock went back


async def test_refresh_skips_empty_days_backfills_missed_ones_and_adds_nothing_twice(
    refresher: DailyRefresher, upstream: FixtureServer, library: Any
) -> None:
    shared = library.store.count("default")
    first = await refresher.run(D("2026-06-08"))
    assert (first.fetched, first.added, first.empty, first.error) == (30, 30, [], None)
    assert refresher.state.daily_done_through() == D("2026-06-07")
    assert library.store.count("default") == shared + 30

    # The bot was down for four days: the next run fetches them all, the empty ones are skipped.
    second = await refresher.run(D("2026-06-12"))
    assert days_asked(upstream)[1:] == [f"2026-06-{d:02d}" for d in range(8, 13)]
    assert second.empty == [D("2026-06-09"), D("2026-06-11")]
    assert (second.fetched, second.added, second.error) == (90, 60, None)  # 06-08 again: known
    assert refresher.state.daily_done_through() == D("2026-06-11")
    assert library.store.count("default") == shared + 90
    # Answerable at once in the shared collection.
    paper = library.store.get("2602.00467")
    assert paper is not None and paper.source == "huggingface"
    # (three copies share the title: the recorded list under three id prefixes)
    assert "2602.00467" in [hit.id for hit in library.search(paper.title, k=3)]

    # Running again the same day re-reads today's (still growing) list and adds nothing.
    generation = library.store.generation("default")
    third = await refresher.run(D("2026-06-12"))
    assert days_asked(upstream)[-1] == "2026-06-12" and len(days_asked(upstream)) == 7
    assert (third.fetched, third.added, third.updated) == (30, 0, 0)
    assert library.store.generation("default") == generation  # nothing re-indexed
    assert "30 papers, 0 new" in refresher.state.daily_summary()


async def test_a_failed_refresh_writes_nothing_and_is_retried_next_time(
    refresher: DailyRefresher, upstream: FixtureServer, library: Any
) -> None:
    refresher.state.record_daily(D("2026-06-09"), "earlier")
    upstream.fault("/api/daily_papers", Fault.ok(), *[Fault.status_code(503)] * 2)
    counts = {c.name: c.paper_count for c in library.store.collections()}
    report = await refresher.run(D("2026-06-12"))
    assert report.error and "503" in report.error
    assert {c.name: c.paper_count for c in library.store.collections()} == counts
    assert refresher.state.daily_done_through() == D("2026-06-09")  # not advanced
    assert "failed" in refresher.state.daily_summary()

    retry = await refresher.run(D("2026-06-12"))
    assert retry.error is None and retry.added == 60
    assert refresher.state.daily_done_through() == D("2026-06-11")


async def test_backfill_is_bounded(
    make_settings: Any, upstream: FixtureServer, library: Any, tmp_path: Path
) -> None:
    state = BotState(tmp_path / "state.json")
    state.record_daily(D("2026-05-01"), "long ago")
    settings = settings_for(make_settings, upstream, daily_refresh_backfill_days=3)
    report = await DailyRefresher(settings, library, state).run(D("2026-06-12"))
    assert report.days == [D("2026-06-10"), D("2026-06-11"), D("2026-06-12")]
    assert report.added == 60


def test_state_survives_a_restart_and_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "x.db.bot.json"
    state = BotState(path)
    assert state.set_watched(1, 2, True) and not state.set_watched(1, 2, True)
    state.record_daily(D("2026-06-11"), "ok")
    again = BotState(path)
    assert again.watched(1, 2) and not again.watched(1, 3) and not again.watched(9, 2)
    assert again.daily_done_through() == D("2026-06-11")
    assert again.set_watched(1, 2, False) and not BotState(path).watched_channels(1)
    path.write_text("{not json")
    assert BotState(path).daily_done_through() is None  # logged and ignored, not fatal
    assert not list(tmp_path.glob("*.tmp"))


def test_a_missed_run_is_detected(make_settings: Any, tmp_path: Path) -> None:
    class Bot:
        settings = make_settings()
        state = BotState(tmp_path / "s.json")

        def require_library(self) -> None:
            return None

    cog = DailyCog(Bot(), parse_time("06:30"))  # type: ignore[arg-type]
    assert parse_time("06:30") == time(6, 30, tzinfo=UTC)
    morning = datetime(2026, 6, 12, 6, 0, tzinfo=UTC)
    later = datetime(2026, 6, 12, 7, 0, tzinfo=UTC)
    assert not cog.missed_a_run(morning) and cog.missed_a_run(later)  # never ran
    Bot.state.record_daily(D("2026-06-11"), "ran")
    assert not cog.missed_a_run(later)
    Bot.state.record_daily(D("2026-06-10"), "ran yesterday morning")
    assert not cog.missed_a_run(morning) and cog.missed_a_run(later)
    Bot.state.record_daily(D("2026-06-09"), "down for a day")
    assert cog.missed_a_run(morning)


async def test_the_bot_schedules_the_refresh_and_catches_up_on_start(
    standin: DiscordStandIn, make_settings: Any, library: Any, upstream: FixtureServer
) -> None:
    today = datetime.now(UTC).date()
    upstream.daily[today.isoformat()] = rewrite_daily(HF_DAILY.read_bytes(), "2603")
    shared = library.store.count("default")
    settings = settings_for(make_settings, upstream, daily_refresh_time="00:00")
    async with running_bot(standin, settings, library) as running:
        cog = running.bot.get_cog("DailyCog")
        assert cog is not None and cog.loop.is_running()
        assert cog.loop.next_iteration is not None
        assert cog.loop.next_iteration.timetz() == time(0, 0, tzinfo=UTC)
        # Never ran and 00:00 UTC has passed: one catch-up run right after start.
        await standin.wait_for(lambda: library.store.count("default") == shared + 30, timeout=10)
        # The state is saved just after the write: wait for it rather than race it.
        await standin.wait_for(
            lambda: running.bot.state.daily_done_through() == today - timedelta(days=1),
            timeout=10,
        )
        assert running.bot.state.daily_done_through() == today - timedelta(days=1)
        about = await standin.wait_answer(await standin.slash("about"))
        assert "Daily Hugging Face refresh: 00:00 UTC" in about["content"]


async def test_no_refresh_unless_configured(
    standin: DiscordStandIn, make_settings: Any, library: Any
) -> None:
    async with running_bot(standin, make_settings(), library) as running:
        assert running.bot.get_cog("DailyCog") is None
