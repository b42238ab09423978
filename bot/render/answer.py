"""An :class:`~retrieval.answer.compose.Answer` as one Discord message, fitted in one pass.

One embed per paper (its title links to the highlighted sentence), quotes in the description;
or, when declined, one embed listing the closest titles. Every piece of untrusted text (titles,
quotes, the question, the collection name) goes through :func:`~bot.render.markup.escape`, so
nothing a paper or a user wrote can format, link or ping. Quotes are cut only at whole chunks or
word boundaries of the *source* text, then escaped, so an escape sequence or a bold marker is
never split. Budgets are worked out before anything is written: the 6000-character total is
shared out between the embeds after the footer is paid for, so nothing is cut afterwards.

A model-written answer (``answer.written``, :mod:`retrieval.llm`) leads the message content,
after a shortened question line: each of its sentences escaped like any untrusted text (and any
``scheme://`` broken, so a URL the model wrote never becomes a link), followed by its citation
markers, each a masked link (``[1.2](<url>)``; angle brackets suppress the preview) to the cited
sentence on the paper's own page as a text fragment. A marker is only written for a quote that is
shown: ``n.s`` is sentence ``s`` of the abstract of embed ``n`` (as the CLI numbers it), and the
embed puts the same label before that quote; a sentence left with no shown citation is left out,
and with none left the extractive answer is rendered as it would be without a model. The embeds
are laid out first (their budget does not depend on the content), then the content is shared out
sentence by sentence, markers before text, so the 2000 characters are never passed (less
:data:`NOTE_MAX` kept for a line the bot adds: :func:`with_note`). The footer names the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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
    ZWSP,
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
from retrieval.answer.links import with_text_fragment
from retrieval.llm.model import Citation, WrittenAnswer
from retrieval.sanitize import clean_line

__all__ = ["answer_message", "render_quote", "with_note"]

OPEN_QUOTE, CLOSE_QUOTE = "“", "”"
QUOTE_SEP = "\n\n"  # between a paper's quotes, and before its links line
# A declined answer: its first line's share of the description, and a closest title's length.
DECLINED_NOTE_MAX = EMBED_DESCRIPTION_MAX // 4
CLOSEST_TITLE_MAX = 2 * EMBED_TITLE_MAX
CLOSEST_HEADING = "Closest titles:"
# A written answer: the question line's share of the content, the model name's share of the
# footer, the least room a sentence's text keeps beside its markers, and the room its content
# leaves for one line the bot may put before it (with_note).
WRITTEN_QUESTION_MAX = 300
MODEL_NAME_MAX = 100
WRITTEN_TEXT_MIN = 40
NOTE_MAX = 100
WRITTEN_BY = "Answer written by {model} from the quoted abstracts"
# "scheme:" before a slash (a URL the model wrote) and invite hosts, broken with a zero-width
# space so Discord does not turn them into links; links come only from the markers.
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*:)(?=/)")
_INVITE = re.compile(r"(?i)\b(discord(?:app)?|dsc)(\.)(?=(?:gg|com|io|me)\b)")


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


def _links_line(paper: AnsweredPaper, fragment_url: str | None) -> str:
    links = []
    if fragment_url and len(fragment_url) <= URL_MAX:
        links.append(f"[highlight]({link_target(fragment_url)})")
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


def _footer(answer: Answer, written: WrittenAnswer | None = None) -> dict[str, str]:
    text = f"{answer.collection} · {answer.paper_count:,} papers · as of {_as_of(answer.as_of)}"
    if written is not None:
        model = " ".join(clean_line(written.model).split())[:MODEL_NAME_MAX] or "a model"
        text = f"{WRITTEN_BY.format(model=model)} · {text}"
    return {"text": fit_text(text, EMBED_FOOTER_MAX)}


def _shown_written(answer: Answer) -> WrittenAnswer | None:
    """The written answer to render, if any: only on an answered answer with sentences (an
    "unanswerable" verdict leaves the extractive answer as it was)."""
    written = answer.written
    if written is None or not answer.answered or written.unanswerable or not written.sentences:
        return None
    return written


def answer_message(answer: Answer) -> Outgoing:
    """The answer, or the closest titles when declined, as one message within every limit."""
    question = " ".join(answer.question.split())
    written = _shown_written(answer)
    if written is not None:
        message = _written_message(answer, written, question)
        if message is not None:
            return message
    content = fit_text(f"Q: {question}", CONTENT_MAX)
    footer = _footer(answer)
    if not answer.answered:
        return Outgoing(content=content, embeds=(_declined_embed(answer, footer),))
    papers = answer.papers[:EMBEDS_MAX]
    # The 6000 total, less the footer (on the last embed), shared equally between the papers.
    share = (EMBEDS_TOTAL_MAX - len(footer["text"])) // max(len(papers), 1)
    embeds = [_paper_embed(n, paper, share).embed for n, paper in enumerate(papers, start=1)]
    if embeds:
        embeds[-1]["footer"] = footer
    return Outgoing(content=content, embeds=tuple(embeds))


def with_note(out: Outgoing, note: str, answer: Answer) -> Outgoing:
    """``out`` (``answer_message(answer)``) with a line the bot wrote (``note``, markdown kept)
    before its content. A written answer's content leaves :data:`NOTE_MAX` characters for it,
    so its links are never cut."""
    if _shown_written(answer) is not None:
        content = f"{fit_text(note, NOTE_MAX - 1, inert=False)}\n{out.content}"
        if len(content) <= CONTENT_MAX:
            return replace(out, content=content)
    return replace(out, content=fit_text(f"{note}\n{out.content}", CONTENT_MAX))


@dataclass(frozen=True, slots=True)
class _Embed:
    embed: dict[str, Any]
    shown: tuple[int, ...]  # indices of the paper's quotes that made it into the description


def _paper_embed(
    n: int, paper: AnsweredPaper, share: int, labels: Sequence[str | None] | None = None
) -> _Embed:
    """One paper's embed, its title and description within ``share`` characters together.
    ``labels`` (a written answer's: ``n.s`` for the quotes it cites) go in bold before those
    quotes, and the embed then links to its first quote on the paper's page."""
    title = fit_text(f"{n}. {paper.title}", EMBED_TITLE_MAX)
    budget = min(EMBED_DESCRIPTION_MAX, share - len(title))
    fragment_url = paper.fragment_url
    if labels is not None:
        fragment_url = _fragment_url(paper, paper.quotes[0].text) if paper.quotes else None
    links = _links_line(paper, fragment_url)
    if len(links) > int(budget * LINKS_MAX_SHARE):
        links = ""
    quote_budget = budget - (len(links) + len(QUOTE_SEP) if links else 0)
    # Each quote pays for the separator after it, so quotes plus separators fit the budget.
    per_quote = quote_budget // max(len(paper.quotes), 1) - len(QUOTE_SEP)
    lines: list[str] = []
    shown: list[int] = []
    for k, quote in enumerate(paper.quotes):
        label = labels[k] if labels is not None else None
        prefix = f"{BOLD}{label}{BOLD} " if label is not None else ""
        rendered = render_quote(quote, per_quote - len(prefix))
        if rendered:
            lines.append(prefix + rendered)
            shown.append(k)
    if links:
        lines.append(links)
    embed: dict[str, Any] = {
        "title": title,
        "description": QUOTE_SEP.join(lines),
        "color": ANSWER_COLOR,
    }
    url = safe_url(fragment_url) or safe_url(paper.url)
    if url:
        embed["url"] = url
    return _Embed(embed, tuple(shown))


def _fragment_url(paper: AnsweredPaper, sentence: str) -> str | None:
    """The paper's own page, scrolled to ``sentence`` (None without a usable page URL)."""
    page = safe_url(paper.url)
    return safe_url(with_text_fragment(page, sentence)) if page else None


def _inert_model_text(text: str) -> str:
    """One line of model text with nothing Discord would turn into a link (escaping, which
    handles markdown and mentions, comes after)."""
    line = " ".join(clean_line(text).split())
    return _INVITE.sub(r"\1\2" + ZWSP, _SCHEME.sub(r"\1" + ZWSP, line))


def _written_message(answer: Answer, written: WrittenAnswer, question: str) -> Outgoing | None:
    """The written answer leading the content, the cited quotes in the embeds; None when no
    sentence keeps a citation of a quote that is shown."""
    footer = _footer(answer, written)
    papers = answer.papers[:EMBEDS_MAX]
    share = (EMBEDS_TOTAL_MAX - len(footer["text"])) // max(len(papers), 1)
    embeds: list[dict[str, Any]] = []
    shown: list[_Shown] = []
    for n, paper in enumerate(papers, start=1):
        labels = [_label(n, paper, quote, written.citations) for quote in paper.quotes]
        laid = _paper_embed(n, paper, share, labels)
        embeds.append(laid.embed)
        for k in laid.shown:
            label = labels[k]
            if label is not None:
                shown.append(_Shown(paper, paper.quotes[k], label))
    if not embeds:
        return None
    embeds[-1]["footer"] = footer
    header = fit_text(f"Q: {question}", WRITTEN_QUESTION_MAX)
    room = CONTENT_MAX - NOTE_MAX - len(header) - len(QUOTE_SEP)
    body = _written_body(written, shown, room)
    if not body:
        return None
    return Outgoing(content=f"{header}{QUOTE_SEP}{body}", embeds=tuple(embeds))


@dataclass(frozen=True, slots=True)
class _Shown:
    """A quote shown in embed ``label``'s paper, which citations may link to."""

    paper: AnsweredPaper
    quote: Quote
    label: str

    def backs(self, citation: Citation) -> bool:
        return citation.paper_id == self.paper.id and _within(citation, self.quote)


def _within(citation: Citation, quote: Quote) -> bool:
    return quote.start <= citation.start < citation.end <= quote.end


def _label(n: int, paper: AnsweredPaper, quote: Quote, cited: Sequence[Citation]) -> str | None:
    """``n.s`` for a quote the model cited (``s``: the sentence's number in the abstract, as the
    CLI shows it), None for a quote it did not cite."""
    for citation in cited:
        if citation.paper_id == paper.id and _within(citation, quote):
            return f"{n}.{citation.sentence}"
    return None


def _marker(citation: Citation, shown: Sequence[_Shown]) -> str:
    """``[n.s](<fragment url>)`` for a citation of a shown quote ("" if it cites none); the bare
    label when the paper has no page to link to."""
    for quote in shown:
        if quote.backs(citation):
            sentence = quote.paper.abstract[citation.start : citation.end]
            url = _fragment_url(quote.paper, sentence)
            label = quote.label
            return f"[{label}](<{link_target(url)}>)" if url else escape(f"[{label}]")
    return ""


def _written_body(written: WrittenAnswer, shown: Sequence[_Shown], room: int) -> str:
    """The written sentences, each followed by its markers, within ``room`` characters: each
    sentence gets an equal share of what is left, its markers at most half of it (at least one,
    if one fits), its text the rest."""
    parts: list[str] = []
    sentences = written.sentences
    for i, sentence in enumerate(sentences):
        share = (room - len(" ") * len(parts)) // (len(sentences) - i) - len(" ")
        markers: list[str] = []
        seen: set[str] = set()
        for citation in sentence.citations:
            marker = _marker(citation, shown)
            if not marker or marker in seen:
                continue
            joined = len(" ".join([*markers, marker]))
            fits_share = joined <= share * LINKS_MAX_SHARE
            fits_alone = not markers and joined <= share - WRITTEN_TEXT_MIN
            if not (fits_share or fits_alone):
                break
            markers.append(marker)
            seen.add(marker)
        if not markers:
            continue  # nothing shown backs this sentence
        tail = " ".join(markers)
        text = fit_text(_inert_model_text(sentence.text), share - len(tail) - len(" "))
        if not text.strip(ELLIPSIS + " "):
            continue
        part = f"{text} {tail}"
        parts.append(part)
        room -= len(part)
    return " ".join(parts)


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
