"""The ``since``, ``until`` and ``category`` options of ``/search`` (and, for reuse, ``/ask``):
parsing them into :class:`retrieval.filters.Filters`, the one-line refusal of a bad value, and
the category autocomplete.

Parsing and autocomplete both use the Library's in-memory category counts (filled by
``Library.warm``), so a refusal can be the interaction's first, ephemeral response (no defer)
and autocomplete answers in time (it cannot defer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.render.limits import CHOICE_NAME_MAX, CHOICE_VALUE_MAX, CHOICES_MAX
from retrieval.filters import FilterError, Filters, make_filters

if TYPE_CHECKING:
    from bot.client import PaperBotMixin

WHEN_MAX = 10  # 2024-03-15
CATEGORY_MAX = 200
SINCE_HELP = "Only papers from then on: a year (2024), a month (2024-03) or a date (2024-03-15)"
UNTIL_HELP = "Only papers up to then (inclusive): 2024, 2024-03 or 2024-03-15"
CATEGORY_HELP = "Only papers in this arXiv category, e.g. cs.CL (comma-separate for several)"


def parse_filters(
    bot: PaperBotMixin,
    guild_id: int | None,
    since: str | None,
    until: str | None,
    category: str | None,
) -> Filters | None:
    """The filters of a command's options (None when none is given). Raises
    :class:`FilterError` with a message fit to show as is. A category is checked against those
    present where the command searches."""
    if not ((since or "").strip() or (until or "").strip() or (category or "").strip()):
        return None
    known = None
    if (category or "").strip():
        library = bot.require_library()
        known = [name for name, _ in library.categories(bot.collection_for(guild_id))]
    filters = make_filters(since, until, category, known=known)
    return None if filters.empty else filters


def refusal(exc: FilterError) -> str:
    """The one line a bad filter value is answered with."""
    text = str(exc)
    return f"{text[:1].upper()}{text[1:]}."


def category_choices(
    bot: PaperBotMixin, current: str, guild_id: int | None
) -> list[app_commands.Choice[str]]:
    """Categories present where the command searches, most common first, matching the last
    comma-separated part of what was typed (earlier parts are kept in the value)."""
    if bot.library is None:
        return []
    head, _, last = current[:CATEGORY_MAX].rpartition(",")
    prefix = ",".join(p.strip() for p in head.split(",") if p.strip())
    needle = last.strip().casefold()
    present = bot.library.categories(bot.collection_for(guild_id))
    starts = [(c, n) for c, n in present if c.casefold().startswith(needle)]
    inside = [(c, n) for c, n in present if needle and needle in c.casefold()[1:]]
    seen: dict[str, int] = dict(starts)
    for c, n in inside:
        seen.setdefault(c, n)
    out = []
    for name, count in seen.items():
        value = f"{prefix},{name}" if prefix else name
        if len(value) > CHOICE_VALUE_MAX:
            continue
        label = f"{value} · {count:,} paper{'s' if count != 1 else ''}"
        out.append(app_commands.Choice(name=label[:CHOICE_NAME_MAX], value=value))
        if len(out) == CHOICES_MAX:
            break
    return out


async def category_autocomplete(
    bot: PaperBotMixin, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """For a cog's ``@command.autocomplete("category")`` callback."""
    return category_choices(bot, current, interaction.guild_id)
