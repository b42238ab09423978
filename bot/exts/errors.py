"""Slash-command failures: a polite ephemeral line for the user, a traceback with a ref in the log.

Installed as the command tree's error handler (the pattern discord.py documents), so every command
in every extension gets the same treatment without its own try/except.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import errors


class ErrorsCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self._previous: Any = None

    async def cog_load(self) -> None:
        self._previous = self.bot.tree.on_error
        self.bot.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    async def cog_unload(self) -> None:
        if self._previous is not None:
            self.bot.tree.on_error = self._previous  # type: ignore[method-assign]

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandOnCooldown):
            await errors.send_ephemeral(interaction, errors.cooldown_text(error.retry_after))
            return
        if isinstance(error, app_commands.CheckFailure):
            await errors.send_ephemeral(interaction, "You can't use this command here.")
            return
        original = getattr(error, "original", error)
        name = interaction.command.qualified_name if interaction.command else "?"
        await errors.report_interaction_error(interaction, original, where=f"/{name}")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ErrorsCog(bot))
