"""Adapter from retrieval's Discord renderers to sendable messages.

All quoting, escaping and fitting of answers, result pages and papers is done by
``retrieval.render.discord_parts`` (shared with anything else that renders for Discord); this
module only calls it and passes the result through the send boundary (:mod:`bot.messages`).
The few lines the bot writes itself (help, about, notices) contain no user text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.messages import Outgoing, prepare, text

if TYPE_CHECKING:
    from retrieval.compose import Answer
    from retrieval.papers import Paper
    from retrieval.search import CollectionInfo, Hit


def _renderer():  # imported lazily: keeps `import bot` light for `paperbot sync`
    from retrieval.render import discord_parts

    return discord_parts


def answer(ans: Answer) -> Outgoing:
    return prepare(_renderer().answer_parts(ans))


def search_page(query: str, hits: Sequence[Hit], *, page: int, has_next: bool) -> Outgoing:
    return prepare(_renderer().search_parts(query, list(hits), page=page, has_next=has_next))


def similar_page(paper: Paper, hits: Sequence[Hit], *, page: int, has_next: bool) -> Outgoing:
    return prepare(_renderer().similar_parts(paper, list(hits), page=page, has_next=has_next))


def paper(p: Paper) -> Outgoing:
    return prepare(_renderer().paper_parts(p))


def notice(message: str) -> Outgoing:
    return text(message)


def about(
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
    return text("\n".join(lines))


ADDED = "Added to this server's collection ({count:,} papers). It's answerable now: try `/ask`."
ALREADY_HERE = "Already in this server's collection, so it's answerable here with `/ask`."
ALREADY_SHARED = (
    "Already in the shared collection, so it's answerable here with `/ask`; nothing to add."
)


def added(p: Paper, status: str, count: int) -> Outgoing:
    """The reply to ``/add``: a status line over the paper card."""
    line = {"added": ADDED, "already_here": ALREADY_HERE, "already_shared": ALREADY_SHARED}[status]
    card = _renderer().paper_parts(p)
    return prepare({"content": line.format(count=count), "embeds": list(card.embeds)})


def _date(value: datetime | None) -> str:
    if value is None:
        return "not yet"
    return f"<t:{int(value.timestamp())}:f>"


HELP_TEXT = """\
**paperbot** answers with sentences quoted word for word from paper abstracts, with links.
• `/ask question` – an answer quoted from the best papers. Buttons: *More papers*, *Show abstract*.
• `/search query` – ranked titles, 5 per page.
• `/paper paper` – one paper: abstract, authors, date, links (start typing for suggestions).
• `/similar paper` – papers like a given one.
• `/about` – what I search and how big it is.
• `/add paper` – add an arXiv paper (id, arXiv or Hugging Face link) to this server's collection.
• `/watch enabled` – add papers linked here in messages that mention me (both: Manage Server).
You can also mention me with a question: @paperbot how does DPO compare to PPO?"""

MENTION_HELP = (
    "Hi! Ask me about research papers: mention me with a question, e.g. "
    '"@paperbot which papers use monotonic alignment for TTS?", or use `/ask`. `/help` lists '
    "everything."
)


def help_message() -> Outgoing:
    return text(HELP_TEXT)


def mention_help() -> Outgoing:
    return text(MENTION_HELP)
