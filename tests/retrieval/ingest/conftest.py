"""Shared fixtures: a live loopback fixture server, settings pointing at it, fast retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from retrieval.ingest.http import HostPolicy, PoliteClient, RetryPolicy
from tests.retrieval.ingest.server import FixtureServer

# Tiny delays so fault tests run in milliseconds; the policy logic is the same as in production.
FAST_RETRY = RetryPolicy(
    max_attempts=4, backoff_base=0.01, backoff_max=0.05, jitter=0.5, total_timeout=5.0
)


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with FixtureServer() as running:
        yield running


@pytest.fixture
def settings(server: FixtureServer, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        db_path=tmp_path / "papers.db",
        hf_base_url=server.url,
        arxiv_api_url=f"{server.url}/api/query",
        arxiv_oai_url=f"{server.url}/oai",
        http_timeout=0.5,
        arxiv_min_interval=0.0,
    )


class Recorder:
    """A ``sleep`` that records every wait and yields without really waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def fast_client(
    *,
    sleep=None,
    timeout: float = 0.5,
    retry: RetryPolicy = FAST_RETRY,
    hosts: dict[str, HostPolicy] | None = None,
    **kwargs,
) -> PoliteClient:
    extra = {"sleep": sleep} if sleep is not None else {}
    return PoliteClient(timeout=timeout, retry=retry, hosts=hosts, **extra, **kwargs)
