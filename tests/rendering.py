"""Answers to render, shared by the Discord (tests/bot) and terminal (tests/cli) renderer tests:
hypothesis strategies full of markup, mentions and odd lengths, and two worked examples."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

from retrieval.answer.compose import Answer, AnsweredPaper, Quote

NASTY = [
    "@everyone",
    "@here",
    "<@123456>",
    "<@!42>",
    "<@&99>",
    "<#77>",
    "**",
    "__",
    "~~",
    "||",
    "`",
    "[x](http://e.vil)",
    "> ",
    "# ",
    "- ",
    ":smile:",
    "\\",
    "\u200b",
    "\n",
    "é",
    "…",
]
text_st = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=12)), max_size=60
).map("".join)
# Links as stored, including one as long as Discord accepts (it must not break any limit).
LONG_URL = "https://x.org/" + "p" * 2020
url_st = st.sampled_from([None, "https://arxiv.org/abs/2405.21046", "https://x.org/p", LONG_URL])


@st.composite
def quotes(draw, abstract: str):
    cuts = sorted(draw(st.lists(st.integers(0, len(abstract)), min_size=2, max_size=6)))
    start, end = cuts[0], cuts[-1]
    if end <= start:
        end = min(len(abstract), start + 1)
        start = end - 1
    inner = [c for c in cuts[1:-1] if start < c < end]
    bounds = [start, *inner, end]
    segments = tuple((a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=False) if b > a)
    segments = segments or ((start, end),)
    highlights = []
    for a, b in segments:
        if b - a > 2:
            highlights.append((a + 1, a + 2))
    return Quote(
        abstract=abstract, start=start, end=end, segments=segments, highlights=tuple(highlights)
    )


@st.composite
def answers(draw):
    papers = []
    for n in range(draw(st.integers(0, 5))):
        abstract = draw(text_st.filter(lambda t: len(t) >= 2)) * draw(st.integers(1, 40))
        qs = tuple(draw(st.lists(quotes(abstract), min_size=0, max_size=2)))
        url = draw(url_st)
        papers.append(
            AnsweredPaper(
                id=f"p{n}",
                title=draw(text_st) * draw(st.integers(1, 20)),
                url=url,
                hf_url=url,
                fragment_url=url and url + "#:~:text=abc",
                score=1.0,
                quotes=qs,
                matched_terms=(),
                abstract=abstract,
            )
        )
    return Answer(
        question=draw(text_st) * draw(st.integers(1, 60)),
        answered=draw(st.booleans()),
        papers=tuple(papers),
        collection=(draw(text_st) or "default") * draw(st.sampled_from([1, 1, 1, 100])),
        paper_count=draw(st.integers(0, 10**7)),
        as_of=draw(st.none() | st.just(datetime(2025, 3, 14))),
    )


def remax_answer() -> Answer:
    """One paper, one quote with a highlighted term, markup and mentions in title and abstract."""
    abstract = "Intro. ReMax reduces memory usage by about 50% vs PPO. @everyone <@123> **x**."
    start = abstract.index("ReMax")
    end = abstract.index("PPO.") + 4
    hl = (start, start + 5)
    quote = Quote(
        abstract=abstract, start=start, end=end, segments=((start, end),), highlights=(hl,)
    )
    paper = AnsweredPaper(
        id="2310.10505",
        title="ReMax: a *fast* method @here",
        url="https://arxiv.org/abs/2310.10505",
        hf_url="https://huggingface.co/papers/2310.10505",
        fragment_url="https://arxiv.org/abs/2310.10505#:~:text=ReMax",
        score=3.0,
        quotes=(quote,),
        matched_terms=("remax",),
        abstract=abstract,
    )
    return Answer(
        question="memory of ReMax?",
        answered=True,
        papers=(paper,),
        collection="default",
        paper_count=50,
        as_of=datetime(2025, 3, 14),
    )


def declined_answer() -> Answer:
    """Declined, with one closest title that tries to ping everyone."""
    closest = AnsweredPaper(
        id="a",
        title="Closest @everyone",
        url="https://x.org/a",
        hf_url=None,
        fragment_url=None,
        score=1.0,
        quotes=(),
        matched_terms=(),
        abstract="x",
    )
    return Answer(
        question="capital of Australia?",
        answered=False,
        papers=(closest,),
        collection="default",
        paper_count=50,
    )
