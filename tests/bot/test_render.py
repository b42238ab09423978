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
from retrieval.answer.compose import Answer, Quote
from retrieval.answer.highlight import quote_chunks
from retrieval.papers import Paper
from retrieval.sanitize import clean
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


def shown(quote: Quote) -> str:
    """What a quote shows: its text exactly, less what the sanitiser takes out of each piece."""
    return "".join(c.text if c.joint else clean(c.text) for c in quote_chunks(quote))


@given(text_st)
def test_escape_round_trips(text: str) -> None:
    assert unrender(escape(text)) == clean(text)
    assert not MENTION.search(escape(text))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_highlighting_never_alters_quoted_characters(data) -> None:
    abstract = data.draw(text_st.filter(lambda t: len(t) >= 2))
    quote = data.draw(quotes(abstract))
    rendered = render_quote(quote, 100_000)
    assert rendered.startswith("“") and rendered.endswith("”")
    assert unrender(rendered[1:-1]) == shown(quote)


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(-5, 400))
def test_a_cut_quote_fits_its_limit_and_stays_verbatim(data, limit: int) -> None:
    abstract = data.draw(text_st.filter(lambda t: len(t) >= 2)) * data.draw(st.integers(1, 5))
    quote = data.draw(quotes(abstract))
    rendered = render_quote(quote, limit)
    assert len(rendered) <= max(limit, 0)
    if rendered:
        seen = unrender(rendered[1:-1])
        if seen != shown(quote):  # cut: a verbatim start of the quote, then an ellipsis
            assert seen.endswith("…") and shown(quote).startswith(seen[:-1])


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


# What no Discord message may carry: C0 controls but newline, DEL, C1, bidi controls.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
EVIL_TITLE = "\x1b]0;pwned\x07\x1b[2JQuasar \x9b31mspectra\x07 and \u202eredshift\u202c surveys"
EVIL_ABSTRACT = (
    "We measure quasar spectra at high redshift.\x1b[8m Hidden text follows.\x1b[0m "
    "The \u2066survey\u2069 covers \x07 ten thousand quasars\r with new spectra."
)


def message_texts(message) -> list[str]:
    texts = [message.content or ""]
    for embed in message.embeds:
        texts += [embed.get("title", ""), embed.get("description", ""), embed.get("url", "")]
        texts.append(embed.get("footer", {}).get("text", ""))
        texts += [f["name"] + f["value"] for f in embed.get("fields", [])]
    return texts


def test_stored_controls_never_reach_discord(tmp_path) -> None:
    """A real store holding a paper full of terminal controls and bidi overrides: the answer,
    a search page, a similar page and the paper card show its words, and none of those."""
    from config import Settings
    from retrieval.search import Library

    library = Library.open(Settings(db_path=tmp_path / "store.db"), seed=True)
    evil = Paper(
        id="evil\x1b[5m1",
        title=EVIL_TITLE,
        abstract=EVIL_ABSTRACT,
        authors=("Ann \u202eRedaer", "Bob\x07"),
        url="https://example.org/\x1b[2Jpaper",
        source="test",
    )
    library.add_papers([evil])
    answer = library.ask("how are quasar spectra measured at high redshift?")
    assert answer.answered and answer.papers[0].id == evil.id
    hits = library.search("quasar spectra redshift", k=5)
    assert hits[0].id == evil.id
    stored = library.paper(evil.id)
    assert stored is not None and stored.abstract == EVIL_ABSTRACT  # the store keeps it as is
    messages = [
        answer_message(answer),
        search_page("quasar\x1b[2J spectra\u202e", hits),
        similar_page(library.papers().__next__(), hits),
        paper_card(stored),
    ]
    for message in messages:
        check_limits(message)
        for text in message_texts(message):
            found = UNSAFE.search(text)
            assert found is None, f"{found.group()!r} in {text[:200]!r}"
    shown = " ".join(unrender(" ".join(message_texts(messages[0]))).split())
    assert "We measure quasar spectra at high redshift." in shown
    assert "Quasar spectra and redshift surveys" in " ".join(
        unrender(" ".join(message_texts(messages[3]))).split()
    )
