"""``/search``: ranked titles, five per page, turned with buttons only the asker can press;
optionally only papers from a date range or in arXiv categories (:mod:`bot.filters`)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

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
from bot.render import PAGE_SIZE, Outgoing, notice, search_page
from bot.views import SearchPager

QUERY_MAX = 1000


class SearchCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot

    @app_commands.command(name="search", description="Search paper titles and abstracts.")
    @app_commands.describe(
        query="Keywords, e.g. 'preference optimization exploration'",
        since=SINCE_HELP,
        until=UNTIL_HELP,
        category=CATEGORY_HELP,
    )
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, QUERY_MAX],
        since: app_commands.Range[str, 1, WHEN_MAX] | None = None,
        until: app_commands.Range[str, 1, WHEN_MAX] | None = None,
        category: app_commands.Range[str, 1, CATEGORY_MAX] | None = None,
    ) -> None:
        from retrieval.filters import FilterError
        from retrieval.search import EmptyQuery

        try:  # from memory: a bad value is refused at once, seen only by the asker
            filters = parse_filters(self.bot, interaction.guild_id, since, until, category)
        except FilterError as exc:
            await send_response(interaction, notice(refusal(exc)), ephemeral=True)
            return
        await defer(interaction)
        library = self.bot.require_library()
        collection = self.bot.collection_for(interaction.guild_id)
        shown = filters.describe() if filters else None

        def fetch(offset: int, k: int) -> list:
            return library.search(query, k=k, offset=offset, collection=collection, filters=filters)

        try:
            hits = await self.bot.run_blocking(fetch, 0, PAGE_SIZE + 1)
        except EmptyQuery:
            await send_followup(
                interaction,
                notice("Please search with a few keywords, e.g. `/search diffusion TTS`."),
            )
            return
        if not hits:
            among = f" among papers {shown}" if shown else ""
            await send_followup(interaction, notice(f"No papers match that search{among}."))
            return

        def render(page_hits: list, page: int, has_next: bool) -> Outgoing:
            return search_page(query, page_hits, page=page, has_next=has_next, filters=shown)

        has_next = len(hits) > PAGE_SIZE
        out = render(hits[:PAGE_SIZE], 0, has_next)
        if not has_next:  # a single page needs no buttons
            await send_followup(interaction, out)
            return
        view = SearchPager(
            self.bot, owner_id=interaction.user.id, fetch=fetch, render=render, has_next=has_next
        )
        view.message = await send_followup(interaction, out, view=view)

    @search.autocomplete("category")
    async def _category(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await category_autocomplete(self.bot, interaction, current)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(SearchCog(bot))
