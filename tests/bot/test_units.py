"""Unit tests of the bot's pure parts: cooldown, what is sent, mention parsing, choices."""

from __future__ import annotations

import io
import logging

from bot.cooldown import UserCooldown
from bot.exts.mentions import question_from
from bot.exts.papers import choice_name
from bot.render import Outgoing, notice
from bot.render.limits import embed_size
from bot.runner import MISSING_TOKEN, RedactSecret, run_bot
from config.settings import Settings
from tests.bot.checks import assert_within_limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cooldown_allows_rate_then_refuses_until_window_passes() -> None:
    clock = FakeClock()
    cd = UserCooldown(3, 10.0, clock=clock)
    assert [cd.hit(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert cd.hit(1) == 10.0
    assert cd.hit(2) == 0.0  # per user
    clock.now += 4
    assert cd.hit(1) == 6.0  # refused uses do not extend the wait
    clock.now += 6
    assert cd.hit(1) == 0.0


def test_cooldown_forgets_idle_users() -> None:
    clock = FakeClock()
    cd = UserCooldown(1, 1.0, clock=clock)
    for uid in range(2000):
        cd.hit(uid)
    clock.now += 5
    for _ in range(1024):
        cd.hit(99999)
    assert len(cd) < 10


def test_a_message_is_sent_as_rendered() -> None:
    embed = {"title": "t", "description": "d" * 4096, "fields": [{"name": "n", "value": "v"}]}
    kwargs = Outgoing(content="hello", embeds=(embed,)).kwargs()
    assert kwargs["content"] == "hello"
    sent = kwargs["embeds"][0].to_dict()
    assert sent["description"] == "d" * 4096 and sent["fields"][0]["value"] == "v"
    assert embed_size(sent) == 1 + 4096 + 2


def test_a_long_notice_is_cut_to_the_content_limit() -> None:
    out = notice("word " * 600)
    data = {"content": out.content, "embeds": list(out.embeds)}
    assert_within_limits(data)
    assert out.content.endswith("…") and len(out.content) <= 2000
    assert notice("Try `/ask` **now**").content == "Try `/ask` **now**"  # bot markdown kept


def test_no_message_is_ever_empty() -> None:
    assert notice("").kwargs()["content"]
    assert Outgoing().kwargs()["content"]


def test_question_from_strips_only_the_bot_mention() -> None:
    assert question_from("<@42> what is DPO?", 42) == "what is DPO?"
    assert question_from("<@!42>   ", 42) == ""
    assert (
        question_from("hey <@42> about <@7> and @everyone", 42) == "hey   about <@7> and @everyone"
    )


def test_choice_names_fit_in_100_chars_and_keep_the_id() -> None:
    name = choice_name("2405.21046", "A" * 300)
    assert len(name) <= 100 and name.endswith(" · 2405.21046")
    assert choice_name("x", "  Title\nwith  breaks ") == "Title with breaks · x"
    long_id = "some-very-long-title-slug-" + "a" * 60
    assert len(choice_name(long_id, "B" * 200)) <= 100


def test_redaction_filter_hides_the_token() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecret("s3cr3t-token"))
    log = logging.getLogger("test.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("token is %s", "s3cr3t-token")
    finally:
        log.removeHandler(handler)
    assert "s3cr3t-token" not in stream.getvalue()
    assert "[redacted]" in stream.getvalue()


def test_run_without_token_gives_one_line_and_exit_2(tmp_path) -> None:
    err = io.StringIO()
    settings = Settings(_env_file=None, db_path=tmp_path / "x.db", discord_token=None)  # type: ignore[call-arg]
    assert run_bot(settings, stderr=err) == 2
    assert err.getvalue() == MISSING_TOKEN + "\n"


def test_parse_reference_accepts_ids_and_paper_links_only() -> None:
    from bot.adding import parse_reference

    for value, expected in [
        ("2401.12345", "2401.12345"),
        ("  arXiv:2401.12345v3 ", "2401.12345"),
        ("https://arxiv.org/abs/2401.12345v2", "2401.12345"),
        ("<https://arxiv.org/pdf/2401.12345v1.pdf>", "2401.12345"),
        ("http://export.arxiv.org/abs/2401.12345?context=cs", "2401.12345"),
        ("https://huggingface.co/papers/2401.12345", "2401.12345"),
        ("https://hf.co/papers/2401.12345#community", "2401.12345"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("https://arxiv.org/abs/hep-th/9901001v2", "hep-th/9901001"),
    ]:
        assert parse_reference(value) == expected, value
    for value in ["", "hello", "2401", "https://example.com/2401.12345", "2401.12345 2401.54321"]:
        assert parse_reference(value) is None, value


def test_find_links_in_a_message() -> None:
    from bot.adding import find_links, question_beside_links

    text = (
        "see https://arxiv.org/abs/2401.12345v2, <https://huggingface.co/papers/2402.00001> and "
        "arxiv.org/pdf/2401.12345 again; not https://example.com/2403.00002"
    )
    assert find_links(text, 5) == ["2401.12345", "2402.00001"]
    assert find_links(text, 1) == ["2401.12345"]
    assert question_beside_links("new: <https://arxiv.org/abs/2401.12345> and") is None
    assert question_beside_links("https://arxiv.org/abs/2401.12345 what is new?") == "what is new?"


def test_upstream_failures_become_plain_words() -> None:
    from bot.adding import _detail
    from retrieval.ingest.errors import FetchError, ParseError

    def fail(reason: str, **kw: object) -> FetchError:
        return FetchError(reason, request="GET http://x/api", **kw)  # type: ignore[arg-type]

    assert "HTTP 503" in _detail(fail("HTTP 503 Service Unavailable; gave up after 3 attempts"))
    assert "in time" in _detail(fail("timed out after 20 s (ReadTimeout); out of the budget"))
    assert "in time" in _detail(TimeoutError())
    assert "limiting" in _detail(fail("HTTP 429 Too Many Requests; gave up"))
    assert "couldn't read" in _detail(ParseError("malformed JSON", request="GET x"))
    assert "http://" not in _detail(fail("connection error (ConnectError: refused)"))


def test_allowed_roles_setting() -> None:
    from bot.exts.add import allowed_roles, refusal

    assert allowed_roles(" Librarian, 1234 ,,") == {"librarian", "1234"}
    assert refusal("") == refusal("  ") and "Manage Server" in refusal("")
    assert "@\u200beveryone" in refusal("@everyone")  # a role setting can never ping
