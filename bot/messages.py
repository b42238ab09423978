"""Interaction replies (defer, first response, followup), with the interaction state they need.

What is sent is rendered (and fitted to Discord's limits) by :mod:`bot.render`; this module only
sends it and records, in ``interaction.extras``, what ``bot.errors.send_ephemeral`` needs to know
to reply privately later.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.render import Outgoing


async def defer(interaction: discord.Interaction, *, ephemeral: bool = False) -> None:
    """Acknowledge now with a "thinking…" state; the answer follows with :func:`send_followup`.

    Use it before any work that can take more than a moment: Discord drops an interaction whose
    first response comes later than 3 s, and it accepts exactly one first response.
    """
    await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    interaction.extras["ephemeral"] = ephemeral


async def send_followup(
    interaction: discord.Interaction,
    out: Outgoing,
    *,
    view: discord.ui.View | None = None,
    ephemeral: bool = False,
) -> discord.WebhookMessage:
    """Followup after a defer; marks the interaction answered (see ``errors.send_ephemeral``)."""
    kwargs: dict[str, Any] = out.kwargs()
    if view is not None:
        kwargs["view"] = view
    message = await interaction.followup.send(**kwargs, ephemeral=ephemeral, wait=True)
    interaction.extras["answered"] = True
    return message


async def send_response(
    interaction: discord.Interaction,
    out: Outgoing,
    *,
    view: discord.ui.View | None = None,
    ephemeral: bool = False,
) -> None:
    """The initial response, for work short enough to need no defer."""
    kwargs: dict[str, Any] = out.kwargs()
    if view is not None:
        kwargs["view"] = view
    await interaction.response.send_message(**kwargs, ephemeral=ephemeral)
    interaction.extras["answered"] = True
