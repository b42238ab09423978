"""👍 / 👎 end to end: ephemeral thanks, one vote per user per answer (a second click changes
it), stored with the question, papers and offsets, exported as JSON lines without Discord ids."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from retrieval.feedback import Feedback
from tests.bot.checks import assert_no_ping, assert_within_limits, is_ephemeral, sent_messages
from tests.bot.conftest import running_bot
from tests.bot.test_followup import QUESTION, ask, button, conversations
from tests.discord_standin import CB_DEFERRED_MESSAGE, DiscordStandIn


@pytest.fixture
async def bot(standin: DiscordStandIn, make_settings: Any, library: Any):
    async with running_bot(standin, make_settings(), library) as running:
        yield running


async def vote(discord: DiscordStandIn, message: dict[str, Any], which: str, user: str) -> str:
    ix = await discord.click(
        message, button(message, "paperbot:vote:").rsplit(":", 1)[0] + f":{which}", user=user
    )
    ack = await discord.wait_ack(ix)
    assert ack.status == 200 and ack.body["type"] == CB_DEFERRED_MESSAGE
    answer = await discord.wait_answer(ix)
    assert is_ephemeral(answer)
    return json.dumps(answer, ensure_ascii=False)


async def test_votes_one_per_user_and_export(bot: Any, library: Any) -> None:
    discord = bot.discord
    answer = await ask(bot)
    assert "Thanks" in await vote(discord, answer, "up", "alice")
    assert "already voted" in await vote(discord, answer, "up", "alice")
    assert "Changed your vote to 👎" in await vote(discord, answer, "down", "alice")
    assert "Thanks" in await vote(discord, answer, "up", "bob")

    record = conversations(bot).by_message(int(answer["id"]))
    feedback = Feedback(library.store)
    assert feedback.tally(record.answer_id) == (1, 1)
    out = io.StringIO()
    assert feedback.export(out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    expected = library.ask(QUESTION)
    assert {r["vote"] for r in rows} == {1, -1}
    for row in rows:
        assert row["question"] == QUESTION
        assert [p["id"] for p in row["papers"]] == [p.id for p in expected.papers]
        first = row["papers"][0]["quotes"][0]
        assert first == [expected.papers[0].quotes[0].start, expected.papers[0].quotes[0].end]
    text = out.getvalue()
    for user in ("alice", "bob"):
        assert discord.users[user]["id"] not in text  # no Discord ids in the export
    assert str(discord.channel_id) not in text
    for body in sent_messages(discord):
        assert_within_limits(body)
        if body.get("content") or body.get("embeds"):
            assert_no_ping(body)


async def test_votes_on_a_mention_answer_and_unknown_answer(bot: Any) -> None:
    discord = bot.discord
    await discord.post_message(QUESTION, mention_bot=True)
    reply = (await discord.wait_for(lambda: discord.channel_messages()))[0]
    assert "Thanks" in await vote(discord, reply, "down", "bob")
    forged = {
        **reply,
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 2, "custom_id": "paperbot:vote:0123456789abcdef:up"}
                ],
            }
        ],
    }
    discord.messages[int(forged["id"])] = forged
    assert "too old" in await vote(discord, forged, "up", "bob")
