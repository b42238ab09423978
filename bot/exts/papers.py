"""``/paper`` and ``/similar``: one paper, or papers like it, picked with autocomplete.

Autocomplete cannot be deferred (Discord drops a suggestion list that is late), so it is served
from the Library's in-memory title list, never from the index or a thread.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import PaperBotMixin
from bot.messages import defer, send_followup
from bot.render import PAGE_SIZE, Outgoing, notice, paper_card, similar_page
from bot.render.limits import CHOICE_NAME_MAX, CHOICE_VALUE_MAX, CHOICES_MAX
from bot.render.markup import fit_text
from bot.views import SearchPager

NOT_FOUND = (
    "I couldn't find that paper. Start typing a title or an arXiv id and pick one of the "
    "suggestions."
)


def choice_name(paper_id: str, title: str) -> str:
    """``Title · id`` within Discord's 100 characters, the id always visible."""
    title = " ".join(title.split()) or paper_id
    suffix = f" · {paper_id}"
    if len(suffix) > CHOICE_NAME_MAX // 2:  # a very long id (title slug): show the title only
        suffix = ""
    return fit_text(title, CHOICE_NAME_MAX - len(suffix), inert=False) + suffix


def suggestions(
    bot: PaperBotMixin, current: str, guild_id: int | None
) -> list[app_commands.Choice[str]]:
    library = bot.require_library()
    pairs = library.suggest(
        current[:200], limit=CHOICES_MAX, collection=bot.collection_for(guild_id)
    )
    return [
        app_commands.Choice(name=choice_name(pid, title), value=pid)
        for pid, title in pairs
        if 0 < len(pid) <= CHOICE_VALUE_MAX
    ][:CHOICES_MAX]


def resolve_paper(bot: PaperBotMixin, value: str, guild_id: int | None):
    """The paper meant by ``value``: an id (picked from suggestions), an arXiv id or URL, or a
    title typed without picking (best suggestion). Runs in a worker thread."""
    from retrieval.papers import normalize_arxiv_id

    library = bot.require_library()
    scope = bot.collection_for(guild_id)
    text = value.strip()
    if not text:
        return None
    paper = library.paper(text)
    if paper is None:
        arxiv_id = normalize_arxiv_id(text)
        if arxiv_id:
            paper = library.paper(arxiv_id)
    if paper is not None and not library.visible(paper.id, scope):
        paper = None  # stored for another server only: not visible here
    if paper is None:
        best = library.suggest(text, limit=1, collection=scope)
        if best:
            paper = library.paper(best[0][0])
    return paper


class PapersCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot

    async def _autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return suggestions(self.bot, current, interaction.guild_id)

    @app_commands.command(name="paper", description="Show a paper: abstract, authors, date, links.")
    @app_commands.describe(paper="Start typing a title or an arXiv id")
    async def paper(
        self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 300]
    ) -> None:
        await defer(interaction)
        found = await self.bot.run_blocking(resolve_paper, self.bot, paper, interaction.guild_id)
        out = notice(NOT_FOUND) if found is None else paper_card(found)
        await send_followup(interaction, out)

    @app_commands.command(name="similar", description="Find papers similar to a given paper.")
    @app_commands.describe(paper="Start typing a title or an arXiv id")
    async def similar(
        self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 300]
    ) -> None:
        await defer(interaction)
        found = await self.bot.run_blocking(resolve_paper, self.bot, paper, interaction.guild_id)
        if found is None:
            await send_followup(interaction, notice(NOT_FOUND))
            return
        library = self.bot.require_library()
        collection = self.bot.collection_for(interaction.guild_id)

        def fetch(offset: int, k: int) -> list:
            # Library.similar has no offset: take the first offset + k and slice.
            return library.similar(found.id, k=offset + k, collection=collection)[offset:]

        def render(page_hits: list, page: int, has_next: bool) -> Outgoing:
            return similar_page(found, page_hits, page=page, has_next=has_next)

        hits = await self.bot.run_blocking(fetch, 0, PAGE_SIZE + 1)
        if not hits:
            await send_followup(interaction, notice("I found no papers similar to that one."))
            return
        has_next = len(hits) > PAGE_SIZE
        out = render(hits[:PAGE_SIZE], 0, has_next)
        if not has_next:
            await send_followup(interaction, out)
            return
        view = SearchPager(
            self.bot, owner_id=interaction.user.id, fetch=fetch, render=render, has_next=has_next
        )
        view.message = await send_followup(interaction, out, view=view)

    paper.autocomplete("paper")(_autocomplete)
    similar.autocomplete("paper")(_autocomplete)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(PapersCog(bot))
