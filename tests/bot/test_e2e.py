"""End to end: the real bot, the real Library over the bundled corpus, real discord.py over real
sockets to the loopback Discord stand-in. Assertions are on what went over the wire."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

import pytest

from bot.render.markup import unrender
from bot.runner import REJECTED_TOKEN
from tests.bot.checks import (
    assert_no_ping,
    assert_within_limits,
    is_ephemeral,
    message_data,
    sent_messages,
    texts,
)
from tests.bot.conftest import running_bot
from tests.discord_standin import (
    CB_AUTOCOMPLETE,
    CB_DEFERRED_MESSAGE,
    CB_DEFERRED_UPDATE,
    CB_MESSAGE,
    FLAG_EPHEMERAL,
    OP_IDENTIFY,
    OP_RESUME,
    DiscordStandIn,
)
from tests.paths import REPO

QUESTION = "how does XPO add exploration to DPO for online RLHF?"
MESSAGE_CONTENT_INTENT = 1 << 15


def unescape(text: str) -> str:
    """Undo the renderer's escaping so verbatim quotes can be compared with the abstract."""
    return unrender(text)


def all_text(message: dict[str, Any]) -> str:
    joined = "\n".join(texts(message))
    urls = [e.get("url") or "" for e in message.get("embeds") or []]
    return joined + "\n" + "\n".join(urls)


def assert_quotes_verbatim(message: dict[str, Any], library: Any, question: str) -> None:
    expected = library.ask(question)
    assert expected.answered
    shown = unescape(all_text(message))
    first = expected.papers[0]
    for start, end in first.quotes[0].segments:
        piece = first.abstract[start:end]
        assert " ".join(piece.split()) in " ".join(shown.split())
    assert first.url and first.url in shown


def assert_clean(discord: DiscordStandIn) -> None:
    """Everything the bot sent is within limits and pings nobody."""
    bodies = sent_messages(discord)
    assert bodies
    for body in bodies:
        assert_within_limits(body)
        if body.get("content") or body.get("embeds"):
            assert_no_ping(body)


@pytest.fixture
async def bot(standin: DiscordStandIn, make_settings: Any, library: Any):
    async with running_bot(standin, make_settings(), library) as running:
        yield running


async def test_ready_identifies_without_privileged_intents(bot: Any) -> None:
    identify = [f for f in bot.discord.frames if f.op == OP_IDENTIFY]
    assert len(identify) == 1
    assert not identify[0].d["intents"] & MESSAGE_CONTENT_INTENT
    assert bot.bot.user.id == bot.discord.application_id
    # The command tree is never synced on start-up (only `paperbot sync` does that).
    assert not [r for r in bot.discord.requests if r.method == "PUT"]


async def test_ask_is_deferred_then_answered_with_quote_and_link(bot: Any, library: Any) -> None:
    ix = await bot.discord.slash("ask", question=QUESTION)
    ack = await bot.discord.wait_ack(ix)
    assert ack.status == 200  # inside Discord's 3 s window (the stand-in refuses later ones)
    assert ack.body["type"] == CB_DEFERRED_MESSAGE
    answer = await bot.discord.wait_answer(ix)
    assert_quotes_verbatim(answer, library, QUESTION)
    labels = [c["label"] for row in answer["components"] for c in row["components"]]
    assert "More papers" in labels and any(label.startswith("Show abstract") for label in labels)
    assert_clean(bot.discord)


async def test_answer_buttons_more_papers_and_show_abstract(bot: Any, library: Any) -> None:
    ix = await bot.discord.slash("ask", question=QUESTION)
    answer = await bot.discord.wait_answer(ix)
    await assert_answer_buttons_work(bot.discord, answer, library)
    assert_clean(bot.discord)


async def assert_answer_buttons_work(
    discord: DiscordStandIn, answer: dict[str, Any], library: Any
) -> None:
    """Click "Show abstract" and "More papers" under ``answer`` and check what comes back:
    acknowledged once inside the window, privately, with the abstract / the next papers."""
    expected = library.ask(QUESTION)
    ids = [c["custom_id"] for row in answer["components"] for c in row["components"]]
    abstract_id = next(i for i in ids if i.startswith("paperbot:abstract"))

    click = await discord.click(answer, abstract_id, user="bob")
    shown = await discord.wait_answer(click)
    assert [c.status for c in click.callbacks] == [200]
    assert is_ephemeral(click.callbacks[0].body["data"]) and is_ephemeral(shown)
    paper = library.paper(expected.papers[0].id)
    first_sentence = paper.abstract.split(". ")[0]
    shown_text = " ".join(unescape(all_text(message_data(shown))).split())
    assert " ".join(first_sentence.split()[:8]) in shown_text
    assert "something went wrong" not in shown_text.lower()

    more = await discord.click(answer, "paperbot:more", user="bob")
    page = await discord.wait_answer(more)
    assert [c.status for c in more.callbacks] == [200]
    assert is_ephemeral(page)
    quoted = {p.id for p in expected.papers}
    next_hits = [h for h in library.search(QUESTION, k=10) if h.id not in quoted][:5]
    assert next_hits and unescape(next_hits[0].title) in unescape(all_text(message_data(page)))


async def test_search_pages_turn_by_button_for_the_asker_only(bot: Any, library: Any) -> None:
    query = "language models"
    ix = await bot.discord.slash("search", query=query)
    first = await bot.discord.wait_answer(ix)
    first_text = all_text(first)
    buttons = {c["custom_id"]: c for row in first["components"] for c in row["components"]}
    assert buttons["paperbot:prev"].get("disabled") and not buttons["paperbot:next"].get("disabled")
    hits = library.search(query, k=10)
    assert unescape(hits[0].title) in unescape(first_text)

    refused = await bot.discord.click(first, "paperbot:next", user="bob")
    reply = await bot.discord.wait_answer(refused)
    assert reply["type"] == CB_MESSAGE and reply["data"]["flags"] & FLAG_EPHEMERAL
    assert bot.discord.messages[int(first["id"])]["content"] == first["content"]

    turned = await bot.discord.click(first, "paperbot:next", user="alice")
    page2 = await bot.discord.wait_answer(turned)
    assert turned.callbacks[0].body["type"] == CB_DEFERRED_UPDATE  # acknowledged first
    assert page2 is bot.discord.messages[int(first["id"])]  # the same message, edited
    assert unescape(hits[5].title) in unescape(all_text(page2))
    assert unescape(hits[0].title) not in unescape(all_text(page2))
    buttons = {c["custom_id"]: c for row in page2["components"] for c in row["components"]}
    assert not buttons["paperbot:prev"].get("disabled")

    back = await bot.discord.click(page2, "paperbot:prev", user="alice")
    await bot.discord.wait_answer(back)
    assert unescape(hits[0].title) in unescape(all_text(bot.discord.messages[int(first["id"])]))
    assert_clean(bot.discord)


async def test_buttons_are_disabled_when_the_view_times_out(
    standin: DiscordStandIn, make_settings: Any, library: Any
) -> None:
    async with running_bot(standin, make_settings(view_timeout=0.3), library):
        ix = await standin.slash("search", query="language models")
        first = await standin.wait_answer(ix)
        mid = int(first["id"])

        def all_disabled() -> bool:
            comps = [c for row in standin.messages[mid]["components"] for c in row["components"]]
            return bool(comps) and all(c.get("disabled") for c in comps)

        await standin.wait_for(all_disabled, timeout=5)


async def test_paper_autocomplete_and_paper(bot: Any, library: Any) -> None:
    ix = await bot.discord.autocomplete("paper", focused="paper", paper="vall")
    ack = await bot.discord.wait_ack(ix)
    assert ack.status == 200 and ack.body["type"] == CB_AUTOCOMPLETE
    choices = ack.body["data"]["choices"]
    assert 0 < len(choices) <= 25
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
    chosen = next(c for c in choices if "VALL-E R" in c["name"])

    empty = await bot.discord.autocomplete("similar", focused="paper", paper="")
    assert len((await bot.discord.wait_ack(empty)).body["data"]["choices"]) == 25

    shown = await bot.discord.wait_answer(await bot.discord.slash("paper", paper=chosen["value"]))
    paper = library.paper(chosen["value"])
    text = " ".join(unescape(all_text(shown)).split())
    assert " ".join(paper.abstract.split()[:12]) in text
    similar = await bot.discord.wait_answer(
        await bot.discord.slash("similar", paper=chosen["value"])
    )
    best = library.similar(chosen["value"], k=5)[0]
    assert unescape(best.title) in unescape(all_text(similar))
    assert_clean(bot.discord)


async def test_about_and_help_are_ephemeral(bot: Any) -> None:
    about = await bot.discord.wait_answer(await bot.discord.slash("about"))
    assert is_ephemeral(about)
    assert "50" in about["content"] and bot.bot.version in about["content"]
    helped = await bot.discord.wait_answer(await bot.discord.slash("help"))
    assert helped["data"]["flags"] & FLAG_EPHEMERAL and "/ask" in helped["data"]["content"]


async def test_mention_is_answered_as_a_reply(bot: Any, library: Any) -> None:
    msg = await bot.discord.post_message(QUESTION, mention_bot=True)
    reply = (await bot.discord.wait_for(lambda: bot.discord.channel_messages()))[0]
    assert reply["message_reference"]["message_id"] == int(msg["id"])
    assert_quotes_verbatim(reply, library, QUESTION)
    assert_clean(bot.discord)


async def test_bare_mention_gets_help_and_bots_are_ignored(bot: Any) -> None:
    bot.discord.add_user("otherbot", bot=True)
    await bot.discord.post_message(QUESTION, user="otherbot", mention_bot=True)
    msg = await bot.discord.post_message("", mention_bot=True)
    reply = (await bot.discord.wait_for(lambda: bot.discord.channel_messages()))[0]
    assert reply["message_reference"]["message_id"] == int(msg["id"])
    assert "/ask" in reply["content"]
    await asyncio.sleep(0.2)
    assert len(bot.discord.channel_messages()) == 1  # the other bot got no answer


@pytest.mark.parametrize("via", ["slash", "mention"])
async def test_everyone_and_user_mentions_in_a_question_ping_nobody(bot: Any, via: str) -> None:
    question = (
        "@everyone @here <@123456789012345678> <@&223456789012345678> what is RLHF alignment?"
    )
    if via == "slash":
        await bot.discord.wait_answer(await bot.discord.slash("ask", question=question))
    else:
        await bot.discord.post_message(question, mention_bot=True)
        await bot.discord.wait_for(lambda: bot.discord.channel_messages())
    for body in sent_messages(bot.discord):
        assert_no_ping(body)


@pytest.mark.parametrize(
    "question",
    [
        "How does preference optimization explore? " * 70,  # ~3,000 characters
        "🤖 how do 🧠 language models get aligned with human feedback? 🚀✨",
        "ما هو RLHF؟ איך עובד alignment של language models? مرحبا",
        "**bold** __under__ `code` ```block``` [click](https://evil.example) ||spoiler|| "
        "> quote # heading ~~strike~~ what is DPO <t:0:R> :smile:",
    ],
    ids=["3000-chars", "emoji", "rtl", "markdown-injection"],
)
async def test_odd_questions_are_answered_cleanly(bot: Any, question: str) -> None:
    ix = await bot.discord.slash("ask", question=question)
    answer = await bot.discord.wait_answer(ix)
    text = all_text(answer)
    assert "something went wrong" not in text.lower()
    assert "[click](https://evil.example)" not in text  # no masked link smuggled in
    assert_clean(bot.discord)


async def test_429_on_a_send_is_retried(bot: Any) -> None:
    fault = bot.discord.fail_next("POST", r"/webhooks/\d+/[^/]+", 429, retry_after=0.05)
    answer = await bot.discord.wait_answer(await bot.discord.slash("ask", question=QUESTION))
    assert answer["content"] or answer["embeds"]
    assert fault.hits == 1
    channel_fault = bot.discord.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.05)
    await bot.discord.post_message(QUESTION, mention_bot=True)
    await bot.discord.wait_for(lambda: bot.discord.channel_messages())
    assert channel_fault.hits == 1


async def test_500_on_a_send_is_logged_and_survived(bot: Any, capture_logs: Any) -> None:
    # A transient 500 is retried by discord.py; the reply still arrives.
    transient = bot.discord.fail_next("POST", r"/channels/\d+/messages", 500)
    await bot.discord.post_message(QUESTION, mention_bot=True)
    await bot.discord.wait_for(lambda: bot.discord.channel_messages(), timeout=10)
    assert transient.hits == 1
    # A 5xx that is not retried fails the send: logged with a ref, and the bot keeps serving.
    bot.discord.fail_next("POST", r"/channels/\d+/messages", 503, count=2)
    await bot.discord.post_message("what is direct preference optimization?", mention_bot=True)
    await bot.discord.wait_for(
        lambda: any("(ref " in r.getMessage() for r in capture_logs.records), timeout=5
    )
    failure = next(r for r in capture_logs.records if "(ref " in r.getMessage())
    assert failure.exc_info is not None
    answer = await bot.discord.wait_answer(await bot.discord.slash("ask", question=QUESTION))
    assert answer["content"] or answer["embeds"]


async def test_dropped_gateway_is_resumed(bot: Any) -> None:
    session = bot.discord.session()
    seq = session.seq
    await bot.discord.drop_gateway()
    ix = await bot.discord.slash("ask", question=QUESTION)  # fired while the socket is down
    await bot.discord.wait_for(lambda: session.resumes == 1)
    resume = next(f for f in bot.discord.frames if f.op == OP_RESUME)
    assert resume.d["session_id"] == session.session_id and resume.d["seq"] == seq
    answer = await bot.discord.wait_answer(ix)
    assert answer["content"] or answer["embeds"]
    assert len([f for f in bot.discord.frames if f.op == OP_IDENTIFY]) == 1


async def test_token_never_logged(
    standin: DiscordStandIn, make_settings: Any, library: Any, capture_logs: Any
) -> None:
    async with running_bot(standin, make_settings(), library) as running:
        await running.discord.wait_answer(await running.discord.slash("ask", question=QUESTION))
    assert capture_logs.records
    assert not [r for r in capture_logs.records if standin.token in r.getMessage()]


async def test_sharded_bot_identifies_with_shard(
    standin: DiscordStandIn, make_settings: Any, library: Any
) -> None:
    async with running_bot(standin, make_settings(discord_shards=1), library) as running:
        identify = [f for f in standin.frames if f.op == OP_IDENTIFY]
        assert identify[0].d["shard"] == [0, 1]
        answer = await standin.wait_answer(await standin.slash("ask", question=QUESTION))
        assert answer["content"] or answer["embeds"]
        assert type(running.bot).__name__ == "ShardedPaperBot"


def test_message_data_unwraps_callbacks() -> None:
    assert message_data({"type": 4, "data": {"content": "x"}}) == {"content": "x"}
    assert message_data({"type": 5}) is None


async def test_buttons_under_a_mention_reply_answer(bot: Any, library: Any) -> None:
    await bot.discord.post_message(QUESTION, mention_bot=True)
    reply = (await bot.discord.wait_for(lambda: bot.discord.channel_messages()))[0]
    await assert_answer_buttons_work(bot.discord, reply, library)
    assert_clean(bot.discord)


async def test_answer_is_rendered_in_the_worker_thread(
    bot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import render

    threads: list[str] = []
    original = render.answer_message

    def recording(answer: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(answer)

    monkeypatch.setattr(render, "answer_message", recording)
    answer = await bot.discord.wait_answer(await bot.discord.slash("ask", question=QUESTION))
    assert answer["embeds"]
    assert threads and all(name.startswith("paperbot-index") for name in threads)


async def test_show_abstract_failure_is_private_with_a_logged_ref(
    bot: Any, library: Any, monkeypatch: pytest.MonkeyPatch, capture_logs: Any
) -> None:
    answer = await bot.discord.wait_answer(await bot.discord.slash("ask", question=QUESTION))

    def broken(paper_id: str) -> Any:
        raise RuntimeError("store vanished")

    monkeypatch.setattr(library, "paper", broken)
    click = await bot.discord.click(answer, "paperbot:abstract:1", user="bob")
    shown = await bot.discord.wait_answer(click)
    assert [c.status for c in click.callbacks] == [200]
    assert is_ephemeral(click.callbacks[0].body["data"]) and is_ephemeral(shown)
    text = message_data(shown)["content"]
    assert "something went wrong" in text and "store vanished" not in text
    ref = text.split("(ref ")[1].split(")")[0]
    logged = [r for r in capture_logs.records if f"ref {ref}" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "button paperbot:abstract:1" in logged[0].getMessage()


async def test_direct_messages_are_answered_with_or_without_a_mention(
    bot: Any, library: Any
) -> None:
    discord = bot.discord
    mentioned = await discord.post_message(QUESTION, user="bob", mention_bot=True, dm=True)
    reply = (await discord.wait_for(lambda: discord.channel_messages()))[0]
    assert reply["channel_id"] == str(discord.dm_channel_id("bob"))
    assert reply["message_reference"]["message_id"] == int(mentioned["id"])
    assert_quotes_verbatim(reply, library, QUESTION)

    plain = await discord.post_message(QUESTION, user="bob", dm=True)
    await discord.wait_for(lambda: len(discord.channel_messages()) == 2)
    second = discord.channel_messages()[1]
    assert second["message_reference"]["message_id"] == int(plain["id"])
    assert second["embeds"]
    # In a guild channel, a message that does not mention the bot is none of its business.
    await discord.post_message(QUESTION, user="bob")
    await asyncio.sleep(0.3)
    assert len(discord.channel_messages()) == 2
    assert_clean(discord)


async def test_run_with_a_rejected_token_is_one_line_and_exit_2(
    standin: DiscordStandIn, library: Any, tmp_path: Any
) -> None:
    """``python -m bot`` as a user runs it (a real process, real logging set-up), against a
    Discord that answers 401 to the login: one clear line, exit 2, no traceback, no token."""
    token = "wrong-T0KEN-that-must-never-be-printed"
    code = (
        "import sys, yarl, discord.http as h, discord.gateway as g;"
        "h.Route.BASE = sys.argv[1];"
        "g.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2]);"
        "from bot.__main__ import main; sys.exit(main())"
    )
    db = tmp_path / "lib" / "x.db"  # the `library` fixture's private copy of the store
    assert db.exists()
    env = {
        **os.environ,
        "PAPERBOT_DISCORD_TOKEN": token,
        "PAPERBOT_DB_PATH": str(db),
        "PAPERBOT_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(REPO),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        standin.api_base,
        standin.gateway_url,
        env=env,
        cwd=str(tmp_path),  # no stray .env is read
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = (b.decode() for b in await asyncio.wait_for(proc.communicate(), 60))
    assert proc.returncode == 2
    ours = [line for line in err.splitlines() if line.startswith("paperbot:")]
    assert ours == [REJECTED_TOKEN]
    assert "Traceback" not in out + err and "WARNING" not in err and "ERROR" not in err
    assert token not in out + err
    login = [r for r in standin.requests if r.path == "/users/@me"]
    assert login and login[0].status == 401 and not standin.frames  # never reached the gateway
