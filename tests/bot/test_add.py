"""``/add``, per-server collections and link capture, end to end: the real bot and Library, real
discord.py over sockets to the Discord stand-in, real httpx to the loopback fixture server that
plays Hugging Face and arXiv (with injected faults). Each test checks the store afterwards."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.render.markup import unrender
from retrieval.ingest.http import RetryPolicy
from tests.bot.checks import assert_no_ping, assert_within_limits, is_ephemeral, sent_messages
from tests.bot.conftest import Running, running_bot
from tests.bot.test_e2e import all_text
from tests.discord_standin import CB_DEFERRED_MESSAGE, CB_MESSAGE, DiscordStandIn
from tests.retrieval.ingest.server import Fault, FixtureServer

FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05, total_timeout=1.5)
FIRST = "2606.00467"  # the first paper of the recorded Hugging Face daily list


@pytest.fixture
def upstream() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        server.serve_daily_papers()
        yield server


@pytest.fixture
def daily_items() -> dict[str, dict[str, Any]]:
    from tests.retrieval.ingest.server import HF_DAILY

    return {item["paper"]["id"]: item["paper"] for item in json.loads(HF_DAILY.read_bytes())}


def upstream_settings(make_settings: Any, server: FixtureServer, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "hf_base_url": server.url,
        "arxiv_api_url": f"{server.url}/api/query",
        "arxiv_oai_url": f"{server.url}/oai",
        "arxiv_min_interval": 0.0,
        "http_timeout": 0.3,
        "add_timeout": 3.0,
    }
    values.update(overrides)
    return make_settings(**values)


@pytest.fixture
async def other_guild(standin: DiscordStandIn) -> int:
    return await standin.add_guild("another server")


@pytest.fixture
async def bot(
    standin: DiscordStandIn,
    make_settings: Any,
    library: Any,
    upstream: FixtureServer,
    other_guild: int,
) -> AsyncIterator[Running]:
    settings = upstream_settings(make_settings, upstream)
    async with running_bot(standin, settings, library, ingest_retry=FAST) as running:
        yield running


def guild_count(library: Any, guild_id: int) -> int:
    return library.store.count(f"guild-{guild_id}")


def titles_in(message: dict[str, Any]) -> str:
    return " ".join(unrender(all_text(message)).split())


async def test_added_paper_is_answerable_in_its_server_only(
    bot: Running, library: Any, upstream: FixtureServer, other_guild: int, daily_items: Any
) -> None:
    discord = bot.discord
    paper = daily_items[FIRST]
    shared_before = library.store.count("default")
    question = f"{paper['title']}?"
    # Before: nobody's collection has it.
    before = await discord.wait_answer(await discord.slash("ask", question=question))
    assert FIRST not in all_text(before)

    ix = await discord.slash("add", paper=f"https://huggingface.co/papers/{FIRST}")
    assert (await discord.wait_ack(ix)).body["type"] == CB_DEFERRED_MESSAGE
    card = await discord.wait_answer(ix)
    assert not is_ephemeral(card)
    assert "Added to this server's collection (1 papers)" in card["content"]
    assert card["embeds"][0]["title"] == paper["title"]
    assert guild_count(library, discord.guild_id) == 1
    assert library.store.count("default") == shared_before
    assert [s.path for s in upstream.requests_to("/api/")] == [f"/api/papers/{FIRST}"]

    # Right after: /ask in the same server quotes it ...
    answer = await discord.wait_answer(await discord.slash("ask", question=question))
    assert f"arxiv.org/abs/{FIRST}" in all_text(answer)
    assert paper["title"] in titles_in(answer)
    # ... /search, /paper and autocomplete there find it too ...
    found = await discord.wait_answer(await discord.slash("search", query=paper["title"]))
    assert paper["title"] in titles_in(found)
    shown = await discord.wait_answer(await discord.slash("paper", paper=FIRST))
    assert shown["embeds"][0]["title"] == paper["title"]
    typed = await discord.autocomplete("paper", focused="paper", paper=paper["title"][:12])
    choices = (await discord.wait_ack(typed)).body["data"]["choices"]
    assert FIRST in [c["value"] for c in choices]

    # ... while another server and DMs do not see it.
    elsewhere = await discord.wait_answer(
        await discord.slash("ask", question=question, guild_id=other_guild)
    )
    shown_there = all_text(elsewhere).split("\n", 1)[1]  # after the question's own line
    assert FIRST not in shown_there and paper["title"] not in unrender(shown_there)
    assert "default + this server" in shown_there
    dm = await discord.wait_answer(await discord.slash("ask", question=question, dm=True))
    assert FIRST not in all_text(dm)
    hidden = await discord.wait_answer(
        await discord.slash("paper", paper=FIRST, guild_id=other_guild)
    )
    assert hidden.get("embeds") == [] or hidden["embeds"][0]["title"] != paper["title"]
    typed = await discord.autocomplete(
        "paper", focused="paper", paper=paper["title"][:12], guild_id=other_guild
    )
    assert FIRST not in [
        c["value"] for c in (await discord.wait_ack(typed)).body["data"]["choices"]
    ]
    assert guild_count(library, other_guild) == 0

    # /about shows both counts.
    about = await discord.wait_answer(await discord.slash("about"))
    assert f"{shared_before:,} papers" in about["content"]
    assert "This server's own papers: 1 " in about["content"]

    # Adding it again is not an error and needs no download.
    again = await discord.wait_answer(await discord.slash("add", paper=FIRST))
    assert not is_ephemeral(again)
    assert "Already in this server's collection" in again["content"]
    assert len(upstream.requests_to("/api/papers/")) == 1
    assert guild_count(library, discord.guild_id) == 1

    # Another server adding the same paper reuses the stored copy (still no download).
    other = await discord.wait_answer(
        await discord.slash("add", paper=f"arxiv.org/abs/{FIRST}v1", guild_id=other_guild)
    )
    assert "Added to this server's collection" in other["content"]
    assert len(upstream.requests_to("/api/papers/")) == 1
    assert guild_count(library, other_guild) == 1
    for body in sent_messages(discord):
        assert_within_limits(body)
        if body.get("content") or body.get("embeds"):
            assert_no_ping(body)


async def test_a_paper_in_the_shared_collection_is_already_there(
    bot: Running, library: Any, upstream: FixtureServer
) -> None:
    shared = next(p for p in library.store.iter_papers("default") if p.arxiv_id)
    answer = await bot.discord.wait_answer(await bot.discord.slash("add", paper=shared.id))
    assert "Already in the shared collection" in answer["content"]
    assert not upstream.seen and guild_count(library, bot.discord.guild_id) == 0


async def test_add_needs_manage_server_or_a_configured_role(
    standin: DiscordStandIn, make_settings: Any, library: Any, upstream: FixtureServer
) -> None:
    librarian = standin.add_role("Librarian")
    standin.add_user("carol", permissions=0)
    standin.add_user("dave", permissions=0, roles=(librarian,))
    settings = upstream_settings(make_settings, upstream, add_roles="Moderators, librarian")
    async with running_bot(standin, settings, library, ingest_retry=FAST) as running:
        discord = running.discord
        refused = await discord.wait_answer(await discord.slash("add", user="carol", paper=FIRST))
        assert refused["type"] == CB_MESSAGE and is_ephemeral(refused)
        assert "Manage Server" in refused["data"]["content"]
        assert (
            "Librarian" in refused["data"]["content"] or "librarian" in refused["data"]["content"]
        )
        assert not upstream.seen and guild_count(library, discord.guild_id) == 0
        watch = await discord.wait_answer(await discord.slash("watch", user="carol", enabled=True))
        assert is_ephemeral(watch) and not running.bot.state.watched_channels(discord.guild_id)

        allowed = await discord.wait_answer(await discord.slash("add", user="dave", paper=FIRST))
        assert "Added to this server's collection" in allowed["content"]
        assert guild_count(library, discord.guild_id) == 1


@pytest.mark.parametrize(
    "value", ["hello world", "https://example.com/paper/2606.00467", "2606", "doi:10.1000/182"]
)
async def test_not_an_arxiv_reference_is_a_private_hint(
    bot: Running, library: Any, upstream: FixtureServer, value: str
) -> None:
    answer = await bot.discord.wait_answer(await bot.discord.slash("add", paper=value))
    assert answer["type"] == CB_MESSAGE and is_ephemeral(answer)
    assert "doesn't look like an arXiv paper" in answer["data"]["content"]
    assert not upstream.seen


async def test_unknown_id_is_a_clear_private_answer_and_adds_nothing(
    bot: Running, library: Any, upstream: FixtureServer
) -> None:
    papers_before = library.store.count("default")
    ix = await bot.discord.slash("add", paper="https://arxiv.org/abs/2601.99999")
    answer = await bot.discord.wait_answer(ix)
    assert is_ephemeral(answer)
    assert "couldn't find arXiv paper `2601.99999`" in answer["content"]
    # Hugging Face said 404, then arXiv was asked and had nothing either.
    paths = [s.path for s in upstream.seen]
    assert paths == ["/api/papers/2601.99999", "/api/query"]
    assert library.store.get("2601.99999") is None
    assert guild_count(library, bot.discord.guild_id) == 0
    assert library.store.count("default") == papers_before
    # The public "thinking" message was removed, not left spinning.
    assert bot.discord.messages[ix.original_id].get("deleted")


async def test_a_run_of_503s_is_retried_then_added(
    bot: Running, library: Any, upstream: FixtureServer
) -> None:
    upstream.fault("/api/papers/", Fault.status_code(503), Fault.status_code(503))
    answer = await bot.discord.wait_answer(await bot.discord.slash("add", paper=FIRST))
    assert "Added to this server's collection" in answer["content"]
    assert len(upstream.requests_to("/api/papers/")) == 3
    assert guild_count(library, bot.discord.guild_id) == 1


async def test_hugging_face_without_the_paper_falls_back_to_arxiv(
    bot: Running, library: Any, upstream: FixtureServer
) -> None:
    answer = await bot.discord.wait_answer(await bot.discord.slash("add", paper="1601.00001"))
    assert "Added to this server's collection" in answer["content"]
    assert [s.path for s in upstream.seen] == ["/api/papers/1601.00001", "/api/query"]
    assert library.store.get("1601.00001").source == "arxiv"


async def test_upstream_down_is_a_polite_error_and_the_store_is_unchanged(
    bot: Running, library: Any, upstream: FixtureServer
) -> None:
    # Hugging Face hangs past every attempt's timeout; arXiv answers 503 every time.
    upstream.fault("/api/papers/", *[Fault.hang(3.0)] * 3)
    upstream.fault("/api/query", *[Fault.status_code(503)] * 3)
    counts = {c.name: c.paper_count for c in library.store.collections()}
    ix = await bot.discord.slash("add", paper=FIRST)
    answer = await bot.discord.wait_answer(ix, timeout=15)
    assert is_ephemeral(answer)
    text = answer["content"]
    assert "couldn't fetch `2606.00467` right now" in text and "Nothing was added" in text
    assert "did not answer in time" in text
    assert "http://" not in text and "Traceback" not in text
    assert {c.name: c.paper_count for c in library.store.collections()} == counts
    assert library.store.get(FIRST) is None
    # The bot keeps serving.
    after = await bot.discord.wait_answer(await bot.discord.slash("ask", question="what is DPO?"))
    assert after["embeds"]


async def test_server_errors_are_named_politely(
    bot: Running, library: Any, upstream: FixtureServer
) -> None:
    upstream.fault("/api/papers/", *[Fault.status_code(503)] * 3)
    upstream.fault("/api/query", *[Fault.status_code(502)] * 3)
    answer = await bot.discord.wait_answer(await bot.discord.slash("add", paper=FIRST))
    assert is_ephemeral(answer)
    assert "having trouble (HTTP 503)" in answer["content"]
    assert library.store.get(FIRST) is None


async def test_add_is_refused_in_direct_messages(bot: Running, upstream: FixtureServer) -> None:
    answer = await bot.discord.wait_answer(await bot.discord.slash("add", paper=FIRST, dm=True))
    assert is_ephemeral(answer) and "servers only" in answer["data"]["content"]
    assert not upstream.seen


async def test_a_full_server_collection_refuses_politely(
    standin: DiscordStandIn, make_settings: Any, library: Any, upstream: FixtureServer
) -> None:
    settings = upstream_settings(make_settings, upstream, guild_max_papers=1)
    async with running_bot(standin, settings, library, ingest_retry=FAST) as running:
        discord = running.discord
        await discord.wait_answer(await discord.slash("add", paper=FIRST))
        full = await discord.wait_answer(await discord.slash("add", paper="2606.12730"))
        assert is_ephemeral(full) and "collection is full (1 papers" in full["content"]
        assert guild_count(library, discord.guild_id) == 1
        assert library.store.get("2606.12730") is None  # fetched, but nothing half-added


# -- link capture -------------------------------------------------------------------------------
async def test_links_in_watched_channels_are_added_from_mentions(
    bot: Running, library: Any, upstream: FixtureServer, other_guild: int, daily_items: Any
) -> None:
    discord = bot.discord
    guild = discord.guild_id
    # Not watched yet: a mention with a link is just a question.
    await discord.post_message(f"what is https://arxiv.org/abs/{FIRST} about?", mention_bot=True)
    await discord.wait_for(lambda: discord.channel_messages())
    assert guild_count(library, guild) == 0 and not discord.reactions

    on = await discord.wait_answer(await discord.slash("watch", enabled=True))
    assert not is_ephemeral(on) and "mention me" in on["data"]["content"]
    assert bot.bot.state.watched(guild, discord.channel_id)

    msg = await discord.post_message(
        f"new ones: https://arxiv.org/pdf/{FIRST}v2.pdf and <https://huggingface.co/papers/"
        "2606.12730>",
        mention_bot=True,
    )
    await discord.wait_for(lambda: discord.reactions)
    assert discord.reactions == [(discord.channel_id, int(msg["id"]), "✅")]
    assert guild_count(library, guild) == 2
    replies = len(discord.channel_messages())

    # A message that does not mention the bot arrives without content: nothing to capture.
    await discord.post_message("https://arxiv.org/abs/2606.13594")
    # Links plus a question: added, then the question is answered with the new paper.
    title = daily_items["2606.13174"]["title"]
    await discord.post_message(
        f"https://arxiv.org/abs/2606.13174 {title}?", mention_bot=True, user="bob"
    )
    await discord.wait_for(lambda: len(discord.channel_messages()) == replies + 1)
    answer = discord.channel_messages()[-1]
    assert "arxiv.org/abs/2606.13174" in all_text(answer)
    assert guild_count(library, guild) == 3
    assert library.store.get("2606.13594") is None

    # An unknown id: a warning reaction and a short polite reply; the others still go in.
    bad = await discord.post_message(
        "https://arxiv.org/abs/2601.99999 https://arxiv.org/abs/2606.10423", mention_bot=True
    )
    await discord.wait_for(lambda: any(r[1] == int(bad["id"]) for r in discord.reactions))
    assert (discord.channel_id, int(bad["id"]), "⚠️") in discord.reactions
    await discord.wait_for(lambda: len(discord.channel_messages()) == replies + 2)
    assert "couldn't find arXiv paper `2601.99999`" in discord.channel_messages()[-1]["content"]
    assert guild_count(library, guild) == 4

    # The other server's channel is not watched; turning capture off stops it here.
    off = await discord.wait_answer(await discord.slash("watch", enabled=False))
    assert "stopped" in off["data"]["content"]
    reactions = len(discord.reactions)
    await discord.post_message("https://arxiv.org/abs/2606.07867", mention_bot=True)
    await discord.post_message(
        "https://arxiv.org/abs/2606.07867", mention_bot=True, guild_id=other_guild
    )
    await discord.wait_for(lambda: len(discord.channel_messages()) == replies + 4)
    await asyncio.sleep(0.1)
    assert len(discord.reactions) == reactions
    assert library.store.get("2606.07867") is None
    for body in sent_messages(discord):
        if body.get("content") or body.get("embeds"):
            assert_no_ping(body)
