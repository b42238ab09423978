"""An :class:`~retrieval.answer.compose.Answer` as one Discord message, fitted in one pass.

One embed per paper (its title links to the highlighted sentence), quotes in the description;
or, when declined, one embed listing the closest titles. Every piece of untrusted text (titles,
quotes, the question, the collection name) goes through :func:`~bot.render.markup.escape`, so
nothing a paper or a user wrote can format, link or ping. Quotes are cut only at whole chunks or
word boundaries of the *source* text, then escaped, so an escape sequence or a bold marker is
never split. Budgets are worked out before anything is written: the 6000-character total is
shared out between the embeds after the footer is paid for, so nothing is cut afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from bot.render.limits import (
    CONTENT_MAX,
    EMBED_DESCRIPTION_MAX,
    EMBED_FOOTER_MAX,
    EMBED_TITLE_MAX,
    EMBEDS_MAX,
    EMBEDS_TOTAL_MAX,
    URL_MAX,
)
from bot.render.markup import (
    BOLD,
    LINKS_MAX_SHARE,
    escape,
    fit_text,
    join_within,
    link_target,
    safe_url,
    title_link,
)
from bot.render.message import ANSWER_COLOR, DECLINED_COLOR, Outgoing
from retrieval.answer.compose import ELLIPSIS, Answer, AnsweredPaper, Quote
from retrieval.answer.highlight import Chunk, quote_chunks

__all__ = ["answer_message", "render_quote"]

OPEN_QUOTE, CLOSE_QUOTE = "“", "”"
QUOTE_SEP = "\n\n"  # between a paper's quotes, and before its links line
# A declined answer: its first line's share of the description, and a closest title's length.
DECLINED_NOTE_MAX = EMBED_DESCRIPTION_MAX // 4
CLOSEST_TITLE_MAX = 2 * EMBED_TITLE_MAX
CLOSEST_HEADING = "Closest titles:"


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
    fit is cut at a word boundary (unhighlighted), followed by an ellipsis. ``""`` if not even
    that fits.
    """
    chunks = list(quote_chunks(quote))
    whole = f"{OPEN_QUOTE}{_render_chunks(chunks)}{CLOSE_QUOTE}"
    if len(whole) <= limit:
        return whole
    budget = limit - len(OPEN_QUOTE) - len(CLOSE_QUOTE) - len(ELLIPSIS)
    kept: list[Chunk] = []
    used = 0
    for chunk in chunks:
        rendered = _render_chunks([chunk])
        if used + len(rendered) <= budget:
            kept.append(chunk)
            used += len(rendered)
            continue
        if not chunk.joint:
            room = budget - used
            partial = fit_text(chunk.text, room + len(ELLIPSIS)).removesuffix(ELLIPSIS)
            if len(partial) > room:  # the whole chunk, one character too long: cut it after all
                partial = fit_text(chunk.text, room).removesuffix(ELLIPSIS)
            if partial:
                return f"{OPEN_QUOTE}{_render_chunks(kept)}{partial}{ELLIPSIS}{CLOSE_QUOTE}"
        break
    body = _render_chunks(kept).rstrip()
    return f"{OPEN_QUOTE}{body}{ELLIPSIS}{CLOSE_QUOTE}" if body else ""


def _links_line(paper: AnsweredPaper) -> str:
    links = []
    if paper.fragment_url and len(paper.fragment_url) <= URL_MAX:
        links.append(f"[highlight]({link_target(paper.fragment_url)})")
    if paper.url:
        label = "arXiv" if "arxiv.org" in paper.url else "page"
        links.append(f"[{label}]({link_target(paper.url)})")
    if paper.hf_url:
        links.append(f"[Hugging Face]({link_target(paper.hf_url)})")
    return " · ".join(links)


def _as_of(value: datetime | date | None) -> str:
    if value is None:
        return "unknown date"
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def _footer(answer: Answer) -> dict[str, str]:
    text = f"{answer.collection} · {answer.paper_count:,} papers · as of {_as_of(answer.as_of)}"
    return {"text": fit_text(text, EMBED_FOOTER_MAX)}


def answer_message(answer: Answer) -> Outgoing:
    """The answer, or the closest titles when declined, as one message within every limit."""
    question = " ".join(answer.question.split())
    content = fit_text(f"Q: {question}", CONTENT_MAX)
    footer = _footer(answer)
    if not answer.answered:
        return Outgoing(content=content, embeds=(_declined_embed(answer, footer),))
    papers = answer.papers[:EMBEDS_MAX]
    # The 6000 total, less the footer (on the last embed), shared equally between the papers.
    share = (EMBEDS_TOTAL_MAX - len(footer["text"])) // max(len(papers), 1)
    embeds = [_paper_embed(n, paper, share) for n, paper in enumerate(papers, start=1)]
    if embeds:
        embeds[-1]["footer"] = footer
    return Outgoing(content=content, embeds=tuple(embeds))


def _paper_embed(n: int, paper: AnsweredPaper, share: int) -> dict[str, Any]:
    """One paper's embed, its title and description within ``share`` characters together."""
    title = fit_text(f"{n}. {paper.title}", EMBED_TITLE_MAX)
    budget = min(EMBED_DESCRIPTION_MAX, share - len(title))
    links = _links_line(paper)
    if len(links) > int(budget * LINKS_MAX_SHARE):
        links = ""
    quote_budget = budget - (len(links) + len(QUOTE_SEP) if links else 0)
    # Each quote pays for the separator after it, so quotes plus separators fit the budget.
    per_quote = quote_budget // max(len(paper.quotes), 1) - len(QUOTE_SEP)
    lines = [q for q in (render_quote(quote, per_quote) for quote in paper.quotes) if q]
    if links:
        lines.append(links)
    embed: dict[str, Any] = {
        "title": title,
        "description": QUOTE_SEP.join(lines),
        "color": ANSWER_COLOR,
    }
    url = safe_url(paper.fragment_url) or safe_url(paper.url)
    if url:
        embed["url"] = url
    return embed


def _declined_embed(answer: Answer, footer: dict[str, str]) -> dict[str, Any]:
    title = "No answer found"
    budget = min(EMBED_DESCRIPTION_MAX, EMBEDS_TOTAL_MAX - len(title) - len(footer["text"]))
    note = fit_text(
        f"No paper in {answer.collection} answers this in its abstract.", DECLINED_NOTE_MAX
    )
    lines = [note]
    if answer.papers:
        lines.append(CLOSEST_HEADING)
        room = budget - len(note) - len(CLOSEST_HEADING) - 2 * len("\n")
        per_line = room // len(answer.papers) - len("\n")
        for n, paper in enumerate(answer.papers, start=1):
            prefix = f"{n}. "
            shown = title_link(
                paper.title,
                safe_url(paper.url),
                per_line - len(prefix),
                title_max=CLOSEST_TITLE_MAX,
            )
            lines.append(prefix + shown)
    elif answer.reason == "filtered-out":
        lines.append("No paper in the collection passes the filters (since, until, category).")
    else:
        lines.append("The collection has no paper that shares a word with the question.")
    return {
        "title": title,
        "description": join_within(lines, budget),
        "color": DECLINED_COLOR,
        "footer": footer,
    }
