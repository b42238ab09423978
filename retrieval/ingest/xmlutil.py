"""Parsing untrusted XML from arXiv (Atom) and OAI-PMH with the standard library.

Neither API ever sends a DTD, so any ``<!DOCTYPE``/``<!ENTITY`` is refused outright: that closes
entity-expansion tricks without a third-party parser. Errors become one-line
:class:`ParseError` messages that name the request and say where the XML broke.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from retrieval.ingest.errors import ParseError

_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_xml(body: bytes, request: str) -> ET.Element:
    """The document element of ``body``, or :class:`ParseError` naming ``request``."""
    if not body.strip():
        raise ParseError("empty response body (expected XML)", request=request)
    if _DTD.search(body[:4096]):
        raise ParseError("XML with a DTD/entity declaration refused", request=request)
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        hint = "truncated" if _looks_truncated(body) else "malformed"
        raise ParseError(f"{hint} XML ({exc}; {len(body)} bytes)", request=request) from None


def _looks_truncated(body: bytes) -> bool:
    tail = body.rstrip()[-64:]
    return not tail.endswith(b">") or not re.search(rb"</[A-Za-z_:][\w.:-]*>\s*$", tail)


def text_of(element: ET.Element | None) -> str:
    """All text inside ``element`` (``None`` -> empty string)."""
    if element is None:
        return ""
    return "".join(element.itertext())
