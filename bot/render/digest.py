"""The daily digest as one Discord message, and the lines ``/digest`` answers with.

One embed per paper (at most :data:`~bot.render.limits.EMBEDS_MAX`): the escaped title links to
the paper's page with its "what it does" sentence highlighted, the description quotes that
sentence verbatim (cut at a word boundary with an ellipsis only when the 6000-character total
leaves no room for all of it) and shows the upvotes and the paper's pages. Titles and sentences
are untrusted text and go through :func:`~bot.render.markup.escape`; mentions are off for the
whole client too, so nothing in a digest can ping. Budgets are shared out before anything is
written, as in :mod:`bot.render.answer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.render.limits import (
    CONTENT_MAX,
    EMBED_DESCRIPTION_MAX,
    EMBED_FOOTER_MAX,
    EMBED_TITLE_MAX,
    EMBEDS_MAX,
    EMBEDS_TOTAL_MAX,
)
from bot.render.markup import LINKS_MAX_SHARE, fit_text, join_within, link_target, safe_url
from bot.render.message import ANSWER_COLOR, Outgoing
from retrieval.answer.compose import ELLIPSIS

__all__ = ["DigestItem", "digest_message", "digest_status"]

OPEN_QUOTE, CLOSE_QUOTE = "“", "”"
FOOTER = "Hugging Face daily papers · most upvoted first · /digest to change or stop"


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One paper as the digest shows it (plain data: rendering needs no store or client)."""

    title: str
    upvotes: int
    sentence: str  # verbatim from the abstract
    trimmed: bool  # the sentence was cut short of its end (shown with an ellipsis)
    link: str | None  # the paper's page with the sentence highlighted
    page: str | None  # the paper's page
    hf_page: str | None  # its Hugging Face page


def _quote(sentence: str, trimmed: bool, limit: int) -> str:
    room = limit - len(OPEN_QUOTE) - len(CLOSE_QUOTE)
    if room <= len(ELLIPSIS):
        return ""
    body = fit_text(sentence, room)
    if trimmed and not body.endswith(ELLIPSIS):
        body = fit_text(sentence, room - len(ELLIPSIS))
        body = body if body.endswith(ELLIPSIS) else body + ELLIPSIS
    return f"{OPEN_QUOTE}{body}{CLOSE_QUOTE}"


def _meta_line(item: DigestItem) -> str:
    votes = f"▲ {item.upvotes:,} upvote{'' if item.upvotes == 1 else 's'}"
    links = [votes]
    if item.hf_page and safe_url(item.hf_page):
        links.append(f"[Hugging Face]({link_target(item.hf_page)})")
    if item.page and safe_url(item.page) and item.page != item.hf_page:
        label = "arXiv" if "arxiv.org" in item.page else "page"
        links.append(f"[{label}]({link_target(item.page)})")
    return " · ".join(links)


def _embed(n: int, item: DigestItem, share: int) -> dict[str, Any]:
    title = fit_text(f"{n}. {item.title}", EMBED_TITLE_MAX)
    budget = min(EMBED_DESCRIPTION_MAX, share - len(title))
    meta = _meta_line(item)
    if len(meta) > int(budget * LINKS_MAX_SHARE):
        meta = join_within([f"▲ {item.upvotes:,}"], int(budget * LINKS_MAX_SHARE))
    sep = "\n" if meta else ""
    quote = _quote(item.sentence, item.trimmed, budget - len(meta) - len(sep))
    embed: dict[str, Any] = {
        "title": title,
        "description": sep.join(part for part in (quote, meta) if part),
        "color": ANSWER_COLOR,
    }
    url = safe_url(item.link) or safe_url(item.page)
    if url:
        embed["url"] = url
    return embed


def digest_message(day: date, items: Sequence[DigestItem], total: int) -> Outgoing:
    """``items`` (best first, at most 10 are shown) of ``day``'s list of ``total`` papers."""
    shown = list(items)[:EMBEDS_MAX]
    top = f"top {len(shown)} of {total}" if total > len(shown) else f"all {len(shown)}"
    content = fit_text(
        f"**Hugging Face daily papers · {day.isoformat()}** ({top}, by upvotes)",
        CONTENT_MAX,
        inert=False,
    )
    footer = {"text": fit_text(FOOTER, EMBED_FOOTER_MAX, inert=False)}
    share = (EMBEDS_TOTAL_MAX - len(footer["text"])) // max(len(shown), 1)
    embeds = [_embed(n, item, share) for n, item in enumerate(shown, start=1)]
    if embeds:
        embeds[-1]["footer"] = footer
    return Outgoing(content=content, embeds=tuple(embeds))


def digest_status(lines: Sequence[str], *, empty: str) -> Outgoing:
    """``/digest`` without options: this server's digests, one bot-written line each."""
    body = join_within(lines, CONTENT_MAX - 40) if lines else empty
    return Outgoing(content=fit_text(body, CONTENT_MAX, inert=False))
