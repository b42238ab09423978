"""A quote cut into plain and highlighted chunks, for any renderer to mark up its own way.

Every front end shows a :class:`~retrieval.answer.compose.Quote` with the question terms stressed,
each in its own markup (the bot's renderer, the CLI's ANSI bold). The split is the same for all
and knows nothing of any: each chunk's text is verbatim abstract text, or an ellipsis joint
between verbatim pieces, so concatenating the chunks gives ``quote.display`` exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from retrieval.answer.compose import ELLIPSIS, Quote

__all__ = ["Chunk", "quote_chunks"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a shown quote: verbatim text (highlighted or not), or an ellipsis joint."""

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
