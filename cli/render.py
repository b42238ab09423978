"""An :class:`~retrieval.answer.compose.Answer` as terminal text for ``paperbot ask``.

Plain text by default (safe to pipe); with ``color=True`` the question's terms are bold (ANSI)
in quotes and titles. Either way the quoted characters are printed exactly as in the abstract,
except what :mod:`retrieval.sanitize` takes out of every untrusted text (escape sequences,
control characters, bidi overrides); the question is echoed on one line, cut to
:data:`~retrieval.sanitize.ECHO_MAX` characters.
"""

from __future__ import annotations

import textwrap
from datetime import date, datetime

from cli.llm import footer_line, written_lines
from retrieval.answer.compose import Answer, AnsweredPaper
from retrieval.answer.highlight import quote_chunks
from retrieval.sanitize import clean, clean_line, echo

__all__ = ["render_answer"]

_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"
_WIDTH = 100


def _bold(text: str, color: bool) -> str:
    return f"{_BOLD}{text}{_RESET}" if color and text else text


def _highlight_title(paper: AnsweredPaper, color: bool) -> str:
    if not color or not paper.title_highlights:
        return clean_line(paper.title)
    out, cursor = [], 0
    for a, b in paper.title_highlights:
        if a < cursor:
            continue
        out.append(clean_line(paper.title[cursor:a]))
        out.append(_bold(clean_line(paper.title[a:b]), True))
        cursor = b
    out.append(clean_line(paper.title[cursor:]))
    return "".join(out)


def _quote_text(quote, color: bool) -> str:
    parts = []
    for chunk in quote_chunks(quote):
        text = clean(chunk.text)
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
    lines = [f"Q: {echo(answer.question)}", ""]
    lines.extend(_wrap(line, "", color) if line else line for line in written_lines(answer))
    if answer.reason == "filtered-out":
        lines.append("No paper in this collection passes the filters (--since/--until/--category).")
    elif not answer.answered:
        lines.append("No paper in this collection answers that in its abstract.")
        if answer.papers:
            lines.append("Closest titles:")
            for n, paper in enumerate(answer.papers, start=1):
                link = f"  {clean_line(paper.url)}" if paper.url else ""
                lines.append(f"  {n}. {clean_line(paper.title)}{link}")
    for n, paper in enumerate(answer.papers if answer.answered else (), start=1):
        lines.append(f"{n}. {_highlight_title(paper, color)}")
        for quote in paper.quotes:
            lines.append(_wrap(_quote_text(quote, color), "   ", color))
        links = [clean_line(x) for x in (paper.url, paper.hf_url) if x]
        if links:
            lines.append("   " + "  ".join(links))
        if paper.fragment_url:
            label = "highlight: "
            shown = clean_line(paper.fragment_url)
            lines.append("   " + (_DIM + label + _RESET if color else label) + shown)
        lines.append("")
    footer = (
        f"-- {clean_line(answer.collection)} · {answer.paper_count:,} papers · "
        f"as of {_as_of(answer.as_of)}"
    )
    if answer.papers and not answer.answered:
        lines.append("")
    lines.append(footer)
    if (written_by := footer_line(answer)) is not None:
        lines.append(written_by)
    return "\n".join(lines)
