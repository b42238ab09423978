"""Buttons under answers and search results.

Why views hold only ids and offsets: the papers stay in the store and are re-read on a click, so a
view costs a few hundred bytes however long it lives. Every view times out (well inside the 15
minutes an interaction token lives) and then greys its buttons out, so nobody presses a button that
can no longer answer.

The exceptions are an answer's second row, 👍 / 👎 / "Follow up": their custom ids carry the
answer's id and they are handled by :class:`discord.ui.DynamicItem` classes registered once per
bot (``bot.add_dynamic_items``), reading the answer from the store, so they keep working after the
view timed out and after a restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

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
VOTE_ID = "paperbot:vote:{answer}:{vote}"
FOLLOWUP_ID = "paperbot:followup:{answer}"
_ANSWER_ID = r"(?P<answer>[0-9a-f]{16})"
VOTE_TEMPLATE = rf"paperbot:vote:{_ANSWER_ID}:(?P<vote>up|down)"
FOLLOWUP_TEMPLATE = rf"paperbot:followup:{_ANSWER_ID}"
FOLLOWUP_MAX = 1000  # characters of a follow-up typed into the modal
ACTIONS_COG = "AskCog"  # the cog that implements AnswerActions (bot.exts.ask)


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
            if isinstance(item, discord.ui.Button) and not isinstance(item, _LastingButton):
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
    """Under an answer: "More papers" (the next results, privately) and "Show abstract"; on a
    second row, for an answer stored under ``answer_id``, 👍 / 👎 and "Follow up"."""

    def __init__(
        self,
        bot: PaperBotMixin,
        *,
        question: str,
        shown_ids: Sequence[str],
        abstract_ids: Sequence[str],
        collection: Scope,
        answer_id: str | None = None,
    ) -> None:
        super().__init__(bot)
        self.question = question
        self.shown_ids = tuple(shown_ids)
        self.collection = collection
        self.answer_id = answer_id
        if answer_id is not None:
            for button in answer_buttons(answer_id):
                self.add_item(button)
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


# -- the answer's lasting buttons -----------------------------------------------------------------
class AnswerActions(Protocol):
    """What the lasting buttons do (implemented by the ``/ask`` cog, which owns the answers)."""

    async def vote(self, interaction: discord.Interaction, answer_id: str, vote: int) -> None: ...

    async def open_followup(self, interaction: discord.Interaction, answer_id: str) -> None: ...

    async def submit_followup(
        self, interaction: discord.Interaction, answer_id: str, question: str
    ) -> None: ...


class _LastingButton(discord.ui.Button["_BaseView"]):
    """A button handled by a DynamicItem, not by the view it is shown in: the view neither
    dispatches it nor greys it out, and removing the view (on timeout) leaves the bot's dynamic
    handler registered."""

    def is_dispatchable(self) -> bool:
        return False


def _vote_button(answer_id: str, vote: int, *, lasting: bool = True) -> discord.ui.Button[Any]:
    up = vote > 0
    cls = _LastingButton if lasting else discord.ui.Button
    return cls(
        label="👍" if up else "👎",  # as the label: every button has one
        style=discord.ButtonStyle.secondary,
        custom_id=VOTE_ID.format(answer=answer_id, vote="up" if up else "down"),
        row=1,
    )


def _followup_button(answer_id: str, *, lasting: bool = True) -> discord.ui.Button[Any]:
    cls = _LastingButton if lasting else discord.ui.Button
    return cls(
        label="Follow up",
        emoji="💬",
        style=discord.ButtonStyle.primary,
        custom_id=FOLLOWUP_ID.format(answer=answer_id),
        row=1,
    )


def answer_buttons(answer_id: str) -> list[discord.ui.Button[Any]]:
    """The second row of an answer: 👍, 👎, Follow up."""
    return [_vote_button(answer_id, 1), _vote_button(answer_id, -1), _followup_button(answer_id)]


def _actions(interaction: discord.Interaction) -> AnswerActions | None:
    get_cog = getattr(interaction.client, "get_cog", None)
    cog = get_cog(ACTIONS_COG) if get_cog is not None else None
    return cog


async def _run(interaction: discord.Interaction, where: str, call: Awaitable[None]) -> None:
    """A dynamic item's work, with errors reported like every other handler's."""
    try:
        await call
    except Exception as exc:
        await errors.report_interaction_error(interaction, exc, where=where)


async def _unavailable(interaction: discord.Interaction) -> None:
    await errors.send_ephemeral(interaction, "This bot is not answering questions right now.")


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_TEMPLATE):
    """👍 / 👎 under an answer: stored, one vote per user (a second click changes it)."""

    def __init__(self, answer_id: str, vote: int) -> None:
        super().__init__(_vote_button(answer_id, vote, lasting=False))
        self.answer_id = answer_id
        self.vote = vote

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> VoteButton:
        return cls(match["answer"], 1 if match["vote"] == "up" else -1)

    async def callback(self, interaction: discord.Interaction) -> None:
        actions = _actions(interaction)
        if actions is None:
            await _unavailable(interaction)
            return
        await _run(interaction, "vote button", actions.vote(interaction, self.answer_id, self.vote))


class FollowUpButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=FOLLOWUP_TEMPLATE):
    """ "Follow up" under an answer: a modal asks for the question, answered in a thread."""

    def __init__(self, answer_id: str) -> None:
        super().__init__(_followup_button(answer_id, lasting=False))
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> FollowUpButton:
        return cls(match["answer"])

    async def callback(self, interaction: discord.Interaction) -> None:
        actions = _actions(interaction)
        if actions is None:
            await _unavailable(interaction)
            return
        await _run(
            interaction, "follow-up button", actions.open_followup(interaction, self.answer_id)
        )


class FollowUpModal(discord.ui.Modal):
    """The follow-up question, typed in a modal (a modal must be the first response: no defer,
    so opening it does no work at all)."""

    def __init__(self, actions: AnswerActions, answer_id: str, *, timeout: float) -> None:
        super().__init__(
            title="Follow-up question",
            timeout=timeout,
            custom_id=f"paperbot:followup-modal:{answer_id}",
        )
        self.actions = actions
        self.answer_id = answer_id
        self.question: discord.ui.TextInput[FollowUpModal] = discord.ui.TextInput(
            label="Your follow-up",
            style=discord.TextStyle.paragraph,
            placeholder="e.g. what dataset did they use? how does the second one compare?",
            min_length=1,
            max_length=FOLLOWUP_MAX,
        )
        self.add_item(self.question)

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        await self.actions.submit_followup(interaction, self.answer_id, self.question.value)

    async def on_error(  # type: ignore[override]  # discord.py's Modal drops the item
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await errors.report_interaction_error(interaction, error, where="follow-up modal")


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (VoteButton, FollowUpButton)
