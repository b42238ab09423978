"""Renderers: Discord parts always within limits, inert markup, exact quotes; terminal text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.compose import Answer, AnsweredPaper, Quote
from retrieval.papers import Paper
from retrieval.render import limits
from retrieval.render.discord_parts import (
    answer_parts,
    paper_parts,
    render_quote,
    search_parts,
    similar_parts,
)
from retrieval.render.markup import escape, unrender
from retrieval.render.terminal import render_answer

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


def check_limits(parts) -> None:
    assert len(parts.content) <= limits.CONTENT_MAX
    assert len(parts.embeds) <= limits.EMBEDS_MAX
    total = 0
    for embed in parts.embeds:
        assert len(embed.get("title", "")) <= limits.EMBED_TITLE_MAX
        assert len(embed.get("description", "")) <= limits.EMBED_DESCRIPTION_MAX
        assert len(embed.get("footer", {}).get("text", "")) <= limits.EMBED_FOOTER_MAX
        fields = embed.get("fields", [])
        assert len(fields) <= limits.EMBED_FIELDS_MAX
        for item in fields:
            assert len(item["name"]) <= limits.EMBED_FIELD_NAME_MAX
            assert len(item["value"]) <= limits.EMBED_FIELD_VALUE_MAX
        total += limits.embed_size(embed)
    assert total <= limits.EMBEDS_TOTAL_MAX


MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")


def check_inert(parts) -> None:
    texts = [parts.content]
    for embed in parts.embeds:
        texts += [embed.get("title", ""), embed.get("description", "")]
        texts.append(embed.get("footer", {}).get("text", ""))
        texts += [f["value"] for f in embed.get("fields", [])]
    for text in texts:
        assert not MENTION.search(text), text


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
        url = draw(st.sampled_from([None, "https://arxiv.org/abs/2405.21046", "https://x.org/p"]))
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
        collection=draw(text_st) or "default",
        paper_count=draw(st.integers(0, 10**7)),
        as_of=draw(st.none() | st.just(datetime(2025, 3, 14))),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_answer_parts_fit_and_are_inert(answer: Answer) -> None:
    parts = answer_parts(answer)
    check_limits(parts)
    check_inert(parts)
    assert render_answer(answer, color=False)  # the terminal renderer never fails either
    assert render_answer(answer, color=True)


@given(text_st)
def test_escape_round_trips(text: str) -> None:
    assert unrender(escape(text)) == text
    assert not MENTION.search(escape(text))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_highlighting_never_alters_quoted_characters(data) -> None:
    abstract = data.draw(text_st.filter(lambda t: len(t) >= 2))
    quote = data.draw(quotes(abstract))
    rendered = render_quote(quote, 100_000)
    assert rendered.startswith("“") and rendered.endswith("”")
    assert unrender(rendered[1:-1]) == quote.display


def test_answer_embed_example() -> None:
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
    answer = Answer(
        question="memory of ReMax?",
        answered=True,
        papers=(paper,),
        collection="default",
        paper_count=50,
        as_of=datetime(2025, 3, 14),
    )
    parts = answer_parts(answer)
    embed = parts.embeds[0]
    assert embed["title"] == "1. ReMax: a \\*fast\\* method @\u200bhere"
    assert embed["url"] == "https://arxiv.org/abs/2310.10505#:~:text=ReMax"
    assert embed["description"].startswith("“**ReMax** reduces memory usage by about 50% vs PPO.”")
    assert "[Hugging Face](https://huggingface.co/papers/2310.10505)" in embed["description"]
    assert embed["footer"]["text"] == "default · 50 papers · as of 2025-03-14"
    text = render_answer(answer, color=False)
    assert "“ReMax reduces memory usage by about 50% vs PPO.”" in text
    assert "\x1b[1mReMax\x1b[0m" in render_answer(answer, color=True)


def test_declined_answer_lists_closest_titles() -> None:
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
    answer = Answer(
        question="capital of Australia?",
        answered=False,
        papers=(closest,),
        collection="default",
        paper_count=50,
    )
    parts = answer_parts(answer)
    check_inert(parts)
    assert "Closest titles" in parts.embeds[0]["description"]
    assert "Closest @\u200beveryone" in parts.embeds[0]["description"]
    assert "Closest titles:" in render_answer(answer)


@dataclass
class FakeHit:
    id: str
    title: str
    score: float
    url: str | None


@given(
    st.lists(st.builds(FakeHit, text_st, text_st, st.floats(0, 100), st.none()), max_size=8),
    text_st,
    st.integers(0, 50),
)
def test_search_pages_fit(hits, query, page) -> None:
    parts = search_parts(query, hits, page=page, has_next=True, total_pages=page + 3)
    check_limits(parts)
    check_inert(parts)
    assert f"page {page + 1}/{page + 3}" in parts.embeds[0]["footer"]["text"]
    assert parts.embeds[0]["description"].count("**") <= 2 * 5 * 2


@given(text_st, text_st, st.lists(text_st, max_size=300))
def test_paper_card_fits(title, abstract, authors) -> None:
    paper = Paper(
        id="2405.21046",
        title=title or "t",
        abstract=(abstract + "a") * 50,
        authors=tuple(authors),
        published=date(2024, 5, 31),
        source="test",
    )
    parts = paper_parts(paper)
    check_limits(parts)
    check_inert(parts)
    similar = similar_parts(paper, [FakeHit("x", title, 1.0, None)], page=0, has_next=False)
    check_limits(similar)
