"""The one sanitiser of untrusted text on its way to a terminal or to Discord.

Titles, abstracts, ids, collection names and questions come from files, APIs and users; printed
as they are, an escape sequence could clear the screen, retitle the terminal or hide text, a BEL
rings, and a bidi override makes a line read backwards. Every renderer (``cli/render.py``, every
text line of the CLI, ``bot/render``) passes such text through :func:`clean` (or
:func:`clean_line` for one-line fields) at display time; the store keeps the text exactly as it
came, so quotes stay exact substrings of their abstract.

What goes:

- escape sequences, whole (CSI ``ESC [ ... final``, OSC / DCS / SOS / PM / APC strings up to
  their terminator, two-character ``ESC x``), in their 7-bit and their C1 (``U+009B``...) forms;
- every other C0 and C1 control character and DEL; the ones that move the cursor or act as
  separators (CR, VT, FF, FS-US, NEL) become a space, the others (BEL, NUL, ...) vanish;
- bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).

Newlines and tabs are kept by :func:`clean` and become spaces in :func:`clean_line` (as do the
Unicode line and paragraph separators). Every other character is kept as it is.

JSON output needs none of this: :func:`json_dumps` writes the exact value, with the characters
above (which ``json.dumps(ensure_ascii=False)`` would write raw) as ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["ECHO_MAX", "clean", "clean_line", "echo", "json_dumps"]

#: How much of a user's question or query is echoed back in a one-line message.
ECHO_MAX = 200
ELLIPSIS = "…"

_ST = r"(?:\x07|\x1b\\|\x9c)"  # string terminator: BEL, ESC \, or C1 ST
# An escape sequence, longest forms first. An unterminated control string runs to the end of
# the text, as a terminal would swallow it.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*(?:[@-~]|$)"  # CSI ... final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:" + _ST + r"|$)"  # OSC, DCS...
    r"|\x1b[ -/]*[0-~]?"  # nF, Fp, Fe, Fs (or a lone ESC)
)
_SEQUENCE_START = re.compile("[\x1b\x90-\x9f]")
# Controls that stand between words (line ends, page breaks, separators): shown as a space.
_SPACING = "\r\x0b\x0c\x1c\x1d\x1e\x1f\x85"
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_TABLE: dict[int, str | None] = {cp: None for cp in [*range(0x00, 0x20), *range(0x7F, 0xA0)]}
_TABLE.update({ord(ch): " " for ch in _SPACING})
_TABLE.update({cp: None for cp in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]})
_KEEP_LINES = {**_TABLE, ord("\n"): "\n", ord("\t"): "\t"}
_ONE_LINE = {**_TABLE, ord("\n"): " ", ord("\t"): " ", 0x2028: " ", 0x2029: " "}
# What json.dumps(ensure_ascii=False) leaves raw but a terminal would act on.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _clean(text: str, table: dict[int, str | None], unsafe: re.Pattern[str]) -> str:
    if not unsafe.search(text):
        return text
    if _SEQUENCE_START.search(text):
        text = _SEQUENCE.sub("", text)
    return text.translate(table)


def clean(text: str) -> str:
    """``text`` safe to print: no escape sequence, control character (newlines and tabs kept,
    a CRLF shown as a newline) or bidi control; everything else unchanged."""
    return _clean(text.replace("\r\n", "\n") if "\r" in text else text, _KEEP_LINES, _UNSAFE)


def clean_line(text: str) -> str:
    """Like :func:`clean`, for a one-line field: newlines, tabs and line separators become
    spaces too."""
    return _clean(text, _ONE_LINE, _UNSAFE_LINE)


def echo(text: str, limit: int = ECHO_MAX) -> str:
    """A user's text quoted back in a message: one clean line, whitespace runs collapsed, cut to
    ``limit`` characters plus an ellipsis."""
    line = " ".join(clean_line(text).split())
    return line if len(line) <= limit else line[:limit].rstrip() + ELLIPSIS


def _escape_raw(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)``, with the characters a terminal would act on
    written as ``\\uXXXX`` escapes: the same JSON value, safe to print. (They can only occur
    inside strings, where such an escape means exactly that character.)"""
    return _JSON_RAW.sub(_escape_raw, json.dumps(value, ensure_ascii=False, **kwargs))
