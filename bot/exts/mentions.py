"""``@paperbot question``: answered as a reply to the message, in a channel, thread or DM.

In a DM a user expects the bot to answer whatever they write, so there the mention is optional.
Works without the privileged message-content intent because Discord always includes the content
of a message that mentions the bot. Other bots (and the bot itself) are ignored, so two bots can
never talk each other into a loop.
"""

from __future__ import annotations

import logging
import re

import discord
from discord.ext import commands

from bot import errors, parts
from bot.client import PaperBotMixin
from bot.exts.ask import answer_question
from bot.messages import Outgoing

_log = logging.getLogger("paperbot.bot.mentions")


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
            await self._reply(message, parts.notice(errors.failure_text(ref)))

    async def _answer(self, message: discord.Message, bot_id: int) -> None:
        question = question_from(message.content, bot_id)
        if not question:
            await self._reply(message, parts.mention_help())
            return
        retry_after = self.bot.cooldowns.hit(message.author.id)
        if retry_after > 0:
            # Say it once per burst; replying to every extra mention would be spam of its own.
            if message.author.id not in self._told_to_wait:
                self._told_to_wait.add(message.author.id)
                await self._reply(message, parts.notice(errors.cooldown_text(retry_after)))
            return
        self._told_to_wait.discard(message.author.id)
        guild_id = message.guild.id if message.guild else None
        out, view = await answer_question(self.bot, question, guild_id)
        sent = await self._reply(message, out, view=view)
        if view is not None and sent is not None:
            view.message = sent

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
