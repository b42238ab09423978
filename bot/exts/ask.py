"""``/ask``: a question answered with verbatim quotes from the best-matching papers, and what
follows an answer: 👍 / 👎 votes and follow-up questions.

The interaction is deferred first (Discord allows 3 s for the first response, and a cold index or
a busy worker pool can take longer), the retrieval runs in a worker thread, and the answer arrives
as the followup with its buttons.

Every answer is stored (:class:`retrieval.conversations.Conversations`) so its second row of
buttons works after a restart: 👍 / 👎 record a vote (:class:`retrieval.feedback.Feedback`), and
"Follow up" opens a modal whose question is answered in a thread started from the answer (in a
DM, as a reply to it). A message in that thread that mentions the bot, or a reply to any answer,
is a follow-up too (``bot.exts.mentions``): answered from the previous answer's papers first.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import errors, render
from bot.client import PaperBotMixin
from bot.filters import (
    CATEGORY_HELP,
    CATEGORY_MAX,
    SINCE_HELP,
    UNTIL_HELP,
    WHEN_MAX,
    category_autocomplete,
    parse_filters,
    refusal,
)
from bot.messages import defer, send_followup, send_response
from bot.render.answer import with_note
from bot.views import DYNAMIC_ITEMS, AnswerView, FollowUpModal
from bot.written import answer_in_steps, apply_written, make_writer

if TYPE_CHECKING:
    from retrieval.answer.compose import Answer
    from retrieval.conversations import AnswerRecord, Conversations
    from retrieval.feedback import Feedback, VoteResult
    from retrieval.filters import Filters
    from retrieval.llm.model import WrittenAnswer
    from retrieval.llm.writer import AnswerWriter
    from retrieval.search import Library, Scope

_log = logging.getLogger("paperbot.bot.ask")

QUESTION_MAX = 4000  # Discord allows 6000 for a string option; the Library reads 4000
THREAD_NAME_MAX = 100
THREAD_ARCHIVE_MINUTES = 1440  # a follow-up thread hides itself after a quiet day
FROM_COLLECTION = "The papers above don't say; from the collection:"


def scope_label(shared: str) -> str:
    """How answers name what a server searches: the shared collection plus its own papers."""
    return f"{shared} + this server"


def _labelled(bot: PaperBotMixin, answer: Answer, collection: Scope | str | None) -> Answer:
    if collection is not None and not isinstance(collection, str):
        # Users know "this server", not the store's name for its collection.
        return dataclasses.replace(answer, collection=scope_label(bot.settings.collection))
    return answer


def _collections(collection: Scope | str | None, library: Library) -> tuple[str, ...]:
    if collection is None:
        return (library.default_collection,)
    if isinstance(collection, str):
        return (collection,)
    return collection.collections


def _view(
    bot: PaperBotMixin, answer: Answer, collection: Scope, answer_id: str | None
) -> AnswerView:
    return AnswerView(
        bot,
        question=answer.question,
        shown_ids=[p.id for p in answer.papers],
        abstract_ids=[p.id for p in answer.papers] if answer.answered else [],
        collection=collection,
        answer_id=answer_id,
    )


def _empty_query() -> render.Outgoing:
    return render.notice(
        "I couldn't find any searchable words in that. Try asking with a few keywords, "
        "e.g. `/ask which papers align language models without RL?`"
    )


def conversations_of(bot: PaperBotMixin) -> Conversations | None:
    """The stored answers and conversations (None for a bot without a Library)."""
    cog = bot.get_cog(AskCog.__cog_name__) if isinstance(bot, commands.Bot) else None
    return cog.conversations if isinstance(cog, AskCog) else None


def writer_of(bot: PaperBotMixin) -> AnswerWriter | None:
    """The model that writes answers (``bot.written``); None when the feature is off."""
    cog = bot.get_cog(AskCog.__cog_name__) if isinstance(bot, commands.Bot) else None
    return cog.writer if isinstance(cog, AskCog) else None


async def answer_question(
    bot: PaperBotMixin,
    question: str,
    guild_id: int | None,
    *,
    place: int | None = None,
    filters: Filters | None = None,
) -> tuple[render.Outgoing, AnswerView | None]:
    """The answer message and its buttons for ``question`` (shared by ``/ask`` and mentions).
    ``place`` (the channel, thread or DM the answer goes to) stores the answer, which gives it
    the 👍 / 👎 / Follow up row; call :func:`remember` with the sent message. ``filters``
    (``/ask``'s since / until / category) are applied inside the retriever."""
    from retrieval.search import EmptyQuery

    started = time.monotonic()
    library = bot.require_library()
    collection = bot.collection_for(guild_id)
    conversations = conversations_of(bot)

    def retrieve() -> Answer:
        return _labelled(
            bot, library.ask(question, collection=collection, filters=filters), collection
        )

    def finish(
        answer: Answer, written: WrittenAnswer | None
    ) -> tuple[Answer, render.Outgoing, str | None]:
        # Rendering in the worker thread too, like retrieval: nothing proportional to the
        # answer's size runs on the event loop (only the model's network wait: bot.written).
        answer = apply_written(answer, written)
        answer_id = None
        if conversations is not None and place is not None:
            answer_id = conversations.record(answer, place, _collections(collection, library))
        return answer, render.answer_message(answer), answer_id

    try:
        answer, out, answer_id = await answer_in_steps(
            bot.run_blocking, writer_of(bot), retrieve, lambda a: a, finish, started=started
        )
    except EmptyQuery:
        return _empty_query(), None
    return out, _view(bot, answer, collection, answer_id)


async def answer_followup(
    bot: PaperBotMixin,
    question: str,
    previous: AnswerRecord,
    guild_id: int | None,
    *,
    place: int,
    turn: bool,
) -> tuple[render.Outgoing, AnswerView | None]:
    """A follow-up to ``previous``, answered from its papers first, then from the collection.
    The answer is stored for ``place``; ``turn`` adds it to the conversation there (a thread
    the bot opened), so the next message in the thread follows up on it."""
    from retrieval.search import EmptyQuery

    started = time.monotonic()
    library = bot.require_library()
    collection = bot.collection_for(guild_id)
    conversations = conversations_of(bot)

    def retrieve() -> tuple[Answer, str]:
        result = library.ask_followup(
            question,
            previous.paper_ids,
            collection=collection,
            previous_question=previous.question,
        )
        return _labelled(bot, result.answer, collection), result.source

    def finish(
        retrieved: tuple[Answer, str], written: WrittenAnswer | None
    ) -> tuple[Answer, render.Outgoing, str | None]:
        answer = apply_written(retrieved[0], written)
        out = render.answer_message(answer)
        if retrieved[1] == "collection":
            out = with_note(out, FROM_COLLECTION, answer)
        answer_id = None
        if conversations is not None:
            answer_id = conversations.record(answer, place, _collections(collection, library))
            if answer_id is not None and turn:
                conversations.add_turn(place, answer_id)
        return answer, out, answer_id

    try:
        answer, out, answer_id = await answer_in_steps(
            bot.run_blocking, writer_of(bot), retrieve, lambda r: r[0], finish, started=started
        )
    except EmptyQuery:
        return _empty_query(), None
    return out, _view(bot, answer, collection, answer_id)


async def remember(
    bot: PaperBotMixin, view: AnswerView | None, message: discord.Message | None
) -> None:
    """Tie a sent answer to its message: the view greys out its buttons on timeout, and a reply
    to the message is a follow-up."""
    if view is None or message is None:
        return
    view.message = message
    conversations = conversations_of(bot)
    if conversations is not None and view.answer_id is not None:
        await bot.run_blocking(conversations.attach_message, view.answer_id, message.id)


def _vote_text(result: VoteResult | None) -> str:
    if result is None:
        return "That answer is too old to vote on now."
    emoji = "👍" if result.vote > 0 else "👎"
    if result.repeated:
        return f"You already voted {emoji} on this answer."
    if result.changed:
        return f"Changed your vote to {emoji}. Thanks!"
    return f"Thanks for the feedback! {emoji}"


class AskCog(commands.Cog):
    """``/ask`` and the answer's lasting buttons (:class:`bot.views.AnswerActions`)."""

    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot
        self.conversations: Conversations | None = None
        self.feedback: Feedback | None = None
        # Model-written answers (off unless configured); none for a bot without a Library.
        self.writer = make_writer(bot.settings) if bot.library is not None else None
        store = getattr(bot.library, "store", None)  # none: sync-only, or a stand-in Library
        if store is not None:
            from retrieval.conversations import Conversations
            from retrieval.feedback import Feedback

            settings = bot.settings
            # Through a lambda: the bot's clock is read at each call (tests move it).
            self.conversations = Conversations(
                store,
                clock=lambda: bot.clock(),
                ttl=settings.followup_ttl,
                turns=settings.followup_turns,
                retention_days=settings.answer_retention_days,
            )
            self.feedback = Feedback(store, clock=lambda: bot.clock())

    @app_commands.command(name="ask", description="Ask a question; get quotes from papers.")
    @app_commands.describe(
        question="What do you want to know? (a sentence or a few keywords)",
        since=SINCE_HELP,
        until=UNTIL_HELP,
        category=CATEGORY_HELP,
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, QUESTION_MAX],
        since: app_commands.Range[str, 1, WHEN_MAX] | None = None,
        until: app_commands.Range[str, 1, WHEN_MAX] | None = None,
        category: app_commands.Range[str, 1, CATEGORY_MAX] | None = None,
    ) -> None:
        from retrieval.filters import FilterError

        try:  # from memory: a bad value is refused at once, seen only by the asker
            filters = parse_filters(self.bot, interaction.guild_id, since, until, category)
        except FilterError as exc:
            await send_response(interaction, render.notice(refusal(exc)), ephemeral=True)
            return
        await defer(interaction)
        out, view = await answer_question(
            self.bot,
            question,
            interaction.guild_id,
            place=interaction.channel_id,
            filters=filters,
        )
        message = await send_followup(interaction, out, view=view)
        await remember(self.bot, view, message)

    @ask.autocomplete("category")
    async def _category(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await category_autocomplete(self.bot, interaction, current)

    # -- AnswerActions ----------------------------------------------------------------------------
    async def vote(self, interaction: discord.Interaction, answer_id: str, vote: int) -> None:
        await defer(interaction, ephemeral=True)
        conversations, feedback = self.conversations, self.feedback
        if conversations is None or feedback is None:
            await send_followup(interaction, render.notice(_vote_text(None)), ephemeral=True)
            return
        user_id = interaction.user.id

        def work() -> VoteResult | None:
            from retrieval.feedback import FeedbackUnavailable

            record = conversations.get(answer_id)
            if record is None:
                return None
            try:
                return feedback.vote(record, user_id, vote)
            except FeedbackUnavailable:
                return None

        result = await self.bot.run_blocking(work)
        await send_followup(interaction, render.notice(_vote_text(result)), ephemeral=True)

    async def open_followup(self, interaction: discord.Interaction, answer_id: str) -> None:
        # The modal must be the first response, so nothing is read before it opens.
        modal = FollowUpModal(self, answer_id, timeout=self.bot.view_timeout)
        await interaction.response.send_modal(modal)

    async def submit_followup(
        self, interaction: discord.Interaction, answer_id: str, question: str
    ) -> None:
        retry_after = self.bot.cooldowns.hit(interaction.user.id)
        if retry_after > 0:
            await errors.send_ephemeral(interaction, errors.cooldown_text(retry_after))
            return
        await defer(interaction, ephemeral=True)
        conversations = self.conversations
        previous = (
            await self.bot.run_blocking(conversations.get, answer_id) if conversations else None
        )
        if previous is None or not question.strip():
            text = "That answer is too old to follow up on; ask again with `/ask`."
            await send_followup(interaction, render.notice(text), ephemeral=True)
            return
        where, note = await self._post_followup(interaction, previous, question.strip())
        await send_followup(interaction, render.notice(note), ephemeral=True)
        _log.debug("follow-up to %s answered in %s", answer_id, where)

    async def _post_followup(
        self, interaction: discord.Interaction, previous: AnswerRecord, question: str
    ) -> tuple[int, str]:
        """Answer the follow-up where the conversation lives: the answer's thread (started now
        if it has none), the thread the button is in, or, in a DM, a reply to the answer."""
        bot = self.bot
        guild_id = interaction.guild_id
        channel_id = interaction.channel_id or previous.place
        in_thread = isinstance(interaction.channel, discord.Thread)
        target: Any = bot.get_partial_messageable(channel_id, guild_id=guild_id)  # type: ignore[attr-defined]
        place, turn = channel_id, in_thread
        reference: discord.MessageReference | None = None
        if guild_id is not None and not in_thread:
            thread_id = previous.thread_id or await self._start_thread(
                previous, channel_id, guild_id
            )
            if thread_id is not None:
                target = bot.get_partial_messageable(thread_id, guild_id=guild_id)  # type: ignore[attr-defined]
                place, turn = thread_id, True
        if place == channel_id and previous.message_id is not None and not in_thread:
            # A DM, or a channel where no thread can be started: a reply to the answer.
            reference = discord.MessageReference(
                message_id=previous.message_id, channel_id=channel_id, fail_if_not_exists=False
            )
        out, view = await answer_followup(bot, question, previous, guild_id, place=place, turn=turn)
        kwargs = out.kwargs()
        if view is not None:
            kwargs["view"] = view
        if reference is not None:
            kwargs["reference"] = reference
            kwargs["mention_author"] = False
        sent = await target.send(**kwargs)
        await remember(bot, view, sent)
        if place != channel_id:
            return place, f"Answered in <#{place}>."
        return place, "Answered below." if reference is not None else "Answered."

    async def _start_thread(
        self, previous: AnswerRecord, channel_id: int, guild_id: int
    ) -> int | None:
        """A thread from the answer's message, its conversation starting with that answer; None
        when one cannot be started (no permission, a deleted message)."""
        if previous.message_id is None:
            return None
        channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)  # type: ignore[attr-defined]
        name = " ".join(f"Follow-up: {previous.question}".split())
        try:
            thread = await channel.get_partial_message(previous.message_id).create_thread(
                name=name[:THREAD_NAME_MAX], auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except (discord.HTTPException, ValueError) as exc:
            _log.info("could not start a follow-up thread on %s: %r", previous.message_id, exc)
            return None
        conversations = self.conversations
        if conversations is not None:

            def seed() -> None:
                conversations.attach_thread(previous.answer_id, thread.id)
                conversations.add_turn(thread.id, previous.answer_id)

            await self.bot.run_blocking(seed)
        return int(thread.id)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(AskCog(bot))
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
