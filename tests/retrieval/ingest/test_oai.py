"""OAI-PMH ListRecords: both metadata formats, the recorded error codes, the resumable spool."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from retrieval.ingest.errors import CheckpointError, FetchError, ParseError, SourceError
from retrieval.ingest.oai import HarvestParams, OAIHarvester, Spool, parse_list_records
from tests.retrieval.ingest.conftest import fast_client
from tests.retrieval.ingest.server import OAI_DC, OAI_ERRORS, OAI_RAW, Fault, FixtureServer

REQ = "GET https://oaipmh.arxiv.org/oai?verb=ListRecords"


def test_arxiv_raw_records() -> None:
    page = parse_list_records(OAI_RAW.read_bytes(), REQ)
    assert [p.id for p in page.papers] == [
        "0704.0471",
        "0704.0716",
        "0704.0874",
        "0704.1109",
        "0704.1114",
        "0704.1586",
    ]
    assert (page.token, page.complete_list_size) == ("726959|1001", 58011)
    richard = page.papers[1]
    assert richard.metadata["version"] == 4  # v1..v4 listed: the newest wins
    assert richard.published == date(2007, 4, 5)  # the v1 date
    assert richard.metadata["updated"] == "2008-11-14"
    assert richard.metadata["categories"] == ["math-ph", "math.MP"]
    assert richard.abstract.startswith("We discuss the asymptotic behaviour of models")
    shetty = page.papers[0]
    assert shetty.authors == ("D.V. Shetty", "S.J. Yennello", "G.A. Souliotis")
    assert '" stiff "' in shetty.abstract  # &quot; decoded
    assert shetty.source == "arxiv-oai" and shetty.url == "https://arxiv.org/abs/0704.0471"


def test_oai_dc_records() -> None:
    page = parse_list_records(OAI_DC.read_bytes(), REQ)
    assert len(page.papers) == 5 and page.token == "6960524|1001"
    first = page.papers[0]
    assert first.id == "1303.2033"
    assert first.authors == ("Vilnis Liepins",)  # "Liepins, Vilnis" flipped
    assert first.metadata["comments"] == "32 pages, 9 figures"  # not part of the abstract
    assert "Comment:" not in first.abstract
    assert first.published == date(2013, 3, 8) and first.metadata["updated"] == "2024-01-23"
    assert "version" not in first.metadata  # oai_dc does not say


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("error_BadArgument.xml", "badArgument"),
        ("error_BadResumptionToken.xml", "badResumptionToken"),
        ("error_IdDoesNotExist.xml", "idDoesNotExist"),
    ],
)
def test_recorded_error_codes(name: str, code: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_list_records((OAI_ERRORS / name).read_bytes(), REQ)
    assert caught.value.code == code
    assert str(caught.value).startswith(f"{REQ}: OAI-PMH error {code}: ")


def test_no_records_match_is_an_empty_page() -> None:
    page = parse_list_records((OAI_ERRORS / "error_NoRecordsMatch.xml").read_bytes(), REQ)
    assert page.papers == [] and page.token is None


def test_deleted_records_are_counted_not_stored() -> None:
    body = OAI_DC.read_bytes().replace(b"<header>", b'<header status="deleted">', 1)
    page = parse_list_records(body, REQ)
    assert page.deleted == 1 and len(page.papers) == 4


def test_truncated_page_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="truncated XML"):
        parse_list_records(OAI_DC.read_bytes()[:6000], REQ)


def _params(server: FixtureServer, prefix: str = "oai_dc") -> HarvestParams:
    return HarvestParams(f"{server.url}/oai", "cs", "2024-01-25", "2024-01-26", prefix)


async def test_harvest_follows_resumption_tokens(server: FixtureServer, tmp_path: Path) -> None:
    server.oai_pages = 3
    spool = Spool(tmp_path / "cp.jsonl", _params(server))
    async with fast_client() as http:
        state = await OAIHarvester(http, f"{server.url}/oai").harvest(spool)
    first, second, third = (s.query for s in server.seen)
    assert first == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["oai_dc"],
        "set": ["cs"],
        "from": ["2024-01-25"],
        "until": ["2024-01-26"],
    }
    assert second == {"verb": ["ListRecords"], "resumptionToken": ["paperbot-test|2"]}
    assert third == {"verb": ["ListRecords"], "resumptionToken": ["paperbot-test|3"]}
    assert (state.pages, state.records, state.complete) == (3, 15, True)
    assert len({p.id for p in spool.iter_papers()}) == 15


async def test_an_interrupted_harvest_resumes_from_the_checkpoint(
    server: FixtureServer, tmp_path: Path
) -> None:
    server.oai_pages = 3
    server.fault("/oai", Fault.ok(), *[Fault.status_code(503)] * 10)  # page 2 keeps failing
    checkpoint = tmp_path / "cp.jsonl"
    spool = Spool(checkpoint, _params(server, "arXivRaw"))
    async with fast_client() as http:
        with pytest.raises(FetchError, match="HTTP 503"):
            await OAIHarvester(http, f"{server.url}/oai").harvest(spool)
    assert spool.state.pages == 1 and spool.state.token == "paperbot-test|2"
    lines = checkpoint.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["format"] == "paperbot-oai-checkpoint"

    server._faults.clear()
    server.seen.clear()
    resumed = Spool(checkpoint, _params(server, "arXivRaw"))
    async with fast_client() as http:
        state = await OAIHarvester(http, f"{server.url}/oai").harvest(resumed)
    assert [s.query.get("resumptionToken") for s in server.seen] == [
        ["paperbot-test|2"],
        ["paperbot-test|3"],
    ]
    assert (state.pages, state.records, state.complete) == (3, 18, True)
    papers = list(resumed.iter_papers())
    assert len(papers) == 18 and papers[1].metadata["version"] == 4


async def test_a_torn_last_line_is_dropped_and_that_page_fetched_again(
    server: FixtureServer, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "cp.jsonl"
    spool = Spool(checkpoint, _params(server))
    async with fast_client() as http:
        await OAIHarvester(http, f"{server.url}/oai").harvest(spool)
    header, page1, page2 = checkpoint.read_bytes().splitlines(keepends=True)
    checkpoint.write_bytes(header + page1 + page2[: len(page2) // 2])  # died mid-write
    server.seen.clear()
    again = Spool(checkpoint, _params(server))
    async with fast_client() as http:
        state = await OAIHarvester(http, f"{server.url}/oai").harvest(again)
    assert [s.query.get("resumptionToken") for s in server.seen] == [["paperbot-test|2"]]
    assert state.pages == 2 and len(list(again.iter_papers())) == 10


def test_a_checkpoint_of_another_harvest_is_refused(server: FixtureServer, tmp_path: Path) -> None:
    checkpoint = tmp_path / "cp.jsonl"
    Spool(checkpoint, _params(server)).open()
    other = HarvestParams(f"{server.url}/oai", "math", "2024-01-25", "2024-01-26", "oai_dc")
    with pytest.raises(CheckpointError, match="belongs to another harvest"):
        Spool(checkpoint, other).open()
    checkpoint.write_text("hello\n")
    with pytest.raises(CheckpointError, match="not a paperbot OAI checkpoint"):
        Spool(checkpoint, _params(server)).open()


async def test_an_expired_token_says_to_delete_the_checkpoint(
    server: FixtureServer, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "cp.jsonl"
    spool = Spool(checkpoint, _params(server))
    spool.open()
    spool._append({"token": "726959|1001", "papers": [], "skipped": 0, "deleted": 0})
    async with fast_client() as http:
        with pytest.raises(SourceError) as caught:
            await OAIHarvester(http, f"{server.url}/oai").harvest(Spool(checkpoint, spool.params))
    assert caught.value.code == "badResumptionToken"
    assert f"delete {checkpoint}" in str(caught.value)


async def test_no_records_match_harvests_nothing(server: FixtureServer, tmp_path: Path) -> None:
    params = HarvestParams(f"{server.url}/oai", "moo", None, None, "arXivRaw")
    spool = Spool(tmp_path / "cp.jsonl", params)
    async with fast_client() as http:
        state = await OAIHarvester(http, f"{server.url}/oai").harvest(spool)
    assert (state.pages, state.records, state.complete) == (1, 0, True)
    assert list(spool.iter_papers()) == []


def test_the_spool_keeps_the_newest_version_of_a_repeated_id(tmp_path: Path) -> None:
    params = HarvestParams("http://x/oai", "cs", None, None, "arXivRaw")
    spool = Spool(tmp_path / "cp.jsonl", params)
    spool.open()
    page = parse_list_records(OAI_RAW.read_bytes(), REQ)
    richard_v4 = page.papers[1]
    richard_v2 = richard_v4.model_copy(
        update={"abstract": "old words", "metadata": {**richard_v4.metadata, "version": 2}}
    )
    page.papers.append(richard_v2)  # an older version seen later must not win
    page.token = None
    spool.add_page(page)
    kept = {p.id: p for p in spool.iter_papers()}
    assert len(kept) == 6
    assert kept["0704.0716"].metadata["version"] == 4
    assert kept["0704.0716"].abstract != "old words"
