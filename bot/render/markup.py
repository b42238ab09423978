"""Discord markdown: untrusted text made inert, and text cut to fit a limit.

Abstracts and titles are untrusted text: ``*``, ``_``, ``~``, ``|``, backticks and brackets would
turn into formatting or masked links, and ``@everyone``, ``<@id>``, ``<@&id>``, ``<#id>`` into pings
or channel links. :func:`escape` makes any text inert while keeping every character visible:
markdown characters get a backslash (Discord hides it), every ``@`` and every ``<`` gets a
zero-width space after it (a mention, channel link or timestamp can no longer parse), after
:func:`retrieval.sanitize.clean` took out control characters, escape sequences and bidi
overrides (the one sanitiser the terminal output uses too). :func:`unrender` is its inverse on
sanitised text (also removing bold markers), which is how tests prove that highlighting never
alters a quoted character.

:func:`fit_text` is the one way text is shortened: it cuts the *source* text at a word boundary
and escapes what is kept, so an escape sequence or a bold marker is never split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bot.render.limits import URL_MAX
from retrieval.answer.compose import ELLIPSIS
from retrieval.sanitize import clean, clean_line

__all__ = [
    "BOLD",
    "ZWSP",
    "code_span",
    "escape",
    "fit_text",
    "join_within",
    "link_target",
    "safe_url",
    "title_link",
    "unrender",
]

ZWSP = "\u200b"
BOLD = "**"
# An inline code span (paper ids) is never longer than this: ids are short, a stray one is cut.
CODE_SPAN_MAX = 200
# Links may take at most this share of the room they share with text: the quotes (or the title)
# come first, a link that would crowd them out is left out.
LINKS_MAX_SHARE = 0.5

# Always escaped: formatting, code, spoilers, masked links, mentions/emoji/timestamps ("<").
_ALWAYS = set("\\*_~`|[]<")
# Escaped at the start of a line only: block quotes, headings, list items.
_LINE_START = re.compile(r"(?m)^([ \t]*)([>#\-+])")
# Custom/unicode emoji shortcodes (":smile:") are converted by clients: escape their colon.
_SHORTCODE = re.compile(r":(?=[\w+-]+:)")
_UNESCAPE = re.compile(r"\\<" + ZWSP + r"|\\([!-/:-@\[-`{-~])|(\*\*)|(@" + ZWSP + ")")


def escape(text: str) -> str:
    """``text`` made inert for Discord (content, embed titles, descriptions, fields): first
    :func:`retrieval.sanitize.clean` (no control characters, escape sequences or bidi
    overrides), then markdown and mentions."""
    out = []
    for ch in clean(text):
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


def _verbatim(text: str) -> str:
    return clean(text)  # bot-written markdown, kept; untrusted parts of it still sanitised


def fit_text(raw: str, limit: int, *, bold: bool = False, inert: bool = True) -> str:
    """``raw`` escaped (``inert=False``: bot-written markdown, kept as is), optionally bold, cut
    at a word boundary of ``raw`` and ended with an ellipsis if it would exceed ``limit``."""
    wrap = 2 * len(BOLD) if bold else 0
    markup: Callable[[str], str] = escape if inert else _verbatim

    def render(text: str) -> str:
        body = markup(text)
        return f"{BOLD}{body}{BOLD}" if bold and body else body

    full = render(raw)
    if len(full) <= limit:
        return full
    if limit <= len(ELLIPSIS) + wrap:
        return ELLIPSIS[:limit] if limit > 0 else ""
    # Escaping at most triples a character ("@" -> "@\u200b", "<" -> "\<\u200b" is 3), so binary
    # search the longest raw prefix whose rendering plus the ellipsis fits.
    lo, hi = 0, len(raw)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(render(raw[:mid].rstrip())) + len(ELLIPSIS) <= limit:
            lo = mid
        else:
            hi = mid - 1
    cut = raw[:lo]
    space = cut.rfind(" ")
    if space > lo // 2:  # back up to a word boundary unless that loses over half the text
        cut = cut[:space]
    cut = cut.rstrip()
    return render(cut) + ELLIPSIS if cut else ELLIPSIS


def join_within(lines: Iterable[str], limit: int, sep: str = "\n") -> str:
    """``lines`` joined by ``sep``, stopping before the first line that would pass ``limit``
    (whole lines only: a cut could leave half a masked link)."""
    out: list[str] = []
    size = 0
    for line in lines:
        added = len(line) + (len(sep) if out else 0)
        if size + added > limit:
            break
        out.append(line)
        size += added
    return sep.join(out)


def code_span(text: str) -> str:
    """Text for an inline code span: backticks cannot be escaped there, so they are replaced;
    mentions are broken with a zero-width space as everywhere else."""
    cut = clean(text).replace("\n", " ").replace("`", "'")[:CODE_SPAN_MAX]
    return cut.replace("@", "@" + ZWSP).replace("<", "<" + ZWSP) or "?"


def link_target(url: str) -> str:
    """A URL safe inside a masked link: no characters that end the link early (nor any that
    :func:`retrieval.sanitize.clean_line` takes out)."""
    target = clean_line(url).replace(")", "%29").replace(" ", "%20")
    return target.replace("<", "%3C").replace(">", "%3E")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an http(s) link Discord accepts (at most :data:`URL_MAX`), else None."""
    if (
        url
        and len(url) <= URL_MAX
        and url.startswith(("http://", "https://"))
        and clean_line(url) == url
    ):
        return url
    return None


def title_link(title: str, url: str | None, limit: int, *, title_max: int) -> str:
    """``[title](url)`` in at most ``limit`` characters, the title escaped and cut to what the
    link leaves; just the title when there is no URL or the URL would take most of the room."""
    target = link_target(url) if url else ""
    link_cost = len(target) + len("[]()")
    if target and link_cost <= limit * LINKS_MAX_SHARE:
        return f"[{fit_text(title, min(title_max, limit - link_cost))}]({target})"
    return fit_text(title, min(title_max, limit))
