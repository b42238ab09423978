"""``/search``: ranked titles, five per page, turned with buttons only the asker can press."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import PaperBotMixin
from bot.messages import defer, send_followup
from bot.render import PAGE_SIZE, Outgoing, notice, search_page
from bot.views import SearchPager

QUERY_MAX = 1000


class SearchCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot

    @app_commands.command(name="search", description="Search paper titles and abstracts.")
    @app_commands.describe(query="Keywords, e.g. 'preference optimization exploration'")
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, QUERY_MAX],
    ) -> None:
        from retrieval.search import EmptyQuery

        await defer(interaction)
        library = self.bot.require_library()
        collection = self.bot.collection_for(interaction.guild_id)

        def fetch(offset: int, k: int) -> list:
            return library.search(query, k=k, offset=offset, collection=collection)

        try:
            hits = await self.bot.run_blocking(fetch, 0, PAGE_SIZE + 1)
        except EmptyQuery:
            await send_followup(
                interaction,
                notice("Please search with a few keywords, e.g. `/search diffusion TTS`."),
            )
            return
        if not hits:
            await send_followup(interaction, notice("No papers match that search."))
            return

        def render(page_hits: list, page: int, has_next: bool) -> Outgoing:
            return search_page(query, page_hits, page=page, has_next=has_next)

        has_next = len(hits) > PAGE_SIZE
        out = render(hits[:PAGE_SIZE], 0, has_next)
        if not has_next:  # a single page needs no buttons
            await send_followup(interaction, out)
            return
        view = SearchPager(
            self.bot, owner_id=interaction.user.id, fetch=fetch, render=render, has_next=has_next
        )
        view.message = await send_followup(interaction, out, view=view)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(SearchCog(bot))
