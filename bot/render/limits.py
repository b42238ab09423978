"""Discord's message limits, in one place so the renderers and their tests agree.

https://discord.com/developers/docs/resources/message#embed-object-embed-limits and
https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-choice-structure.
discord.py checks none of them, and Discord answers an over-long message with a 400, which for a
user means a silent bot: the renderers fit every message within these in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONTENT_MAX = 2000  # a message's text
EMBEDS_MAX = 10  # embeds in one message
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBEDS_TOTAL_MAX = 6000  # all of a message's embeds together, counted by embed_size
URL_MAX = 2048  # an embed's url (longer links are not shown rather than cut)
ROW_BUTTONS_MAX = 5  # buttons in one action row
CHOICES_MAX = 25  # autocomplete suggestions
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100


def embed_size(embed: Mapping[str, Any]) -> int:
    """Characters of one embed that count toward :data:`EMBEDS_TOTAL_MAX`: title, description,
    field names and values, footer text and author name."""
    size = len(embed.get("title") or "") + len(embed.get("description") or "")
    size += len((embed.get("footer") or {}).get("text") or "")
    size += len((embed.get("author") or {}).get("name") or "")
    for item in embed.get("fields") or ():
        size += len(item.get("name") or "") + len(item.get("value") or "")
    return size
