"""``/ask``: a question answered with verbatim quotes from the best-matching papers.

The interaction is deferred first (Discord allows 3 s for the first response, and a cold index or
a busy worker pool can take longer), the retrieval runs in a worker thread, and the answer arrives
as the followup with its buttons.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.client import PaperBotMixin
from bot.messages import defer, send_followup
from bot.views import AnswerView

if TYPE_CHECKING:
    from retrieval.answer.compose import Answer

QUESTION_MAX = 4000  # Discord allows 6000 for a string option; the Library reads 4000


def scope_label(shared: str) -> str:
    """How answers name what a server searches: the shared collection plus its own papers."""
    return f"{shared} + this server"


async def answer_question(
    bot: PaperBotMixin, question: str, guild_id: int | None
) -> tuple[render.Outgoing, AnswerView | None]:
    """The answer message and its buttons for ``question`` (shared by ``/ask`` and mentions)."""
    from retrieval.search import EmptyQuery

    library = bot.require_library()
    collection = bot.collection_for(guild_id)

    def work() -> tuple[Answer, render.Outgoing]:
        # Retrieval *and* rendering in the worker thread: nothing proportional to the answer's
        # size runs on the event loop.
        answer = library.ask(question, collection=collection)
        if collection is not None and not isinstance(collection, str):
            # Users know "this server", not the store's name for its collection.
            answer = dataclasses.replace(answer, collection=scope_label(bot.settings.collection))
        return answer, render.answer_message(answer)

    try:
        answer, out = await bot.run_blocking(work)
    except EmptyQuery:
        return render.notice(
            "I couldn't find any searchable words in that. Try asking with a few keywords, "
            "e.g. `/ask which papers align language models without RL?`"
        ), None
    view = AnswerView(
        bot,
        question=question,
        shown_ids=[p.id for p in answer.papers],
        abstract_ids=[p.id for p in answer.papers] if answer.answered else [],
        collection=collection,
    )
    return out, view


class AskCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot

    @app_commands.command(name="ask", description="Ask a question; get quotes from papers.")
    @app_commands.describe(question="What do you want to know? (a sentence or a few keywords)")
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, QUESTION_MAX],
    ) -> None:
        await defer(interaction)
        out, view = await answer_question(self.bot, question, interaction.guild_id)
        message = await send_followup(interaction, out, view=view)
        if view is not None:
            view.message = message


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(AskCog(bot))
