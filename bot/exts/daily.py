"""Schedules :class:`bot.daily.DailyRefresher` with ``discord.ext.tasks`` at ``daily_refresh_time``.

Off unless the setting is set. On start, if the bot was down across a scheduled run (the last
final day is older than yesterday, or it never ran and today's time has passed), one catch-up
run starts right away instead of waiting up to a day; backfill covers the missed days either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, time, timedelta

from discord.ext import commands, tasks

from bot.client import PaperBotMixin
from bot.daily import DailyRefresher

_log = logging.getLogger("paperbot.bot.daily")


def parse_time(value: str) -> time:
    """``"06:30"`` -> 06:30 UTC (the setting is validated as HH:MM)."""
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes), tzinfo=UTC)


class DailyCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin, at: time) -> None:
        self.bot = bot
        self.at = at
        self.refresher = DailyRefresher(bot.settings, bot.require_library(), bot.state)
        self.loop = tasks.loop(time=at)(self._scheduled)
        self.loop.before_loop(self._before)
        self._catch_up: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self.loop.start()
        self._catch_up = asyncio.create_task(self._maybe_catch_up())

    async def cog_unload(self) -> None:
        self.loop.cancel()
        if self._catch_up is not None:
            self._catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._catch_up

    async def _before(self) -> None:
        await self.bot.wait_until_ready()  # type: ignore[attr-defined]

    async def _scheduled(self) -> None:
        if not self.bot.leading():  # another process sharing the store runs the refresh
            _log.debug("daily refresh: not the leading process; skipped")
            return
        await self.refresh_now()

    async def refresh_now(self) -> None:
        try:
            await self.refresher.run(datetime.now(UTC).date())
        except Exception:  # a store problem: logged, and tomorrow's run tries again
            _log.exception("daily refresh failed")
        self.bot.dispatch("papers_stored")  # type: ignore[attr-defined]  # topic alerts

    def missed_a_run(self, now: datetime) -> bool:
        done = self.bot.state.daily_done_through()
        due_today = now.timetz() >= self.at
        if done is None:
            return due_today
        latest_final = now.date() - timedelta(days=1 if due_today else 2)
        return done < latest_final

    async def _maybe_catch_up(self) -> None:
        await self._before()
        # Only the leading process catches up; one that takes the lead later (its leader died)
        # checks then, so a refresh missed by the dead one is still made once.
        while not self.bot.leading():
            await asyncio.sleep(self.bot.settings.leader_check_seconds)
        if self.missed_a_run(datetime.now(UTC)):
            _log.info("daily refresh: a scheduled run was missed; catching up now")
            await self.refresh_now()


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    when = bot.settings.daily_refresh_time
    if not when or bot.library is None:
        return  # off by default
    await bot.add_cog(DailyCog(bot, parse_time(when)))
