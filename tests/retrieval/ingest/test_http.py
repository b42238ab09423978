"""The polite client against a real loopback server: retries, budgets, gates, headers."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from retrieval.ingest.errors import FetchError, NotFound
from retrieval.ingest.http import (
    HostPolicy,
    PoliteClient,
    RetryPolicy,
    host_key,
    parse_ratelimit,
    parse_retry_after,
)
from tests.retrieval.ingest.conftest import FAST_RETRY, Recorder, fast_client
from tests.retrieval.ingest.server import Fault, FixtureServer

DAILY = "/api/daily_papers"


async def test_sends_a_descriptive_user_agent(server: FixtureServer) -> None:
    async with fast_client() as http:
        response = await http.get(server.url + DAILY)
    assert response.status_code == 200
    agent = server.seen[-1].headers["User-Agent"]
    assert agent.startswith("paperbot/")
    assert "httpx" in agent and "bot" in agent


async def test_429_waits_what_retry_after_says(server: FixtureServer, recorder: Recorder) -> None:
    server.fault(DAILY, Fault.status_code(429, retry_after="7"))
    async with fast_client(
        sleep=recorder, retry=RetryPolicy(backoff_base=0.01, total_timeout=60)
    ) as http:
        response = await http.get(server.url + DAILY)
    assert response.status_code == 200
    assert len(server.requests_to(DAILY)) == 2
    assert len(recorder.delays) == 1
    assert 7.0 <= recorder.delays[0] < 7.01  # the header's value plus a tiny jitter


async def test_retry_after_as_http_date(server: FixtureServer, recorder: Recorder) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.fault(DAILY, Fault.status_code(503, retry_after=when))
    async with fast_client(sleep=recorder, retry=RetryPolicy(total_timeout=120)) as http:
        await http.get(server.url + DAILY)
    assert 25 < recorder.delays[0] <= 31


async def test_hf_ratelimit_header_sets_the_wait_on_429(
    server: FixtureServer, recorder: Recorder
) -> None:
    server.fault(DAILY, Fault.status_code(429, ratelimit='"api";r=0;t=12'))
    async with fast_client(sleep=recorder, retry=RetryPolicy(total_timeout=60)) as http:
        await http.get(server.url + DAILY)
    # The 429's own wait uses t=12; the gate then sees the quota window already waited out.
    assert recorder.delays and 12.0 <= recorder.delays[0] < 12.2


async def test_exhausted_quota_on_a_success_delays_the_next_request(server: FixtureServer) -> None:
    class Clock:
        now = 1000.0

    clock = Clock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    server.extra_headers = {"RateLimit": '"api";r=0;t=40'}
    # FAST_RETRY's 5 s budget covers attempts; the quota wait before sending is max_wait's
    async with PoliteClient(retry=FAST_RETRY, sleep=sleep, clock=lambda: clock.now) as http:
        await http.get(server.url + DAILY)
        assert waits == []
        await http.get(server.url + DAILY)
    assert waits == [pytest.approx(40.0)]
    # When the quota resets later than a request may wait, it fails at once, clearly.
    policy = RetryPolicy(max_wait=10)
    async with PoliteClient(retry=policy, sleep=sleep, clock=lambda: clock.now) as http:
        await http.get(server.url + DAILY)
        with pytest.raises(FetchError, match=r"next allowed request is in 40\.0 s, more than"):
            await http.get(server.url + DAILY)


async def test_a_run_of_503s_is_retried_with_growing_backoff(
    server: FixtureServer, recorder: Recorder
) -> None:
    server.fault(DAILY, *[Fault.status_code(503)] * 3)
    policy = RetryPolicy(max_attempts=5, backoff_base=1.0, backoff_max=60, jitter=0.5)
    async with fast_client(sleep=recorder, retry=policy, rng=random.Random(1)) as http:
        response = await http.get(server.url + DAILY)
        assert (http.requests, http.retries) == (4, 3)
    assert response.status_code == 200
    # attempt n waits in [0.5 * 2^(n-1), 2^(n-1)]: exponential, with jitter
    for n, delay in enumerate(recorder.delays, start=1):
        assert 0.5 * 2 ** (n - 1) <= delay <= 2 ** (n - 1)
    assert len(set(recorder.delays)) == 3


async def test_persistent_503_gives_a_clear_error_naming_the_request(
    server: FixtureServer,
) -> None:
    server.fault(DAILY, *[Fault.status_code(503)] * 10)
    async with fast_client() as http:
        with pytest.raises(FetchError) as caught:
            await http.get(server.url + DAILY, params={"date": "2026-06-12"})
    message = str(caught.value)
    assert message.startswith(f"GET {server.url}{DAILY}?date=2026-06-12: HTTP 503")
    assert "gave up after 4 attempts" in message
    assert "\n" not in message
    assert len(server.requests_to(DAILY)) == 4


async def test_a_hang_past_the_timeout_is_retried(server: FixtureServer) -> None:
    server.fault(DAILY, Fault.hang(3.0))
    async with fast_client(timeout=0.2) as http:
        response = await http.get(server.url + DAILY)
        assert http.retries == 1
    assert response.status_code == 200


async def test_total_time_is_bounded(server: FixtureServer) -> None:
    server.fault(DAILY, *[Fault.hang(3.0)] * 10)
    policy = RetryPolicy(max_attempts=50, backoff_base=0.01, total_timeout=0.5)
    async with fast_client(timeout=0.2, retry=policy) as http:
        with pytest.raises(FetchError) as caught:
            await http.get(server.url + DAILY)
    message = str(caught.value)
    assert "time budget" in message and DAILY in message
    assert len(server.requests_to(DAILY)) <= 4


async def test_retry_after_beyond_the_budget_fails_at_once(server: FixtureServer) -> None:
    server.fault(DAILY, Fault.status_code(429, retry_after="3600"))
    async with fast_client(retry=RetryPolicy(total_timeout=30)) as http:
        with pytest.raises(FetchError) as caught:
            await http.get(server.url + DAILY)
    assert "asks to wait 3600" in str(caught.value)
    assert "HTTP 429" in str(caught.value)
    assert len(server.requests_to(DAILY)) == 1


async def test_a_truncated_body_is_retried(server: FixtureServer) -> None:
    server.fault(DAILY, Fault.truncate())
    async with fast_client() as http:
        response = await http.get(server.url + DAILY)
    assert response.json()[0]["paper"]["id"] == "2606.00467"
    assert len(server.requests_to(DAILY)) == 2


async def test_always_truncated_ends_in_a_connection_error(server: FixtureServer) -> None:
    server.fault(DAILY, *[Fault.truncate()] * 10)
    async with fast_client() as http:
        with pytest.raises(FetchError, match="connection error"):
            await http.get(server.url + DAILY)


async def test_404_is_not_retried(server: FixtureServer) -> None:
    async with fast_client() as http:
        with pytest.raises(NotFound) as caught:
            await http.get(server.url + "/api/papers/2601.99999")
    assert caught.value.status == 404
    assert len(server.requests_to("/api/papers/")) == 1


async def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: nothing listens
    async with fast_client() as http:
        with pytest.raises(FetchError, match="connection error") as caught:
            await http.get(f"http://127.0.0.1:{port}/api/query")
        assert http.requests == FAST_RETRY.max_attempts
    assert f"127.0.0.1:{port}/api/query" in str(caught.value)


async def test_slow_host_spacing_uses_the_configured_interval() -> None:
    """arXiv's 3 s rule with a fake clock: waits are asked for, never slept."""

    class Clock:
        now = 50.0

    clock = Clock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    with FixtureServer() as server:
        hosts = {host_key(server.url): HostPolicy(min_interval=3.0, max_concurrency=1)}
        async with PoliteClient(hosts=hosts, sleep=sleep, clock=lambda: clock.now) as http:
            for _ in range(3):
                await http.get(server.url + "/api/query", params={"id_list": "1601.00001"})
    assert waits == [pytest.approx(3.0), pytest.approx(3.0)]


async def test_slow_host_gets_one_request_at_a_time_and_its_spacing() -> None:
    with FixtureServer() as slow, FixtureServer() as fast:
        for _ in range(4):
            slow.fault("/api/query", Fault.hang(0.05))
        hosts = {host_key(slow.url): HostPolicy(min_interval=0.1, max_concurrency=1)}
        async with PoliteClient(hosts=hosts, retry=FAST_RETRY) as http:
            await asyncio.gather(
                *[http.get(slow.url + "/api/query") for _ in range(4)],
                *[http.get(fast.url + DAILY) for _ in range(4)],
            )
        starts = sorted(slow.seen, key=lambda s: s.at)
        for before, after in itertools.pairwise(starts):
            assert after.at >= before.done  # never two in flight
            assert after.at - before.at >= 0.1  # the minimum interval between starts
        assert len(fast.seen) == 4


def test_parse_ratelimit_variants() -> None:
    assert parse_ratelimit('"api";r=0;t=55') == parse_ratelimit('"api"; r=0; t=55')
    info = parse_ratelimit('"resolvers";r=12;t=3')
    assert info is not None and (info.remaining, info.reset_seconds) == (12, 3)
    assert parse_ratelimit("remaining=0, reset=9").reset_seconds == 9  # type: ignore[union-attr]
    assert parse_ratelimit(None) is None and parse_ratelimit("garbage") is None


def test_parse_retry_after_variants() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


async def test_gzip_bodies_are_decoded_once() -> None:
    """HF and arXiv answer gzip-compressed; the size-capped reader must hand back plain bytes."""
    payload = b'[{"paper": {"id": "2606.00467"}}]'

    def handler(request: httpx.Request) -> httpx.Response:
        assert "gzip" in request.headers["Accept-Encoding"]
        return httpx.Response(
            200, content=gzip.compress(payload), headers={"Content-Encoding": "gzip"}
        )

    async with fast_client(transport=httpx.MockTransport(handler)) as http:
        response = await http.get("https://huggingface.co/api/daily_papers")
    assert response.content == payload
    assert response.json()[0]["paper"]["id"] == "2606.00467"


async def test_a_runaway_body_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    async with fast_client(transport=httpx.MockTransport(handler), max_body_bytes=4096) as http:
        with pytest.raises(FetchError, match="larger than"):
            await http.get("https://export.arxiv.org/api/query")
