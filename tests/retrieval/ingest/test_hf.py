"""Hugging Face Papers endpoints against the recorded responses served over loopback."""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache

import pytest

from retrieval.ingest.errors import FetchError, NotFound, ParseError
from retrieval.ingest.hf import HuggingFacePapers, dates_between, parse_hf_item
from tests.retrieval.ingest.conftest import fast_client
from tests.retrieval.ingest.server import HF_DAILY, HF_PAPER, Fault, FixtureServer, rewrite_daily


@lru_cache(maxsize=1)
def recorded() -> list[dict]:
    """The recorded daily listing (read on first use, so collection needs no shared data)."""
    return json.loads(HF_DAILY.read_bytes())


async def test_daily_papers_of_one_date(server: FixtureServer) -> None:
    async with fast_client() as http:
        batch = await HuggingFacePapers(http, server.url).daily(date(2026, 6, 12))
    assert [s.query for s in server.requests_to("/api/daily_papers")] == [
        {"limit": ["100"], "date": ["2026-06-12"]}
    ]
    assert len(batch.papers) == 30 and batch.skipped == []
    assert [p.id for p in batch.papers] == [item["paper"]["id"] for item in recorded()]
    first = batch.papers[0]
    raw = recorded()[0]["paper"]
    assert first.abstract == " ".join(raw["summary"].split())  # the authors' abstract
    assert first.abstract != raw["ai_summary"]
    assert first.metadata["ai_summary"] == raw["ai_summary"]  # HF's summary: metadata only
    assert first.metadata["ai_keywords"] == raw["ai_keywords"]
    assert first.metadata["upvotes"] == raw["upvotes"]
    assert first.source == "huggingface"
    assert first.url == "https://huggingface.co/papers/2606.00467"
    assert first.published == date(2026, 5, 30)
    assert first.authors == ("Etienne Casanova", "Rafal Kocielnik", "R. Michael Alvarez")


async def test_github_repo_and_project_page_are_metadata(server: FixtureServer) -> None:
    async with fast_client() as http:
        batch = await HuggingFacePapers(http, server.url).daily()
    by_id = {p.id: p for p in batch.papers}
    webchallenger = by_id["2606.10423"]
    assert webchallenger.metadata["github_repo"] == "https://github.com/jayoohwang1/webchallenger"
    assert webchallenger.metadata["project_page"].startswith("https://jayoohwang1.github.io/")
    assert webchallenger.abstract == " ".join(recorded()[4]["paper"]["summary"].split())
    assert server.seen[-1].query == {"limit": ["100"]}  # no date: today's list


async def test_trending_is_sort_trending(server: FixtureServer) -> None:
    async with fast_client() as http:
        await HuggingFacePapers(http, server.url).daily(sort="trending")
    assert server.seen[-1].query["sort"] == ["trending"]


async def test_pages_are_followed_until_a_short_page(server: FixtureServer) -> None:
    full = json.loads(rewrite_daily(HF_DAILY.read_bytes(), "9101"))
    pages = {
        "0": json.dumps((full * 4)[:100]).encode(),  # 100 items (30 distinct ids): a full page
        "1": rewrite_daily(HF_DAILY.read_bytes(), "9102"),  # 30 items: the last page
    }
    server.routes["/api/daily_papers"] = lambda q: (
        200,
        pages.get(q.get("p", ["0"])[0], b"[]"),
        "application/json",
    )
    async with fast_client() as http:
        batch = await HuggingFacePapers(http, server.url).daily(date(2026, 6, 12))
    assert [s.query.get("p") for s in server.seen] == [None, ["1"]]
    assert len({p.id for p in batch.papers}) == 60


async def test_a_date_range_asks_each_day_once_and_skips_empty_days(
    server: FixtureServer,
) -> None:
    server.daily_default = b"[]"  # weekends and other empty days
    server.daily["2026-06-10"] = rewrite_daily(HF_DAILY.read_bytes(), "9110")
    server.daily["2026-06-12"] = HF_DAILY.read_bytes()
    days = dates_between(date(2026, 6, 10), date(2026, 6, 13))
    async with fast_client() as http:
        batch = await HuggingFacePapers(http, server.url).daily_range(days)
    asked = [s.query["date"][0] for s in server.requests_to("/api/daily_papers")]
    assert asked == ["2026-06-10", "2026-06-11", "2026-06-12", "2026-06-13"]
    assert len(batch.papers) == 60


async def test_the_same_paper_on_two_days_is_one_paper(server: FixtureServer) -> None:
    server.daily["2026-06-11"] = server.daily["2026-06-12"] = HF_DAILY.read_bytes()
    days = dates_between(date(2026, 6, 11), date(2026, 6, 12))
    async with fast_client() as http:
        batch = await HuggingFacePapers(http, server.url).daily_range(days)
    assert len(batch.papers) == 30


def test_a_backwards_range_is_refused() -> None:
    with pytest.raises(ValueError, match="after"):
        dates_between(date(2026, 6, 12), date(2026, 6, 1))


async def test_one_paper_by_id_url_or_versioned_id(server: FixtureServer) -> None:
    async with fast_client() as http:
        hf = HuggingFacePapers(http, server.url)
        for ref in ("2608.09888", "https://huggingface.co/papers/2608.09888", "arXiv:2608.09888v2"):
            paper = await hf.paper(ref)
            assert paper.id == "2608.09888"
    assert {s.path for s in server.seen} == {"/api/papers/2608.09888"}
    raw = json.loads(HF_PAPER.read_bytes())
    assert paper.abstract == " ".join(raw["summary"].split())
    assert "\\$" in paper.abstract  # the literal backslash of the recorded summary survives
    assert paper.metadata["ai_summary"] == raw["ai_summary"]


async def test_an_unknown_id_is_a_clear_not_found(server: FixtureServer) -> None:
    async with fast_client() as http:
        with pytest.raises(NotFound) as caught:
            await HuggingFacePapers(http, server.url).paper("2601.00002")
    assert str(caught.value) == (
        f"GET {server.url}/api/papers/2601.00002: Hugging Face has no paper 2601.00002 (HTTP 404)"
    )


async def test_not_an_id_is_refused_without_a_request(server: FixtureServer) -> None:
    async with fast_client() as http:
        with pytest.raises(NotFound, match="not an arXiv id"):
            await HuggingFacePapers(http, server.url).paper("../../etc/passwd")
    assert server.seen == []


async def test_search(server: FixtureServer) -> None:
    async with fast_client() as http:
        batch = await HuggingFacePapers(http, server.url).search("diffusion", limit=2)
    assert server.seen[-1].query == {"q": ["diffusion"], "limit": ["2"]}
    assert [p.id for p in batch.papers] == ["2006.11239", "2112.10752"]
    assert batch.papers[0].title == "Denoising Diffusion Probabilistic Models"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, "malformed or truncated JSON"),  # the recording cut at 5,000 bytes: valid HTTP
        (b"<html>Service temporarily unavailable</html>", "malformed or truncated JSON"),
        (b'{"error": "Invalid date"}', "expected a JSON array of papers, got dict"),
    ],
)
async def test_bad_bodies_are_clear_parse_errors(
    server: FixtureServer, body: bytes | None, expected: str
) -> None:
    if body is None:
        body = HF_DAILY.read_bytes()[:5000]
    server.fault("/api/daily_papers", Fault.body(body, content_type="application/json"))
    async with fast_client() as http:
        with pytest.raises(ParseError) as caught:
            await HuggingFacePapers(http, server.url).daily(date(2026, 6, 12))
    message = str(caught.value)
    assert message.startswith(f"GET {server.url}/api/daily_papers?limit=100&date=2026-06-12: ")
    assert expected in message and "\n" not in message


async def test_a_400_is_reported_not_retried(server: FixtureServer) -> None:
    server.fault("/api/daily_papers", Fault.body(b'{"error":"bad date"}', status=400))
    async with fast_client() as http:
        with pytest.raises(FetchError, match="HTTP 400"):
            await HuggingFacePapers(http, server.url).daily(date(2026, 6, 12))
    assert len(server.seen) == 1


def test_items_without_an_abstract_are_skipped_with_a_reason() -> None:
    item = json.loads(HF_DAILY.read_bytes())[0]
    item["paper"]["summary"] = "   "
    item["summary"] = ""
    with pytest.raises(ValueError, match="no abstract"):
        parse_hf_item(item)
    with pytest.raises(ValueError, match="no paper id"):
        parse_hf_item({"paper": {"title": "x"}})
    with pytest.raises(ValueError, match="not an object"):
        parse_hf_item(["x"])


def test_hidden_authors_are_left_out() -> None:
    item = json.loads(HF_DAILY.read_bytes())[0]
    item["paper"]["authors"][0]["hidden"] = True
    assert "Etienne Casanova" not in parse_hf_item(item).authors
