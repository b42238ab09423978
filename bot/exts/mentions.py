"""``@paperbot question``: answered as a reply to the message, in a channel, thread or DM.

In a DM a user expects the bot to answer whatever they write, so there the mention is optional.
Works without the privileged message-content intent because Discord always includes the content
of a message that mentions the bot. Other bots (and the bot itself) are ignored, so two bots can
never talk each other into a loop.

In a channel where ``/watch`` is on, arXiv / Hugging Face paper links in a message that mentions
the bot are added to the server's collection: a ✅ reaction when all went in, a short reply for
any that could not; text left beside the links is then answered when it asks something (has a
"?"), and the answer can already quote the papers just added. Messages that do not mention the
bot are invisible to it without the privileged intent, so their links are not captured: the
limitation is stated in ``/watch``.
"""

from __future__ import annotations

import logging
import re

import discord
from discord.ext import commands

from bot import errors
from bot.adding import AddError, find_links, question_beside_links
from bot.client import PaperBotMixin
from bot.exts.ask import answer_question
from bot.render import Outgoing, mention_help, notice

_log = logging.getLogger("paperbot.bot.mentions")

CAPTURED = "✅"
PROBLEM = "⚠️"


def question_from(content: str, bot_id: int) -> str:
    """The message text without the bot's own mention tokens (``<@id>`` / ``<@!id>``)."""
    return re.sub(rf"<@!?{bot_id}>", " ", content).strip()


class MentionsCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot
        self._told_to_wait: set[int] = set()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user  # type: ignore[attr-defined]
        if me is None or message.author.bot or message.author.id == me.id:
            return
        # In a direct message everything is addressed to the bot, so a question needs no
        # mention there (and Discord includes DM content without the privileged intent).
        # (The channel type, not ``message.guild is None``: a guild message whose guild is not
        # cached also has no guild, and must not make the bot answer every message there.)
        is_dm = isinstance(message.channel, discord.DMChannel)
        if not is_dm and not any(user.id == me.id for user in message.mentions):
            return
        try:
            await self._answer(message, me.id)
        except Exception as exc:
            ref = errors.log_failure(f"mention {message.id}", exc)
            await self._reply(message, notice(errors.failure_text(ref)))

    async def _answer(self, message: discord.Message, bot_id: int) -> None:
        question = question_from(message.content, bot_id)
        if not question:
            await self._reply(message, mention_help())
            return
        retry_after = self.bot.cooldowns.hit(message.author.id)
        if retry_after > 0:
            # Say it once per burst; replying to every extra mention would be spam of its own.
            if message.author.id not in self._told_to_wait:
                self._told_to_wait.add(message.author.id)
                await self._reply(message, notice(errors.cooldown_text(retry_after)))
            return
        self._told_to_wait.discard(message.author.id)
        guild_id = message.guild.id if message.guild else None
        if guild_id is not None and self._watched(guild_id, message.channel):
            links = find_links(question, self.bot.settings.links_per_message)
            if links:
                await self._capture(message, guild_id, links)
                rest = question_beside_links(question)
                if rest is None:
                    return
                question = rest
        out, view = await answer_question(self.bot, question, guild_id)
        sent = await self._reply(message, out, view=view)
        if view is not None and sent is not None:
            view.message = sent

    def _watched(self, guild_id: int, channel: object) -> bool:
        """A watched channel, or a thread inside one."""
        ids = [getattr(channel, "id", None), getattr(channel, "parent_id", None)]
        return any(c is not None and self.bot.state.watched(guild_id, c) for c in ids)

    async def _capture(self, message: discord.Message, guild_id: int, ids: list[str]) -> None:
        """Add each linked paper to the guild's collection; react, and reply only on trouble."""
        adder = self.bot.paper_adder()
        problems: list[str] = []
        for paper_id in ids:
            try:
                await adder.add(paper_id, guild_id)
            except AddError as exc:
                problems.append(str(exc))
        if not problems:
            await self._react(message, CAPTURED)
            return
        await self._react(message, PROBLEM)
        await self._reply(message, notice("\n".join(problems)))

    async def _react(self, message: discord.Message, emoji: str) -> None:
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException as exc:  # no Add Reactions permission: say it in words
            _log.info("could not react to %s (%r); replying instead", message.id, exc)
            if emoji == CAPTURED:
                await self._reply(message, notice("Added to this server's collection."))

    async def _reply(
        self, message: discord.Message, out: Outgoing, *, view: discord.ui.View | None = None
    ) -> discord.Message | None:
        kwargs = out.kwargs()
        if view is not None:
            kwargs["view"] = view
        try:
            return await message.reply(**kwargs, mention_author=False)
        except discord.HTTPException as exc:
            ref = errors.log_failure(f"reply to mention {message.id}", exc)
            _log.warning("reply to message %s not delivered (ref %s)", message.id, ref)
            return None


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(MentionsCog(bot))
