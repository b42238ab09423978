"""The stand-in itself, driven by a bare discord.py client: if these fail, bot e2e results mean
nothing. Each test checks one protocol behaviour the real Discord has."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.discord_standin import OP_IDENTIFY, OP_RESUME, DiscordStandIn, Interaction


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as server:
        with server.patch_discord():
            yield server


@contextlib.asynccontextmanager
async def client_on(
    server: DiscordStandIn, token: str | None = None
) -> AsyncIterator[discord.Client]:
    client = discord.Client(
        intents=discord.Intents.default(),
        guild_ready_timeout=0.05,
        allowed_mentions=discord.AllowedMentions.none(),
    )
    tree = app_commands.CommandTree(client)

    @tree.command(description="echo")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(f"echo: {text}")

    @client.event
    async def on_message(message: discord.Message) -> None:
        if client.user in message.mentions:
            await message.reply("pong")

    task = asyncio.create_task(client.start(token or server.token))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


async def test_ready_with_guild_and_channel(standin: DiscordStandIn) -> None:
    async with client_on(standin) as client:
        assert client.user is not None and client.user.id == standin.application_id
        guild = client.get_guild(standin.guild_id)
        assert guild is not None and guild.get_channel(standin.channel_id) is not None
        identify = [f for f in standin.frames if f.op == OP_IDENTIFY]
        assert len(identify) == 1 and identify[0].d["token"] == standin.token


async def test_rest_replies_are_exactly_application_json(standin: DiscordStandIn) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            standin.api_base + "/users/@me", headers={"Authorization": f"Bot {standin.token}"}
        ) as resp,
    ):
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["id"] == str(standin.application_id)


async def test_bad_token_is_a_login_failure(standin: DiscordStandIn) -> None:
    client = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await client.login("wrong-token")
    await client.close()


async def test_slash_command_deferred_then_followup(standin: DiscordStandIn) -> None:
    async with client_on(standin):
        ix = await standin.slash("echo", text="hi")
        answer = await standin.wait_answer(ix)
        assert answer["content"] == "echo: hi"
        assert ix.callbacks[0].body["type"] == 5  # deferred with "thinking"
        assert ix.followups and ix.followups[0].body["allowed_mentions"] == {"parse": []}


async def test_429_with_via_is_retried(standin: DiscordStandIn) -> None:
    async with client_on(standin):
        fault = standin.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.05)
        await standin.post_message("hello", mention_bot=True)
        replies = await standin.wait_for(lambda: standin.channel_messages())
        assert replies[0]["content"] == "pong"
        assert fault.hits == 1
        statuses = [r.status for r in standin.requests if r.path.startswith("/channels/")]
        assert statuses == [429, 200]


async def test_dropped_socket_is_resumed_with_session_and_seq(standin: DiscordStandIn) -> None:
    async with client_on(standin):
        session = standin.session()
        seq_before = session.seq
        await standin.drop_gateway()
        # Events sent while the socket is down are replayed after RESUME.
        await standin.post_message("while down", mention_bot=True)
        await standin.wait_for(lambda: session.resumes == 1)
        resume = next(f for f in standin.frames if f.op == OP_RESUME)
        assert resume.d["session_id"] == session.session_id
        assert resume.d["seq"] == seq_before
        replies = await standin.wait_for(lambda: standin.channel_messages())
        assert replies[0]["content"] == "pong"
        assert len([f for f in standin.frames if f.op == OP_IDENTIFY]) == 1


async def _post_callback(standin: DiscordStandIn, ix: Interaction, body: dict) -> int:
    url = f"{standin.api_base}/interactions/{ix.id}/{ix.token}/callback"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        if resp.status != 204:
            assert resp.headers["Content-Type"] == "application/json"
            payload = await resp.json()
            assert resp.status != 400 or payload["code"] == 40060
        return resp.status


async def test_second_initial_response_is_rejected_like_discord(standin: DiscordStandIn) -> None:
    async with client_on(standin):
        ix = await standin.slash("nothing-registered")  # the client ignores it; we answer by hand
        assert await _post_callback(standin, ix, {"type": 5}) == 204
        again = await _post_callback(standin, ix, {"type": 4, "data": {"content": "x"}})
        assert again == 400  # "Interaction has already been acknowledged." (code 40060)
        assert len(ix.callbacks) == 1


async def test_deferred_update_then_edit_original_edits_the_components_message(
    standin: DiscordStandIn,
) -> None:
    async with client_on(standin):
        await standin.post_message("hello", mention_bot=True)
        (reply,) = await standin.wait_for(lambda: standin.channel_messages())
        ix = await standin.click(reply, "some-button")
        assert await _post_callback(standin, ix, {"type": 6}) == 204
        url = f"{standin.api_base}/webhooks/{standin.application_id}/{ix.token}/messages/@original"
        async with (
            aiohttp.ClientSession() as session,
            session.patch(url, json={"content": "edited"}) as resp,
        ):
            assert resp.status == 200
        answer = await standin.wait_answer(ix)
        assert answer["id"] == reply["id"] and answer["content"] == "edited"


async def test_direct_message_is_answered_in_the_dm_channel(standin: DiscordStandIn) -> None:
    async with client_on(standin):
        await standin.post_message("hi in private", user="bob", mention_bot=True, dm=True)
        (reply,) = await standin.wait_for(lambda: standin.channel_messages())
    assert reply["content"] == "pong"
    assert reply["channel_id"] == str(standin.dm_channel_id("bob"))
    assert "guild_id" not in reply
