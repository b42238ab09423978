"""``/follow``, ``/following``, ``/unfollow`` and topic alerts, end to end: the real bot and
Library, real discord.py over sockets to the Discord stand-in. The delivery clock is injected
and moved; nothing sleeps for the schedule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.render.markup import unrender
from retrieval.answer.gist import gist
from retrieval.papers import Paper
from tests.bot.checks import assert_no_ping, assert_within_limits, is_ephemeral
from tests.bot.conftest import Running, running_bot
from tests.discord_standin import DiscordStandIn
from tests.discord_standin.payloads import ChannelRef

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOPIC = "quantum error correction"


def qec(pid: str, extra: str = "") -> Paper:
    return Paper(
        id=pid,
        title=f"Quantum error correction with surface codes {extra}".strip(),
        abstract=(
            "Qubits are fragile. In this paper, we propose a decoder for quantum error correction "
            f"that corrects surface code errors in real time. {extra} @everyone <@123> *bold*"
        ),
        source="test",
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def cog_of(running: Running) -> Any:
    cog = running.bot.get_cog("FollowCog")
    assert cog is not None and cog.delivery is not None
    return cog


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bot(
    standin: DiscordStandIn, make_settings: Any, library: Any, clock: Clock
) -> AsyncIterator[Running]:
    standin.add_user("carol", permissions=0)
    async with running_bot(standin, make_settings(), library) as running:
        cog_of(running).delivery.clock = clock
        yield running


def channel_posts(discord: DiscordStandIn, channel_id: int) -> list[dict[str, Any]]:
    return [
        r.body
        for r in discord.requests
        if r.method == "POST" and r.path == f"/channels/{channel_id}/messages" and r.status == 200
    ]


async def add(library: Any, papers: list[Paper], collection: str | None = None) -> None:
    await asyncio.to_thread(library.add_papers, papers, collection)


async def follow(
    discord: DiscordStandIn,
    user: str = "alice",
    *,
    guild_id: int | None = None,
    in_dm: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """``/follow`` with ``options``: for this channel (the ``channel`` option set to the
    guild's channel, as the picker sends it), or with ``dm=True`` for the user by DM (no
    channel given)."""
    if not options.pop("dm", False) and not in_dm:
        options.setdefault("channel", ChannelRef(discord.channel_of(guild_id)))
    ix = await discord.slash("follow", user, guild_id=guild_id, dm=in_dm, **options)
    return await discord.wait_answer(ix)


def check_alert(body: dict[str, Any], papers: list[Paper]) -> None:
    assert_within_limits(body)
    assert_no_ping(body)
    (embed,) = body["embeds"]
    assert TOPIC in unrender(embed["title"])
    shown = unrender(embed["description"])
    for p in papers:
        assert p.title in shown
        assert gist(p).text in shown  # the sentence quoted verbatim
        assert f"arxiv.org/abs/{p.id}" in embed["description"]
    assert "@everyone" not in embed["description"]


async def test_channel_follow_needs_the_right_a_dm_follow_does_not(bot: Running) -> None:
    discord = bot.discord
    refused = await follow(discord, "carol", topic=TOPIC)
    assert is_ephemeral(refused) and "Manage Server" in refused["data"]["content"]
    ok = await follow(discord, "carol", topic=TOPIC, dm=True)
    assert is_ephemeral(ok) and "direct message" in ok["content"]
    public = await follow(discord, "alice", topic=TOPIC)
    assert not is_ephemeral(public) and "posted here" in public["content"]
    again = await follow(discord, "alice", topic="Quantum  ERROR correction")
    assert "already followed" in again["content"]
    listed = await discord.wait_answer(await discord.slash("following", user="carol"))
    assert is_ephemeral(listed)
    assert TOPIC in listed["content"] and "by direct message" in listed["content"]
    assert f"<#{discord.channel_id}>" in listed["content"]  # alice's, in this server
    follows = cog_of(bot).follows
    assert len(follows.of_guild(discord.guild_id)) == 2


async def test_alerts_once_per_topic_per_day_never_twice_by_channel_and_dm(
    bot: Running, library: Any, clock: Clock
) -> None:
    discord = bot.discord
    await follow(discord, "alice", topic=TOPIC)
    await follow(discord, "bob", topic=TOPIC, dm=True)
    first = [qec("2603.00001"), qec("2603.00002", "Fast decoding of surface code errors.")]
    off_topic = Paper(
        id="2603.00003", title="Sorting networks", abstract="We propose sorting.", source="t"
    )
    await add(library, [*first, off_topic])
    bot.bot.dispatch("papers_stored")  # what the daily refresh and /add do
    dm_channel = discord.dm_channel_id("bob")
    await discord.wait_for(lambda: channel_posts(discord, dm_channel))
    (post,) = channel_posts(discord, discord.channel_id)
    check_alert(post, first)
    assert "Sorting" not in post["embeds"][0]["description"]
    (dm,) = channel_posts(discord, dm_channel)
    check_alert(dm, first)
    # Same day: a new matching paper waits; nothing is posted twice.
    later = qec("2603.00004", "A later one.")
    await add(library, [later])
    await cog_of(bot).delivery.run_once()
    assert len(channel_posts(discord, discord.channel_id)) == 1
    # Next day: only the new paper, once.
    clock.now = T0 + timedelta(days=1)
    await cog_of(bot).delivery.run_once()
    await cog_of(bot).delivery.run_once()
    posts = channel_posts(discord, discord.channel_id)
    assert len(posts) == 2 and len(channel_posts(discord, dm_channel)) == 2
    check_alert(posts[1], [later])
    assert "2603.00001" not in posts[1]["embeds"][0]["description"]


async def test_restart_keeps_follows_and_what_was_announced(
    standin: DiscordStandIn, make_settings: Any, library: Any
) -> None:
    clock = Clock()
    async with running_bot(standin, make_settings(), library) as running:
        cog_of(running).delivery.clock = clock
        await follow(standin, "alice", topic=TOPIC)
    await add(library, [qec("2603.00011")])
    async with running_bot(standin, make_settings(), library) as running:
        cog_of(running).delivery.clock = clock
        listed = await standin.wait_answer(await standin.slash("following"))
        assert TOPIC in listed["content"]
        await cog_of(running).delivery.run_once()  # papers stored while the bot was down
        assert len(channel_posts(standin, standin.channel_id)) == 1
    clock.now += timedelta(days=3)
    async with running_bot(standin, make_settings(), library) as running:
        cog_of(running).delivery.clock = clock
        await cog_of(running).delivery.run_once()
        assert len(channel_posts(standin, standin.channel_id)) == 1  # never twice


async def test_one_failing_place_does_not_stop_the_others(
    bot: Running, library: Any, clock: Clock, capture_logs: pytest.LogCaptureFixture
) -> None:
    discord = bot.discord
    g403, g404, g429 = [await discord.add_guild(n) for n in ("no rights", "deleted", "busy")]
    await discord.wait_for(lambda: all(bot.bot.get_guild(g) for g in (g403, g404, g429)))
    for gid in (g403, g404, g429):
        await follow(discord, "alice", topic=TOPIC, guild_id=gid)
    await follow(discord, "alice", topic=TOPIC)
    await follow(discord, "bob", topic=TOPIC, dm=True)
    c403, c404, c429 = (discord.channel_of(g) for g in (g403, g404, g429))
    discord.fail_next("POST", rf"/channels/{c403}/messages", 403)
    discord.fail_next("POST", rf"/channels/{c404}/messages", 404)
    discord.fail_next("POST", rf"/channels/{c429}/messages", 429, count=20, retry_after=0.01)
    await add(library, [qec("2603.00021")])
    report = await cog_of(bot).delivery.run_once()
    assert len(report.sent) == 2  # this server's channel and bob's DM
    assert len(channel_posts(discord, discord.channel_id)) == 1
    assert len(channel_posts(discord, discord.dm_channel_id("bob"))) == 1
    assert len(report.postponed) == 2 and len(report.disabled) == 1
    assert "not delivered" in capture_logs.text and "is gone" in capture_logs.text
    # The next day the forbidden and rate-limited channels get the kept paper; the deleted one
    # is not tried again.
    discord.faults.clear()
    clock.now = T0 + timedelta(days=1)
    report = await cog_of(bot).delivery.run_once()
    assert len(report.sent) == 2
    assert len(channel_posts(discord, c403)) == 1 and len(channel_posts(discord, c429)) == 1
    assert not [r for r in discord.requests if r.path == f"/channels/{c404}/messages"][1:]


async def test_unfollow_suggests_only_ones_own_topics(bot: Running) -> None:
    discord = bot.discord
    await follow(discord, "alice", topic=TOPIC)
    await follow(discord, "alice", topic="robot grasping", dm=True)
    await follow(discord, "bob", topic="robot learning", dm=True)
    typed = await discord.autocomplete("unfollow", focused="topic", topic="rob")
    choices = (await discord.wait_ack(typed)).body["data"]["choices"]
    assert [c["name"] for c in choices] == ["robot grasping · DM"]
    gone = await discord.wait_answer(await discord.slash("unfollow", topic=choices[0]["value"]))
    assert "Stopped following **robot grasping**" in gone["content"]
    alices = cog_of(bot).follows.of_user(int(discord.users["alice"]["id"]))
    assert [f.topic for f in alices] == [TOPIC]
    bobs = cog_of(bot).follows.topics(int(discord.users["bob"]["id"]), "")
    refused = await discord.wait_answer(
        await discord.slash("unfollow", topic=str(bobs[0].id))  # alice names bob's follow
    )
    assert "don't follow" in refused["content"]
    assert len(cog_of(bot).follows.topics(int(discord.users["bob"]["id"]), "")) == 1


async def test_papers_ingested_by_another_process_are_found_by_the_poll(
    bot: Running, library: Any, tmp_path: Any
) -> None:
    from retrieval.search import Library
    from retrieval.store import PaperStore

    discord = bot.discord
    await follow(discord, "alice", topic=TOPIC)
    delivery = cog_of(bot).delivery
    await delivery.poll()  # nothing new yet
    assert await delivery.poll() is None  # the store has not changed: no pass at all
    other = Library(PaperStore(library.store.path), semantic=False)  # as `paperbot ingest`
    await asyncio.to_thread(other.add_papers, [qec("2603.00031")])
    report = await delivery.poll()
    assert report is not None and len(report.sent) == 1
    (post,) = channel_posts(discord, discord.channel_id)
    check_alert(post, [qec("2603.00031")])


def test_alert_message_fits_discord_limits_with_hostile_papers() -> None:
    from bot.alerts import alert_message
    from retrieval.follows import Due, Follow, Match

    def hostile(n: int) -> Paper:
        title = f"@everyone <@123> **Title** {n} " + "[x](http://e.com) _y_ " * 30
        abstract = "We propose " + "a `very` long <#1> @here method " * 80 + "end."
        return Paper(id=f"2603.{n:05d}", title=title, abstract=abstract, source="t")

    fol = Follow(1, 2, 3, 4, "@everyone " * 30, 0.6, T0, None, None)
    papers = [hostile(n) for n in range(5)]
    due = Due(fol, [Match(p, 0.9, gist(p)) for p in papers], more=7, examined=20)
    out = alert_message(due)
    data: dict[str, Any] = {"content": out.content, "embeds": list(out.embeds)}
    assert_within_limits(data)
    assert_no_ping({**data, "allowed_mentions": {"parse": []}})
    (embed,) = data["embeds"]
    assert "more matching paper" in embed["footer"]["text"]
    assert embed["description"].count("\n> ") >= 1  # at least one paper with its sentence


async def test_commands_register_without_a_library(make_settings: Any) -> None:
    from bot import create_bot

    bot = create_bot(make_settings(), open_library=False)
    await bot.load_extension("bot.exts.follow")
    names = {c.name for c in bot.tree.get_commands()}
    assert {"follow", "following", "unfollow"} <= names
    await bot.close()


async def test_the_poll_loop_delivers_without_being_asked(
    standin: DiscordStandIn, make_settings: Any, library: Any
) -> None:
    from retrieval.search import Library
    from retrieval.store import PaperStore

    settings = make_settings(alert_poll_seconds=0.05)
    async with running_bot(standin, settings, library):  # the real clock
        await follow(standin, "alice", topic=TOPIC)
        other = Library(PaperStore(library.store.path), semantic=False)
        await asyncio.to_thread(other.add_papers, [qec("2603.00041")])
        await standin.wait_for(lambda: channel_posts(standin, standin.channel_id))
        await asyncio.sleep(0.3)  # several more polls: nothing is posted twice
        assert len(channel_posts(standin, standin.channel_id)) == 1
