"""Buttons under answers and search results.

Why views hold only ids and offsets: the papers stay in the store and are re-read on a click, so a
view costs a few hundred bytes however long it lives. Every view times out (well inside the 15
minutes an interaction token lives) and then greys its buttons out, so nobody presses a button that
can no longer answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot import errors
from bot.messages import defer, send_followup
from bot.render import PAGE_SIZE, Outgoing, notice, paper_card, search_page
from bot.render.limits import ROW_BUTTONS_MAX

if TYPE_CHECKING:
    from bot.client import PaperBotMixin
    from retrieval.search import Hit, Scope

_log = logging.getLogger("paperbot.bot.views")

MORE_ID = "paperbot:more"
ABSTRACT_ID = "paperbot:abstract:{index}"
PREV_ID = "paperbot:prev"
NEXT_ID = "paperbot:next"


OnClick = Callable[[discord.Interaction], Awaitable[None]]


class _Button(discord.ui.Button["_BaseView"]):
    """A button that runs ``on_click`` when pressed: a typed callback, not one assigned later."""

    def __init__(self, on_click: OnClick, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_click = on_click

    async def callback(self, interaction: discord.Interaction) -> None:
        await self._on_click(interaction)


class _BaseView(discord.ui.View):
    """Shared behaviour: disable on timeout, report errors with a ref."""

    message: discord.Message | discord.WebhookMessage | None

    def __init__(self, bot: PaperBotMixin) -> None:
        super().__init__(timeout=bot.view_timeout)
        self.bot = bot
        self.message = None

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        if self.message is None:
            return
        try:
            await self.message.edit(view=self)
        except discord.HTTPException as exc:  # token expired or message deleted: nothing to grey
            _log.debug("could not disable buttons on timeout: %r", exc)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        custom_id = getattr(item, "custom_id", "?")
        await errors.report_interaction_error(interaction, error, where=f"button {custom_id}")

    async def _throttled(self, interaction: discord.Interaction) -> bool:
        """Buttons that search share the user's cooldown with commands and mentions."""
        retry_after = self.bot.cooldowns.hit(interaction.user.id)
        if retry_after > 0:
            await errors.send_ephemeral(interaction, errors.cooldown_text(retry_after))
            return True
        return False


class AnswerView(_BaseView):
    """Under an answer: "More papers" (the next results, privately) and "Show abstract"."""

    def __init__(
        self,
        bot: PaperBotMixin,
        *,
        question: str,
        shown_ids: Sequence[str],
        abstract_ids: Sequence[str],
        collection: Scope,
    ) -> None:
        super().__init__(bot)
        self.question = question
        self.shown_ids = tuple(shown_ids)
        self.collection = collection
        # per user: (results consumed, pages shown): each click continues where it left off
        self.offsets: dict[int, tuple[int, int]] = {}
        self.add_item(
            _Button(
                self.more_papers,
                label="More papers",
                style=discord.ButtonStyle.primary,
                custom_id=MORE_ID,
            )
        )
        for index, paper_id in enumerate(abstract_ids[: ROW_BUTTONS_MAX - 1]):  # beside More papers
            label = "Show abstract" if len(abstract_ids) == 1 else f"Show abstract [{index + 1}]"
            self.add_item(
                _Button(
                    self._abstract_callback(paper_id),
                    label=label,
                    style=discord.ButtonStyle.secondary,
                    custom_id=ABSTRACT_ID.format(index=index + 1),
                )
            )

    async def more_papers(self, interaction: discord.Interaction) -> None:
        if await self._throttled(interaction):
            return
        # Acknowledge first: the index work may queue behind other users' questions, and Discord
        # forgets an interaction that is not answered within 3 s. Exactly one initial response;
        # everything after it is a followup.
        await defer(interaction, ephemeral=True)
        library = self.bot.require_library()
        user_id = interaction.user.id
        consumed, page = self.offsets.get(user_id, (0, 0))
        question, shown_ids, collection = self.question, self.shown_ids, self.collection

        def work() -> tuple[Outgoing, int]:
            # Fetch enough to fill a page after skipping the papers the answer already quoted.
            hits: list[Hit] = library.search(
                question, k=PAGE_SIZE + len(shown_ids) + 1, offset=consumed, collection=collection
            )
            fresh: list[Hit] = []
            walked = 0
            for hit in hits:
                if len(fresh) == PAGE_SIZE:
                    break
                walked += 1
                if hit.id not in shown_ids:
                    fresh.append(hit)
            if not fresh:
                return notice("No more papers match this question."), 0
            out = search_page(question, fresh, page=page, has_next=walked < len(hits))
            return out, walked

        out, walked = await self.bot.run_blocking(work)
        if walked:
            self.offsets[user_id] = (consumed + walked, page + 1)
        await send_followup(interaction, out, ephemeral=True)

    def _abstract_callback(self, paper_id: str) -> OnClick:
        async def show_abstract(interaction: discord.Interaction) -> None:
            await defer(interaction, ephemeral=True)
            library = self.bot.require_library()

            def work() -> Outgoing:
                paper = library.paper(paper_id)
                if paper is None:
                    return notice("That paper is no longer in the collection.")
                return paper_card(paper)

            await send_followup(interaction, await self.bot.run_blocking(work), ephemeral=True)

        return show_abstract


class SearchPager(_BaseView):
    """Previous / next over ranked results; only the person who searched can turn the pages."""

    def __init__(
        self,
        bot: PaperBotMixin,
        *,
        owner_id: int,
        fetch: Callable[[int, int], list[Hit]],
        render: Callable[[list[Hit], int, bool], Outgoing],
        page: int = 0,
        has_next: bool = False,
    ) -> None:
        super().__init__(bot)
        self.owner_id = owner_id
        self.fetch = fetch  # (offset, k) -> hits, runs in a worker thread
        self.render = render  # (hits, page, has_next) -> message
        self.page = page
        self.prev_button = _Button(
            self.previous_page,
            label="Previous",
            emoji="◀️",
            style=discord.ButtonStyle.secondary,
            custom_id=PREV_ID,
        )
        self.next_button = _Button(
            self.next_page,
            label="Next",
            emoji="▶️",
            style=discord.ButtonStyle.secondary,
            custom_id=NEXT_ID,
        )
        self.add_item(self.prev_button)
        self.add_item(self.next_button)
        self._set_buttons(has_next)

    def _set_buttons(self, has_next: bool) -> None:
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = not has_next

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id != self.owner_id:
            await errors.send_ephemeral(
                interaction, "Only the person who ran this search can turn its pages."
            )
            return False
        return True

    async def previous_page(self, interaction: discord.Interaction) -> None:
        await self._turn(interaction, max(0, self.page - 1))

    async def next_page(self, interaction: discord.Interaction) -> None:
        await self._turn(interaction, self.page + 1)

    async def _turn(self, interaction: discord.Interaction, page: int) -> None:
        # Acknowledge first (a deferred update: the message stays as it is until edited).
        await interaction.response.defer()
        fetch, render = self.fetch, self.render

        def work() -> tuple[Outgoing, bool] | None:
            hits = fetch(page * PAGE_SIZE, PAGE_SIZE + 1)
            if not hits and page > 0:  # the collection shrank under us: stay where we are
                return None
            has_next = len(hits) > PAGE_SIZE
            return render(hits[:PAGE_SIZE], page, has_next), has_next

        result = await self.bot.run_blocking(work)
        if result is None:
            return
        out, has_next = result
        self.page = page
        self._set_buttons(has_next)
        await interaction.edit_original_response(**out.kwargs(), view=self)
        interaction.extras["answered"] = True
