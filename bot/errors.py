"""Failure reporting: the user gets a short ephemeral line with a reference, the log gets the rest.

Why a reference: a traceback shown in a channel leaks internals and helps nobody, while "something
went wrong" alone cannot be traced. The same short ref in both places lets an operator find the
exact traceback a user is complaining about.
"""

from __future__ import annotations

import contextlib
import logging
import secrets

import discord

_log = logging.getLogger("paperbot.bot.errors")


def new_ref() -> str:
    """A short, unambiguous reference such as ``K7Q2XM`` (no 0/O/1/I confusion)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(6))


def failure_text(ref: str) -> str:
    return f"Sorry, something went wrong on my side (ref {ref}). Please try again in a moment."


def cooldown_text(retry_after: float) -> str:
    seconds = max(1, round(retry_after + 0.49))
    unit = "second" if seconds == 1 else "seconds"
    return f"You're asking quickly! Please wait {seconds} {unit} and try again."


def log_failure(where: str, error: BaseException) -> str:
    """Log ``error`` with its traceback under a fresh ref and return the ref."""
    ref = new_ref()
    _log.error("%s failed (ref %s): %r", where, ref, error, exc_info=error)
    return ref


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Send ``text`` privately to the user, whatever state the interaction is in.

    Before any response: a plain ephemeral response. After a public "thinking" defer the first
    followup would *replace* the public loading message (and so be public), so the loading message
    is deleted first and the text goes out as a real ephemeral followup (``extras["answered"]``,
    set by :func:`bot.messages.send_followup`, says the original already holds an answer). After
    a private defer (``extras["ephemeral"]``) the followup simply replaces the private loading
    message.
    """
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        still_loading = not interaction.extras.get("answered")
        if (
            still_loading
            and not interaction.extras.get("ephemeral")
            and interaction.response.type
            is discord.InteractionResponseType.deferred_channel_message
        ):
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:  # the interaction expired or Discord is down: log only
        _log.warning("could not tell the user about a failure: %r", exc)


async def report_interaction_error(
    interaction: discord.Interaction, error: BaseException, *, where: str
) -> str:
    """Log ``error`` with a ref and tell the user "something went wrong (ref ...)" ephemerally."""
    ref = log_failure(where, error)
    await send_ephemeral(interaction, failure_text(ref))
    return ref
