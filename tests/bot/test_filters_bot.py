"""``/search`` with ``since``, ``until`` and ``category``, end to end through the stand-in: only
matching papers come back (the server's own ones too), the category autocomplete offers the
categories present, and a bad value is refused in one ephemeral line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.filters import category_choices, refusal
from retrieval.filters import FilterError
from retrieval.papers import Paper
from retrieval.search import Library
from retrieval.store import PaperStore
from tests.bot.checks import assert_within_limits, is_ephemeral, texts
from tests.bot.conftest import Running, running_bot
from tests.discord_standin import CB_AUTOCOMPLETE, CB_MESSAGE, DiscordStandIn

PAPERS = [
    ("2401.00001", "Speech recognition for low resource languages", ["cs.CL", "eess.AS"]),
    ("2506.00002", "Speech recognition with diffusion decoders", ["cs.LG"]),
    ("2601.00003", "Speech recognition benchmarks for many languages", ["cs.CL"]),
    ("2602.00004", "Speech recognition in noisy rooms", ["cs.SD", "cs.CL"]),
    ("2410.00005", "Robot grasping with speech commands", ["cs.RO"]),
    ("speech-notes", "Notes on speech recognition systems", ["cs.CL"]),
]
OWN = ("2603.00006", "Speech recognition on a server's own shelf", ["cs.CL"])


def _paper(pid: str, title: str, cats: list[str]) -> Paper:
    return Paper(
        id=pid,
        title=title,
        abstract=f"{title}. We study speech recognition.",
        source="test",
        metadata={"categories": cats},
    )


@pytest.fixture
def filtered_library(tmp_path: Path) -> Library:
    library = Library(PaperStore(tmp_path / "papers.db"), semantic=False)
    library.add_papers([_paper(*p) for p in PAPERS])
    return library


@pytest.fixture
async def bot(
    standin: DiscordStandIn, make_settings: Any, filtered_library: Library
) -> AsyncIterator[Running]:
    filtered_library.add_papers([_paper(*OWN)], f"guild-{standin.guild_id}")
    async with running_bot(standin, make_settings(), filtered_library) as running:
        yield running


def _ids(message: dict[str, Any], library: Library) -> set[str]:
    shown = "\n".join(texts(message))
    return {pid for pid, _, _ in [*PAPERS, OWN] if f"`{pid}`" in shown}


async def test_search_with_category_and_since(bot: Running, filtered_library: Library) -> None:
    discord = bot.discord
    everything = await discord.wait_answer(await discord.slash("search", query="speech"))
    assert len(_ids(everything, filtered_library)) == 5  # a page of five of the seven

    ix = await discord.slash("search", query="speech recognition", category="cs.cl", since="2026")
    message = await discord.wait_answer(ix)
    assert_within_limits(message)
    assert _ids(message, filtered_library) == {"2601.00003", "2602.00004", "2603.00006"}
    assert "(since 2026-01-01, in cs.CL)" in message["embeds"][0]["title"]

    ix = await discord.slash("search", query="speech", until="2024-10", category="cs.RO, eess.AS")
    assert _ids(await discord.wait_answer(ix), filtered_library) == {"2410.00005", "2401.00001"}

    ix = await discord.slash("search", query="speech", since="2026-03", until="2026-03")
    assert _ids(await discord.wait_answer(ix), filtered_library) == {"2603.00006"}

    ix = await discord.slash("search", query="grasping", category="cs.CL")
    assert (
        "No papers match that search among papers in cs.CL."
        in ((await discord.wait_answer(ix))["content"])
    )


async def test_category_autocomplete_offers_categories_present(bot: Running) -> None:
    discord = bot.discord
    ix = await discord.autocomplete("search", focused="category", query="speech", category="")
    ack = await discord.wait_ack(ix)
    assert ack.body["type"] == CB_AUTOCOMPLETE
    choices = ack.body["data"]["choices"]
    # The server's own paper counts too: cs.CL is in five of the shared papers and its own one.
    assert choices[0] == {"name": "cs.CL · 5 papers", "value": "cs.CL"}
    assert {c["value"] for c in choices} == {"cs.CL", "cs.LG", "cs.RO", "cs.SD", "eess.AS"}

    ix = await discord.autocomplete("search", focused="category", query="x", category="cs.cl, c")
    values = [c["value"] for c in (await discord.wait_ack(ix)).body["data"]["choices"]]
    assert values[:2] == ["cs.cl,cs.CL", "cs.cl,cs.LG"]


@pytest.mark.parametrize(
    ("options", "line"),
    [
        ({"since": "last week"}, "Since 'last week' is not a year (2024), a month (2024-03) or"),
        ({"until": "2025-02-30"}, "Until '2025-02-30' is not a real date."),
        ({"since": "2026", "until": "2025"}, "Since 2026-01-01 is after until 2025-12-31."),
        ({"category": "cs.XY"}, "No paper has category 'cs.XY'"),
    ],
)
async def test_a_bad_value_is_one_ephemeral_line(
    bot: Running, options: dict[str, Any], line: str
) -> None:
    ix = await bot.discord.slash("search", query="speech", **options)
    ack = await bot.discord.wait_ack(ix)
    assert ack.body["type"] == CB_MESSAGE  # refused at once, no defer
    assert is_ephemeral(ack.body)
    content = ack.body["data"]["content"]
    assert line in content and "\n" not in content


def test_autocomplete_without_a_library_is_empty() -> None:
    class NoLibrary:
        library = None

    assert category_choices(NoLibrary(), "cs", None) == []  # type: ignore[arg-type]
    assert refusal(FilterError("since 'x' is bad")) == "Since 'x' is bad."


def test_an_answer_the_filter_left_no_paper_for_says_so(filtered_library: Library) -> None:
    from bot.render import answer_message
    from retrieval.filters import Filters

    answer = filtered_library.ask("speech recognition?", filters=Filters(categories=("cs.AI",)))
    assert answer.reason == "filtered-out"
    out = answer_message(answer)
    shown = "\n".join(texts({"content": out.content, "embeds": list(out.embeds)}))
    assert "No paper in the collection passes the filters (since, until, category)." in shown


async def test_ask_with_filters_quotes_only_matching_papers(
    bot: Running, filtered_library: Library
) -> None:
    discord = bot.discord
    ix = await discord.slash(
        "ask", question="which papers do speech recognition?", category="cs.CL", since="2026"
    )
    message = await discord.wait_answer(ix)
    assert_within_limits(message)
    shown = "\n".join(texts(message))
    allowed = {"2601.00003", "2602.00004", "2603.00006"}
    present = {pid for pid, _, _ in [*PAPERS, OWN] if pid in shown}
    assert present and present <= allowed

    ix = await discord.slash("ask", question="speech recognition", until="soon")
    ack = await discord.wait_ack(ix)
    assert ack.body["type"] == CB_MESSAGE and is_ephemeral(ack.body)
    assert "Until 'soon' is not a year" in ack.body["data"]["content"]

    ix = await discord.autocomplete("ask", focused="category", question="speech", category="cs.R")
    values = [c["value"] for c in (await discord.wait_ack(ix)).body["data"]["choices"]]
    assert values == ["cs.RO"]
