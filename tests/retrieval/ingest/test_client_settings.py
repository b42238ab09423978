"""The settings reach the HTTP client: retry policy, User-Agent contact, Hugging Face token
(sent to Hugging Face only, and never logged)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from config.settings import Settings
from retrieval.ingest.errors import FetchError, NotFound
from retrieval.ingest.http import DEFAULT_USER_AGENT, user_agent
from retrieval.ingest.pipeline import fetch_arxiv_ids, fetch_hf_papers, make_client, retry_policy
from tests.retrieval.ingest.server import Fault, FixtureServer

TOKEN = "hf_s3cretTOKENvalue"


def configured(server: FixtureServer, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "db_path": tmp_path / "p.db",
        "hf_base_url": server.url,
        # arXiv on another host name of the same loopback server: a different origin.
        "arxiv_api_url": f"{server.url.replace('127.0.0.1', 'localhost')}/api/query",
        "http_timeout": 0.5,
        "arxiv_min_interval": 0.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_retry_policy_follows_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        http_max_attempts=7,
        http_total_timeout=42.0,
        http_max_wait=99.0,
    )
    policy = retry_policy(settings)
    assert (policy.max_attempts, policy.total_timeout, policy.max_wait) == (7, 42.0, 99.0)
    short = retry_policy(settings, total_timeout=10.0)
    assert short.total_timeout == 10.0 and short.max_wait == 10.0


def test_user_agent_carries_the_contact_on_one_line() -> None:
    assert user_agent(None) == DEFAULT_USER_AGENT == user_agent("  ")
    agent = user_agent("ops@example.org\r\nX-Evil: 1")
    assert "+ops@example.org X-Evil: 1)" in agent and "\n" not in agent and "\r" not in agent
    assert agent.startswith("paperbot/")


async def test_token_goes_to_hugging_face_only_and_is_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FixtureServer() as server:
        settings = configured(
            server, tmp_path, hf_token=TOKEN, http_contact="ops@example.org", http_max_attempts=2
        )
        server.fault("/api/papers/", Fault.status_code(503))
        async with make_client(settings) as http:
            got = await fetch_hf_papers(http, settings, ["2608.09888"])
            assert [p.id for p in got.papers] == ["2608.09888"]
            with pytest.raises(NotFound) as missing:
                await fetch_hf_papers(http, settings, ["2601.99999"])
            await fetch_arxiv_ids(http, settings, ["1601.00001"])
        hf = server.requests_to("/api/papers/")
        arxiv = server.requests_to("/api/query")
        assert len(hf) == 3 and len(arxiv) == 1
        assert all(s.headers.get("Authorization") == f"Bearer {TOKEN}" for s in hf)
        assert "Authorization" not in arxiv[0].headers
        assert all("+ops@example.org" in s.headers["User-Agent"] for s in hf + arxiv)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "503" in logged  # the retry was logged ...
    assert TOKEN not in logged and TOKEN not in str(missing.value)  # ... the token never
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


async def test_max_attempts_from_settings(tmp_path: Path) -> None:
    with FixtureServer() as server:
        settings = configured(server, tmp_path, http_max_attempts=2)
        server.fault("/api/papers/", *[Fault.status_code(503)] * 3)
        async with make_client(settings) as http:
            with pytest.raises(FetchError, match="gave up after 2 attempts"):
                await fetch_hf_papers(http, settings, ["2608.09888"])
        assert len(server.requests_to("/api/papers/")) == 2


def test_no_token_no_header(tmp_path: Path) -> None:
    from retrieval.ingest.pipeline import hf_headers

    assert hf_headers(Settings(_env_file=None)) == {}  # type: ignore[call-arg]
    blank = Settings(_env_file=None, hf_token="  ")  # type: ignore[call-arg]
    assert hf_headers(blank) == {}
