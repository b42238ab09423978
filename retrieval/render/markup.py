"""Escaping for Discord markdown, and quotes cut into plain and highlighted chunks.

Abstracts and titles are untrusted text: ``*``, ``_``, ``~``, ``|``, backticks and brackets would
turn into formatting or masked links, and ``@everyone``, ``<@id>``, ``<@&id>``, ``<#id>`` into pings
or channel links. :func:`escape` makes any text inert while keeping every character visible:
markdown characters get a backslash (Discord hides it), every ``@`` and every ``<`` gets a
zero-width space after it (a mention, channel link or timestamp can no longer parse).
:func:`unrender` is its exact inverse (also removing bold markers), which is how tests prove
that highlighting never alters a quoted character.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from retrieval.compose import ELLIPSIS, Quote

__all__ = ["ZWSP", "Chunk", "escape", "quote_chunks", "unrender"]

ZWSP = "\u200b"
BOLD = "**"

# Always escaped: formatting, code, spoilers, masked links, mentions/emoji/timestamps ("<").
_ALWAYS = set("\\*_~`|[]<")
# Escaped at the start of a line only: block quotes, headings, list items.
_LINE_START = re.compile(r"(?m)^([ \t]*)([>#\-+])")
# Custom/unicode emoji shortcodes (":smile:") are converted by clients: escape their colon.
_SHORTCODE = re.compile(r":(?=[\w+-]+:)")
_UNESCAPE = re.compile(r"\\<" + ZWSP + r"|\\([!-/:-@\[-`{-~])|(\*\*)|(@" + ZWSP + ")")


def escape(text: str) -> str:
    """``text`` made inert for Discord (content, embed titles, descriptions, fields)."""
    out = []
    for ch in text:
        if ch == "<":  # "<#id>", "<@id>", "<t:...>", "<:emoji:id>" can no longer parse
            out.append("\\<" + ZWSP)
        elif ch in _ALWAYS:
            out.append("\\" + ch)
        elif ch == "@":
            out.append("@" + ZWSP)
        else:
            out.append(ch)
    escaped = "".join(out)
    escaped = _SHORTCODE.sub(r"\\:", escaped)
    return _LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", escaped)


def unrender(text: str) -> str:
    """Inverse of :func:`escape` that also drops ``**`` bold markers (which escape never emits)."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "\\<" + ZWSP:
            return "<"
        if match.group(1) is not None:
            return match.group(1)
        if match.group(2) is not None:
            return ""
        return "@"

    return _UNESCAPE.sub(repl, text)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a rendered quote: verbatim text (highlighted or not), or an ellipsis joint."""

    text: str
    highlight: bool = False
    joint: bool = False  # an ellipsis inserted between verbatim pieces, not quoted text


def quote_chunks(quote: Quote) -> Iterator[Chunk]:
    """The quote as shown (``quote.display``), split at its highlights and ellipsis joints.

    Concatenating the chunks' text gives ``quote.display`` exactly.
    """
    abstract = quote.abstract
    if quote.segments[0][0] > quote.start:
        yield Chunk(f"{ELLIPSIS} ", joint=True)
    for n, (a, b) in enumerate(quote.segments):
        if n:
            yield Chunk(f" {ELLIPSIS} ", joint=True)
        cursor = a
        for h_start, h_end in quote.highlights:
            if h_start < a or h_end > b or h_start < cursor:
                continue
            if h_start > cursor:
                yield Chunk(abstract[cursor:h_start])
            yield Chunk(abstract[h_start:h_end], highlight=True)
            cursor = h_end
        if cursor < b:
            yield Chunk(abstract[cursor:b])
    if quote.segments[-1][1] < quote.end:
        yield Chunk(f" {ELLIPSIS}", joint=True)
