"""Hugging Face Papers: ``/api/daily_papers``, ``/api/papers/{id}``, ``/api/papers/search``.

What the API takes (checked against the HF docs, ``huggingface_hub.list_daily_papers`` and the
recorded responses in ``shared/fixtures/hf_*``):

* ``GET /api/daily_papers?date=YYYY-MM-DD&sort=publishedAt|trending&limit=1..100&p=0..`` returns a
  JSON array of ``{"paper": {...}, "title", "summary", ...}``; ``date`` takes one full day only,
  so a range is fetched day by day. Pages continue while a page is full (HF also sends a
  ``Link: <...>; rel="next"`` header). Without ``date`` it is today's list.
* ``GET /api/papers/{arxiv_id}`` returns the paper object itself (no ``paper`` wrapper); 404 for
  an id HF does not know.
* ``GET /api/papers/search?q=...&limit=N`` returns daily-paper-like items.

``paper.summary`` is the arXiv abstract (the authors' words) and becomes the abstract. Upvotes,
GitHub repo, project page and the AI summary/keywords are Hugging Face's and go to metadata only;
so does the day whose list a paper was fetched from (``hf_daily_date``, what the digest reads).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any, Literal

import httpx
from pydantic import ValidationError

from config import describe_error
from retrieval.ingest.common import Batch, clean_text, dedupe_newest, parse_iso_date
from retrieval.ingest.errors import NotFound, ParseError
from retrieval.ingest.http import PoliteClient, describe
from retrieval.papers import Paper, hf_paper_url, split_arxiv_id

log = logging.getLogger(__name__)

SOURCE = "huggingface"
PAGE_LIMIT = 100  # the API's maximum page size
MAX_PAGES = 50  # a day never has 5000 papers; stop a runaway paginator

Sort = Literal["publishedAt", "trending"]


def _metadata(item: dict[str, Any], paper: dict[str, Any]) -> dict[str, Any]:
    """Hugging Face's own signals: kept, but never as the abstract."""
    meta: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            meta[key] = value

    put("upvotes", paper.get("upvotes"))
    put("github_repo", paper.get("githubRepo"))
    put("github_stars", paper.get("githubStars"))
    put("project_page", paper.get("projectPage"))
    put("ai_summary", paper.get("ai_summary"))
    keywords = paper.get("ai_keywords")
    if isinstance(keywords, list):
        put("ai_keywords", [str(k) for k in keywords if isinstance(k, str | int | float)])
    put("num_comments", item.get("numComments"))
    daily = parse_iso_date(paper.get("submittedOnDailyAt"))
    put("hf_daily_date", daily.isoformat() if daily else None)
    org = paper.get("organization") or item.get("organization")
    if isinstance(org, dict):
        put("organization", org.get("fullname") or org.get("name"))
    return meta


def parse_hf_item(item: Any) -> Paper:
    """One daily/search item (``{"paper": {...}}``) or a bare ``/api/papers/{id}`` object.

    Raises ``ValueError`` with a short reason when the item cannot become a paper.
    """
    if not isinstance(item, dict):
        raise ValueError(f"item is a {type(item).__name__}, not an object")
    nested = item.get("paper")
    paper: dict[str, Any] = nested if isinstance(nested, dict) else item
    raw_id = str(paper.get("id") or "").strip()
    if not raw_id:
        raise ValueError("item has no paper id")
    parts = split_arxiv_id(raw_id)
    paper_id, version = parts if parts else (raw_id, None)
    title = clean_text(paper.get("title") or item.get("title"))
    abstract = clean_text(paper.get("summary") or item.get("summary"))
    if not title:
        raise ValueError(f"{raw_id}: no title")
    if not abstract:
        raise ValueError(f"{raw_id}: no abstract")
    authors = tuple(
        clean_text(a.get("name"))
        for a in paper.get("authors") or []
        if isinstance(a, dict) and not a.get("hidden") and clean_text(a.get("name"))
    )
    metadata = _metadata(item, paper)
    if version is not None:
        metadata["version"] = version
    # The public page, not the API host we fetched from (a mirror or a test server).
    url = hf_paper_url(paper_id)
    try:
        return Paper(
            id=paper_id,
            title=title,
            abstract=abstract,
            authors=authors,
            published=parse_iso_date(paper.get("publishedAt") or item.get("publishedAt")),
            url=url,
            source=SOURCE,
            metadata=metadata,
        )
    except ValidationError as exc:
        raise ValueError(f"{raw_id}: {describe_error(exc)}") from None


def _decode_json(response: httpx.Response, request: str) -> Any:
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        size = len(response.content)
        raise ParseError(
            f"malformed or truncated JSON ({exc.msg if hasattr(exc, 'msg') else exc} at byte "
            f"{getattr(exc, 'pos', '?')} of {size})",
            request=request,
        ) from None


def parse_items(items: Any, request: str) -> Batch:
    if not isinstance(items, list):
        raise ParseError(
            f"expected a JSON array of papers, got {type(items).__name__}", request=request
        )
    batch = Batch()
    for item in items:
        try:
            batch.papers.append(parse_hf_item(item))
        except ValueError as exc:
            batch.skipped.append(str(exc))
            log.warning("%s: skipped an item: %s", request, exc)
    return batch


def on_daily_list(paper: Paper, day: date) -> Paper:
    """``paper`` marked as listed on ``day``'s daily list (``metadata["hf_daily_date"]``).

    Why the requested day wins over ``submittedOnDailyAt``: the digest asks "which papers are
    the list of day D", and the answer is what ``?date=D`` returned, whatever timestamp an item
    carries (a timestamp can be missing, or fall on the neighbouring day in another zone)."""
    if paper.metadata.get("hf_daily_date") == day.isoformat():
        return paper
    return paper.model_copy(
        update={"metadata": {**paper.metadata, "hf_daily_date": day.isoformat()}}
    )


def dates_between(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"--from {start} is after --to {end}")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


class HuggingFacePapers:
    """The three HF paper endpoints over a shared :class:`PoliteClient`."""

    def __init__(self, http: PoliteClient, base_url: str = "https://huggingface.co") -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def daily(
        self,
        day: date | None = None,
        *,
        sort: Sort | None = None,
        limit: int = PAGE_LIMIT,
        on_page: Callable[[str, int], None] | None = None,
    ) -> Batch:
        """All papers of one day's list (today's when ``day`` is None), every page."""
        url = f"{self.base_url}/api/daily_papers"
        batch = Batch()
        for page in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": limit}
            if day is not None:
                params["date"] = day.isoformat()
            if sort is not None:
                params["sort"] = sort
            if page:
                params["p"] = page
            request = describe("GET", url, params)
            response = await self.http.get(url, params=params)
            items = _decode_json(response, request)
            got = parse_items(items, request)
            if day is not None:
                got.papers = [on_daily_list(paper, day) for paper in got.papers]
            batch.extend(got)
            if on_page is not None:
                on_page(day.isoformat() if day else "today", len(batch.papers))
            has_next = 'rel="next"' in response.headers.get("Link", "")
            if not items or (len(items) < limit and not has_next):
                break
        else:
            log.warning("daily papers %s: stopped after %d pages", day, MAX_PAGES)
        return batch

    async def daily_range(
        self,
        days: Iterable[date],
        *,
        sort: Sort | None = None,
        on_page: Callable[[str, int], None] | None = None,
    ) -> Batch:
        """Each day in turn (the API takes one date per request); empty days are fine."""
        total = Batch()
        for day in days:
            total.extend(await self.daily(day, sort=sort, on_page=on_page))
        total.papers = dedupe_newest(total.papers)
        return total

    async def paper(self, paper_id: str) -> Paper:
        """One paper by arXiv id / URL. Raises :class:`NotFound` for an id HF does not know."""
        parts = split_arxiv_id(paper_id)
        if parts is None:
            raise NotFound(f"{paper_id!r} is not an arXiv id or a Hugging Face/arXiv paper URL")
        url = f"{self.base_url}/api/papers/{parts[0]}"
        request = describe("GET", url)
        try:
            response = await self.http.get(url)
        except NotFound as exc:
            raise NotFound(
                f"Hugging Face has no paper {parts[0]} (HTTP {exc.status})", request=request
            ) from None
        data = _decode_json(response, request)
        if not isinstance(data, dict):
            raise ParseError(f"expected a paper object, got {type(data).__name__}", request=request)
        try:
            return parse_hf_item(data)
        except ValueError as exc:
            raise ParseError(str(exc), request=request) from None

    async def search(self, query: str, *, limit: int | None = None) -> Batch:
        url = f"{self.base_url}/api/papers/search"
        params: dict[str, Any] = {"q": query}
        if limit is not None:
            params["limit"] = limit
        request = describe("GET", url, params)
        response = await self.http.get(url, params=params)
        batch = parse_items(_decode_json(response, request), request)
        batch.papers = dedupe_newest(batch.papers)
        return batch
