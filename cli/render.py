"""An :class:`~retrieval.answer.compose.Answer` as terminal text for ``paperbot ask``.

Plain text by default (safe to pipe); with ``color=True`` the question's terms are bold (ANSI)
in quotes and titles. Either way the quoted characters are printed exactly as in the abstract.
"""

from __future__ import annotations

import textwrap
from datetime import date, datetime

from retrieval.answer.compose import Answer, AnsweredPaper
from retrieval.answer.highlight import quote_chunks

__all__ = ["render_answer"]

_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"
_WIDTH = 100


def _bold(text: str, color: bool) -> str:
    return f"{_BOLD}{text}{_RESET}" if color and text else text


def _strip_controls(text: str) -> str:
    """Remove terminal control characters from untrusted text (no escape-sequence injection)."""
    return "".join(ch if ch >= " " or ch in "\n\t" else " " for ch in text).replace("\x7f", " ")


def _highlight_title(paper: AnsweredPaper, color: bool) -> str:
    if not color or not paper.title_highlights:
        return _strip_controls(paper.title)
    out, cursor = [], 0
    for a, b in paper.title_highlights:
        if a < cursor:
            continue
        out.append(_strip_controls(paper.title[cursor:a]))
        out.append(_bold(_strip_controls(paper.title[a:b]), True))
        cursor = b
    out.append(_strip_controls(paper.title[cursor:]))
    return "".join(out)


def _quote_text(quote, color: bool) -> str:
    parts = []
    for chunk in quote_chunks(quote):
        text = _strip_controls(chunk.text)
        parts.append(_bold(text, color) if chunk.highlight else text)
    return "“" + "".join(parts) + "”"


def _wrap(text: str, indent: str, color: bool) -> str:
    if color:  # ANSI codes confuse textwrap's widths; let the terminal wrap
        return indent + text
    return textwrap.fill(
        text, width=_WIDTH, initial_indent=indent, subsequent_indent=indent, break_long_words=False
    )


def _as_of(value: datetime | date | None) -> str:
    if value is None:
        return "unknown date"
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def render_answer(answer: Answer, *, color: bool = False) -> str:
    """The answer as lines of text: papers, quotes, links; or the closest titles if declined."""
    lines = [f"Q: {_strip_controls(' '.join(answer.question.split()))}", ""]
    if not answer.answered:
        lines.append("No paper in this collection answers that in its abstract.")
        if answer.papers:
            lines.append("Closest titles:")
            for n, paper in enumerate(answer.papers, start=1):
                link = f"  {paper.url}" if paper.url else ""
                lines.append(f"  {n}. {_strip_controls(paper.title)}{link}")
    for n, paper in enumerate(answer.papers if answer.answered else (), start=1):
        lines.append(f"{n}. {_highlight_title(paper, color)}")
        for quote in paper.quotes:
            lines.append(_wrap(_quote_text(quote, color), "   ", color))
        links = [x for x in (paper.url, paper.hf_url) if x]
        if links:
            lines.append("   " + "  ".join(links))
        if paper.fragment_url:
            label = "highlight: "
            lines.append("   " + (_DIM + label + _RESET if color else label) + paper.fragment_url)
        lines.append("")
    footer = (
        f"-- {answer.collection} · {answer.paper_count:,} papers · as of {_as_of(answer.as_of)}"
    )
    if answer.papers and not answer.answered:
        lines.append("")
    lines.append(footer)
    return "\n".join(lines)
