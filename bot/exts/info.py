"""``/about`` and ``/help``: what the bot searches and how to use it (both private to the asker)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import parts
from bot.client import PaperBotMixin
from bot.messages import defer, send_followup, send_response


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
        collection = self.bot.collection_for(interaction.guild_id)
        info = await self.bot.run_blocking(library.info, collection)
        out = parts.about(info, version=self.bot.version, library_version=library.version)
        await send_followup(interaction, out, ephemeral=True)

    @app_commands.command(
        name="help", description="How to ask paperbot questions.", extras={"cooldown": False}
    )
    async def help(self, interaction: discord.Interaction) -> None:
        await send_response(interaction, parts.help_message(), ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(InfoCog(bot))
