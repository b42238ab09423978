"""What the renderers return: a message as Discord JSON, already within every limit.

The renderers build plain data (content and embed dicts, testable without a client); only
:meth:`Outgoing.kwargs` turns it into discord.py objects, at the moment of sending. Nothing is
cut or checked here: fitting is the renderers' single pass (see :mod:`bot.render.limits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import discord

from bot.render.markup import ZWSP

__all__ = ["ANSWER_COLOR", "DECLINED_COLOR", "Outgoing"]

ANSWER_COLOR = 0x2B6CB0  # every embed but a declined answer's
DECLINED_COLOR = 0x718096


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready to send: ``content`` (may be empty) and embeds in Discord's JSON shape."""

    content: str = ""
    embeds: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for discord.py's send/edit methods. (Mentions are switched off for
        the whole client: ``allowed_mentions=AllowedMentions.none()`` in ``bot.client``.)"""
        if not self.content and not self.embeds:
            content: str | None = ZWSP  # Discord rejects an empty message
        else:
            content = self.content or None
        return {
            "content": content,
            "embeds": [discord.Embed.from_dict(e) for e in self.embeds],
        }
