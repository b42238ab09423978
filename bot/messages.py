"""The send boundary: every message the bot posts goes through here, checked against Discord limits.

Rendering (quotes, escaping, fitting answers into limits) belongs to
``retrieval.render.discord_parts``; this module does not re-render anything. It only turns those
plain-data parts into discord.py objects and, defensively, *verifies* the limits in one place:
discord.py does not check them, and Discord rejects an over-long message with a 400, which for a
user means a silent bot. Anything over a limit is cut (and logged, because it means a renderer
bug) rather than lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord

_log = logging.getLogger("paperbot.bot.messages")

from retrieval.render.limits import (  # noqa: E402 - one source of truth for the limits
    CONTENT_MAX,
    EMBED_AUTHOR_MAX,
    EMBED_DESCRIPTION_MAX,
    EMBED_FIELD_NAME_MAX,
    EMBED_FIELD_VALUE_MAX,
    EMBED_FIELDS_MAX,
    EMBED_FOOTER_MAX,
    EMBED_TITLE_MAX,
    EMBEDS_MAX,
    EMBEDS_TOTAL_MAX,
    URL_MAX,
)

ELLIPSIS = "…"


@dataclass
class Outgoing:
    """A message ready to send: content and embeds as Discord JSON, already within limits."""

    content: str | None = None
    embeds: list[dict[str, Any]] = field(default_factory=list)
    clamped: list[str] = field(default_factory=list)  # what had to be cut (empty when fine)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for discord.py's send/edit methods."""
        return {
            "content": self.content or None,
            "embeds": [discord.Embed.from_dict(e) for e in self.embeds],
        }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _get(parts: Any, name: str, default: Any = None) -> Any:
    if isinstance(parts, Mapping):
        return parts.get(name, default)
    return getattr(parts, name, default)


def embed_length(embed: Mapping[str, Any]) -> int:
    """Characters Discord counts toward the 6000 per-message embed total."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    return total


def clamp_embed(embed: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """A copy of ``embed`` with every per-embed limit enforced (problems appended to the list)."""
    out = dict(embed)
    for key, limit in (("title", EMBED_TITLE_MAX), ("description", EMBED_DESCRIPTION_MAX)):
        value = out.get(key)
        if isinstance(value, str) and len(value) > limit:
            out[key] = _cut(value, limit)
            problems.append(f"embed {key} {len(value)} > {limit}")
    if isinstance(out.get("url"), str) and len(out["url"]) > URL_MAX:
        problems.append("embed url too long")
        del out["url"]
    if out.get("footer"):
        footer = dict(out["footer"])
        text = footer.get("text") or ""
        if len(text) > EMBED_FOOTER_MAX:
            footer["text"] = _cut(text, EMBED_FOOTER_MAX)
            problems.append(f"footer {len(text)} > {EMBED_FOOTER_MAX}")
        out["footer"] = footer
    if out.get("author"):
        author = dict(out["author"])
        name = author.get("name") or ""
        if len(name) > EMBED_AUTHOR_MAX:
            author["name"] = _cut(name, EMBED_AUTHOR_MAX)
            problems.append("author name too long")
        out["author"] = author
    fields = list(out.get("fields") or [])
    if len(fields) > EMBED_FIELDS_MAX:
        problems.append(f"{len(fields)} fields > {EMBED_FIELDS_MAX}")
        fields = fields[:EMBED_FIELDS_MAX]
    clean_fields = []
    for f in fields:
        f = dict(f)
        name, value = str(f.get("name") or "\u200b"), str(f.get("value") or "\u200b")
        if len(name) > EMBED_FIELD_NAME_MAX:
            problems.append("field name too long")
            name = _cut(name, EMBED_FIELD_NAME_MAX)
        if len(value) > EMBED_FIELD_VALUE_MAX:
            problems.append(f"field value {len(value)} > {EMBED_FIELD_VALUE_MAX}")
            value = _cut(value, EMBED_FIELD_VALUE_MAX)
        f["name"], f["value"] = name, value
        clean_fields.append(f)
    if "fields" in out or clean_fields:
        out["fields"] = clean_fields
    return out


def clamp(content: str | None, embeds: Sequence[Mapping[str, Any]]) -> Outgoing:
    """Enforce every message limit: content 2000, 10 embeds, per-embed limits, 6000 in total."""
    problems: list[str] = []
    if content is not None and len(content) > CONTENT_MAX:
        problems.append(f"content {len(content)} > {CONTENT_MAX}")
        content = _cut(content, CONTENT_MAX)
    items = list(embeds)
    if len(items) > EMBEDS_MAX:
        problems.append(f"{len(items)} embeds > {EMBEDS_MAX}")
        items = items[:EMBEDS_MAX]
    clean = [clamp_embed(e, problems) for e in items]
    # The 6000 total: drop trailing embeds, then shorten the last description if still over.
    while clean and sum(embed_length(e) for e in clean) > EMBEDS_TOTAL_MAX:
        over = sum(embed_length(e) for e in clean) - EMBEDS_TOTAL_MAX
        last = clean[-1]
        desc = last.get("description") or ""
        if len(clean) > 1 and embed_length(last) <= over + 50:
            problems.append("dropped an embed over the 6000 total")
            clean.pop()
        elif len(desc) > over + 1:
            problems.append("shortened a description over the 6000 total")
            last["description"] = _cut(desc, len(desc) - over)
        else:
            problems.append("dropped an embed over the 6000 total")
            clean.pop()
    if not content and not clean:
        content = "\u200b"  # Discord rejects an empty message
    return Outgoing(content=content, embeds=clean, clamped=problems)


def prepare(parts: Any) -> Outgoing:
    """Turn renderer output (an object or mapping with ``content`` and ``embeds``) into a sendable
    message, verifying the limits. A renderer that broke a limit is logged, never sent as is."""
    content = _get(parts, "content")
    embeds = _get(parts, "embeds") or ()
    out = clamp(content, embeds)
    if out.clamped:
        _log.warning("renderer output exceeded Discord limits, cut: %s", "; ".join(out.clamped))
    return out


def text(message: str) -> Outgoing:
    """A plain bot-written line (help, errors); still passes the same boundary."""
    return clamp(message, ())


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
