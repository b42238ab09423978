"""The Discord client: a ``commands.Bot`` that is handed its dependencies instead of finding them.

Why dependency injection: the same class runs in production (a Library over the user's store), in
end-to-end tests (a Library over a temporary store, a loopback Discord) and in the benchmark,
without module-level state or monkeypatching. Why ``setup_hook``: it runs once, after login and
before the gateway connects, whereas ``on_ready`` fires again after every reconnect; loading
extensions or syncing commands there would repeat work (and syncing hits a strict rate limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.cooldown import UserCooldown

if TYPE_CHECKING:
    from config.settings import Settings
    from retrieval.search import Library

_log = logging.getLogger("paperbot.bot")

EXTENSIONS = (
    "bot.exts.errors",
    "bot.exts.ask",
    "bot.exts.search",
    "bot.exts.papers",
    "bot.exts.info",
    "bot.exts.mentions",
)

T = TypeVar("T")


def paperbot_version() -> str:
    try:
        return metadata.version("paperbot")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "0+unknown"


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


class PaperBotMixin:
    """What paperbot adds to discord.py's Bot; mixed into the plain and the sharded client."""

    settings: Settings
    library: Library | None
    cooldowns: UserCooldown
    view_timeout: float
    version: str

    def _init_paperbot(
        self, settings: Settings, library: Library | None, view_timeout: float
    ) -> None:
        self.settings = settings
        self.library = library
        self.cooldowns = UserCooldown(settings.cooldown_rate, settings.cooldown_seconds)
        self.view_timeout = view_timeout
        self.version = paperbot_version()

    async def setup_hook(self) -> None:
        if self.library is not None:
            # Load the index and the autocomplete titles before the first user needs them.
            await self.run_blocking(self.library.warm)
        for name in EXTENSIONS:
            await self.load_extension(name)  # type: ignore[attr-defined]
        _log.info("loaded %d extensions", len(EXTENSIONS))

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: mentions are handled by ``bot.exts.mentions``."""

    def require_library(self) -> Library:
        if self.library is None:
            raise RuntimeError("this bot was created without a Library (sync-only)")
        return self.library

    def collection_for(self, guild_id: int | None) -> str | None:
        """The collection a guild's questions search. ``None`` means the configured default.

        One place to change when guilds get their own collections (per-guild ``/add``).
        """
        return None

    async def run_blocking(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run index work in a worker thread so the gateway heartbeat and other users never wait."""
        return await asyncio.to_thread(func, *args, **kwargs)

    async def on_ready(self) -> None:
        user = getattr(self, "user", None)
        _log.info("ready as %s (id %s)", user, getattr(user, "id", "?"))


class PaperBot(PaperBotMixin, commands.Bot):
    """paperbot on a single gateway connection."""

    def __init__(
        self,
        settings: Settings,
        library: Library | None,
        *,
        intents: discord.Intents | None = None,
        view_timeout: float = 600.0,
        **options: Any,
    ) -> None:
        super().__init__(**_bot_options(intents, options))
        self._init_paperbot(settings, library, view_timeout)


class ShardedPaperBot(PaperBotMixin, commands.AutoShardedBot):
    """paperbot over ``settings.discord_shards`` gateway connections (large bots)."""

    def __init__(
        self,
        settings: Settings,
        library: Library | None,
        *,
        intents: discord.Intents | None = None,
        view_timeout: float = 600.0,
        **options: Any,
    ) -> None:
        options.setdefault("shard_count", settings.discord_shards)
        super().__init__(**_bot_options(intents, options))
        self._init_paperbot(settings, library, view_timeout)


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
    ``options`` go to discord.py's Bot (e.g. ``view_timeout``, ``guild_ready_timeout``).
    """
    if library is None and open_library:
        from retrieval.search import Library

        library = Library.open(settings)
    cls = ShardedPaperBot if settings.discord_shards else PaperBot
    return cls(settings, library, **options)
