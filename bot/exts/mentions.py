"""``@paperbot question``: answered as a reply to the message, in a channel, thread or DM.

A reply to one of the bot's answers (Discord's default "ping on reply" mentions the bot, so the
reply carries its text), or a mention in a thread the bot opened for follow-ups while its
conversation is live, is a follow-up: answered from the previous answer's papers first.

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
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot import errors
from bot.adding import AddError, find_links, question_beside_links
from bot.client import PaperBotMixin
from bot.exts.ask import answer_followup, answer_question, conversations_of, remember
from bot.render import Outgoing, mention_help, notice
from bot.views import AnswerView

if TYPE_CHECKING:
    from retrieval.conversations import AnswerRecord

_log = logging.getLogger("paperbot.bot.mentions")

CAPTURED = "✅"
PROBLEM = "⚠️"


def _bot_thread(channel: object, bot: object) -> bool:
    """Whether ``channel`` is a thread the bot started (where follow-ups continue)."""
    me = getattr(bot, "user", None)
    return isinstance(channel, discord.Thread) and me is not None and channel.owner_id == me.id


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
        out, view = await self._respond(message, question, guild_id)
        sent = await self._reply(message, out, view=view)
        await remember(self.bot, view, sent)

    async def _respond(
        self, message: discord.Message, question: str, guild_id: int | None
    ) -> tuple[Outgoing, AnswerView | None]:
        """A follow-up when the message replies to an answer or is in a thread the bot opened
        whose conversation is live (an hour since its last turn); else a new question."""
        place = message.channel.id
        ours = _bot_thread(message.channel, self.bot)
        previous = await self._previous(message, ours)
        if previous is not None:
            return await answer_followup(
                self.bot, question, previous, guild_id, place=place, turn=ours
            )
        out, view = await answer_question(self.bot, question, guild_id, place=place)
        conversations = conversations_of(self.bot)
        if ours and conversations is not None and view is not None and view.answer_id:
            # A new question in the bot's thread starts the thread's conversation again.
            await self.bot.run_blocking(conversations.add_turn, place, view.answer_id)
        return out, view

    async def _previous(self, message: discord.Message, ours: bool) -> AnswerRecord | None:
        conversations = conversations_of(self.bot)
        if conversations is None:
            return None
        ref = message.reference
        if ref is not None and ref.message_id is not None:
            replied = await self.bot.run_blocking(conversations.by_message, ref.message_id)
            if replied is not None:
                return replied
        if ours:
            turns = await self.bot.run_blocking(conversations.conversation, message.channel.id)
            if turns:
                return turns[-1]
        return None

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
