"""``/add paper`` and ``/watch``: a server grows its own collection beside the shared one.

Who may add: members with Manage Server, or with a role named (or id'd) in the ``add_roles``
setting. The check runs before anything else and its refusal is private. ``/add`` then defers
publicly (the paper card that follows is news for the whole channel), and any failure replaces
the "thinking" message with a private, polite line (:func:`bot.errors.send_ephemeral`).

``/watch`` records the channel in the bot's state file. Honest limitation: without Discord's
privileged message-content intent the bot only sees the text of messages that mention it, so in
a watched channel links are captured from messages that mention the bot (see
``bot.exts.mentions``), not from every message.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import errors
from bot.adding import AddError, NotAReference, Status, parse_reference
from bot.client import PaperBotMixin
from bot.messages import defer, send_followup, send_response
from bot.render import added_message, notice

_log = logging.getLogger("paperbot.bot.add")

NOT_ALLOWED = (
    "Adding papers needs the Manage Server permission{roles}. Ask a moderator to add it for you."
)
GUILD_ONLY = "This works in servers only: a server's collection is shared by its members."


def allowed_roles(setting: str) -> set[str]:
    """``"Librarian, 1234"`` -> ``{"librarian", "1234"}`` (names compared case-insensitively)."""
    return {part.strip().casefold() for part in setting.split(",") if part.strip()}


def may_manage_papers(interaction: discord.Interaction, setting: str) -> bool:
    """Manage Server (or Administrator), or one of the configured roles."""
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    wanted = allowed_roles(setting)
    member = interaction.user
    if not wanted or not isinstance(member, discord.Member):
        return False
    return any(
        str(role.id) in wanted or role.name.casefold() in wanted
        for role in member.roles
        if not role.is_default()
    )


def refusal(setting: str) -> str:
    names = sorted(part.strip() for part in setting.split(",") if part.strip())
    roles = f" or one of these roles: {', '.join(names)}" if names else ""
    return NOT_ALLOWED.format(roles=discord.utils.escape_mentions(roles))


class AddCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot

    async def _gate(self, interaction: discord.Interaction) -> bool:
        """Refuse privately (before any defer) outside servers or without permission."""
        if interaction.guild_id is None:
            await send_response(interaction, notice(GUILD_ONLY), ephemeral=True)
            return False
        if not may_manage_papers(interaction, self.bot.settings.add_roles):
            await send_response(
                interaction, notice(refusal(self.bot.settings.add_roles)), ephemeral=True
            )
            return False
        return True

    @app_commands.command(name="add", description="Add an arXiv paper to this server's collection.")
    @app_commands.describe(paper="arXiv id (2401.12345), arXiv link, or Hugging Face paper link")
    @app_commands.guild_only()
    async def add(
        self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 300]
    ) -> None:
        if not await self._gate(interaction):
            return
        paper_id = parse_reference(paper)
        if paper_id is None:
            await send_response(interaction, notice(str(NotAReference())), ephemeral=True)
            return
        await defer(interaction)
        assert interaction.guild_id is not None
        try:
            outcome = await self.bot.paper_adder().add(paper_id, interaction.guild_id)
        except AddError as exc:
            _log.info("/add %s in guild %s refused: %r", paper_id, interaction.guild_id, exc)
            await errors.send_ephemeral(interaction, str(exc))
            return
        status = {
            Status.ADDED: "added",
            Status.ALREADY_HERE: "already_here",
            Status.ALREADY_SHARED: "already_shared",
        }[outcome.status]
        await send_followup(interaction, added_message(outcome.paper, status, outcome.guild_count))
        if outcome.status is Status.ADDED:
            self.bot.dispatch("papers_stored")  # type: ignore[attr-defined]  # topic alerts

    @app_commands.command(
        name="watch",
        description="Add papers linked in this channel (in messages that mention me).",
    )
    @app_commands.describe(enabled="True: capture paper links here; False: stop")
    @app_commands.guild_only()
    async def watch(self, interaction: discord.Interaction, enabled: bool) -> None:
        if not await self._gate(interaction):
            return
        assert interaction.guild_id is not None and interaction.channel_id is not None
        # One small store transaction, done before we confirm: in a thread (not the single
        # index worker, which may be busy with a search) so a wait for another process's write
        # never stalls the gateway.
        changed = await asyncio.to_thread(
            self.bot.state.set_watched, interaction.guild_id, interaction.channel_id, enabled
        )
        if enabled:
            line = (
                "Paper links (arXiv or Hugging Face) in messages that mention me in this channel "
                "will be added to this server's collection. I can't read messages that don't "
                "mention me."
            )
        else:
            line = "I've stopped adding paper links posted in this channel."
        if not changed:
            line = f"Link capture was already {'on' if enabled else 'off'} in this channel."
        await send_response(interaction, notice(line))


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(AddCog(bot))
