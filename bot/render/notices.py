"""Lines the bot writes itself: help, /about, notices and the /add reply.

They hold no user text that could format or ping, except what the bot quotes on purpose (and
mentions are off for the whole client), so they are not escaped: their markdown is meant. They
are still fitted to the content limit, the same way as everything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.render.limits import CONTENT_MAX
from bot.render.markup import fit_text
from bot.render.message import Outgoing
from bot.render.search import PAGE_SIZE, paper_card

if TYPE_CHECKING:
    from retrieval.papers import Paper
    from retrieval.search import CollectionInfo

__all__ = ["about_message", "added_message", "help_message", "mention_help", "notice"]


def notice(message: str) -> Outgoing:
    """A plain bot-written line (errors, confirmations), within the content limit."""
    return Outgoing(content=fit_text(message, CONTENT_MAX, inert=False))


def about_message(
    info: CollectionInfo,
    *,
    version: str,
    library_version: str,
    guild_papers: int | None = None,
    watching: bool = False,
    daily: str | None = None,
) -> Outgoing:
    """``info`` is the shared collection; ``guild_papers`` this server's own (None in a DM)."""
    when = _date(info.indexed_at)
    lines = [
        "**paperbot** answers questions with verbatim quotes from paper abstracts.",
        f"Shared collection: `{info.name}` · {info.paper_count:,} papers",
    ]
    if guild_papers is not None:
        lines.append(
            f"This server's own papers: {guild_papers:,} (added with `/add`; searched together "
            "with the shared collection)"
        )
        lines.append(
            "Paper links in this channel: "
            + ("captured (messages that mention me)" if watching else "not captured (`/watch`)")
        )
    lines.append(f"Index built: {when}")
    if daily:
        lines.append(f"Daily Hugging Face refresh: {daily}")
    lines.append(
        f"Version: {version}"
        + (f" (retrieval {library_version})" if library_version != version else "")
    )
    return notice("\n".join(lines))


ADDED = "Added to this server's collection ({count:,} papers). It's answerable now: try `/ask`."
ALREADY_HERE = "Already in this server's collection, so it's answerable here with `/ask`."
ALREADY_SHARED = (
    "Already in the shared collection, so it's answerable here with `/ask`; nothing to add."
)


def added_message(p: Paper, status: str, count: int) -> Outgoing:
    """The reply to ``/add``: a status line over the paper card."""
    line = {"added": ADDED, "already_here": ALREADY_HERE, "already_shared": ALREADY_SHARED}[status]
    return Outgoing(content=line.format(count=count), embeds=paper_card(p).embeds)


def _date(value: datetime | None) -> str:
    if value is None:
        return "not yet"
    return f"<t:{int(value.timestamp())}:f>"


HELP_TEXT = f"""\
**paperbot** answers with sentences quoted word for word from paper abstracts, with links.
• `/ask question` – an answer quoted from the best papers. Buttons: *More papers*, \
*Show abstract*, 👍/👎 (your vote, private), *Follow up* (ask more in a thread: \
"how does the second one compare?").
• `/search query` – ranked titles, {PAGE_SIZE} per page.
• Both take `since` / `until` (2024, 2024-03 or 2024-03-15) and `category` (e.g. cs.CL).
• `/paper paper` – one paper: abstract, authors, date, links (start typing for suggestions).
• `/similar paper` – papers like a given one.
• `/follow topic` – new papers on a topic, once a day at most, by DM or in a channel; \
`/following` lists, `/unfollow` stops.
• `/digest channel time` – the day's top Hugging Face papers there daily (`time:off` stops it).
• `/add paper` – add an arXiv paper (id, arXiv or Hugging Face link) to this server's collection.
• `/watch enabled` – add papers linked here in messages that mention me.
• `/about` – what I search and how big it is.
Channel follows, `/digest`, `/add` and `/watch` need Manage Server (or a role the server allows).
Mention me with a question (@paperbot how does DPO compare to PPO?), or reply to one of my \
answers with a follow-up."""

MENTION_HELP = (
    "Hi! Ask me about research papers: mention me with a question, e.g. "
    '"@paperbot which papers use monotonic alignment for TTS?", or use `/ask`. `/help` lists '
    "everything."
)


def help_message() -> Outgoing:
    return notice(HELP_TEXT)


def mention_help() -> Outgoing:
    return notice(MENTION_HELP)
