"""Discord's message limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).

Kept in one place so the renderers and their tests agree. The 6000-character total counts every
embed's title, description, field names and values, footer text and author name in a message.
"""

from __future__ import annotations

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBEDS_TOTAL_MAX = 6000
URL_MAX = 2048


def embed_size(embed: dict) -> int:
    """Characters of one embed that count toward the 6000 total."""
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += len(embed.get("footer", {}).get("text", ""))
    size += len(embed.get("author", {}).get("name", ""))
    for item in embed.get("fields", ()):
        size += len(item.get("name", "")) + len(item.get("value", ""))
    return size
