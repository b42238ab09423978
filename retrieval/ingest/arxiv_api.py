"""The arXiv query API (``export.arxiv.org/api/query``): Atom feeds for searches and id lists.

Two response formats are in the wild and both are parsed by namespace, never by position:

* legacy (until 2025): ``<title type="html">ArXiv Query: ...``, namespaces declared on each
  ``opensearch:``/``arxiv:`` element, ``http`` links, hard-wrapped titles and abstracts;
* 2025 rewrite: namespaces on the root, a plain ``<title>``, ``https`` links, ``<link>`` before
  ``<summary>``, ``primary_category`` without ``scheme``.

arXiv reports some errors as an HTTP 200 feed whose single entry has an id like
``http://arxiv.org/api/errors#incorrect_id_format_for_1234.5678`` (recognised and raised as
:class:`SourceError`), and throttles with a plain ``Rate exceeded.`` body (retried like a 429).
Ids in ``id_list`` are sent without versions so arXiv returns the newest version of each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import httpx
from pydantic import ValidationError

from config import describe_error
from retrieval.ingest.common import Batch, clean_text, dedupe_newest, parse_iso_date
from retrieval.ingest.errors import FetchError, NotFound, ParseError, SourceError
from retrieval.ingest.http import PoliteClient, describe
from retrieval.ingest.xmlutil import parse_xml, text_of
from retrieval.papers import Paper, arxiv_abs_url, split_arxiv_id

log = logging.getLogger(__name__)

SOURCE = "arxiv"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
PAGE_SIZE = 100
MAX_EMPTY_PAGE_RETRIES = 2  # arXiv sometimes returns an empty page mid-result-set


@dataclass
class Feed:
    """One parsed Atom response."""

    total_results: int | None
    start_index: int | None
    items_per_page: int | None
    papers: list[Paper] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    empty_ids: list[str] = field(default_factory=list)  # entries without title/abstract
    entries: int = 0


def rate_exceeded(response: httpx.Response) -> str | None:
    """Validator: arXiv's throttle answer is a bare ``Rate exceeded.`` body, sometimes 200."""
    head = response.content[:200].strip()
    if head.startswith(b"Rate exceeded"):
        return "arXiv says 'Rate exceeded.'"
    return None


def _int(element: Element | None) -> int | None:
    try:
        return int(text_of(element).strip())
    except ValueError:
        return None


def _entry_paper(entry: Element) -> Paper | str:
    """A paper, or the bare id string when the entry is an empty placeholder."""
    raw_id = clean_text(text_of(entry.find(f"{ATOM}id")))
    parts = split_arxiv_id(raw_id)
    if parts is None:
        raise ValueError(f"entry id {raw_id!r} is not an arXiv id")
    paper_id, version = parts
    title = clean_text(text_of(entry.find(f"{ATOM}title")))
    abstract = clean_text(text_of(entry.find(f"{ATOM}summary")))
    if not title and not abstract:
        return paper_id
    if not abstract:
        raise ValueError(f"{paper_id}: no abstract")
    authors = tuple(
        name
        for author in entry.findall(f"{ATOM}author")
        if (name := clean_text(text_of(author.find(f"{ATOM}name"))))
    )
    meta: dict[str, Any] = {}
    if version is not None:
        meta["version"] = version
    categories = [c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term")]
    if categories:
        meta["categories"] = categories
    primary = entry.find(f"{ARXIV}primary_category")
    if primary is not None and primary.get("term"):
        meta["primary_category"] = primary.get("term")
    for tag, key in (("doi", "doi"), ("journal_ref", "journal_ref"), ("comment", "comments")):
        value = clean_text(text_of(entry.find(f"{ARXIV}{tag}")))
        if value:
            meta[key] = value
    updated = parse_iso_date(clean_text(text_of(entry.find(f"{ATOM}updated"))))
    if updated:
        meta["updated"] = updated.isoformat()
    try:
        return Paper(
            id=paper_id,
            title=title or paper_id,
            abstract=abstract,
            authors=authors,
            published=parse_iso_date(clean_text(text_of(entry.find(f"{ATOM}published")))),
            url=arxiv_abs_url(paper_id),
            source=SOURCE,
            metadata=meta,
        )
    except ValidationError as exc:
        raise ValueError(f"{paper_id}: {describe_error(exc)}") from None


def parse_feed(body: bytes, request: str) -> Feed:
    """Parse an Atom response (legacy or 2025 format); raise on arXiv's error feed."""
    root = parse_xml(body, request)
    if root.tag != f"{ATOM}feed":
        raise ParseError(f"expected an Atom <feed>, got <{root.tag}>", request=request)
    entries = root.findall(f"{ATOM}entry")
    for entry in entries:
        entry_id = clean_text(text_of(entry.find(f"{ATOM}id")))
        if "arxiv.org/api/errors" in entry_id:
            message = clean_text(text_of(entry.find(f"{ATOM}summary"))) or entry_id
            code = entry_id.partition("#")[2] or None
            raise SourceError(f"arXiv API error: {message}", request=request, code=code)
    feed = Feed(
        total_results=_int(root.find(f"{OPENSEARCH}totalResults")),
        start_index=_int(root.find(f"{OPENSEARCH}startIndex")),
        items_per_page=_int(root.find(f"{OPENSEARCH}itemsPerPage")),
        entries=len(entries),
    )
    for entry in entries:
        try:
            result = _entry_paper(entry)
        except ValueError as exc:
            feed.skipped.append(str(exc))
            log.warning("%s: skipped an entry: %s", request, exc)
            continue
        if isinstance(result, str):
            feed.empty_ids.append(result)
        else:
            feed.papers.append(result)
    return feed


def normalise_ids(ids: Sequence[str]) -> list[str]:
    """Versionless arXiv ids in the order given, duplicates dropped; bad ones raise NotFound."""
    out: list[str] = []
    bad: list[str] = []
    for raw in ids:
        if not raw.strip():
            continue
        parts = split_arxiv_id(raw)
        if parts is None:
            bad.append(raw.strip())
        elif parts[0] not in out:
            out.append(parts[0])
    if bad:
        raise NotFound(f"not arXiv ids: {', '.join(bad[:10])}")
    return out


class ArxivAPI:
    """Searches and id lookups, paged with ``start``/``max_results``."""

    def __init__(
        self,
        http: PoliteClient,
        url: str = "https://export.arxiv.org/api/query",
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.http = http
        self.url = url
        self.page_size = max(1, page_size)

    async def _feed(self, params: dict[str, Any]) -> Feed:
        request = describe("GET", self.url, params)
        try:
            response = await self.http.get(self.url, params=params, validate=rate_exceeded)
        except FetchError as exc:
            # arXiv may also send its error feed with an HTTP 4xx: say what it says.
            if exc.status is not None and exc.body and b"arxiv.org/api/errors" in exc.body:
                try:
                    parse_feed(exc.body, request)
                except SourceError as api_error:
                    raise api_error from None
                except ParseError:
                    pass
            raise
        return parse_feed(response.content, request)

    async def search(
        self,
        query: str,
        *,
        max_results: int = 100,
        sort_by: str | None = None,
        sort_order: str | None = None,
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> Batch:
        """Up to ``max_results`` papers for an arXiv ``search_query`` (e.g. ``cat:cs.LG AND
        all:transformer``), fetched page by page."""
        result = Batch()
        start = 0
        empty_retries = 0
        while len(result.papers) < max_results:
            params: dict[str, Any] = {
                "search_query": query,
                "start": start,
                "max_results": min(self.page_size, max_results - len(result.papers)),
            }
            if sort_by:
                params["sortBy"] = sort_by
            if sort_order:
                params["sortOrder"] = sort_order
            feed = await self._feed(params)
            result.skipped.extend(feed.skipped)
            if start == 0 or feed.entries:
                # An empty page mid-way can claim 0 results; keep the total the data pages gave.
                result.total_results = feed.total_results
            total = result.total_results or 0
            if feed.entries == 0:
                if start < total and empty_retries < MAX_EMPTY_PAGE_RETRIES:
                    empty_retries += 1  # a known arXiv hiccup: same page again
                    log.info("arXiv returned an empty page at start=%d of %d; again", start, total)
                    continue
                break
            empty_retries = 0
            result.papers.extend(feed.papers)
            start += feed.entries
            if on_page is not None:
                on_page(len(result.papers), feed.total_results)
            if start >= total:
                break
        result.papers = dedupe_newest(result.papers)[:max_results]
        return result

    async def by_ids(
        self, ids: Sequence[str], *, on_page: Callable[[int, int | None], None] | None = None
    ) -> Batch:
        """The newest version of each id. Ids arXiv does not return are listed in ``missing``."""
        wanted = normalise_ids(ids)
        result = Batch(total_results=len(wanted))
        for offset in range(0, len(wanted), self.page_size):
            chunk = wanted[offset : offset + self.page_size]
            params = {"id_list": ",".join(chunk), "start": 0, "max_results": len(chunk)}
            feed = await self._feed(params)
            result.papers.extend(feed.papers)
            result.skipped.extend(feed.skipped)
            if on_page is not None:
                on_page(len(result.papers), len(wanted))
        result.papers = dedupe_newest(result.papers)
        got = {p.id for p in result.papers}
        result.missing = [i for i in wanted if i not in got]
        return result
