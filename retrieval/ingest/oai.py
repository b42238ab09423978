"""arXiv OAI-PMH ``ListRecords`` harvests (``oai_dc`` and ``arXivRaw``), resumable.

A harvest is a chain of pages linked by ``resumptionToken``. Two promises pull against each
other: the store must be untouched if the harvest fails (so nothing is written until the last
page is in), yet an interrupted bulk harvest must not start over. Both hold because every page
is appended to a *spool* file (the ``--checkpoint``) together with the token for the next page,
flushed and fsynced before that next request. Re-running with the same checkpoint reads what is
there and continues from the last token; only a complete harvest is upserted, in one call.

Errors arrive as ``<error code="...">`` inside an HTTP 200 response. ``noRecordsMatch`` means
"nothing in that range" and is an empty, successful harvest; every other code is a
:class:`SourceError`. A ``badResumptionToken`` while resuming usually means the token expired
(the 2025 endpoint's tokens last about a day): the message says to delete the checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import Element

from pydantic import ValidationError

from config import describe_error
from retrieval.ingest.common import (
    clean_text,
    flip_name,
    parse_iso_date,
    replaces,
    split_authors,
)
from retrieval.ingest.errors import CheckpointError, ParseError, SourceError
from retrieval.ingest.http import PoliteClient, describe
from retrieval.ingest.xmlutil import parse_xml, text_of
from retrieval.papers import Paper, arxiv_abs_url, split_arxiv_id

log = logging.getLogger(__name__)

SOURCE = "arxiv-oai"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
RAW = "{http://arxiv.org/OAI/arXivRaw/}"
OAI_DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}"
DC = "{http://purl.org/dc/elements/1.1/}"
CHECKPOINT_FORMAT = "paperbot-oai-checkpoint"
CHECKPOINT_VERSION = 1
MAX_PAGES = 100_000

Prefix = Literal["oai_dc", "arXivRaw"]


@dataclass
class OAIPage:
    papers: list[Paper] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: int = 0
    token: str | None = None  # the next page's token; None/"" when this was the last page
    complete_list_size: int | None = None


# --- record parsing -----------------------------------------------------------------------------
def _oai_id(identifier: str) -> tuple[str, int | None] | None:
    """``oai:arXiv.org:0704.0471`` / ``oai:arXiv.org:hep-th/9901001`` -> (id, version)."""
    tail = identifier
    if identifier.startswith("oai:") and identifier.count(":") >= 2:
        tail = identifier.split(":", 2)[2]
    return split_arxiv_id(tail)


def _paper(paper_id: str, title: str, abstract: str, meta: dict[str, Any], **fields: Any) -> Paper:
    if not title:
        raise ValueError(f"{paper_id}: no title")
    if not abstract:
        raise ValueError(f"{paper_id}: no abstract")
    try:
        return Paper(
            id=paper_id,
            title=title,
            abstract=abstract,
            url=arxiv_abs_url(paper_id),
            source=SOURCE,
            metadata={k: v for k, v in meta.items() if v not in (None, "", [], ())},
            **fields,
        )
    except ValidationError as exc:
        raise ValueError(f"{paper_id}: {describe_error(exc)}") from None


def _rfc2822_date(value: str) -> str | None:
    try:
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def parse_arxiv_raw(raw: Element, header_id: str, datestamp: str) -> Paper:
    text = {
        child.tag.removeprefix(RAW): clean_text(text_of(child))
        for child in raw
        if child.tag != f"{RAW}version"
    }
    parts = split_arxiv_id(text.get("id", "")) or _oai_id(header_id)
    if parts is None:
        raise ValueError(f"record {header_id!r} has no arXiv id")
    paper_id = parts[0]
    versions: list[tuple[int, str | None]] = []
    for version in raw.findall(f"{RAW}version"):
        label = (version.get("version") or "").lstrip("vV")
        if label.isdigit():
            stamp = _rfc2822_date(clean_text(text_of(version.find(f"{RAW}date"))))
            versions.append((int(label), stamp))
    versions.sort()
    categories = text.get("categories", "").split()
    published = versions[0][1] if versions else None
    meta = {
        "version": versions[-1][0] if versions else parts[1],
        "categories": categories,
        "primary_category": categories[0] if categories else None,
        "comments": text.get("comments"),
        "journal_ref": text.get("journal-ref"),
        "doi": text.get("doi"),
        "license": text.get("license"),
        "msc_class": text.get("msc-class"),
        "acm_class": text.get("acm-class"),
        "updated": versions[-1][1] if versions else None,
        "oai_datestamp": datestamp or None,
    }
    return _paper(
        paper_id,
        text.get("title", ""),
        text.get("abstract", ""),
        meta,
        authors=split_authors(text.get("authors", "")),
        published=parse_iso_date(published) if published else None,
    )


def parse_oai_dc(dc: Element, header_id: str, datestamp: str) -> Paper:
    def values(tag: str) -> list[str]:
        return [v for e in dc.findall(f"{DC}{tag}") if (v := clean_text(text_of(e)))]

    parts = _oai_id(header_id)
    if parts is None:
        for identifier in values("identifier"):
            parts = split_arxiv_id(identifier)
            if parts:
                break
    if parts is None:
        raise ValueError(f"record {header_id!r} has no arXiv id")
    descriptions = values("description")
    comments = [d[len("Comment:") :].strip() for d in descriptions if d.startswith("Comment:")]
    abstracts = [d for d in descriptions if not d.startswith("Comment:")]
    dates = values("date")
    titles = values("title")
    meta = {
        "version": parts[1],
        "subjects": values("subject"),
        "comments": comments[0] if comments else None,
        "updated": dates[-1] if len(dates) > 1 else None,
        "oai_datestamp": datestamp or None,
    }
    return _paper(
        parts[0],
        titles[0] if titles else "",
        abstracts[0] if abstracts else "",
        meta,
        authors=tuple(flip_name(c) for c in values("creator")),
        published=parse_iso_date(dates[0]) if dates else None,
    )


def parse_list_records(body: bytes, request: str) -> OAIPage:
    """One ListRecords response -> papers, deletions and the next token."""
    root = parse_xml(body, request)
    if root.tag != f"{OAI}OAI-PMH":
        raise ParseError(f"expected an <OAI-PMH> document, got <{root.tag}>", request=request)
    error = root.find(f"{OAI}error")
    if error is not None:
        code = error.get("code") or "unknown"
        if code == "noRecordsMatch":
            return OAIPage()
        message = clean_text(text_of(error)) or code
        raise SourceError(f"OAI-PMH error {code}: {message}", request=request, code=code)
    listing = root.find(f"{OAI}ListRecords")
    if listing is None:
        raise ParseError("no <ListRecords> and no <error> in the response", request=request)
    page = OAIPage()
    for record in listing.findall(f"{OAI}record"):
        header = record.find(f"{OAI}header")
        if header is None:
            header = Element(f"{OAI}header")
        header_id = clean_text(text_of(header.find(f"{OAI}identifier")))
        if header.get("status") == "deleted":
            page.deleted += 1
            continue
        datestamp = clean_text(text_of(header.find(f"{OAI}datestamp")))
        metadata = record.find(f"{OAI}metadata")
        try:
            if metadata is None or len(metadata) == 0:
                raise ValueError(f"record {header_id!r} has no metadata")
            inner = metadata[0]
            if inner.tag == f"{RAW}arXivRaw":
                page.papers.append(parse_arxiv_raw(inner, header_id, datestamp))
            elif inner.tag == f"{OAI_DC}dc":
                page.papers.append(parse_oai_dc(inner, header_id, datestamp))
            else:
                raise ValueError(f"record {header_id!r}: unsupported metadata <{inner.tag}>")
        except ValueError as exc:
            page.skipped.append(str(exc))
            log.warning("%s: skipped a record: %s", request, exc)
    token = listing.find(f"{OAI}resumptionToken")
    if token is not None:
        page.token = clean_text(text_of(token)) or None
        size = token.get("completeListSize")
        page.complete_list_size = int(size) if size and size.isdigit() else None
    return page


# --- the spool / checkpoint ---------------------------------------------------------------------
@dataclass
class HarvestParams:
    base_url: str
    set_spec: str | None
    from_date: str | None
    until_date: str | None
    prefix: str

    def first_request(self) -> dict[str, str]:
        params = {"verb": "ListRecords", "metadataPrefix": self.prefix}
        if self.set_spec:
            params["set"] = self.set_spec
        if self.from_date:
            params["from"] = self.from_date
        if self.until_date:
            params["until"] = self.until_date
        return params

    def as_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "set": self.set_spec,
            "from": self.from_date,
            "until": self.until_date,
            "prefix": self.prefix,
        }


@dataclass
class SpoolState:
    pages: int = 0
    records: int = 0
    skipped: int = 0
    deleted: int = 0
    token: str | None = None
    complete: bool = False
    complete_list_size: int | None = None


class Spool:
    """An append-only JSON-lines file: a header, then one line per harvested page."""

    def __init__(self, path: Path, params: HarvestParams) -> None:
        self.path = path
        self.params = params
        self.state = SpoolState()

    def open(self) -> None:
        """Create the file, or validate and load an existing one (dropping a torn last line)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            header = {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "params": self.params.as_dict(),
            }
            self._append(header)
            return
        try:
            with self.path.open("rb") as handle:
                first = handle.readline(1 << 16)
                try:
                    found: dict[str, object] | None = json.loads(first)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    found = None
                # Checked before anything else is read or written: a wrong path (the store
                # itself, say) must be refused untouched, never "repaired".
                self._check_header(found)
                rest = handle.read()
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint {self.path}: {exc}") from None
        if not first.endswith(b"\n"):
            raise CheckpointError(f"checkpoint {self.path} has a torn header; delete it")
        # Every line is written whole and ends in a newline; only an interrupted write leaves
        # an unterminated tail, which is dropped (that page is fetched again).
        complete, _, torn = rest.rpartition(b"\n")
        lines = complete.split(b"\n") if complete else []
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            try:
                self._load_page(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
                raise CheckpointError(
                    f"checkpoint {self.path} is corrupt at line {number}; delete it"
                ) from None
        if torn:
            log.warning("checkpoint %s: dropping an incomplete last line", self.path)
            with self.path.open("r+b") as handle:
                handle.truncate(len(first) + len(complete) + (1 if complete else 0))

    def _check_header(self, entry: Any) -> None:
        if not isinstance(entry, dict) or entry.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{self.path} is not a paperbot OAI checkpoint")
        if entry.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"{self.path}: unsupported checkpoint version")
        if entry.get("params") != self.params.as_dict():
            theirs = entry.get("params")
            raise CheckpointError(
                f"checkpoint {self.path} belongs to another harvest ({theirs}); use another "
                "file or delete it"
            )

    def _load_page(self, entry: dict[str, Any]) -> None:
        self.state.pages += 1
        self.state.records += len(entry.get("papers", []))
        self.state.skipped += int(entry.get("skipped", 0))
        self.state.deleted += int(entry.get("deleted", 0))
        self.state.token = entry.get("token")
        self.state.complete = not self.state.token
        self.state.complete_list_size = entry.get("complete_list_size")

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def add_page(self, page: OAIPage) -> None:
        entry = {
            "token": page.token,
            "papers": [p.model_dump(mode="json") for p in page.papers],
            "skipped": len(page.skipped),
            "deleted": page.deleted,
            "complete_list_size": page.complete_list_size,
        }
        self._append(entry)
        self._load_page(entry)

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        with self.path.open("rb") as handle:
            next(handle, None)  # header
            for line in handle:
                if line.strip():
                    yield json.loads(line).get("papers", [])

    def iter_papers(self) -> Iterator[Paper]:
        """Every harvested paper once, the newest version of each, in harvest order.

        Two passes over the file so that a million-record harvest never sits in memory as
        Paper objects: the first picks, per id, the position of the record to keep.
        """
        keep: dict[str, tuple[int, int | None]] = {}
        position = 0
        for papers in self._pages():
            for raw in papers:
                version = raw.get("metadata", {}).get("version")
                version = version if isinstance(version, int) else None
                current = keep.get(raw["id"])
                if current is None or replaces(version, current[1]):
                    keep[raw["id"]] = (position, version)
                position += 1
        wanted = {pos for pos, _ in keep.values()}
        position = 0
        for papers in self._pages():
            for raw in papers:
                if position in wanted:
                    yield Paper.model_validate(raw)
                position += 1


# --- the harvester ------------------------------------------------------------------------------
class OAIHarvester:
    def __init__(self, http: PoliteClient, base_url: str = "https://oaipmh.arxiv.org/oai") -> None:
        self.http = http
        self.base_url = base_url

    async def _page(self, params: dict[str, str]) -> OAIPage:
        request = describe("GET", self.base_url, params)
        response = await self.http.get(self.base_url, params=params)
        # A 1000-record page takes ~0.1 s to parse: off the event loop, so a bot sharing the
        # loop keeps answering while a harvest runs.
        return await asyncio.to_thread(parse_list_records, response.content, request)

    async def harvest(
        self,
        spool: Spool,
        *,
        on_page: Callable[[SpoolState], None] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> SpoolState:
        """Fetch every remaining page into ``spool``; returns its final state."""
        spool.open()
        state = spool.state
        resuming = state.pages > 0
        if state.pages and state.complete:
            return state
        fetched = 0
        while fetched < max_pages:
            if state.pages == 0:
                params = spool.params.first_request()
            else:
                params = {"verb": "ListRecords", "resumptionToken": state.token or ""}
            try:
                page = await self._page(params)
            except SourceError as exc:
                if exc.code == "badResumptionToken" and resuming:
                    raise SourceError(
                        f"{exc.reason}. The token saved in the checkpoint has probably expired;"
                        f" delete {spool.path} and harvest again",
                        request=exc.request,
                        code=exc.code,
                    ) from None
                raise
            spool.add_page(page)
            fetched += 1
            if on_page is not None:
                on_page(state)
            if state.complete:
                return state
        raise SourceError(f"harvest stopped after {max_pages} pages (limit); resume to continue")


def temporary_spool(params: HarvestParams) -> Spool:
    handle, name = tempfile.mkstemp(prefix="paperbot-oai-", suffix=".jsonl")
    os.close(handle)
    return Spool(Path(name), params)
