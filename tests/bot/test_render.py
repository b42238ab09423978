"""Discord rendering: every message within Discord's limits, inert markup, exact quotes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import (
    answer_message,
    limits,
    paper_card,
    search_page,
    similar_page,
)
from bot.render.answer import render_quote
from bot.render.markup import escape, fit_text, unrender
from retrieval.answer.compose import Answer
from retrieval.papers import Paper
from tests.rendering import (
    LONG_URL,
    declined_answer,
    quotes,
    remax_answer,
    text_st,
    url_st,
)
from tests.rendering import answers as answers_st


def check_limits(message) -> None:
    assert len(message.content) <= limits.CONTENT_MAX
    assert len(message.embeds) <= limits.EMBEDS_MAX
    total = 0
    for embed in message.embeds:
        assert len(embed.get("title", "")) <= limits.EMBED_TITLE_MAX
        assert len(embed.get("description", "")) <= limits.EMBED_DESCRIPTION_MAX
        assert len(embed.get("footer", {}).get("text", "")) <= limits.EMBED_FOOTER_MAX
        assert len(embed.get("url", "")) <= limits.URL_MAX
        fields = embed.get("fields", [])
        assert len(fields) <= limits.EMBED_FIELDS_MAX
        for item in fields:
            assert len(item["name"]) <= limits.EMBED_FIELD_NAME_MAX
            assert len(item["value"]) <= limits.EMBED_FIELD_VALUE_MAX
        total += limits.embed_size(embed)
    assert total <= limits.EMBEDS_TOTAL_MAX
    kwargs = message.kwargs()  # what discord.py is given: never an empty message
    assert kwargs["content"] or kwargs["embeds"]


MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")


def check_inert(message) -> None:
    texts = [message.content]
    for embed in message.embeds:
        texts += [embed.get("title", ""), embed.get("description", "")]
        texts.append(embed.get("footer", {}).get("text", ""))
        texts += [f["value"] for f in embed.get("fields", [])]
    for text in texts:
        assert not MENTION.search(text), text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers_st())
def test_answer_parts_fit_and_are_inert(answer: Answer) -> None:
    message = answer_message(answer)
    check_limits(message)
    check_inert(message)


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


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(-5, 400))
def test_a_cut_quote_fits_its_limit_and_stays_verbatim(data, limit: int) -> None:
    abstract = data.draw(text_st.filter(lambda t: len(t) >= 2)) * data.draw(st.integers(1, 5))
    quote = data.draw(quotes(abstract))
    rendered = render_quote(quote, limit)
    assert len(rendered) <= max(limit, 0)
    if rendered:
        shown = unrender(rendered[1:-1])
        if shown != quote.display:  # cut: a verbatim start of the quote, then an ellipsis
            assert shown.endswith("…") and quote.display.startswith(shown[:-1])


@given(text_st, st.integers(0, 300), st.booleans(), st.booleans())
def test_fit_text_fits(raw: str, limit: int, bold: bool, inert: bool) -> None:
    assert len(fit_text(raw, limit, bold=bold, inert=inert)) <= limit


def test_answer_embed_example() -> None:
    message = answer_message(remax_answer())
    embed = message.embeds[0]
    assert embed["title"] == "1. ReMax: a \\*fast\\* method @\u200bhere"
    assert embed["url"] == "https://arxiv.org/abs/2310.10505#:~:text=ReMax"
    assert embed["description"].startswith("“**ReMax** reduces memory usage by about 50% vs PPO.”")
    assert "[Hugging Face](https://huggingface.co/papers/2310.10505)" in embed["description"]
    assert embed["footer"]["text"] == "default · 50 papers · as of 2025-03-14"
    assert message.content == "Q: memory of ReMax?"


def test_declined_answer_lists_closest_titles() -> None:
    message = answer_message(declined_answer())
    check_inert(message)
    assert "Closest titles" in message.embeds[0]["description"]
    assert "Closest @\u200beveryone" in message.embeds[0]["description"]
    assert "[Closest @\u200beveryone](https://x.org/a)" in message.embeds[0]["description"]


@dataclass
class FakeHit:
    id: str
    title: str
    score: float
    url: str | None


@given(
    st.lists(st.builds(FakeHit, text_st, text_st, st.floats(0, 100), url_st), max_size=8),
    text_st,
    st.integers(0, 50),
)
def test_search_pages_fit(hits, query, page) -> None:
    message = search_page(query, hits, page=page, has_next=True, total_pages=page + 3)
    check_limits(message)
    check_inert(message)
    assert f"page {page + 1}/{page + 3}" in message.embeds[0]["footer"]["text"]
    assert message.embeds[0]["description"].count("**") <= 2 * 5 * 2


def test_a_search_page_shows_every_hit_with_its_link() -> None:
    hits = [FakeHit(f"id{n}", f"Title {n}", 1.0, f"https://x.org/{n}") for n in range(5)]
    hits.append(FakeHit("long", "Long link", 1.0, LONG_URL))
    description = search_page("q", hits, page=0, has_next=True).embeds[0]["description"]
    for n in range(5):
        assert f"**{n + 1}.** [Title {n}](https://x.org/{n}) · score 1.00\n`id{n}`" in description
    assert "Long link" not in description  # a page holds five


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
    message = paper_card(paper)
    check_limits(message)
    check_inert(message)
    similar = similar_page(paper, [FakeHit("x", title, 1.0, None)], page=0, has_next=False)
    check_limits(similar)
