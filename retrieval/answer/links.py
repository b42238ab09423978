"""Links for an answered paper: its page, its Hugging Face page and a highlight link.

A text fragment (``#:~:text=start,end``, WICG "URL Fragment Text Directives") makes Chromium-based
browsers and Safari scroll to and highlight the quoted sentence on the paper's page. The
directive's own syntax characters (``-``, ``,``, ``&``) must be percent-encoded inside the terms,
as must everything outside the URL unreserved set, or the browser parses the quote as syntax.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from retrieval.papers import Paper, hf_paper_url

__all__ = [
    "encode_fragment_term",
    "hf_url_for",
    "page_url_for",
    "text_fragment",
    "with_text_fragment",
]

# Words of a quote: runs of non-space characters. A fragment matches on word boundaries, so
# start/end terms are cut at whole words only.
_WORD = re.compile(r"\S+")
# Characters that a rendered abstract page may show differently from the stored text (LaTeX
# markup, TeX quotes): a fragment term containing them would not match, so terms avoid them.
_UNRENDERED = re.compile(r"[\\$^{}_`]|''")
_EDGE_WORDS = 5  # words in textStart / textEnd for a long quote
_WHOLE_MAX_WORDS = 10  # a quote this short is matched whole (textStart only)


def encode_fragment_term(term: str) -> str:
    """Percent-encode one text-directive term (UTF-8), including ``-``, ``,`` and ``&``.

    ``urllib.parse.quote`` with no safe characters leaves only ``A-Z a-z 0-9 _ . - ~``; the
    spec additionally reserves ``-`` (prefix/suffix marker), so it is encoded too.
    """
    return quote(term, safe="").replace("-", "%2D")


def _clean_words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text)]


def text_fragment(quote_text: str) -> str | None:
    """``:~:text=`` directive (without ``#``) that highlights ``quote_text``, or ``None``.

    Long quotes use their first and last few words (``textStart,textEnd``), which the browser
    expands to the whole range; short ones are matched whole. Words with LaTeX or TeX markup
    are avoided at the edges because the rendered page shows them differently.
    """
    words = _clean_words(quote_text)
    if not words:
        return None
    plain = [not _UNRENDERED.search(word) for word in words]
    if len(words) <= _WHOLE_MAX_WORDS and all(plain):
        return "text=" + encode_fragment_term(" ".join(words))
    # Longest clean run at the start and at the end.
    start_words: list[str] = []
    for word, ok in zip(words, plain, strict=True):
        if not ok or len(start_words) == _EDGE_WORDS:
            break
        start_words.append(word)
    end_words: list[str] = []
    for word, ok in zip(reversed(words), reversed(plain), strict=True):
        if not ok or len(end_words) == _EDGE_WORDS:
            break
        end_words.append(word)
    end_words.reverse()
    if not start_words and not end_words:
        return None
    if not start_words or not end_words or len(start_words) + len(end_words) >= len(words):
        term = start_words or end_words
        return "text=" + encode_fragment_term(" ".join(term))
    return (
        "text="
        + encode_fragment_term(" ".join(start_words))
        + ","
        + encode_fragment_term(" ".join(end_words))
    )


def with_text_fragment(url: str, quote_text: str) -> str:
    """``url`` with a fragment directive appended (after any existing ``#fragment``)."""
    directive = text_fragment(quote_text)
    if directive is None:
        return url
    base, _, existing = url.partition("#")
    existing = existing.split(":~:", 1)[0]
    return f"{base}#{existing}:~:{directive}"


def page_url_for(paper: Paper) -> str | None:
    """The paper's page, by the one rule in ``paper_link``."""
    return paper.link


def hf_url_for(paper: Paper) -> str | None:
    """The Hugging Face paper page, which exists for arXiv papers only."""
    return hf_paper_url(paper.arxiv_id) if paper.arxiv_id else None
