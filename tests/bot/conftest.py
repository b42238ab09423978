"""Fixtures: a loopback Discord stand-in and a running paperbot talking to it over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot import create_bot
from config.settings import Settings
from tests.discord_standin import DiscordStandIn


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as server:
        with server.patch_discord():
            yield server


class Running:
    """A started bot plus the stand-in it talks to."""

    def __init__(self, bot: Any, discord: DiscordStandIn, task: asyncio.Task[None]) -> None:
        self.bot = bot
        self.discord = discord
        self.task = task


@contextlib.asynccontextmanager
async def running_bot(
    discord: DiscordStandIn, settings: Settings, library: Any, **options: Any
) -> AsyncIterator[Running]:
    """Start ``create_bot(settings, library=...)`` against ``discord`` and wait until ready."""
    options.setdefault("guild_ready_timeout", 0.05)
    bot = create_bot(settings, library=library, **options)
    task = asyncio.create_task(bot.start(discord.token))
    try:
        waiter = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {waiter, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # surface a start-up failure
        assert waiter in done, "bot did not become ready"
        yield Running(bot, discord, task)
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)


@pytest.fixture
def make_settings(tmp_path: Any) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "db_path": tmp_path / "x.db",
            "data_dir": tmp_path,
            "cooldown_rate": 100,
            "cooldown_seconds": 1.0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture(scope="session")
def real_library_path(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One store + index over the bundled corpus, built once per session and copied per test."""
    from retrieval.search import Library

    root = tmp_path_factory.mktemp("library")
    settings = Settings(_env_file=None, db_path=root / "x.db", data_dir=root)  # type: ignore[call-arg]
    library = Library.open(settings)
    library.warm()
    return root


@pytest.fixture
def library(real_library_path: Any, tmp_path: Any) -> Any:
    """The real Library over the bundled corpus (a private copy of the session's store)."""
    import shutil

    from retrieval.search import Library

    dest = tmp_path / "lib"
    shutil.copytree(real_library_path, dest)
    settings = Settings(_env_file=None, db_path=dest / "x.db", data_dir=dest)  # type: ignore[call-arg]
    lib = Library.open(settings)
    lib.warm()
    return lib


@pytest.fixture
def capture_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
