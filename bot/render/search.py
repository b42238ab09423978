"""Result pages (``/search``, ``/similar``, *More papers*) and the paper card, as Discord messages.

Like answers, these are fitted in one pass: each line or field gets its share of the limits
before it is written, and untrusted text (titles, abstracts, authors, the query) is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.render.limits import (
    EMBED_DESCRIPTION_MAX,
    EMBED_FIELD_VALUE_MAX,
    EMBED_FOOTER_MAX,
    EMBED_TITLE_MAX,
    EMBEDS_TOTAL_MAX,
)
from bot.render.markup import code_span, fit_text, join_within, link_target, safe_url, title_link
from bot.render.message import ANSWER_COLOR, Outgoing
from retrieval.answer.links import hf_url_for, page_url_for
from retrieval.papers import Paper

__all__ = ["PAGE_SIZE", "HitLike", "paper_card", "search_page", "similar_page"]

PAGE_SIZE = 5  # results on a page
# A title in a result list: long enough for any real title, short enough for five to a page.
HIT_TITLE_MAX = 700
SEP = " · "


class HitLike(Protocol):
    """What a result line needs (``retrieval.search.Hit`` has it, read-only)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def url(self) -> str | None: ...


def _hits_embed(
    heading: str,
    hits: Sequence[HitLike],
    *,
    page: int,
    has_next: bool,
    total_pages: int | None,
    footer_extra: str = "",
) -> dict[str, Any]:
    if total_pages:
        where = f"page {page + 1}/{max(total_pages, page + 1)}"
    else:
        where = f"page {page + 1}" + (f"{SEP}more results" if has_next else "")
    title = fit_text(heading, EMBED_TITLE_MAX)
    footer = fit_text(SEP.join(x for x in (where, footer_extra) if x), EMBED_FOOTER_MAX)
    budget = min(EMBED_DESCRIPTION_MAX, EMBEDS_TOTAL_MAX - len(title) - len(footer))
    per_line = budget // PAGE_SIZE - len("\n")
    lines = []
    for n, hit in enumerate(hits[:PAGE_SIZE], start=page * PAGE_SIZE + 1):
        head = f"**{n}.** "
        tail = f"{SEP}score {hit.score:.2f}\n`{code_span(hit.id)}`"
        room = per_line - len(head) - len(tail)
        lines.append(
            head + title_link(hit.title, safe_url(hit.url), room, title_max=HIT_TITLE_MAX) + tail
        )
    if not lines:
        lines.append("No papers match." if page == 0 else "No more results.")
    return {
        "title": title,
        "description": join_within(lines, budget),
        "color": ANSWER_COLOR,
        "footer": {"text": footer},
    }


def search_page(
    query: str,
    hits: Sequence[HitLike],
    *,
    page: int = 0,
    has_next: bool = False,
    total_pages: int | None = None,
    collection: str | None = None,
    filters: str | None = None,
) -> Outgoing:
    """One page (:data:`PAGE_SIZE` hits) of search results. ``page`` is 0-based; the footer says
    ``page x/y`` when ``total_pages`` is known, else ``page x`` and whether more follow.
    ``filters``: the active filters as text (``since 2025-01-01, in cs.CL``), shown in the
    heading."""
    query = " ".join(query.split())
    embed = _hits_embed(
        f"Results for “{query}”" + (f" ({filters})" if filters else ""),
        hits,
        page=page,
        has_next=has_next,
        total_pages=total_pages,
        footer_extra=collection or "",
    )
    return Outgoing(embeds=(embed,))


def similar_page(
    paper: Paper,
    hits: Sequence[HitLike],
    *,
    page: int = 0,
    has_next: bool = False,
    total_pages: int | None = None,
) -> Outgoing:
    """One page of papers similar to ``paper`` (the paper itself left out)."""
    embed = _hits_embed(
        f"Papers like “{paper.title}”",
        [h for h in hits if h.id != paper.id],
        page=page,
        has_next=has_next,
        total_pages=total_pages,
    )
    return Outgoing(embeds=(embed,))


def paper_card(paper: Paper) -> Outgoing:
    """A paper card: title (linked), abstract, authors, date, links, id."""
    fields: list[dict[str, Any]] = []
    if paper.authors:
        authors = fit_text(", ".join(paper.authors), EMBED_FIELD_VALUE_MAX)
        fields.append({"name": "Authors", "value": authors, "inline": False})
    if paper.published:
        fields.append({"name": "Published", "value": paper.published.isoformat(), "inline": True})
    page, hf = safe_url(page_url_for(paper)), safe_url(hf_url_for(paper))
    links = []
    if page:
        links.append(f"[{'arXiv' if 'arxiv.org' in page else 'page'}]({link_target(page)})")
    if hf:
        links.append(f"[Hugging Face]({link_target(hf)})")
    shown_links = join_within(links, EMBED_FIELD_VALUE_MAX, sep=SEP)
    if shown_links:
        fields.append({"name": "Links", "value": shown_links, "inline": True})
    title = fit_text(paper.title, EMBED_TITLE_MAX)
    footer = fit_text(f"{paper.id}{SEP}{paper.source}", EMBED_FOOTER_MAX)
    used = len(title) + len(footer) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    abstract = fit_text(paper.abstract, min(EMBED_DESCRIPTION_MAX, EMBEDS_TOTAL_MAX - used))
    embed: dict[str, Any] = {
        "title": title,
        "description": abstract,
        "color": ANSWER_COLOR,
        "fields": fields,
        "footer": {"text": footer},
    }
    if page:
        embed["url"] = page
    return Outgoing(embeds=(embed,))
