"""``/digest`` end to end: the real discord.py client against the loopback stand-in, the clock
moved by hand (``bot.clock``) and the scheduler's tick called directly; nothing sleeps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot import create_bot
from bot.exts.digest import DigestCog
from config.settings import Settings
from retrieval.papers import Paper
from retrieval.search import Library
from tests.bot.checks import assert_no_ping, assert_within_limits, is_ephemeral, message_data
from tests.bot.conftest import running_bot
from tests.discord_standin import DiscordStandIn
from tests.discord_standin.payloads import ChannelRef

NASTY_TITLE = "@everyone look: **<@123>** [x](http://e.vil) `rm`"


class Clock:
    """The bot's clock, moved by the test."""

    def __init__(self, when: str) -> None:
        self.now = datetime.fromisoformat(when).replace(tzinfo=UTC)

    def set(self, when: str) -> None:
        self.now = datetime.fromisoformat(when).replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def day_list(day: str, prefix: str, upvotes: list[int], title: str = "Paper") -> list[Paper]:
    return [
        Paper(
            id=f"{prefix}.{n:05d}",
            title=f"{title} {prefix}.{n:05d}",
            abstract=(
                "Large models are everywhere. In this paper, we propose a method numbered "
                f"{n} that makes them cheaper. It works well on many benchmarks."
            ),
            source="huggingface",
            url=f"https://huggingface.co/papers/{prefix}.{n:05d}",
            metadata={"hf_daily_date": day, "upvotes": votes},
        )
        for n, votes in enumerate(upvotes)
    ]


def reopen(library: Library) -> Library:
    """A new Library over the same store file: what a restarted bot opens."""
    path = Path(library.store_path)
    settings = Settings(_env_file=None, db_path=path, data_dir=path.parent)  # type: ignore[call-arg]
    return Library.open(settings)


def digests_in(discord: DiscordStandIn, channel_id: int) -> list[dict[str, Any]]:
    return [
        m
        for m in discord.channel_messages()
        if m["channel_id"] == str(channel_id) and "Hugging Face daily papers" in m["content"]
    ]


def cog_of(bot: Any) -> DigestCog:
    """The loaded cog (discord.py imports the extension afresh: not this module's class)."""
    cog = bot.get_cog("DigestCog")
    assert cog is not None and type(cog).__name__ == "DigestCog"
    return cog


async def tick(bot: Any) -> dict[int, str]:
    return {o.channel_id: o.status for o in await cog_of(bot).tick()}


async def test_a_digest_is_posted_once_a_day_across_restarts_and_downtime(
    standin: DiscordStandIn, make_settings: Any, library: Library
) -> None:
    library.add_papers(day_list("2026-06-11", "2601", [50, 60]))
    library.add_papers(day_list("2026-06-12", "2602", [3, 118, 7, 25, 0, 74], NASTY_TITLE))
    settings = make_settings()
    clock = Clock("2026-06-12T07:00")
    channel = standin.channel_id
    async with running_bot(standin, settings, library, clock=clock) as running:
        ix = await standin.slash("digest", channel=ChannelRef(channel), time="8:00", count=3)
        confirm = await standin.wait_answer(ix)
        assert not is_ephemeral(confirm)
        assert "Daily digest set up" in confirm["content"] and "08:00 UTC" in confirm["content"]
        assert await tick(running.bot) == {}  # 07:00: not yet

        clock.set("2026-06-12T08:00")
        assert await tick(running.bot) == {channel: "posted"}
        (posted,) = digests_in(standin, channel)
        assert "2026-06-12" in posted["content"] and "top 3 of 6" in posted["content"]
        titles = [e["title"] for e in posted["embeds"]]
        assert [t.split(" ")[0] for t in titles] == ["1.", "2.", "3."]
        for title, paper_id in zip(titles, ("2602.00001", "2602.00005", "2602.00003"), strict=True):
            assert paper_id in title  # 118, 74, 25 upvotes
        first = posted["embeds"][0]
        assert "▲ 118 upvotes" in first["description"]
        # The "what it does" sentence, verbatim, its link highlighting it on the paper's page.
        assert (
            "“In this paper, we propose a method numbered 1 that makes them cheaper.”"
            in (first["description"])
        )
        assert first["url"].startswith("https://arxiv.org/abs/2602.00001#:~:text=")
        assert "[Hugging Face](https://huggingface.co/papers/2602.00001)" in first["description"]
        body = next(
            r.body
            for r in standin.requests
            if r.method == "POST" and r.path == f"/channels/{channel}/messages"
        )
        data = message_data(body)
        assert data is not None
        assert_within_limits(data)
        assert_no_ping(data)  # the title's "@everyone" and "<@123>" are inert

        clock.set("2026-06-12T23:59")
        assert await tick(running.bot) == {}  # once a day
    assert len(digests_in(standin, channel)) == 1

    # Restarted the same day (a new bot over the same store): nothing twice.
    clock.set("2026-06-12T09:00")
    async with running_bot(standin, settings, reopen(library), clock=clock) as running:
        assert await tick(running.bot) == {}
        # The next day brings no new list: skipped, not yesterday's leftovers.
        clock.set("2026-06-13T08:00")
        assert await tick(running.bot) == {channel: "nothing new"}
        assert await tick(running.bot) == {}
        listing = await standin.wait_answer(await standin.slash("digest"))
        assert is_ephemeral(listing) and f"<#{channel}>: top 3 at 08:00 UTC" in (listing["content"])
    assert len(digests_in(standin, channel)) == 1

    # Down for three days while three lists arrived: one catch-up post, the latest day's.
    library.add_papers(day_list("2026-06-14", "2604", [1, 2]))
    library.add_papers(day_list("2026-06-15", "2605", [1, 2]))
    library.add_papers(day_list("2026-06-16", "2606", [9, 1, 5, 7]))
    clock.set("2026-06-16T10:30")
    async with running_bot(standin, settings, reopen(library), clock=clock) as running:
        await tick(running.bot)  # the loop's own first tick may have posted it already
        clock.set("2026-06-16T10:31")
        assert await tick(running.bot) == {}
    posts = digests_in(standin, channel)
    assert len(posts) == 2 and "2026-06-16" in posts[1]["content"]
    assert ["2606.00000" in posts[1]["embeds"][0]["title"], len(posts[1]["embeds"])] == [True, 3]


async def test_setting_a_digest_needs_permission_and_a_valid_time(
    standin: DiscordStandIn, make_settings: Any, library: Library
) -> None:
    standin.add_user("carol", permissions=0)
    clock = Clock("2026-06-12T07:00")
    async with running_bot(standin, make_settings(), library, clock=clock) as running:
        refused = await standin.wait_answer(
            await standin.slash("digest", user="carol", time="08:00")
        )
        assert is_ephemeral(refused) and "Manage Server" in refused["data"]["content"]
        stop = await standin.wait_answer(await standin.slash("digest", user="carol", time="off"))
        assert is_ephemeral(stop) and "Manage Server" in stop["data"]["content"]
        # Anyone may look.
        listing = await standin.wait_answer(await standin.slash("digest", user="carol"))
        assert is_ephemeral(listing) and "No daily digest here yet" in listing["content"]
        bad = await standin.wait_answer(await standin.slash("digest", time="25:00"))
        assert is_ephemeral(bad) and "isn't a time of day" in bad["data"]["content"]
        cog = cog_of(running.bot)
        assert cog.digests is not None and cog.digests.of_guild(standin.guild_id) == []
        only_count = await standin.wait_answer(await standin.slash("digest", count=3))
        assert is_ephemeral(only_count) and "give a time too" in only_count["content"]
        # Set in the current channel, its count changed, then stopped.
        await standin.wait_answer(await standin.slash("digest", time="08:00"))
        changed = await standin.wait_answer(await standin.slash("digest", count=7))
        assert "Daily digest changed" in changed["content"] and "the 7 most" in changed["content"]
        (kept,) = cog.digests.of_guild(standin.guild_id)
        assert (kept.at, kept.count) == ("08:00", 7)
        assert [d.channel_id for d in cog.digests.of_guild(standin.guild_id)] == [
            standin.channel_id
        ]
        stopped = await standin.wait_answer(await standin.slash("digest", time="off"))
        assert "is stopped" in stopped["content"]
        assert cog.digests.of_guild(standin.guild_id) == []


async def test_a_failing_channel_is_skipped_and_the_others_still_get_theirs(
    standin: DiscordStandIn, make_settings: Any, library: Library
) -> None:
    library.add_papers(day_list("2026-06-12", "2602", [1, 2, 3]))
    clock = Clock("2026-06-11T12:00")
    async with running_bot(standin, make_settings(), library, clock=clock) as running:
        other_guild = await standin.add_guild()
        await standin.wait_for(lambda: running.bot.get_guild(other_guild) is not None)
        first, second = standin.channel_id, standin.channel_of(other_guild)
        await standin.wait_answer(await standin.slash("digest", time="08:00", count=2))
        await standin.wait_answer(
            await standin.slash(
                "digest", guild_id=other_guild, channel=ChannelRef(second), time="08:00"
            )
        )
        # 403: the bot lost Send Messages in the first channel.
        standin.fail_next("POST", rf"/channels/{first}/messages", 403)
        clock.set("2026-06-12T08:00")
        assert await tick(running.bot) == {first: "forbidden", second: "posted"}
        assert (len(digests_in(standin, first)), len(digests_in(standin, second))) == (0, 1)
        assert await tick(running.bot) == {}  # not retried today

        # 429 past discord.py's own retries: retried on the next tick, posted then.
        library.add_papers(day_list("2026-06-13", "2603", [4, 5]))
        standin.fail_next("POST", rf"/channels/{first}/messages", 429, count=5, retry_after=0.01)
        clock.set("2026-06-13T08:00")
        assert await tick(running.bot) == {first: "retry", second: "posted"}
        clock.set("2026-06-13T08:01")
        assert await tick(running.bot) == {first: "posted"}
        assert len(digests_in(standin, first)) == 1
        # The 12th's papers were never posted in the first channel: its one post is the 13th.
        assert "2026-06-13" in digests_in(standin, first)[0]["content"]

        # 404: the second channel was deleted; its digest is switched off, the first goes on.
        library.add_papers(day_list("2026-06-14", "2604", [4]))
        standin.fail_next("POST", rf"/channels/{second}/messages", 404)
        clock.set("2026-06-14T08:00")
        assert await tick(running.bot) == {first: "posted", second: "deleted"}
        listing = await standin.wait_answer(await standin.slash("digest", guild_id=other_guild))
        assert "the channel was deleted" in listing["content"]
        library.add_papers(day_list("2026-06-15", "2605", [4]))
        clock.set("2026-06-15T08:00")
        assert await tick(running.bot) == {first: "posted"}
    assert (len(digests_in(standin, first)), len(digests_in(standin, second))) == (3, 2)


async def test_the_command_registers_without_a_library(make_settings: Any) -> None:
    bot = create_bot(make_settings(), open_library=False)
    try:
        await bot.setup_hook()
        assert bot.tree.get_command("digest") is not None
        assert cog_of(bot).digests is None and not cog_of(bot).loop.is_running()
    finally:
        await bot.close()


def test_digest_messages_fit_every_limit_and_ping_nobody() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from bot.render.digest import DigestItem, digest_message
    from tests.rendering import LONG_URL, text_st, url_st

    item_st = st.builds(
        DigestItem,
        title=text_st,
        upvotes=st.integers(0, 10**6),
        sentence=st.one_of(text_st, st.text(min_size=300, max_size=400)),
        trimmed=st.booleans(),
        link=url_st,
        page=url_st,
        hf_page=st.sampled_from([None, "https://huggingface.co/papers/2606.00001", LONG_URL]),
    )

    @settings(max_examples=150, deadline=None)
    @given(items=st.lists(item_st, min_size=1, max_size=12), total=st.integers(0, 500))
    def check(items: list[DigestItem], total: int) -> None:
        out = digest_message(date(2026, 6, 12), items, total)
        data = {**out.kwargs(), "embeds": list(out.embeds), "allowed_mentions": {"parse": []}}
        data["content"] = out.content
        assert_within_limits(data)
        assert_no_ping(data)
        assert len(out.embeds) == min(len(items), 10)

    check()


async def test_deleting_the_channel_switches_its_digest_off(
    standin: DiscordStandIn, make_settings: Any, library: Library
) -> None:
    from tests.discord_standin import payloads as P

    clock = Clock("2026-06-11T12:00")
    async with running_bot(standin, make_settings(), library, clock=clock) as running:
        await standin.wait_answer(await standin.slash("digest", time="08:00"))
        channel = P.text_channel(standin.channel_id, standin.guild_id)
        await standin.dispatch("CHANNEL_DELETE", channel)
        cog = cog_of(running.bot)
        assert cog.digests is not None
        await standin.wait_for(
            lambda: not cog.digests.of_guild(standin.guild_id)[0].on  # type: ignore[union-attr]
        )
        library.add_papers(day_list("2026-06-12", "2602", [1]))
        clock.set("2026-06-12T08:00")
        assert await tick(running.bot) == {}
    assert digests_in(standin, standin.channel_id) == []
