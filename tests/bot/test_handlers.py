"""Handler behaviour with a light fake Library (failures, throttling, odd inputs), still driven
through the loopback stand-in so responses are checked as Discord would receive them."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from bot import sync_commands
from bot.runner import REJECTED_TOKEN
from retrieval.papers import Paper
from retrieval.search import CollectionInfo, EmptyQuery, Hit, Scope
from tests.bot.checks import assert_within_limits
from tests.bot.conftest import running_bot
from tests.discord_standin import CB_AUTOCOMPLETE, FLAG_EPHEMERAL, DiscordStandIn


class _FakeIndex:
    def __init__(self, n: int) -> None:
        self.doc_pks = np.arange(n, dtype=np.int64)


class FakeLibrary:
    """The Library contract over a few generated papers (all in the shared collection);
    ``fail`` makes every query raise."""

    version = "test"

    def __init__(self, n: int = 40) -> None:
        self.papers = {
            f"2401.{i:05d}": Paper(
                id=f"2401.{i:05d}",
                title=f"Paper {i} about {'very long title words ' * 10}",
                abstract=f"Abstract {i}. " + "Some sentence. " * 20,
                authors=("A. Author",),
                published=None,
                url=None,
                source="test",
                metadata={},
            )
            for i in range(n)
        }
        self.fail: BaseException | None = None
        self.calls: list[str] = []
        self.threads: set[str] = set()
        self.priorities: set[int] = set()  # OS niceness of the threads index calls ran in
        self.delay = 0.0  # seconds each index call holds its thread (to expose overlap)
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        self.threads.add(threading.current_thread().name)
        self.priorities.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        if self.fail is not None:
            raise self.fail
        if self.delay:
            with self._lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            time.sleep(self.delay)
            with self._lock:
                self.active -= 1

    def warm(self, collection: Any = None) -> None:
        pass

    def scope(self, guild_id: int | None = None) -> Scope:
        names = ("default",) if guild_id is None else ("default", f"guild-{guild_id}")
        return Scope(names)

    def holders(self, paper_id: str) -> frozenset[str]:
        return frozenset({"default"}) if paper_id in self.papers else frozenset()

    def visible(self, paper_id: str, collection: Any = None) -> bool:
        return paper_id in self.papers

    def count(self, collection: str | None = None) -> int:
        return len(self.papers) if collection in (None, "default") else 0

    def index(self, collection: str | None = None) -> _FakeIndex:
        return _FakeIndex(len(self.papers))

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        offset: int = 0,
        collection: str | None = None,
        filters: Any = None,
    ) -> list[Hit]:
        self._enter("search")
        if not query.strip():
            raise EmptyQuery("empty")
        ids = list(self.papers)[offset : offset + k]
        return [Hit(id=i, title=self.papers[i].title, score=1.0, url=None) for i in ids]

    def ask(self, question: str, *, collection: str | None = None, filters: Any = None) -> Any:
        self._enter("ask")
        raise EmptyQuery("no terms")

    def paper(self, paper_id: str) -> Paper | None:
        self._enter("paper")
        return self.papers.get(paper_id)

    def similar(self, paper_id: str, *, k: int = 10, collection: str | None = None) -> list[Hit]:
        return self.search("x", k=k, collection=collection)

    def suggest(
        self, prefix: str, *, limit: int = 25, collection: str | None = None
    ) -> list[tuple[str, str]]:
        return [(pid, p.title) for pid, p in self.papers.items() if prefix in p.title][:limit]

    def categories(self, collection: Any = None) -> list[tuple[str, int]]:
        return []

    def info(self, collection: str | None = None) -> CollectionInfo:
        self._enter("info")
        return CollectionInfo("default", len(self.papers), datetime(2025, 1, 1, tzinfo=UTC), 1)


@pytest.fixture
async def fake(standin: DiscordStandIn, make_settings: Any):
    library = FakeLibrary()
    async with running_bot(standin, make_settings(), library) as running:
        running.library = library  # type: ignore[attr-defined]
        yield running


async def test_handler_exception_gives_ephemeral_ref_and_logged_traceback(
    fake: Any, caplog: Any
) -> None:
    fake.library.fail = RuntimeError("index exploded")
    ix = await fake.discord.slash("search", query="anything")
    await fake.discord.wait_for(lambda: ix.followups)
    reply = ix.followups[-1].body
    assert reply["flags"] & FLAG_EPHEMERAL
    ref = reply["content"].split("(ref ")[1].split(")")[0]
    assert len(ref) == 6 and "index exploded" not in reply["content"]
    logged = [r for r in caplog.records if f"ref {ref}" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    # The public "thinking" message was removed so the error stays private.
    assert any(
        r.method == "DELETE" and r.path.endswith("/messages/@original")
        for r in fake.discord.requests
    )
    # ...and the bot keeps working.
    fake.library.fail = None
    ok = await fake.discord.wait_answer(await fake.discord.slash("search", query="paper"))
    assert ok["embeds"]


async def test_index_work_runs_off_the_event_loop(fake: Any) -> None:
    await fake.discord.wait_answer(await fake.discord.slash("search", query="paper"))
    assert fake.library.threads and "MainThread" not in fake.library.threads


async def test_index_work_queues_in_the_bots_own_small_pool(fake: Any) -> None:
    """A burst of commands does not fan out over asyncio's default pool (cpu + 4 threads): the
    index work is GIL-bound, and every extra thread only competes with the event loop."""
    fake.library.delay = 0.05
    users = ["alice", "bob"]
    burst = await asyncio.gather(
        *(fake.discord.slash("search", query="paper", user=users[i % 2]) for i in range(4))
    )
    for ix in burst:
        answer = await fake.discord.wait_answer(ix)
        assert answer["embeds"]
    assert fake.library.max_active == 1
    assert fake.library.threads and all(
        name.startswith("paperbot-index") for name in fake.library.threads
    )


async def test_index_threads_yield_the_cpu_to_the_event_loop(fake: Any) -> None:
    await fake.discord.wait_answer(await fake.discord.slash("search", query="paper"))
    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if sys.platform.startswith("linux"):  # per-thread priorities exist on Linux only
        assert fake.library.priorities == {min(19, loop_priority + 10)}
    else:
        assert fake.library.priorities == {loop_priority}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_priority


async def test_exception_in_a_button_handler_gives_ephemeral_ref_and_traceback(
    fake: Any, caplog: Any
) -> None:
    caplog.set_level(logging.ERROR, logger="paperbot")
    first = await fake.discord.wait_answer(await fake.discord.slash("search", query="paper"))
    before = dict(fake.discord.messages[int(first["id"])])
    fake.library.fail = RuntimeError("pager exploded")
    click = await fake.discord.click(first, "paperbot:next")
    await fake.discord.wait_for(lambda: click.followups)
    assert [c.status for c in click.callbacks] == [200]  # acknowledged once, in time
    reply = click.followups[-1].body
    assert reply["flags"] & FLAG_EPHEMERAL
    assert "something went wrong" in reply["content"] and "pager exploded" not in reply["content"]
    ref = reply["content"].split("(ref ")[1].split(")")[0]
    logged = [r for r in caplog.records if f"ref {ref}" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "pager exploded" in caplog.text and "Traceback" in caplog.text
    # The results message is untouched and the bot keeps serving.
    after = fake.discord.messages[int(first["id"])]
    assert after["embeds"] == before["embeds"]
    fake.library.fail = None
    turned = await fake.discord.click(first, "paperbot:next")
    page2 = await fake.discord.wait_answer(turned)
    assert "Paper 5 " in page2["embeds"][0]["description"]


async def test_empty_question_gets_a_polite_answer(fake: Any) -> None:
    answer = await fake.discord.wait_answer(await fake.discord.slash("ask", question="???"))
    assert "searchable words" in answer["content"]


async def test_cooldown_is_per_user_and_polite(standin: DiscordStandIn, make_settings: Any) -> None:
    library = FakeLibrary()
    settings = make_settings(cooldown_rate=2, cooldown_seconds=60)
    async with running_bot(standin, settings, library):
        for _ in range(2):
            await standin.wait_answer(await standin.slash("search", query="paper"))
        limited = await standin.slash("search", query="paper")
        reply = await standin.wait_answer(limited)
        assert reply["type"] == 4 and reply["data"]["flags"] & FLAG_EPHEMERAL
        assert "wait" in reply["data"]["content"]
        assert library.calls.count("search") == 2  # the throttled call never reached the index
        other = await standin.wait_answer(await standin.slash("search", query="paper", user="bob"))
        assert other["embeds"]
        helped = await standin.wait_answer(await standin.slash("help"))  # /help is never throttled
        assert "/ask" in helped["data"]["content"]
        await standin.post_message("tell me about paper", mention_bot=True)
        reply = (await standin.wait_for(lambda: standin.channel_messages()))[0]
        assert "wait" in reply["content"]


async def test_autocomplete_caps_choices_and_names(fake: Any) -> None:
    ix = await fake.discord.autocomplete("paper", focused="paper", paper="Paper")
    ack = await fake.discord.wait_ack(ix)
    assert ack.body["type"] == CB_AUTOCOMPLETE
    choices = ack.body["data"]["choices"]
    assert len(choices) == 25
    assert all(len(c["name"]) <= 100 and c["name"].endswith(c["value"]) for c in choices)
    assert "search" not in fake.library.calls  # served from memory, no index work


async def test_unknown_paper_is_a_clear_answer(fake: Any) -> None:
    answer = await fake.discord.wait_answer(await fake.discord.slash("paper", paper="zzz-nothing"))
    assert "couldn't find that paper" in answer["content"]


async def test_paper_by_arxiv_url(fake: Any) -> None:
    answer = await fake.discord.wait_answer(
        await fake.discord.slash("paper", paper="https://arxiv.org/abs/2401.00003v2")
    )
    assert answer["embeds"][0]["title"].startswith("Paper 3 ")
    assert_within_limits(answer)


async def test_about_shows_collection_count_date_version(fake: Any) -> None:
    about = await fake.discord.wait_answer(await fake.discord.slash("about"))
    text = about["content"]
    assert "`default`" in text and "40" in text and "<t:" in text and fake.bot.version in text


async def test_sync_registers_commands_in_a_guild(
    standin: DiscordStandIn, make_settings: Any
) -> None:
    out, err = io.StringIO(), io.StringIO()
    settings = make_settings(discord_token=standin.token)
    assert await sync_commands(settings, standin.guild_id, out=out, err=err) == 0
    put = [r for r in standin.requests if r.method == "PUT"]
    assert len(put) == 1 and put[0].path.endswith(f"/guilds/{standin.guild_id}/commands")
    names = {c["name"]: c for c in put[0].body}
    assert set(names) == {"ask", "search", "paper", "similar", "about", "help", "add", "watch"} | {
        "follow",
        "following",
        "unfollow",
        "digest",
    }
    assert all(c["description"] for c in put[0].body)
    question = names["ask"]["options"][0]
    assert question["required"] and question["max_length"] == 4000
    assert names["paper"]["options"][0]["autocomplete"] is True
    assert names["add"]["options"][0]["max_length"] == 300
    assert f"synced {len(names)} commands" in out.getvalue() and not err.getvalue()
    # No gateway connection is needed to sync.
    assert not standin.frames


async def test_sync_with_rejected_token_is_one_line_exit_2(
    standin: DiscordStandIn, make_settings: Any
) -> None:
    out, err = io.StringIO(), io.StringIO()
    settings = make_settings(discord_token="not-the-token")
    assert await sync_commands(settings, None, out=out, err=err) == 2
    assert err.getvalue() == REJECTED_TOKEN + "\n"


def test_settings_shards_choose_the_sharded_bot(make_settings: Any) -> None:
    from bot import ShardedPaperBot, create_bot

    bot = create_bot(make_settings(discord_shards=3), library=FakeLibrary())
    assert isinstance(bot, ShardedPaperBot) and bot.shard_count == 3
