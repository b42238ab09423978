"""Quotes split into highlighted and plain chunks: together, exactly what the quote shows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.answer.highlight import quote_chunks
from tests.rendering import quotes, text_st


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_chunks_are_the_quote_as_shown(data) -> None:
    abstract = data.draw(text_st.filter(lambda t: len(t) >= 2))
    quote = data.draw(quotes(abstract))
    chunks = list(quote_chunks(quote))
    assert "".join(c.text for c in chunks) == quote.display
    for chunk in chunks:
        assert not (chunk.joint and chunk.highlight)
        if not chunk.joint:
            assert chunk.text in abstract
