"""Remote ingest: fetch everything first; the caller then writes it in one store transaction.

The order is the atomicity guarantee: nothing touches the store until every request of the run
has succeeded (HF and the arXiv API are collected in memory; an OAI harvest is spooled to disk),
and the write is a single :meth:`Library.add_papers`, which rolls back on any exception. A failed
or interrupted run therefore leaves the store exactly as it was, and re-running adds nothing
twice because papers are upserted by normalised id (the store keeps the newest arXiv version).

The CLI (``paperbot ingest``), the bot's ``/add`` and its daily refresh call the same ``fetch_*``
coroutines and write through :meth:`Library.add_papers`, which also re-indexes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from config.settings import Settings
from retrieval.ingest.arxiv_api import ArxivAPI
from retrieval.ingest.common import Batch, dedupe_newest
from retrieval.ingest.errors import NotFound
from retrieval.ingest.hf import HuggingFacePapers, Sort, dates_between
from retrieval.ingest.http import PoliteClient, RetryPolicy, client_for
from retrieval.ingest.http import user_agent as make_user_agent
from retrieval.ingest.oai import HarvestParams, OAIHarvester, Spool, SpoolState, temporary_spool
from retrieval.papers import Paper

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class Fetched:
    """What a fetch produced before anything is written."""

    label: str
    papers: list[Paper] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def retry_policy(settings: Settings, *, total_timeout: float | None = None) -> RetryPolicy:
    """The retry policy the settings describe (``total_timeout`` may shorten the budget)."""
    budget = settings.http_total_timeout
    if total_timeout is not None:
        budget = min(budget, total_timeout)
    return RetryPolicy(
        max_attempts=settings.http_max_attempts,
        total_timeout=budget,
        max_wait=min(settings.http_max_wait, budget) if total_timeout else settings.http_max_wait,
    )


def hf_headers(settings: Settings) -> dict[str, str]:
    """``Authorization`` for Hugging Face when a token is configured (higher rate limits).

    Sent to the Hugging Face host only (see ``PoliteClient(host_headers=...)``); the value is
    never logged: request descriptions in errors and logs carry the URL, not the headers.
    """
    token = settings.hf_token.get_secret_value().strip() if settings.hf_token else ""
    return {"Authorization": f"Bearer {token}"} if token else {}


def make_client(
    settings: Settings,
    *,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    user_agent: str | None = None,
    **kwargs: Any,
) -> PoliteClient:
    """The shared client, configured from the settings.

    arXiv API and OAI hosts get one connection and ``arxiv_min_interval``; retries follow
    ``http_max_attempts`` / ``http_total_timeout`` / ``http_max_wait`` unless ``retry`` is given;
    the User-Agent carries ``http_contact``; Hugging Face requests carry ``hf_token``.
    """
    headers = hf_headers(settings)
    return client_for(
        timeout=settings.http_timeout,
        slow_hosts={
            settings.arxiv_api_url: settings.arxiv_min_interval,
            settings.arxiv_oai_url: settings.arxiv_min_interval,
        },
        retry=retry or retry_policy(settings),
        transport=transport,
        user_agent=user_agent or make_user_agent(settings.http_contact),
        host_headers={settings.hf_base_url: headers} if headers else None,
        **kwargs,
    )


def _from_batch(label: str, batch: Batch) -> Fetched:
    return Fetched(label, dedupe_newest(batch.papers), list(batch.skipped))


async def fetch_hf_daily(
    http: PoliteClient,
    settings: Settings,
    *,
    day: date | None = None,
    start: date | None = None,
    end: date | None = None,
    trending: bool = False,
    progress: Progress | None = None,
) -> Fetched:
    """One day's list, a date range (day by day), or today's list; ``trending`` sorts by trend."""
    hf = HuggingFacePapers(http, settings.hf_base_url)
    sort: Sort | None = "trending" if trending else None

    def on_page(day_label: str, count: int) -> None:
        if progress:
            progress(f"{day_label}: {count} papers")

    if start is not None or end is not None:
        first = start or end or date.today()
        last = end or date.today()
        days = dates_between(first, last)
        batch = await hf.daily_range(days, sort=sort, on_page=on_page)
        label = f"hf-daily {first}..{last}"
    else:
        batch = await hf.daily(day, sort=sort, on_page=on_page)
        label = f"hf-daily {day.isoformat() if day else 'today'}"
    if trending:
        label += " (trending)"
    return _from_batch(label, batch)


async def fetch_hf_papers(
    http: PoliteClient, settings: Settings, ids: Sequence[str], *, progress: Progress | None = None
) -> Fetched:
    """Each id from ``/api/papers/{id}``; any unknown id fails the whole fetch (NotFound)."""
    hf = HuggingFacePapers(http, settings.hf_base_url)
    done: list[Paper] = []

    async def one(paper_id: str) -> Paper:
        paper = await hf.paper(paper_id)
        done.append(paper)
        if progress:
            progress(f"{len(done)}/{len(ids)} papers")
        return paper

    # gather, not a TaskGroup: the first failure must surface as itself (one clear line), not
    # wrapped in an ExceptionGroup; the other requests are cancelled.
    tasks = [asyncio.create_task(one(i)) for i in ids]
    try:
        papers = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return Fetched(f"hf-paper ({len(ids)} ids)", dedupe_newest(papers))


async def fetch_arxiv_query(
    http: PoliteClient,
    settings: Settings,
    query: str,
    *,
    max_results: int = 100,
    sort_by: str | None = None,
    page_size: int = 100,
    progress: Progress | None = None,
) -> Fetched:
    api = ArxivAPI(http, settings.arxiv_api_url, page_size=page_size)

    def on_page(count: int, total: int | None) -> None:
        if progress:
            progress(f"{count} of {min(max_results, total or 0)} papers")

    result = await api.search(
        query,
        max_results=max_results,
        sort_by=sort_by,
        sort_order="descending" if sort_by else None,
        on_page=on_page,
    )
    fetched = Fetched(f"arxiv {query!r}", result.papers, result.skipped)
    if result.total_results is not None:
        fetched.notes.append(f"{result.total_results} match on arXiv")
    return fetched


async def fetch_arxiv_ids(
    http: PoliteClient,
    settings: Settings,
    ids: Sequence[str],
    *,
    allow_missing: bool = False,
    page_size: int = 100,
    progress: Progress | None = None,
) -> Fetched:
    """The newest version of each id; ids arXiv does not return fail the fetch unless allowed."""
    api = ArxivAPI(http, settings.arxiv_api_url, page_size=page_size)

    def on_page(count: int, total: int | None) -> None:
        if progress:
            progress(f"{count}/{total} papers")

    result = await api.by_ids(ids, on_page=on_page)
    if result.missing and not allow_missing:
        shown = ", ".join(result.missing[:10])
        more = f" and {len(result.missing) - 10} more" if len(result.missing) > 10 else ""
        raise NotFound(f"arXiv has no paper {shown}{more}", request=f"GET {settings.arxiv_api_url}")
    return Fetched(f"arxiv ids ({len(ids)})", result.papers, result.skipped, result.missing)


def oai_spool(
    settings: Settings,
    *,
    set_spec: str | None,
    from_date: str | None,
    until_date: str | None,
    prefix: str = "oai_dc",
    checkpoint: Path | None = None,
) -> Spool:
    """The spool for a harvest: the checkpoint file when given, else a temporary file."""
    params = HarvestParams(settings.arxiv_oai_url, set_spec, from_date, until_date, prefix)
    return Spool(checkpoint, params) if checkpoint is not None else temporary_spool(params)


async def harvest_oai(
    http: PoliteClient, settings: Settings, spool: Spool, *, progress: Progress | None = None
) -> SpoolState:
    """Fetch every remaining page of the harvest into ``spool`` (resuming what is there)."""

    def on_page(state: SpoolState) -> None:
        if progress:
            size = f" of ~{state.complete_list_size}" if state.complete_list_size else ""
            progress(f"page {state.pages}: {state.records}{size} records")

    harvester = OAIHarvester(http, settings.arxiv_oai_url)
    return await harvester.harvest(spool, on_page=on_page)


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
