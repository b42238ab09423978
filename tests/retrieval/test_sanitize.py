"""The one sanitiser of text bound for a terminal or Discord."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.sanitize import ECHO_MAX, clean, clean_line, echo, json_dumps

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, “quotes” and é", "plain text, “quotes” and é"),
        ("a\x1b[2Jb", "ab"),  # CSI: clear screen
        ("\x1b[1;31mred\x1b[0m", "red"),
        ("\x1b]0;pwned\x07Title", "Title"),  # OSC: retitle the terminal, BEL-terminated
        ("\x1b]8;;http://e.vil\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST
        ("\x1bPdcs\x1b\\x", "x"),
        ("\x9b31mC1 CSI", "C1 CSI"),
        ("\x9d0;t\x9cafter", "after"),
        ("\x1b(Bcharset", "charset"),
        ("\x1b[31", ""),  # cut short: nothing of it is shown
        ("bell\x07 and nul\x00", "bell and nul"),
        ("del\x7f", "del"),
        ("bidi \u202eevil\u202c \u2066iso\u2069", "bidi evil iso"),
        ("line\nand\ttab", "line\nand\ttab"),
        ("crlf\r\nline", "crlf\nline"),
        ("over\rwrite", "over write"),
        ("zero\u200bwidth", "zero\u200bwidth"),  # not a control: kept (Discord escaping uses it)
    ],
)
def test_clean(text: str, expected: str) -> None:
    assert clean(text) == expected


def test_clean_line_is_one_line() -> None:
    assert clean_line("a\nb\tc\r\nd\u2028e") == "a b c  d e"


@given(st.text())
def test_nothing_unsafe_survives(text: str) -> None:
    assert not UNSAFE.search(clean(text))
    assert not UNSAFE.search(clean_line(text)) and "\n" not in clean_line(text)


@given(st.text(st.characters(blacklist_categories=("Cc",))).filter(lambda t: not UNSAFE.search(t)))
def test_safe_text_is_unchanged(text: str) -> None:
    assert clean(text) == text


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_dumps_is_exact_and_safe(value) -> None:
    out = json_dumps(value)
    assert json.loads(out) == value
    assert not UNSAFE.search(out)


def test_echo_is_one_short_line() -> None:
    assert echo("  how   does\nXPO\x1b[2J explore?  ") == "how does XPO explore?"
    long = echo("word " * 10_000)
    assert long.endswith("…") and len(long) <= ECHO_MAX + 1
