"""The arXiv query API: both Atom formats, paging, id lists, the error feed, 'Rate exceeded.'."""

from __future__ import annotations

import re
from datetime import date

import pytest

from retrieval.ingest.arxiv_api import ArxivAPI, normalise_ids, parse_feed
from retrieval.ingest.errors import FetchError, NotFound, ParseError, SourceError
from tests.retrieval.ingest.conftest import fast_client
from tests.retrieval.ingest.server import (
    ARXIV_2020,
    ARXIV_2025,
    ARXIV_2026,
    SYNTHETIC_ARXIV_ERROR_FEED,
    Fault,
    FixtureServer,
)


def test_legacy_id_list_feed() -> None:
    feed = parse_feed(ARXIV_2020.read_bytes(), "GET x")
    assert (feed.total_results, feed.start_index, feed.items_per_page) == (1, 0, 10)
    (paper,) = feed.papers
    assert paper.id == "1601.00001"
    assert paper.metadata["version"] == 1
    # the hard-wrapped title, whitespace collapsed, words verbatim
    assert paper.title == (
        "Inelastic effects in molecular transport junctions: The probe technique at high bias"
    )
    assert paper.abstract.startswith('We extend the Landauer-B\\"uttiker probe formalism')
    assert paper.abstract.endswith("far-from-equilibrium.")
    assert "\n" not in paper.abstract and "  " not in paper.abstract
    assert paper.authors == ("Michael Kilgour", "Dvira Segal")
    assert paper.published == date(2015, 12, 26)
    assert paper.metadata["doi"] == "10.1063/1.4944470"
    assert paper.metadata["journal_ref"] == "J. Chem. Phys. 144, 124107 (2016)"
    assert paper.metadata["primary_category"] == "cond-mat.mes-hall"
    assert paper.url == "https://arxiv.org/abs/1601.00001"
    assert paper.source == "arxiv"


def test_legacy_search_feed() -> None:
    feed = parse_feed(ARXIV_2025.read_bytes(), "GET x")
    assert (feed.total_results, feed.items_per_page) == (5619, 2)
    assert [p.id for p in feed.papers] == ["2510.14968", "2510.14827"]
    first = feed.papers[0]
    assert first.metadata["categories"] == ["cs.RO", "cs.AI", "cs.CV", "cs.LG", "cs.SY", "eess.SY"]
    assert first.metadata["comments"].startswith("39th Conference on Neural Information")
    assert first.title.endswith("Planner Alignment in Long-Horizon Tasks")


def test_2025_format_feed() -> None:
    feed = parse_feed(ARXIV_2026.read_bytes(), "GET x")
    assert (feed.total_results, feed.start_index, feed.items_per_page) == (28946, 0, 5)
    assert len(feed.papers) == 5
    mana = feed.papers[0]
    assert mana.id == "2606.13677" and mana.metadata["version"] == 1
    assert mana.metadata["primary_category"] == "cs.RO"
    assert "(<1 minute per tool)" in mana.abstract  # &lt; decoded, text otherwise verbatim
    assert mana.authors[-1] == "C. Karen Liu"
    # same fields whichever format the paper came from
    legacy = parse_feed(ARXIV_2025.read_bytes(), "GET x").papers[0]
    assert set(mana.model_dump()) == set(legacy.model_dump())
    assert {"version", "categories", "primary_category", "updated"} <= set(mana.metadata)
    assert {"version", "categories", "primary_category", "updated"} <= set(legacy.metadata)


def test_error_feed_is_recognised() -> None:
    """The error feed is SYNTHETIC (server.SYNTHETIC_ARXIV_ERROR_FEED): no real one is recorded.

    It follows the shape arXiv documents: HTTP 200, one entry whose id is
    ``http://arxiv.org/api/errors#...`` and whose summary is the message.
    """
    with pytest.raises(SourceError) as caught:
        parse_feed(SYNTHETIC_ARXIV_ERROR_FEED, "GET https://export.arxiv.org/api/query?id_list=x")
    assert caught.value.code == "incorrect_id_format_for_1234.12345v9"
    assert str(caught.value) == (
        "GET https://export.arxiv.org/api/query?id_list=x: "
        "arXiv API error: incorrect id format for 1234.12345v9"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, "truncated XML"),  # the recorded feed cut at 3,000 bytes
        (b"<feed><entry></feed>", "malformed XML"),
        (b"", "empty response body"),
        (b'<?xml version="1.0"?><html><body>oops</body></html>', "expected an Atom <feed>"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><feed/>', "DTD"),
    ],
)
def test_bad_xml_is_a_one_line_parse_error(body: bytes | None, expected: str) -> None:
    if body is None:
        body = ARXIV_2026.read_bytes()[:3000]
    with pytest.raises(ParseError) as caught:
        parse_feed(body, "GET https://export.arxiv.org/api/query?search_query=x")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("GET https://export.arxiv.org/api/query?search_query=x: ")


def _page(start: int, total: int, ids: list[str]) -> bytes:
    """A legacy-format page from the recorded cs.RO feed with its two entries renumbered."""
    text = ARXIV_2025.read_text()
    text = re.sub(r"(<opensearch:totalResults[^>]*>)\d+", rf"\g<1>{total}", text)
    text = re.sub(r"(<opensearch:startIndex[^>]*>)\d+", rf"\g<1>{start}", text)
    head, *entries = text.split("<entry>")
    tail = entries[-1].split("</entry>", 1)[1]
    bodies = [e.split("</entry>", 1)[0] for e in entries]
    out = []
    for new_id, body in zip(ids, bodies, strict=False):
        out.append("<entry>" + re.sub(r"\d{4}\.\d{5}v\d", f"{new_id}v1", body) + "</entry>")
    return (head + "".join(out) + tail.replace("</entry>", "")).encode()


async def test_search_pages_with_start_and_max_results(server: FixtureServer) -> None:
    server.arxiv_pages = {
        0: _page(0, 5, ["2601.00001", "2601.00002"]),
        2: _page(2, 5, ["2601.00003", "2601.00004"]),
        4: _page(4, 5, ["2601.00005"]),
    }
    async with fast_client() as http:
        result = await ArxivAPI(http, f"{server.url}/api/query", page_size=2).search(
            "cat:cs.RO AND neural", max_results=50
        )
    asked = [(s.query["start"][0], s.query["max_results"][0]) for s in server.seen]
    assert asked == [("0", "2"), ("2", "2"), ("4", "2")]
    assert server.seen[0].query["search_query"] == ["cat:cs.RO AND neural"]
    assert [p.id for p in result.papers] == [f"2601.0000{n}" for n in range(1, 6)]
    assert result.total_results == 5


async def test_search_stops_at_max_results(server: FixtureServer) -> None:
    server.arxiv_pages = {
        0: _page(0, 5, ["2601.00001", "2601.00002"]),
        2: _page(2, 5, ["2601.00003", "2601.00004"]),
    }
    async with fast_client() as http:
        result = await ArxivAPI(http, f"{server.url}/api/query", page_size=2).search(
            "q", max_results=3
        )
    assert [(s.query["start"][0], s.query["max_results"][0]) for s in server.seen] == [
        ("0", "2"),
        ("2", "1"),
    ]
    assert len(result.papers) == 3


async def test_an_empty_page_mid_results_is_asked_again(server: FixtureServer) -> None:
    server.arxiv_pages = {0: _page(0, 4, ["2601.00001", "2601.00002"])}
    async with fast_client() as http:
        result = await ArxivAPI(http, f"{server.url}/api/query", page_size=2).search(
            "q", max_results=10
        )
    # start=2 came back empty 3 times (1 + 2 retries), then the search ends with what it has
    assert [s.query["start"][0] for s in server.seen] == ["0", "2", "2", "2"]
    assert len(result.papers) == 2


async def test_rate_exceeded_body_is_retried(server: FixtureServer) -> None:
    server.fault("/api/query", Fault.body(b"Rate exceeded.", status=200))
    server.fault("/api/query", Fault.body(b"Rate exceeded.", status=503))
    async with fast_client() as http:
        result = await ArxivAPI(http, f"{server.url}/api/query").search("q", max_results=5)
    assert len(server.seen) == 3
    assert len(result.papers) == 5


async def test_rate_exceeded_forever_is_a_clear_error(server: FixtureServer) -> None:
    server.fault("/api/query", *[Fault.body(b"Rate exceeded.")] * 10)
    async with fast_client() as http:
        with pytest.raises(FetchError) as caught:
            await ArxivAPI(http, f"{server.url}/api/query").search("q", max_results=5)
    assert "Rate exceeded." in str(caught.value)
    assert "gave up after 4 attempts" in str(caught.value)


async def test_error_feed_from_the_server(server: FixtureServer) -> None:
    server.fault("/api/query", Fault.body(SYNTHETIC_ARXIV_ERROR_FEED))  # synthetic, see above
    async with fast_client() as http:
        with pytest.raises(SourceError, match="incorrect id format"):
            await ArxivAPI(http, f"{server.url}/api/query").by_ids(["1601.00001"])
    assert len(server.seen) == 1  # an API error is an answer, not retried


async def test_error_feed_with_http_400(server: FixtureServer) -> None:
    """Same synthetic error feed, sent with HTTP 400: still the API's own message, once."""
    server.fault("/api/query", Fault.body(SYNTHETIC_ARXIV_ERROR_FEED, status=400))
    async with fast_client() as http:
        with pytest.raises(SourceError, match="arXiv API error: incorrect id format"):
            await ArxivAPI(http, f"{server.url}/api/query").by_ids(["1601.00001"])
    assert len(server.seen) == 1


async def test_ids_are_asked_without_versions_and_missing_ones_listed(
    server: FixtureServer,
) -> None:
    async with fast_client() as http:
        result = await ArxivAPI(http, f"{server.url}/api/query").by_ids(
            ["1601.00001v1", "arXiv:1601.00001", "https://arxiv.org/abs/2601.99999v3"]
        )
    assert server.seen[0].query["id_list"] == ["1601.00001,2601.99999"]
    assert server.seen[0].query["max_results"] == ["2"]
    assert [p.id for p in result.papers] == ["1601.00001"]
    assert result.missing == ["2601.99999"]


async def test_long_id_lists_are_chunked(server: FixtureServer) -> None:
    ids = [f"2601.{n:05d}" for n in range(1, 6)]
    async with fast_client() as http:
        await ArxivAPI(http, f"{server.url}/api/query", page_size=2).by_ids(ids)
    assert [s.query["id_list"][0].count(",") + 1 for s in server.seen] == [2, 2, 1]


def test_old_style_ids_keep_their_form() -> None:
    assert normalise_ids(["hep-th/9901001v2", "math.GT/0309136", "HEP-TH/9901001"]) == [
        "hep-th/9901001",
        "math.GT/0309136",
    ]
    with pytest.raises(NotFound, match="not arXiv ids: banana"):
        normalise_ids(["banana", "1601.00001"])
