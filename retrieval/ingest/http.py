"""A polite async HTTP client for the paper sources (Hugging Face, arXiv API, arXiv OAI-PMH).

Why a wrapper rather than bare ``httpx``: every upstream here rate-limits, and arXiv bans clients
that do not space their requests. Politeness, retries and the time budget therefore live in one
place that every source shares, instead of being re-implemented (and forgotten) per endpoint:

* a timeout on every attempt, and a bounded *total* time per logical request (retries and waits
  included) after which a :class:`FetchError` says what happened;
* retries with exponential backoff and jitter on 429, 5xx, timeouts, connection errors and
  truncated bodies, honouring ``Retry-After`` (seconds or HTTP date) and Hugging Face's IETF-draft
  ``RateLimit: "api";r=0;t=55`` header;
* a per-host gate: a minimum interval between requests (counted from the end of the previous
  one, so latency cannot shrink it) and a maximum number of requests in flight (arXiv asks for
  one request every 3 s over a single connection);
* a descriptive ``User-Agent``.

Delays, clock and randomness are constructor parameters so tests run in milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from config import paperbot_version
from retrieval.ingest.errors import FetchError, NotFound

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = (
    f"paperbot/{paperbot_version()} (research-paper Discord bot; polite ingest, "
    f"<=1 req/3s to arXiv) httpx/{httpx.__version__}"
)


def user_agent(contact: str | None = None) -> str:
    """The User-Agent, with the operator's contact (an email or URL) when configured.

    arXiv asks bulk clients to identify themselves with a way to reach them, so a harvest that
    misbehaves gets an email rather than a ban. Control characters are dropped: a header value
    must stay one line.
    """
    clean = " ".join("".join(ch if ch.isprintable() else " " for ch in contact or "").split())
    if not clean:
        return DEFAULT_USER_AGENT
    return DEFAULT_USER_AGENT.replace(") httpx/", f"; +{clean}) httpx/", 1)


RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

# Hugging Face: `RateLimit: "api";r=0;t=55` (remaining, seconds to reset). Also accept the older
# draft spelling `remaining=0, reset=55` some proxies send.
_RATELIMIT_R = re.compile(r"(?:^|[;,\s])(?:r|remaining)\s*=\s*(\d+)", re.IGNORECASE)
_RATELIMIT_T = re.compile(r"(?:^|[;,\s])(?:t|reset)\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try.

    ``total_timeout`` bounds one logical request from its first send: attempts, backoff and
    server-requested waits between attempts. Before the first send, a host whose quota is used
    up (HF ``RateLimit`` r=0, an earlier ``Retry-After``) may make it wait up to ``max_wait``
    (HF's windows are 5 minutes), so a long date range pauses for the window instead of
    failing; anything longer fails at once with a clear message.
    """

    max_attempts: int = 5
    backoff_base: float = 1.0  # first retry waits about this long, then doubles
    backoff_max: float = 60.0
    jitter: float = 0.5  # fraction of the backoff that is randomised (0: none, 1: full jitter)
    total_timeout: float = 180.0
    max_wait: float = 310.0
    retry_statuses: frozenset[int] = RETRY_STATUSES


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Per-host politeness: spacing between request starts and requests in flight."""

    min_interval: float = 0.0
    max_concurrency: int = 4


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """Hugging Face's ``RateLimit`` header: requests left and seconds until the window resets."""

    remaining: int | None
    reset_seconds: int | None


def parse_ratelimit(value: str | None) -> RateLimitInfo | None:
    """Parse ``RateLimit: "api";r=0;t=55`` (draft-ietf-httpapi-ratelimit-headers, as HF sends it).

    Returns ``None`` when the header is absent or has neither ``r`` nor ``t``.
    """
    if not value:
        return None
    r = _RATELIMIT_R.search(value)
    t = _RATELIMIT_T.search(value)
    if r is None and t is None:
        return None
    return RateLimitInfo(
        remaining=int(r.group(1)) if r else None,
        reset_seconds=int(t.group(1)) if t else None,
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def describe(method: str, url: str | httpx.URL, params: Mapping[str, Any] | None = None) -> str:
    """``GET https://host/path?query`` — how errors name a request."""
    full = httpx.URL(str(url), params=params) if params else httpx.URL(str(url))
    return f"{method} {full}"


def host_key(url: str | httpx.URL) -> str:
    """The gate key of a URL: ``host[:port]`` (loopback test servers differ only by port)."""
    parts = urlsplit(str(url))
    return (parts.netloc or parts.path).lower()


@dataclass
class _HostGate:
    policy: HostPolicy
    semaphore: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0  # earliest start of the next request (min interval)
    blocked_until: float = 0.0  # set by RateLimit r=0 / Retry-After


# A validator looks at a 2xx response and returns a reason to retry (e.g. arXiv's "Rate
# exceeded." body served with HTTP 200), or None when the response is usable.
Validator = Callable[[httpx.Response], str | None]


@dataclass(frozen=True, slots=True)
class _Retry:
    """Why an attempt is worth repeating, and how long the server asked us to wait (if it did)."""

    reason: str
    wait_hint: float | None = None


class PoliteClient:
    """One shared ``httpx.AsyncClient`` with retries, a time budget and per-host gates.

    Use as ``async with PoliteClient(...) as http:``. ``transport`` lets tests plug in
    ``httpx.MockTransport``; ``sleep``/``clock``/``rng`` make waits deterministic and tiny.
    """

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        retry: RetryPolicy | None = None,
        hosts: Mapping[str, HostPolicy] | None = None,
        default_host: HostPolicy | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        headers: Mapping[str, str] | None = None,
        host_headers: Mapping[str, Mapping[str, str]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        max_body_bytes: int = 256 * 2**20,
    ) -> None:
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.retry = retry or RetryPolicy()
        self._host_policies = {k.lower(): v for k, v in (hosts or {}).items()}
        self._default_host = default_host or HostPolicy()
        # Headers for one host only (``host_key`` form), e.g. the Hugging Face token, which must
        # never travel to arXiv or anywhere a redirect might lead. Values are never logged.
        self._host_headers = {k.lower(): dict(v) for k, v in (host_headers or {}).items()}
        self._gates: dict[str, _HostGate] = {}
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self.requests = 0  # attempts sent, for summaries and benches
        self.retries = 0
        all_headers = {"User-Agent": user_agent}
        all_headers.update(headers or {})
        max_conn = max(
            [self._default_host.max_concurrency]
            + [p.max_concurrency for p in self._host_policies.values()]
        )
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            headers=all_headers,
            follow_redirects=True,
            transport=transport,
            limits=httpx.Limits(max_connections=max(4, max_conn * 2), max_keepalive_connections=8),
        )

    async def __aenter__(self) -> PoliteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- gates ------------------------------------------------------------------------------------
    def _gate(self, key: str) -> _HostGate:
        gate = self._gates.get(key)
        if gate is None:
            policy = self._host_policies.get(key, self._default_host)
            gate = _HostGate(policy, asyncio.Semaphore(max(1, policy.max_concurrency)))
            self._gates[key] = gate
        return gate

    async def _enter_gate(self, gate: _HostGate, limit: float, request: str) -> None:
        """Wait for a slot and for the host's spacing; fail if that would pass ``limit``."""
        await gate.semaphore.acquire()
        try:
            async with gate.lock:
                now = self._clock()
                ready = max(gate.next_start, gate.blocked_until)
                wait = ready - now
                if wait > 0:
                    if now + wait > limit:
                        raise FetchError(
                            f"rate limited: the next allowed request is in {wait:.1f} s, more "
                            f"than the {max(0.0, limit - now):.0f} s this request may wait",
                            request=request,
                        )
                    await self._sleep(wait)
                gate.next_start = self._clock() + gate.policy.min_interval
        except BaseException:
            gate.semaphore.release()
            raise

    def _note_rate_limit(self, gate: _HostGate, response: httpx.Response) -> float | None:
        """Record HF's ``RateLimit`` header; return its reset when the quota is used up."""
        info = parse_ratelimit(response.headers.get("RateLimit"))
        if info is None or info.reset_seconds is None:
            return None
        if info.remaining == 0 or response.status_code == 429:
            gate.blocked_until = max(gate.blocked_until, self._clock() + info.reset_seconds)
            return float(info.reset_seconds)
        return None

    # -- requests ---------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.backoff_max, self.retry.backoff_base * 2 ** (attempt - 1))
        spread = base * min(1.0, max(0.0, self.retry.jitter))
        return base - spread + self._rng.uniform(0.0, spread)

    async def _fetch(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        request: str,
    ) -> httpx.Response:
        """One attempt, body read with a size cap (a runaway body must not fill the memory)."""
        async with self._client.stream("GET", url, params=params, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise FetchError(
                        f"response body larger than {self.max_body_bytes:,} bytes; refused",
                        request=request,
                        status=response.status_code,
                    )
                chunks.append(chunk)
        # A plain Response over the (already decompressed) bytes: .content/.json() work as usual.
        # Content-Encoding must go, or httpx would try to gunzip the bytes a second time.
        plain_headers = httpx.Headers(response.headers)
        for name in ("Content-Encoding", "Content-Length", "Transfer-Encoding"):
            plain_headers.pop(name, None)
        return httpx.Response(
            response.status_code,
            headers=plain_headers,
            content=b"".join(chunks),
            request=response.request,
            extensions={"reason_phrase": response.reason_phrase.encode("ascii", "replace")},
        )

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        validate: Validator | None = None,
    ) -> httpx.Response:
        """GET with the full policy. Returns a 2xx response whose body has been read."""
        request = describe("GET", url, params)
        key = host_key(url)
        gate = self._gate(key)
        extra = self._host_headers.get(key)
        if extra:
            headers = {**extra, **(headers or {})}
        start = self._clock()
        deadline: float | None = None
        attempt = 0
        while True:
            attempt += 1
            limit = deadline if deadline is not None else start + self.retry.max_wait
            await self._enter_gate(gate, limit, request)
            if deadline is None:  # the time budget starts once the first request may go
                start = self._clock()
                deadline = start + self.retry.total_timeout
            outcome = await self._attempt(
                url, params, headers, validate, request, gate, deadline, attempt
            )
            if isinstance(outcome, httpx.Response):
                return outcome
            delay = self._delay_or_give_up(outcome, attempt, start, deadline, request)
            self.retries += 1
            log.info("%s: %s; retry %d in %.2f s", request, outcome.reason, attempt, delay)
            await self._sleep(delay)

    async def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        validate: Validator | None,
        request: str,
        gate: _HostGate,
        deadline: float,
        attempt: int,
    ) -> httpx.Response | _Retry:
        """One exchange inside the host's gate (already entered; left here): a usable response,
        a reason to try again, or an error raised for what retrying cannot fix."""
        try:
            self.requests += 1
            try:
                async with asyncio.timeout(max(0.001, deadline - self._clock())):
                    response = await self._fetch(url, params, headers, request)
            except TimeoutError:
                raise FetchError(
                    f"no complete response within the {self.retry.total_timeout:g} s time "
                    f"budget (attempt {attempt})",
                    request=request,
                ) from None
            # Judged before the gate opens again, so a rate limit it announces holds the next
            # request too.
            return self._judge(response, gate, request, validate)
        except httpx.TimeoutException as exc:
            return _Retry(f"timed out after {self.timeout:g} s ({type(exc).__name__})")
        except httpx.TransportError as exc:
            # Includes RemoteProtocolError: a body cut off before its Content-Length.
            detail = str(exc) or type(exc).__name__
            return _Retry(f"connection error ({type(exc).__name__}: {detail})")
        finally:
            if gate.policy.min_interval > 0:
                # Space from the *end* of this exchange too: the server then sees the full
                # interval between requests whatever the latency of connecting was.
                gate.next_start = max(gate.next_start, self._clock() + gate.policy.min_interval)
            gate.semaphore.release()

    def _judge(
        self,
        response: httpx.Response,
        gate: _HostGate,
        request: str,
        validate: Validator | None,
    ) -> httpx.Response | _Retry:
        """A response's fate: usable, worth retrying (with the server's wait hint), or an
        error (4xx other than the retryable ones: :class:`NotFound` for 404/410)."""
        reset = self._note_rate_limit(gate, response)
        status = response.status_code
        if status in self.retry.retry_statuses:
            hint = parse_retry_after(response.headers.get("Retry-After"))
            return _Retry(
                f"HTTP {status} {response.reason_phrase}".rstrip(),
                hint if hint is not None else reset,
            )
        if status >= 400:
            cls = NotFound if status in (404, 410) else FetchError
            raise cls(
                f"HTTP {status} {response.reason_phrase}".rstrip(),
                request=request,
                status=status,
                body=response.content[:4096],
            )
        reason = validate(response) if validate is not None else None
        if reason is None:
            return response
        return _Retry(reason, parse_retry_after(response.headers.get("Retry-After")))

    def _delay_or_give_up(
        self, retry: _Retry, attempt: int, start: float, deadline: float, request: str
    ) -> float:
        """How long to wait before the next attempt; raises when out of attempts or time."""
        if attempt >= self.retry.max_attempts:
            elapsed = self._clock() - start
            raise FetchError(
                f"{retry.reason}; gave up after {attempt} attempts in {elapsed:.1f} s",
                request=request,
            )
        delay = self._backoff(attempt)
        if retry.wait_hint is not None:
            # The server knows best; add a little jitter so clients don't stampede.
            delay = retry.wait_hint + self._rng.uniform(0.0, self.retry.backoff_base * 0.1)
        if self._clock() + delay > deadline:
            raise FetchError(
                f"{retry.reason}; the server asks to wait {delay:.1f} s, beyond the "
                f"{self.retry.total_timeout:g} s time budget (attempt {attempt})"
                if retry.wait_hint is not None
                else f"{retry.reason}; out of the {self.retry.total_timeout:g} s time budget "
                f"after {attempt} attempts",
                request=request,
            )
        return delay


def client_for(
    *,
    timeout: float,
    slow_hosts: Mapping[str, float] | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
    default_host: HostPolicy | None = None,
    host_headers: Mapping[str, Mapping[str, str]] | None = None,
    **kwargs: Any,
) -> PoliteClient:
    """A client where each URL in ``slow_hosts`` gets one connection and its min interval."""
    hosts = {
        host_key(url): HostPolicy(min_interval=interval, max_concurrency=1)
        for url, interval in (slow_hosts or {}).items()
    }
    return PoliteClient(
        timeout=timeout,
        retry=retry,
        hosts=hosts,
        default_host=default_host,
        transport=transport,
        user_agent=user_agent,
        host_headers={host_key(url): h for url, h in (host_headers or {}).items()},
        **kwargs,
    )
