"""The Discord client: a ``commands.Bot`` that is handed its dependencies instead of finding them.

Why dependency injection: the same class runs in production (a Library over the user's store), in
end-to-end tests (a Library over a temporary store, a loopback Discord) and in the benchmark,
without module-level state or monkeypatching. Why ``setup_hook``: it runs once, after login and
before the gateway connects, whereas ``on_ready`` fires again after every reconnect; loading
extensions or syncing commands there would repeat work (and syncing hits a strict rate limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.cooldown import UserCooldown
from config import paperbot_version
from retrieval.clock import utc_now

if TYPE_CHECKING:
    import httpx

    from bot.adding import PaperAdder
    from bot.state import BotState
    from config.settings import Settings
    from retrieval.changes import ChangeWatcher
    from retrieval.ingest.http import PoliteClient, RetryPolicy
    from retrieval.leader import Leadership
    from retrieval.search import Library, Scope

_log = logging.getLogger("paperbot.bot")

EXTENSIONS = (
    "bot.exts.errors",
    "bot.exts.ask",
    "bot.exts.search",
    "bot.exts.papers",
    "bot.exts.info",
    "bot.exts.mentions",
    "bot.exts.add",
    "bot.exts.daily",
    "bot.exts.digest",
    "bot.exts.follow",
)

T = TypeVar("T")



INDEX_WORKERS = 1  # threads for index work (see PaperBotMixin.__init__ for why so few)
INDEX_NICENESS = 10  # how much lower the index threads' CPU priority is (see lower_priority)


def default_intents() -> discord.Intents:
    """Guilds (channel/thread cache) and guild + DM messages (mentions). No privileged intent:
    a message that mentions the bot carries its content even without message_content."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    return intents


class PaperTree(app_commands.CommandTree):
    """The command tree with the per-user cooldown (errors are handled in ``bot.exts.errors``)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # Autocomplete fires on every keystroke and is served from memory: never throttled.
        if interaction.type is not discord.InteractionType.application_command:
            return True
        command = interaction.command
        if command is not None and command.extras.get("cooldown") is False:
            return True
        bot = interaction.client
        assert isinstance(bot, PaperBotMixin)
        retry_after = bot.cooldowns.hit(interaction.user.id)
        if retry_after > 0:
            raise app_commands.CommandOnCooldown(
                app_commands.Cooldown(bot.cooldowns.rate, bot.cooldowns.per), retry_after
            )
        return True


def lower_priority(niceness: int) -> None:
    """Thread-pool initializer: give the calling (index) thread a lower CPU priority.

    Why: on a busy host the kernel shares the CPUs between the event-loop thread and the index
    thread as equals, so while a burst of questions is being ranked the loop can wait tens of
    milliseconds for a CPU, and every heartbeat and acknowledgement waits with it. Acknowledging
    is the urgent work and ranking is the batch work, so the index thread steps back. Linux
    only (there ``setpriority`` on a thread id affects that thread alone; elsewhere it would
    renice the whole process); a modest value, because a thread starved while it holds the GIL
    would stall the loop instead. Lowering one's own priority needs no privilege.
    """
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + niceness))


class PaperBotMixin:
    """What paperbot adds to discord.py's Bot; mixed into the plain and the sharded client."""

    settings: Settings
    library: Library | None
    cooldowns: UserCooldown
    view_timeout: float
    version: str
    state: BotState
    ingest_retry: RetryPolicy | None
    ingest_transport: httpx.AsyncBaseTransport | None
    _index_pool: ThreadPoolExecutor
    _ingest_http: PoliteClient | None
    _adder: PaperAdder | None
    clock: Callable[[], datetime]
    leader: Leadership | None
    _leading_task: asyncio.Task[None] | None
    _watcher: ChangeWatcher | None

    def __init__(
        self,
        settings: Settings,
        library: Library | None,
        *,
        intents: discord.Intents | None = None,
        view_timeout: float | None = None,
        index_workers: int = INDEX_WORKERS,
        index_niceness: int = INDEX_NICENESS,
        ingest_retry: RetryPolicy | None = None,
        ingest_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        **options: Any,
    ) -> None:
        # One constructor for both clients: the mixin comes first in their bases, so super()
        # is discord.py's Bot or AutoShardedBot.
        if isinstance(self, commands.AutoShardedBot):
            options.setdefault("shard_count", settings.shard_count or settings.discord_shards)
            if settings.shard_range() is not None:
                options.setdefault("shard_ids", list(settings.shard_range() or ()))
        super().__init__(**_bot_options(intents, options))
        from bot.state import BotState, default_state_path

        self.settings = settings
        self.library = library
        self.cooldowns = UserCooldown(settings.cooldown_rate, settings.cooldown_seconds)
        self.view_timeout = settings.view_timeout if view_timeout is None else view_timeout
        self.version = paperbot_version()
        self.state = BotState(
            settings.bot_state_path or default_state_path(settings.store_path),
            store=getattr(library, "store", None),  # no library (or a test double): the file
        )
        # ``ingest_retry``/``ingest_transport`` let tests and benchmarks make retries fast or
        # plug in a transport; production takes the retry policy from the settings.
        self.ingest_retry = ingest_retry
        self.ingest_transport = ingest_transport
        self.clock = clock or utc_now
        self.leader = None
        self._leading_task = None
        self._watcher = None
        self._ingest_http = None
        self._adder = None
        # A small pool of its own rather than asyncio's default one (cpu + 4 threads, shared with
        # DNS lookups): index work is CPU-bound Python, so extra threads add no throughput, only
        # contention for the GIL with the event-loop thread, which then stalls the heartbeat and
        # every other user (measured by bench/bench_bot.py). Queued work waits its turn instead.
        self._index_pool = ThreadPoolExecutor(
            max_workers=max(1, index_workers),
            thread_name_prefix="paperbot-index",
            initializer=lower_priority,
            initargs=(index_niceness,),
        )

    async def setup_hook(self) -> None:
        if self.library is not None:
            # Load the index and the autocomplete titles before the first user needs them.
            await self.run_blocking(self.library.warm)
            store = getattr(self.library, "store", None)  # none: a stand-in Library (tests)
            if store is not None:
                from retrieval.leader import leadership_for

                self.leader = leadership_for(store)
                # Taken (or not) before the cogs start their schedules, then retried in the
                # background so a process takes over when the one running the jobs dies.
                await asyncio.to_thread(self.leader.try_acquire)
                self._leading_task = asyncio.create_task(self._lead_forever())
                url = getattr(store, "url", None)
                if isinstance(url, str):  # PostgreSQL: hear other processes' writes at once
                    from retrieval.changes import ChangeWatcher

                    self._watcher = ChangeWatcher(url, self.library.indexes.changed)
                    await asyncio.to_thread(self._watcher.start)
        for name in EXTENSIONS:
            await self.load_extension(name)  # type: ignore[attr-defined]
        _log.info("loaded %d extensions", len(EXTENSIONS))

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: mentions are handled by ``bot.exts.mentions``."""

    def leading(self) -> bool:
        """Whether this process runs the once-only jobs (the daily refresh, digests, topic
        alerts): it holds the store's leadership (:mod:`retrieval.leader`). Every process
        answers questions; only one posts what must be posted once."""
        return self.leader is not None and self.leader.held()

    async def _lead_forever(self) -> None:
        assert self.leader is not None
        while True:
            await asyncio.sleep(self.settings.leader_check_seconds)
            try:
                # A thread of its own: reaching the database can take a moment.
                await asyncio.to_thread(self.leader.try_acquire)
            except Exception:
                _log.exception("leadership check failed")

    def require_library(self) -> Library:
        if self.library is None:
            raise RuntimeError("this bot was created without a Library (sync-only)")
        return self.library

    def collection_for(self, guild_id: int | None) -> Scope:
        """What a question asked in ``guild_id`` searches (see ``Library.scope``)."""
        return self.require_library().scope(guild_id)

    def ingest_http(self) -> PoliteClient:
        """The HTTP client for ``/add`` (created on first use, closed with the bot).

        One client for the bot's lifetime, so arXiv's one-request-every-3-s spacing holds across
        users. Its time budget is ``add_timeout`` split between Hugging Face and the arXiv
        fallback, so a hung upstream still leaves time to try the other.
        """
        if self._ingest_http is None:
            from retrieval.ingest.pipeline import make_client, retry_policy

            retry = self.ingest_retry or retry_policy(
                self.settings, total_timeout=self.settings.add_timeout / 2
            )
            self._ingest_http = make_client(
                self.settings, retry=retry, transport=self.ingest_transport
            )
        return self._ingest_http

    def paper_adder(self) -> PaperAdder:
        """The shared :class:`bot.adding.PaperAdder` (``/add`` and watched-channel links)."""
        if self._adder is None:
            from bot.adding import PaperAdder

            self._adder = PaperAdder(
                self.require_library(), self.settings, self.ingest_http, self.run_blocking
            )
        return self._adder

    async def run_blocking(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run index work in a worker thread so the gateway heartbeat and other users never wait."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await loop.run_in_executor(self._index_pool, call)

    async def close(self) -> None:
        if self._leading_task is not None:
            self._leading_task.cancel()
        await super().close()  # type: ignore[misc]
        if self.leader is not None:
            self.leader.release()  # another process takes over at once
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.stop)
            self._watcher = None
        if self._ingest_http is not None:
            with contextlib.suppress(Exception):
                await self._ingest_http.aclose()
            self._ingest_http = None
        # Running queries finish in their threads; queued ones are dropped (nobody awaits them).
        self._index_pool.shutdown(wait=False, cancel_futures=True)

    async def on_ready(self) -> None:
        user = getattr(self, "user", None)
        _log.info("ready as %s (id %s)", user, getattr(user, "id", "?"))


class PaperBot(PaperBotMixin, commands.Bot):
    """paperbot on a single gateway connection."""


class ShardedPaperBot(PaperBotMixin, commands.AutoShardedBot):
    """paperbot over ``settings.discord_shards`` gateway connections (large bots)."""


def _bot_options(intents: discord.Intents | None, options: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "command_prefix": commands.when_mentioned,  # never processed: see on_message
        "help_command": None,
        "intents": intents or default_intents(),
        "allowed_mentions": discord.AllowedMentions.none(),
        "tree_cls": PaperTree,
        "max_messages": None,  # no message cache: nothing here reads old messages
        "chunk_guilds_at_startup": False,
        "member_cache_flags": discord.MemberCacheFlags.none(),
    }
    merged.update(options)
    return merged


def create_bot(
    settings: Settings,
    *,
    library: Library | None = None,
    open_library: bool = True,
    **options: Any,
) -> PaperBot | ShardedPaperBot:
    """Build the bot with its Library; nothing connects until ``start()``.

    ``library`` injects a ready Library (tests, benchmarks); otherwise it is opened from
    ``settings`` unless ``open_library`` is false (``paperbot sync`` needs only the command tree).
    ``options`` go to the bot: ``view_timeout`` (default ``settings.view_timeout``),
    ``index_workers`` (threads for index work, default 1), ``index_niceness`` (their lower CPU
    priority on Linux, default 10, 0 to keep it equal), ``ingest_retry`` / ``ingest_transport``
    (the ``/add`` HTTP client's retry policy and transport, for tests) and discord.py's own
    (e.g. ``guild_ready_timeout``); ``clock`` (an aware UTC datetime callable, default
    :func:`utc_now`) is what scheduled features read the time from.
    """
    if library is None and open_library:
        from retrieval.search import Library

        library = Library.open(settings)
    # paperbot never joins voice: discord.py's "voice will NOT be supported" warnings would be
    # the first thing an operator reads, and they point at a problem that does not exist.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    sharded = settings.discord_shards or settings.shard_count
    cls = ShardedPaperBot if sharded else PaperBot
    return cls(settings, library, **options)
