"""Links: arXiv / Hugging Face pages and text-fragment encoding (WICG text fragments)."""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from retrieval.answer.links import (
    encode_fragment_term,
    hf_url_for,
    page_url_for,
    text_fragment,
    with_text_fragment,
)
from retrieval.papers import Paper, paper_link

UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~%")


def test_syntax_characters_are_encoded() -> None:
    assert encode_fragment_term("one-line, A&B") == "one%2Dline%2C%20A%26B"
    assert encode_fragment_term("naïve 49.7%") == "na%C3%AFve%2049.7%25"


@given(st.text(max_size=80))
def test_encoding_round_trips_and_leaves_only_unreserved(term: str) -> None:
    encoded = encode_fragment_term(term)
    assert set(encoded) <= UNRESERVED
    assert unquote(encoded) == term


def test_short_quote_is_matched_whole() -> None:
    assert text_fragment("It works, mostly.") == "text=It%20works%2C%20mostly."


def test_long_quote_uses_start_and_end_words() -> None:
    quote = (
        "We propose a new algorithm for online exploration in RLHF, which is simple and "
        "practical -- a one-line change."
    )
    assert text_fragment(quote) == (
        "text=We%20propose%20a%20new%20algorithm,practical%20%2D%2D%20a%20one%2Dline%20change."
    )


def test_latex_words_are_kept_out_of_the_edges() -> None:
    quote = (
        "Models trained on ZIP-FIT data reach their lowest loss up to 85.1\\% faster than baselines"
    )
    fragment = text_fragment(quote)
    assert fragment is not None and "%5C" not in fragment


def test_fragment_is_appended_to_the_url() -> None:
    url = with_text_fragment("https://arxiv.org/abs/2405.21046", "Short quote here.")
    assert url == "https://arxiv.org/abs/2405.21046#:~:text=Short%20quote%20here."


def test_pages_for_arxiv_and_other_papers() -> None:
    arxiv = Paper(id="2405.21046", title="t", abstract="a", source="s")
    assert page_url_for(arxiv) == "https://arxiv.org/abs/2405.21046"
    assert hf_url_for(arxiv) == "https://huggingface.co/papers/2405.21046"
    other = Paper(id="some-slug-1234", title="t", abstract="a", source="s", url="https://x.org/p")
    assert page_url_for(other) == "https://x.org/p"
    assert hf_url_for(other) is None
    bare = Paper(id="some-slug-1234", title="t", abstract="a", source="s")
    assert page_url_for(bare) is None


def test_one_link_rule_for_search_and_answers() -> None:
    """A paper ingested from Hugging Face links to arXiv in /search and in /ask alike."""
    from_hf = Paper(
        id="2405.21046",
        title="t",
        abstract="a",
        source="hf-daily",
        url="https://huggingface.co/papers/2405.21046",
    )
    assert from_hf.link == page_url_for(from_hf) == "https://arxiv.org/abs/2405.21046"
    assert paper_link(from_hf.id, from_hf.url) == from_hf.link
