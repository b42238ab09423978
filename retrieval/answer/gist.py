"""The one sentence of an abstract that best says what the paper does, quoted verbatim.

Why a rule and not the question-driven composer: topic alerts and the daily digest post papers
nobody asked a question about, so there is no query to score sentences against. Abstracts of
machine-learning and CS papers announce their contribution in a small set of ways ("we propose",
"this paper introduces", "in this work, we study"), and the sentence carrying that announcement
is what a reader skimming a list wants. When no sentence announces anything, the first sentence
written in the authors' own voice ("we", "our") is the next best, and the first sentence the last
resort. The sentence is never rewritten: its offsets index the stored abstract, and its link
highlights it on the paper's page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.answer.links import page_url_for, with_text_fragment
from retrieval.answer.sentences import split_sentences
from retrieval.papers import Paper

__all__ = ["Gist", "gist"]

MAX_CHARS = 400  # longer sentences are cut at a word boundary (``Gist.trimmed``)

# Verbs by how directly they state a contribution, strongest first.
_TIERS = (
    r"propose[sd]?|introduce[sd]?|present(?:s|ed)?|unveil|release[sd]?",
    r"develop(?:s|ed)?|design(?:s|ed)?|build|built|construct(?:s|ed)?|devise[sd]?|formulate[sd]?",
    r"stud(?:y|ies|ied)|investigate[sd]?|explore[sd]?|analy[sz]e[sd]?|examine[sd]?|address(?:es|ed)?"
    r"|tackle[sd]?|focus(?:es|ed)? on|consider(?:s|ed)?|describe[sd]?|report(?:s|ed)?",
    r"show(?:s|ed|n)?|demonstrate[sd]?|find|found|prove[sd]?|establish(?:es|ed)?|provide[sd]?",
)
_SUBJECT = (
    r"(?:\bwe\b(?:\s+\w+ly)?(?:\s+(?:also|further|first|then|here|now))?"
    r"|\b(?:this|the present|our)\s+(?:paper|work|study|article|note|letter|report|thesis)\b"
    r"(?:\s+\w+ly)?)"
)
_TIER_RE = tuple(re.compile(rf"{_SUBJECT}\s+(?:{verbs})\b", re.IGNORECASE) for verbs in _TIERS)
_HERE_RE = re.compile(
    r"^\s*(?:here|in this (?:paper|work|study|article)|to (?:this end|address this))\b",
    re.IGNORECASE,
)
_OWN_VOICE = re.compile(r"\b(?:we|our)\b", re.IGNORECASE)
# Housekeeping sentences that say nothing about the work itself.
_HOUSEKEEPING = re.compile(
    r"\b(?:code|data|models?|weights|dataset|checkpoints?|project page)\b[^.]{0,60}"
    r"\b(?:is|are|will be)\s+(?:publicly\s+|freely\s+)?(?:available|released)|https?://|github",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Gist:
    """``text == abstract[start:end]``; ``link`` opens the paper's page with the sentence
    highlighted (None for a paper without a page)."""

    start: int
    end: int
    text: str
    link: str | None
    trimmed: bool = False


def _rank(abstract: str, spans: list[tuple[int, int]]) -> int:
    """Index of the best sentence: the strongest contribution verb, then the earliest."""
    best: tuple[int, int] | None = None  # (tier, position)
    for position, (a, b) in enumerate(spans):
        sentence = abstract[a:b]
        if _HOUSEKEEPING.search(sentence):
            continue
        for tier, pattern in enumerate(_TIER_RE):
            if pattern.search(sentence):
                # "Here we ..." / "In this paper, ..." mark the turn from background to the work.
                key = (tier * 2 - (1 if _HERE_RE.search(sentence) else 0), position)
                if best is None or key < best:
                    best = key
                break
    if best is not None:
        return best[1]
    for position, (a, b) in enumerate(spans):
        if _OWN_VOICE.search(abstract[a:b]) and not _HOUSEKEEPING.search(abstract[a:b]):
            return position
    return 0


def _cut(abstract: str, start: int, end: int, limit: int) -> tuple[int, bool]:
    """End offset of at most ``limit`` characters from ``start``, at a word boundary."""
    if end - start <= limit:
        return end, False
    cut = abstract.rfind(" ", start, start + limit)
    if cut <= start:
        cut = start + limit
    while cut > start and not abstract[cut - 1].isalnum() and abstract[cut - 1] not in ")]":
        cut -= 1
    return (cut if cut > start else start + limit), True


def gist(paper: Paper, *, max_chars: int = MAX_CHARS) -> Gist:
    """The sentence of ``paper.abstract`` that best says what the paper does (see module)."""
    abstract = paper.abstract
    spans = split_sentences(abstract) or [(0, len(abstract))]
    start, end = spans[_rank(abstract, spans)]
    while start < end and abstract[start].isspace():
        start += 1
    while end > start and abstract[end - 1].isspace():
        end -= 1
    if start >= end:  # an abstract of whitespace cannot be stored, but stay total
        start, end = 0, len(abstract)
    end, trimmed = _cut(abstract, start, end, max_chars)
    text = abstract[start:end]
    page = page_url_for(paper)
    return Gist(
        start=start,
        end=end,
        text=text,
        link=with_text_fragment(page, text) if page else None,
        trimmed=trimmed,
    )
