"""Several bot processes on one store: one runs the once-only jobs, and one takes over when it
stops; shard ranges come from the settings."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot import create_bot
from bot.client import ShardedPaperBot
from tests.bot.conftest import running_bot
from tests.discord_standin import DiscordStandIn


async def test_one_bot_leads_and_another_takes_over_when_it_stops(
    standin: DiscordStandIn, make_settings: Any, library: Any
) -> None:
    settings = make_settings(leader_check_seconds=0.05)
    async with (
        running_bot(standin, settings, library) as first,
        running_bot(standin, settings, library) as second,
    ):
        assert first.bot.leading() and not second.bot.leading()
        await first.bot.close()
        async with asyncio.timeout(5):
            while not second.bot.leading():
                await asyncio.sleep(0.02)


async def test_the_jobs_are_skipped_where_not_leading(
    standin: DiscordStandIn, make_settings: Any, library: Any
) -> None:
    settings = make_settings(leader_check_seconds=60, daily_refresh_time="06:00")
    ran: list[str] = []

    async def refresh_now() -> None:
        ran.append("refresh")

    async with (
        running_bot(standin, settings, library) as first,
        running_bot(standin, settings, library) as second,
    ):
        for running in (second, first):
            daily = running.bot.get_cog("DailyCog")
            daily.refresh_now = refresh_now
            await daily._scheduled()
    assert ran == ["refresh"]  # the second process left the refresh to the first


def test_a_shard_range_makes_a_sharded_bot_running_those_shards(make_settings: Any) -> None:
    bot = create_bot(make_settings(shard_count=4, shard_ids="2-3"), open_library=False)
    assert isinstance(bot, ShardedPaperBot)
    assert bot.shard_count == 4 and bot.shard_ids == [2, 3]


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"shard_ids": "0"}, "needs PAPERBOT_SHARD_COUNT"),
        ({"shard_count": 2, "shard_ids": "1-2"}, "beyond PAPERBOT_SHARD_COUNT=2"),
        ({"shard_count": 2, "shard_ids": "one"}, "is not a shard id"),
    ],
)
def test_a_bad_shard_range_is_refused(
    make_settings: Any, values: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        make_settings(**values)
