"""Two bot processes on one PostgreSQL store, end to end (issue #14, "several processes").

Real discord.py in two child processes (``paperbot run`` through :mod:`tests.bot_process`), each
running one of two shards; one loopback Discord stand-in in this process with a guild on each
shard; one PostgreSQL database; the loopback Hugging Face / arXiv server with the recorded
responses. What it checks:

* a slash command reaches the process running its guild's shard (a DM: shard 0's), and only that
  one: every interaction has exactly one callback, and every request made through its token
  comes from the owning process (each process tags its User-Agent);
* ``/add`` in a guild on one process is answered there, from the shared store;
* a write by another process is answerable on both bot processes within seconds, without a
  restart. Why a ``paperbot ingest`` into the shared collection and not a guild's ``/add``: a
  guild lives on one shard, so its own collection is only ever asked about on one process; the
  shared collection is what every process answers from, so that is where "written on A,
  answerable on B" is observable through Discord;
* the process holding the leadership is killed (SIGKILL) in the middle of the daily refresh; the
  other takes the lead and runs the refresh, which happens exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.render.markup import unrender
from tests.bot.test_e2e import all_text
from tests.bot_process import REPO, BotProcess
from tests.discord_standin import DiscordStandIn, Interaction
from tests.retrieval.ingest.server import Fault, FixtureServer

pytest.importorskip("psycopg")

NOVEL_ID = "novel-1"
NOVEL_TITLE = "Quokka sparsification: pruning gradients on a marsupial schedule"
NOVEL_TEXT = (
    "We introduce quokka sparsification, a schedule that prunes ninety percent of the gradient "
    "entries of a transformer during pre-training and restores them every thousand steps. "
    "Quokka sparsification halves the communication of data-parallel training at equal loss."
)
NOVEL_QUESTION = "what is quokka sparsification?"
QUESTION = "how does XPO add exploration to DPO for online RLHF?"
ADDED = "2606.00467"  # the first paper of the recorded Hugging Face daily list
ADDED_QUESTION = "how do model-internalized priors affect LLM annotation performance?"


async def guilds_on_both_shards(discord: DiscordStandIn) -> tuple[int, int]:
    """A guild on shard 0 and one on shard 1 (of 2): guilds are added until both exist."""
    discord.shard_count = 2  # as the processes will IDENTIFY with; fixes where guilds live
    on: dict[int, int] = {discord._shard_of(discord.guild_id): discord.guild_id}
    while len(on) < 2:
        gid = await discord.add_guild(f"server {len(discord.guilds)}")
        on.setdefault(discord._shard_of(gid), gid)
    return on[0], on[1]


def seed(url: str, tmp: Path) -> None:
    """Create the store with the bundled corpus before the bots start (as ``paperbot`` does on
    first use), so the two processes do not both seed a fresh database."""
    from config.settings import Settings
    from retrieval.search import Library

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=SecretStr(url), data_dir=tmp / "seed", semantic=False
    )
    Library.open(settings).store.close()


def ingest(url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``paperbot ingest`` of one new paper into the shared collection: a third process."""
    source = tmp / "novel.jsonl"
    paper = {"_id": NOVEL_ID, "title": NOVEL_TITLE, "text": NOVEL_TEXT}
    source.write_text(json.dumps(paper) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env.update(
        PYTHONPATH=str(REPO),
        PAPERBOT_DATABASE_URL=url,
        PAPERBOT_DATA_DIR=str(tmp / "ingest"),
        PAPERBOT_SEMANTIC="false",
    )
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "ingest", str(source)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def answered_by(discord: DiscordStandIn, ix: Interaction) -> set[str]:
    """The processes (User-Agent tags) that made any request through the interaction."""
    tags = set()
    for request in discord.requests:
        if ix.token in request.path or f"/interactions/{ix.id}/" in request.path:
            tags.add(request.user_agent.rsplit("paperbot-process/", 1)[-1])
    return tags


async def ask(discord: DiscordStandIn, question: str, guild_id: int) -> tuple[Interaction, str]:
    ix = await discord.slash("ask", question=question, guild_id=guild_id)
    message = await discord.wait_answer(ix, timeout=15)
    return ix, " ".join(unrender(all_text(message)).split())


async def test_two_processes_split_the_guilds_share_the_store_and_fail_over(
    pg_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(seed, pg_url, tmp_path)
    with FixtureServer() as upstream:
        upstream.serve_daily_papers()
        # The first leader's refresh hangs in its first request: it is killed mid-refresh.
        upstream.fault("/api/daily_papers", Fault.hang(30))
        async with DiscordStandIn() as discord:
            g0, g1 = await guilds_on_both_shards(discord)
            base = {
                "PAPERBOT_DISCORD_TOKEN": discord.token,
                "PAPERBOT_DATABASE_URL": pg_url,
                "PAPERBOT_SHARD_COUNT": "2",
                "PAPERBOT_LEADER_CHECK_SECONDS": "0.3",
                "PAPERBOT_SEMANTIC": "false",
                "PAPERBOT_COOLDOWN_RATE": "1000",
                "PAPERBOT_DAILY_REFRESH_TIME": "00:00",  # always past: the leader catches up
                "PAPERBOT_HF_BASE_URL": upstream.url,
                "PAPERBOT_ARXIV_API_URL": f"{upstream.url}/api/query",
                "PAPERBOT_ARXIV_MIN_INTERVAL": "0",
                "PAPERBOT_HTTP_TIMEOUT": "40",  # longer than the hang: the refresh waits
                "PAPERBOT_ADD_TIMEOUT": "10",
            }

            def start(shard: int) -> BotProcess:
                env = {
                    **base,
                    "PAPERBOT_SHARD_IDS": str(shard),
                    "PAPERBOT_DATA_DIR": str(tmp_path / f"p{shard}"),
                }
                return BotProcess(
                    f"p{shard}",
                    api=discord.api_base,
                    gateway=discord.gateway_url,
                    env=env,
                    log_dir=tmp_path,
                )

            procs: list[BotProcess] = []
            try:
                p0 = start(0)
                procs.append(p0)
                await p0.wait_ready()  # started first: p0 takes the leadership
                p1 = start(1)
                procs.append(p1)
                await p1.wait_ready()
                assert p0.leading() and not p1.leading()
                shards = sorted(s.shard for s in discord.sessions.values())
                assert shards == [(0, 2), (1, 2)]

                # 1. Each guild's command reaches its own shard's process, once.
                fired: list[tuple[Interaction, str]] = []
                for guild, owner in ((g0, "p0"), (g1, "p1")):
                    ix, text = await ask(discord, QUESTION, guild)
                    assert "XPO" in text
                    fired.append((ix, owner))
                dm = await discord.slash("ask", question=QUESTION, dm=True)
                assert "XPO" in all_text(await discord.wait_answer(dm, timeout=15))
                fired.append((dm, "p0"))  # Discord sends direct messages to shard 0

                # 2. /add in the guild of p1: fetched from the loopback Hugging Face, answered
                # there, and stored in the shared database under that guild's collection.
                ix = await discord.slash("add", paper=ADDED, guild_id=g1)
                added = " ".join(unrender(all_text(await discord.wait_answer(ix, 15))).split())
                assert ADDED in added or "Added" in added, added
                fired.append((ix, "p1"))
                assert await asyncio.to_thread(count_of, pg_url, tmp_path, f"guild-{g1}") == 1
                ix, text = await ask(discord, ADDED_QUESTION, g1)
                assert "Limits of LLM Adaptability" in text, text
                fired.append((ix, "p1"))

                # 3. A third process writes the shared collection: both bots answer from it
                # within seconds (LISTEN/NOTIFY starts their refresh), without a restart.
                done = await asyncio.to_thread(ingest, pg_url, tmp_path)
                assert done.returncode == 0, done.stderr
                written = time.monotonic()
                for guild, owner in ((g0, "p0"), (g1, "p1")):
                    deadline = written + 10
                    while True:
                        ix, text = await ask(discord, NOVEL_QUESTION, guild)
                        fired.append((ix, owner))
                        if "Quokka sparsification" in text:
                            break
                        assert time.monotonic() < deadline, f"{owner} never found it: {text}"
                        await asyncio.sleep(0.2)

                for ix, owner in fired:
                    assert len(ix.callbacks) == 1, "every interaction is acknowledged once"
                    assert answered_by(discord, ix) == {owner}

                # 4. Fail-over: p0 (the leader) is stuck in the daily refresh; kill -9 it.
                await discord.wait_for(lambda: upstream.requests_to("/api/daily_papers"), 15)
                assert len(upstream.requests_to("/api/daily_papers")) == 1  # p0's, hanging
                p0.kill()
                killed = time.monotonic()
                await discord.wait_for(p1.leading, timeout=10)
                took_over = time.monotonic() - killed
                today = datetime.now(UTC).date()
                done_through = await discord.wait_for(
                    lambda: daily_done(pg_url, tmp_path), timeout=15
                )
                assert done_through == today - timedelta(days=1)
                # Exactly one refresh ran to the end: p1 fetched today's list once (page 0),
                # after p0's death; p0's hung request never completed.
                pages = [
                    s for s in upstream.requests_to("/api/daily_papers")[1:]
                    if s.query.get("p", ["0"])[0] in ("0", "")
                ]  # fmt: skip
                assert len(pages) == 1, pages
                assert took_over < 5
                # The 30 papers of the recorded list entered the shared collection (50 bundled,
                # 1 ingested), written by p1; p0 never finished a refresh.
                shared = await asyncio.to_thread(count_of, pg_url, tmp_path, "default")
                assert shared == 50 + 1 + 30
                assert "daily refresh: " + today.isoformat() in p1.output()
                assert "daily refresh: " + today.isoformat() not in p0.output()
                # Nothing answered twice, even across the fail-over.
                for ix in discord.interactions.values():
                    assert len(ix.callbacks) == 1
            finally:
                for proc in procs:
                    proc.stop()


def _library(url: str, tmp: Path) -> Any:
    from config.settings import Settings
    from retrieval.stores import open_store

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=SecretStr(url), data_dir=tmp / "check", semantic=False
    )
    return settings, open_store(settings)


def count_of(url: str, tmp: Path, collection: str) -> int:
    _, store = _library(url, tmp)
    try:
        return int(store.count(collection))
    finally:
        store.close()


def daily_done(url: str, tmp: Path) -> Any:
    from bot.state import BotState, default_state_path

    settings, store = _library(url, tmp)
    try:
        return BotState(default_state_path(settings.store_path), store=store).daily_done_through()
    finally:
        store.close()
