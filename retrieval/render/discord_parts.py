"""Answers, result pages and papers as Discord message parts: plain data, always within limits.

Pure functions, no discord import: the bot turns :class:`MessageParts` into ``discord.Embed``
objects (``discord.Embed.from_dict``) and sends them. Every piece of untrusted text (titles,
quotes, abstracts, authors, the question) goes through :func:`~retrieval.render.markup.escape`,
so nothing a paper or a user wrote can format, link or ping. Quotes are cut to fit only at whole
chunks or word boundaries of the *source* text, then escaped, so an escape sequence or a bold
marker is never split.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from retrieval.compose import ELLIPSIS, Answer, AnsweredPaper, Quote
from retrieval.papers import Paper
from retrieval.render.limits import (
    CONTENT_MAX,
    EMBED_DESCRIPTION_MAX,
    EMBED_FIELD_NAME_MAX,
    EMBED_FIELD_VALUE_MAX,
    EMBED_FOOTER_MAX,
    EMBED_TITLE_MAX,
    EMBEDS_MAX,
    EMBEDS_TOTAL_MAX,
    URL_MAX,
    embed_size,
)
from retrieval.render.markup import BOLD, Chunk, escape, quote_chunks

__all__ = [
    "PAGE_SIZE",
    "MessageParts",
    "answer_parts",
    "paper_parts",
    "search_parts",
    "similar_parts",
]

PAGE_SIZE = 5
ANSWER_COLOR = 0x2B6CB0
DECLINED_COLOR = 0x718096
# Room kept for the footer and titles when sharing the 6000-character total between embeds.
_FOOTER_RESERVE = 200


class HitLike(Protocol):
    id: str
    title: str
    score: float
    url: str | None


@dataclass(frozen=True, slots=True)
class MessageParts:
    """What to send: ``content`` (may be empty) and embeds in Discord's JSON shape."""

    content: str = ""
    embeds: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"content": self.content, "embeds": [dict(e) for e in self.embeds]}


# ----------------------------------------------------------------------------- fitting helpers
def fit_text(raw: str, limit: int, *, bold: bool = False) -> str:
    """``escape(raw)`` (optionally bold), cut at a word boundary of ``raw`` to fit ``limit``."""
    wrap = 2 * len(BOLD) if bold else 0

    def render(text: str) -> str:
        body = escape(text)
        return f"{BOLD}{body}{BOLD}" if bold and body else body

    full = render(raw)
    if len(full) <= limit:
        return full
    if limit <= len(ELLIPSIS) + wrap:
        return ELLIPSIS[:limit] if limit > 0 else ""
    # Escaping at most triples a character ("@" -> "@\u200b", "<" -> "\<"), so binary search the
    # longest raw prefix whose rendering plus the ellipsis fits.
    lo, hi = 0, len(raw)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(render(raw[:mid].rstrip())) + len(ELLIPSIS) <= limit:
            lo = mid
        else:
            hi = mid - 1
    cut = raw[:lo]
    space = cut.rfind(" ")
    if space > lo // 2:
        cut = cut[:space]
    cut = cut.rstrip()
    return render(cut) + ELLIPSIS if cut else ELLIPSIS


def _render_chunks(chunks: Iterable[Chunk]) -> str:
    out = []
    for chunk in chunks:
        if chunk.joint:
            out.append(chunk.text)
        elif chunk.highlight:
            out.append(f"{BOLD}{escape(chunk.text)}{BOLD}")
        else:
            out.append(escape(chunk.text))
    return "".join(out)


def render_quote(quote: Quote, limit: int) -> str:
    """The quote in curly quotes with bold highlights, within ``limit`` characters.

    If it does not fit, whole chunks are kept from the start and the first chunk that does not
    fit is cut at a word boundary (unhighlighted), followed by an ellipsis.
    """
    chunks = list(quote_chunks(quote))
    whole = f"“{_render_chunks(chunks)}”"
    if len(whole) <= limit:
        return whole
    budget = limit - 2 - len(ELLIPSIS)
    kept: list[Chunk] = []
    used = 0
    for chunk in chunks:
        rendered = _render_chunks([chunk])
        if used + len(rendered) <= budget:
            kept.append(chunk)
            used += len(rendered)
            continue
        if not chunk.joint:
            partial = fit_text(chunk.text, budget - used + len(ELLIPSIS))
            if partial.endswith(ELLIPSIS):
                partial = partial[: -len(ELLIPSIS)]
            if partial and partial != ELLIPSIS:
                return f"“{_render_chunks(kept)}{partial}{ELLIPSIS}”"
        break
    body = _render_chunks(kept).rstrip()
    if not body:
        return ""
    return f"“{body}{ELLIPSIS}”"


def _links_line(paper: AnsweredPaper) -> str:
    links = []
    if paper.fragment_url and len(paper.fragment_url) <= URL_MAX:
        links.append(f"[highlight]({_url(paper.fragment_url)})")
    if paper.url:
        links.append(f"[{'arXiv' if 'arxiv.org' in paper.url else 'page'}]({_url(paper.url)})")
    if paper.hf_url:
        links.append(f"[Hugging Face]({_url(paper.hf_url)})")
    return " · ".join(links)


def _url(url: str) -> str:
    """A URL safe inside a masked link: no characters that end the link early."""
    return url.replace(")", "%29").replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")


def _safe_url(url: str | None) -> str | None:
    if url and len(url) <= URL_MAX and url.startswith(("http://", "https://")):
        return url
    return None


def _as_of(value: datetime | date | None) -> str:
    if value is None:
        return "unknown date"
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def _footer(answer: Answer) -> dict[str, str]:
    text = f"{answer.collection} · {answer.paper_count:,} papers · as of {_as_of(answer.as_of)}"
    return {"text": fit_text(text, EMBED_FOOTER_MAX)}


def _shrink_to_total(embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop embeds from the end until the message is within the 6000-character total."""
    embeds = embeds[:EMBEDS_MAX]
    while len(embeds) > 1 and sum(embed_size(e) for e in embeds) > EMBEDS_TOTAL_MAX:
        embeds.pop()
    if embeds and embed_size(embeds[0]) > EMBEDS_TOTAL_MAX:  # cannot happen with our budgets
        first = embeds[0]
        over = embed_size(first) - EMBEDS_TOTAL_MAX
        first["description"] = first.get("description", "")[: -over - 1] + ELLIPSIS
    return embeds


# ----------------------------------------------------------------------------- answers
def answer_parts(answer: Answer) -> MessageParts:
    """An answer: one embed per paper (title links to the highlighted sentence), quotes in the
    description; or, when declined, one embed listing the closest titles."""
    question = " ".join(answer.question.split())
    if not answer.answered:
        return _declined_parts(answer, question)
    content = fit_text(f"Q: {question}", CONTENT_MAX)
    papers = answer.papers[:EMBEDS_MAX]
    share = (EMBEDS_TOTAL_MAX - _FOOTER_RESERVE) // max(len(papers), 1)
    embeds: list[dict[str, Any]] = []
    for n, paper in enumerate(papers, start=1):
        title = fit_text(f"{n}. {paper.title}", EMBED_TITLE_MAX)
        budget = min(EMBED_DESCRIPTION_MAX, share - len(title))
        links = _links_line(paper)
        if len(links) > budget // 2:
            links = ""
        quote_budget = budget - (len(links) + 2 if links else 0)
        per_quote = quote_budget // max(len(paper.quotes), 1) - 2
        lines = [q for q in (render_quote(quote, per_quote) for quote in paper.quotes) if q]
        if links:
            lines.append(links)
        embed: dict[str, Any] = {
            "title": title,
            "description": "\n\n".join(lines)[:budget],
            "color": ANSWER_COLOR,
        }
        url = _safe_url(paper.fragment_url) or _safe_url(paper.url)
        if url:
            embed["url"] = url
        embeds.append(embed)
    if embeds:
        embeds[-1]["footer"] = _footer(answer)
    return MessageParts(content=content, embeds=tuple(_shrink_to_total(embeds)))


def _declined_parts(answer: Answer, question: str) -> MessageParts:
    content = fit_text(f"Q: {question}", CONTENT_MAX)
    lines = [
        fit_text(
            f"No paper in {answer.collection} answers this in its abstract.",
            EMBED_DESCRIPTION_MAX // 4,
        )
    ]
    if answer.papers:
        lines.append("Closest titles:")
        per = (EMBED_DESCRIPTION_MAX - 400) // max(len(answer.papers), 1)
        for n, paper in enumerate(answer.papers, start=1):
            url = _safe_url(paper.url)
            title = fit_text(paper.title, min(per - 20, EMBED_TITLE_MAX * 2))
            lines.append(f"{n}. [{title}]({_url(url)})" if url else f"{n}. {title}")
    else:
        lines.append("The collection has no paper that shares a word with the question.")
    embed = {
        "title": "No answer found",
        "description": "\n".join(lines)[:EMBED_DESCRIPTION_MAX],
        "color": DECLINED_COLOR,
        "footer": _footer(answer),
    }
    return MessageParts(content=content, embeds=(embed,))


# ----------------------------------------------------------------------------- result pages
def _hits_embed(
    heading: str,
    hits: Sequence[HitLike],
    *,
    page: int,
    has_next: bool,
    total_pages: int | None,
    footer_extra: str = "",
) -> dict[str, Any]:
    shown = hits[:PAGE_SIZE]
    lines = []
    per = (EMBED_DESCRIPTION_MAX - 200) // PAGE_SIZE
    for n, hit in enumerate(shown, start=page * PAGE_SIZE + 1):
        title = fit_text(hit.title, min(per - 60, 700))
        url = _safe_url(hit.url)
        head = f"**{n}.** [{title}]({_url(url)})" if url else f"**{n}.** {title}"
        lines.append(f"{head} · score {hit.score:.2f}\n`{_code(hit.id)}`")
    if not lines:
        lines.append("No papers match." if page == 0 else "No more results.")
    if total_pages:
        where = f"page {page + 1}/{max(total_pages, page + 1)}"
    else:
        where = f"page {page + 1}" + (" · more results" if has_next else "")
    footer = " · ".join(x for x in (where, footer_extra) if x)
    return {
        "title": fit_text(heading, EMBED_TITLE_MAX),
        "description": "\n".join(lines)[:EMBED_DESCRIPTION_MAX],
        "color": ANSWER_COLOR,
        "footer": {"text": fit_text(footer, EMBED_FOOTER_MAX)},
    }


def _code(text: str) -> str:
    """Text for an inline code span: backticks cannot be escaped there, so they are replaced;
    mentions are broken with a zero-width space as everywhere else."""
    cut = text.replace("`", "'")[:200]
    return cut.replace("@", "@\u200b").replace("<", "<\u200b") or "?"


def search_parts(
    query: str,
    hits: Sequence[HitLike],
    *,
    page: int = 0,
    has_next: bool = False,
    total_pages: int | None = None,
    collection: str | None = None,
) -> MessageParts:
    """One page (five hits) of search results. ``page`` is 0-based; the footer says
    ``page x/y`` when ``total_pages`` is known, else ``page x`` and whether more follow."""
    query = " ".join(query.split())
    embed = _hits_embed(
        f"Results for “{query}”",
        hits,
        page=page,
        has_next=has_next,
        total_pages=total_pages,
        footer_extra=collection or "",
    )
    return MessageParts(content="", embeds=(embed,))


def similar_parts(
    paper: Paper,
    hits: Sequence[HitLike],
    *,
    page: int = 0,
    has_next: bool = False,
    total_pages: int | None = None,
) -> MessageParts:
    """One page of papers similar to ``paper``."""
    embed = _hits_embed(
        f"Papers like “{paper.title}”",
        [h for h in hits if h.id != paper.id],
        page=page,
        has_next=has_next,
        total_pages=total_pages,
    )
    return MessageParts(content="", embeds=(embed,))


# ----------------------------------------------------------------------------- one paper
def paper_parts(paper: Paper) -> MessageParts:
    """A paper card: title (linked), abstract, authors, date, links, id."""
    from retrieval.links import hf_url_for, page_url_for

    fields: list[dict[str, Any]] = []
    if paper.authors:
        authors = ", ".join(paper.authors)
        fields.append(
            {"name": "Authors", "value": fit_text(authors, EMBED_FIELD_VALUE_MAX), "inline": False}
        )
    if paper.published:
        fields.append({"name": "Published", "value": paper.published.isoformat(), "inline": True})
    page, hf = page_url_for(paper), hf_url_for(paper)
    links = []
    if _safe_url(page):
        links.append(f"[{'arXiv' if 'arxiv.org' in page else 'page'}]({_url(page)})")
    if _safe_url(hf):
        links.append(f"[Hugging Face]({_url(hf)})")
    if links:
        fields.append(
            {"name": "Links", "value": " · ".join(links)[:EMBED_FIELD_VALUE_MAX], "inline": True}
        )
    for item in fields:
        item["name"] = item["name"][:EMBED_FIELD_NAME_MAX]
    title = fit_text(paper.title, EMBED_TITLE_MAX)
    footer = fit_text(f"{paper.id} · {paper.source}", EMBED_FOOTER_MAX)
    used = len(title) + len(footer) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    budget = min(EMBED_DESCRIPTION_MAX, EMBEDS_TOTAL_MAX - used)
    embed: dict[str, Any] = {
        "title": title,
        "description": fit_text(paper.abstract, budget),
        "color": ANSWER_COLOR,
        "fields": fields,
        "footer": {"text": footer},
    }
    url = _safe_url(page)
    if url:
        embed["url"] = url
    return MessageParts(content="", embeds=(embed,))


def pages_for(total_hits: int) -> int:
    """How many pages of :data:`PAGE_SIZE` hits ``total_hits`` make."""
    return max(1, math.ceil(total_hits / PAGE_SIZE))
