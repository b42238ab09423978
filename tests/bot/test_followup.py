"""Follow-ups end to end: "Follow up" -> modal -> answer in a thread; a mention in the thread or
a reply to an answer follows up on the previous papers; restarts keep the conversation; it
expires an hour after its last turn (an injected clock, no sleeping); DMs answer by reply."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.render.markup import unrender
from tests.bot.checks import assert_no_ping, assert_within_limits, is_ephemeral, sent_messages
from tests.bot.conftest import running_bot
from tests.discord_standin import DiscordStandIn

QUESTION = "preference optimization for RLHF alignment of language models"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def components(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every component of a message or modal, however nested (rows, labels)."""
    stack = list(message.get("components") or [])
    while stack:
        comp = stack.pop(0)
        yield comp
        stack.extend(comp.get("components") or [])
        if isinstance(comp.get("component"), dict):
            stack.append(comp["component"])


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for c in components(message) if c.get("custom_id")]


def button(message: dict[str, Any], prefix: str) -> str:
    return next(i for i in custom_ids(message) if i.startswith(prefix))


def first_title(message: dict[str, Any]) -> str:
    embeds = message.get("embeds") or []
    assert embeds, message
    title = " ".join(unrender(embeds[0].get("title") or "").split())
    return re.sub(r"^\d+\.\s+", "", title)  # the answer numbers its papers


def title_of(library: Any, paper_id: str) -> str:
    return " ".join(library.paper(paper_id).title.split())


def assert_clean(discord: DiscordStandIn) -> None:
    for body in sent_messages(discord):
        assert_within_limits(body)
        if body.get("content") or body.get("embeds"):
            assert_no_ping(body)


def conversations(running: Any) -> Any:
    return running.bot.get_cog("AskCog").conversations


async def ask(running: Any) -> dict[str, Any]:
    """``/ask`` and wait until the answer is stored with its message (a reply can find it)."""
    ix = await running.discord.slash("ask", question=QUESTION)
    answer = await running.discord.wait_answer(ix)
    conv = conversations(running)
    await running.discord.wait_for(lambda: conv.by_message(int(answer["id"])))
    return answer


async def follow_up_by_button(
    discord: DiscordStandIn, message: dict[str, Any], text: str, user: str = "alice"
) -> tuple[Any, Any]:
    click = await discord.click(message, button(message, "paperbot:followup:"), user=user)
    await discord.wait_for(lambda: click.callbacks)
    assert click.callbacks[0].body["type"] == 9  # a modal, as the first response
    modal = click.modal
    assert modal is not None and len(modal["title"]) <= 45
    field = next(c for c in components(modal) if c.get("type") == 4)
    submit = await discord.submit_modal(click, {field["custom_id"]: text}, user=user)
    note = await discord.wait_answer(submit, timeout=15)
    assert is_ephemeral(note)
    return submit, note


def bot_messages_in(discord: DiscordStandIn, channel_id: int) -> list[dict[str, Any]]:
    return [m for m in discord.channel_messages() if int(m["channel_id"]) == channel_id]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bot(standin: DiscordStandIn, make_settings: Any, library: Any, clock: Clock):
    async with running_bot(standin, make_settings(), library, clock=clock) as running:
        yield running


async def test_answer_has_vote_and_follow_up_row(bot: Any) -> None:
    answer = await ask(bot)
    rows = answer["components"]
    assert len(rows) == 2 and all(len(r["components"]) <= 5 for r in rows)
    second = [c.get("label") or c.get("emoji", {}).get("name") for c in rows[1]["components"]]
    assert second == ["👍", "👎", "Follow up"]
    assert_clean(bot.discord)


async def test_button_modal_thread_and_mention_in_thread(bot: Any, library: Any) -> None:
    discord = bot.discord
    answer = await ask(bot)
    shown = [p.id for p in library.ask(QUESTION).papers]
    assert len(shown) >= 2
    _, note = await follow_up_by_button(discord, answer, "how does the second one compare?")
    assert len(discord.threads) == 1
    thread_id = next(iter(discord.threads))
    assert thread_id == int(answer["id"])  # started from the answer's message
    assert f"<#{thread_id}>" in (note.get("content") or str(note.get("embeds")))
    replies = await discord.wait_for(lambda: bot_messages_in(discord, thread_id))
    assert first_title(replies[0]).startswith(title_of(library, shown[1])[:60])
    # the follow-up's answer has the same buttons
    assert button(replies[0], "paperbot:followup:") and button(replies[0], "paperbot:vote:")

    # a mention in the thread follows up on the previous answer (paper 2's answer now)
    await discord.post_message(
        "and the first one?", mention_bot=True, channel_id=thread_id, guild_id=discord.guild_id
    )
    more = await discord.wait_for(lambda: bot_messages_in(discord, thread_id)[1:])
    assert str(more[0]["message_reference"]["channel_id"]) == str(thread_id)
    previous = conversations(bot).by_message(int(replies[0]["id"]))
    assert first_title(more[0]).startswith(title_of(library, previous.paper_ids[0])[:60])
    turns = conversations(bot).conversation(thread_id)
    assert [t.question for t in turns] == [
        QUESTION,
        "how does the second one compare?",
        "and the first one?",
    ]

    # the button again on the original answer posts in the same thread, no second thread
    await follow_up_by_button(discord, answer, "what about the last one?")
    await discord.wait_for(lambda: len(bot_messages_in(discord, thread_id)) == 3)
    assert len(discord.threads) == 1
    assert not [r for r in discord.requests if r.status >= 400]
    assert_clean(discord)


async def test_reply_to_an_answer_is_a_follow_up(bot: Any, library: Any) -> None:
    discord = bot.discord
    answer = await ask(bot)
    shown = [p.id for p in library.ask(QUESTION).papers]
    # Discord's default reply pings the bot, so the reply carries its text (no intent needed)
    await discord.post_message("how does the second one compare?", reply_to=answer)
    reply = (await discord.wait_for(lambda: discord.channel_messages()))[0]
    assert str(reply["message_reference"]["message_id"]) != answer["id"]  # to the user
    assert first_title(reply).startswith(title_of(library, shown[1])[:60])
    # a reply without the ping reaches the bot without content: ignored, as Discord would
    await discord.post_message("and the third one?", reply_to=answer, ping_reply=False)
    await discord.post_message("what dataset did they use?", reply_to=reply)
    await discord.wait_for(lambda: len(discord.channel_messages()) == 2)
    assert len(discord.channel_messages()) == 2
    assert_clean(discord)


async def test_restart_keeps_conversation_and_buttons(
    standin: DiscordStandIn, make_settings: Any, library: Any, clock: Clock
) -> None:
    settings = make_settings()
    shown = [p.id for p in library.ask(QUESTION).papers]
    async with running_bot(standin, settings, library, clock=clock) as first:
        answer = await ask(first)
        await follow_up_by_button(standin, answer, "how does the second one compare?")
        thread_id = next(iter(standin.threads))
        await standin.wait_for(lambda: bot_messages_in(standin, thread_id))
    async with running_bot(standin, settings, library, clock=clock) as second:
        assert second.bot.get_channel(thread_id) is not None  # the thread came back in GUILD_CREATE
        vote = await standin.click(answer, button(answer, "paperbot:vote:"), user="bob")
        thanks = await standin.wait_answer(vote)
        assert is_ephemeral(thanks) and "Thanks" in str(thanks)
        await standin.post_message(
            "and the first one?", mention_bot=True, channel_id=thread_id, guild_id=standin.guild_id
        )
        replies = await standin.wait_for(lambda: bot_messages_in(standin, thread_id)[1:])
        previous = conversations(second).conversation(thread_id)[-2]
        assert previous.question == "how does the second one compare?"
        assert previous.paper_ids[0] == shown[1]  # the thread's last answer was about paper 2
        assert first_title(replies[0]).startswith(title_of(library, shown[1])[:60])
        # Follow up on the old answer, after the restart: into the same thread
        await follow_up_by_button(standin, answer, "what dataset did they use?")
        await standin.wait_for(lambda: len(bot_messages_in(standin, thread_id)) == 3)
    assert_clean(standin)


async def test_conversation_expires_after_an_hour(bot: Any, clock: Clock) -> None:
    discord = bot.discord
    answer = await ask(bot)
    await follow_up_by_button(discord, answer, "how does the second one compare?")
    thread_id = next(iter(discord.threads))
    await discord.wait_for(lambda: bot_messages_in(discord, thread_id))
    clock.now += timedelta(minutes=59)
    assert len(conversations(bot).conversation(thread_id)) == 2  # still live
    clock.now += timedelta(minutes=2)
    assert conversations(bot).conversation(thread_id) == []  # an hour after the last turn
    await discord.post_message(
        "text to speech synthesis",
        mention_bot=True,
        channel_id=thread_id,
        guild_id=discord.guild_id,
    )
    await discord.wait_for(lambda: len(bot_messages_in(discord, thread_id)) == 2)
    turns = await discord.wait_for(lambda: conversations(bot).conversation(thread_id))
    # answered as a new question, which starts the thread's conversation again
    assert [t.question for t in turns] == ["text to speech synthesis"]


async def test_follow_up_in_a_dm_is_a_reply(bot: Any, library: Any) -> None:
    discord = bot.discord
    await discord.post_message(QUESTION, user="bob", dm=True)
    answer = (await discord.wait_for(lambda: discord.channel_messages()))[0]
    dm = discord.dm_channel_id("bob")
    assert int(answer["channel_id"]) == dm
    conv = conversations(bot)
    await discord.wait_for(lambda: conv.by_message(int(answer["id"])))
    shown = conv.by_message(int(answer["id"])).paper_ids
    await follow_up_by_button(discord, answer, "tell me about paper 2", user="bob")
    assert not discord.threads  # no threads in a DM
    replies = await discord.wait_for(lambda: bot_messages_in(discord, dm)[1:])
    assert str(replies[0]["message_reference"]["message_id"]) == answer["id"]
    assert first_title(replies[0]).startswith(title_of(library, shown[1])[:60])
    assert_clean(discord)


async def test_follow_up_on_an_answer_past_retention_is_told_plainly(
    bot: Any, clock: Clock
) -> None:
    discord = bot.discord
    answer = await ask(bot)
    clock.now += timedelta(days=60)  # past the answers' retention
    _, note = await follow_up_by_button(discord, answer, "what dataset did they use?")
    assert "too old" in str(note)
    assert not discord.threads
