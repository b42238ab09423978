"""``/about`` and ``/help``: what the bot searches and how to use it (both private to the asker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import PaperBotMixin
from bot.messages import defer, send_followup, send_response
from bot.render import about_message, help_message

if TYPE_CHECKING:
    from retrieval.search import CollectionInfo


class InfoCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot

    @app_commands.command(
        name="about",
        description="Which collection I search, how many papers, when indexed, my version.",
        extras={"cooldown": False},
    )
    async def about(self, interaction: discord.Interaction) -> None:
        # Deferred: library.info is quick, but it may queue behind other users' index work.
        await defer(interaction, ephemeral=True)
        library = self.bot.require_library()
        scope = self.bot.collection_for(interaction.guild_id)
        shared = self.bot.settings.collection

        def work() -> tuple[CollectionInfo, int | None]:
            info = library.info(shared)
            if scope is None:
                return info, None
            # The scope's count is the shared one plus the guild's own.
            return info, library.info(scope).paper_count - info.paper_count

        info, own = await self.bot.run_blocking(work)
        guild_id, channel_id = interaction.guild_id, interaction.channel_id
        watching = bool(guild_id and channel_id and self.bot.state.watched(guild_id, channel_id))
        daily = None
        if self.bot.settings.daily_refresh_time:
            last = self.bot.state.daily_summary() or "not run yet"
            daily = f"{self.bot.settings.daily_refresh_time} UTC; last: {last}"
        out = about_message(
            info,
            version=self.bot.version,
            library_version=library.version,
            guild_papers=own,
            watching=watching,
            daily=daily,
        )
        await send_followup(interaction, out, ephemeral=True)

    @app_commands.command(
        name="help", description="How to ask paperbot questions.", extras={"cooldown": False}
    )
    async def help(self, interaction: discord.Interaction) -> None:
        await send_response(interaction, help_message(), ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(InfoCog(bot))
