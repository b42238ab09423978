"""A loopback HTTP server that serves the recorded fixtures and injects faults.

Real sockets, real HTTP/1.1 and a real ``httpx`` client on the other side: retries, timeouts,
truncated bodies and keep-alive behave as they do against Hugging Face and arXiv. It runs in a
background thread so both the synchronous CLI (which calls ``asyncio.run`` itself) and async
tests can use it. Also used by ``bench/bench_ingest.py``.

Routes (relative to ``server.url``):

* ``/api/daily_papers`` — ``shared/fixtures/hf_daily_papers`` for page 0 (``p`` absent or 0);
  ``daily[date]`` overrides per date; later pages are ``[]``.
* ``/api/papers/search`` — the recorded search response.
* ``/api/papers/{id}`` — the recorded paper for 2608.09888 (or ``papers[id]``; see
  :meth:`FixtureServer.serve_daily_papers`), else HTTP 404.
* ``/api/query`` — arXiv Atom: ``id_list=1601.00001`` gives the 2020 legacy fixture, other
  ``id_list``\\ s an empty feed; ``search_query`` gives ``arxiv_pages[start]`` when set, else the
  2026-format fixture for ``start=0`` and an empty feed after it.
* ``/oai`` — OAI-PMH ListRecords over ``oai_pages`` pages built from the recorded responses
  (``set=moo`` gives the recorded ``noRecordsMatch``; an unknown token ``badResumptionToken``).

Faults are queued per path prefix with :meth:`FixtureServer.fault` and consumed one per request
before the normal answer: ``Fault.status_code(429, retry_after="1")``, ``Fault.hang(2.0)``,
``Fault.truncate()``, ``Fault.body(b"...")``, and ``Fault.ok()`` to let one request through.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.paths import FIXTURES, require_shared

HF_DAILY = FIXTURES / "hf_daily_papers" / "daily_papers_limit100_2026-06-12.json"
HF_PAPER = FIXTURES / "hf_paper" / "paper_2608.09888.json"
HF_SEARCH = FIXTURES / "hf_papers_search" / "search_q_diffusion_first2.json"
ARXIV_2020 = FIXTURES / "arxiv_api" / "query_2020_legacy_id_list_1601.00001.xml"
ARXIV_2025 = FIXTURES / "arxiv_api" / "query_2025_legacy_cat_cs.RO_neural.xml"
ARXIV_2026 = FIXTURES / "arxiv_api" / "query_2026_new_format_all-transformer_cs.LG.xml"
OAI_DC = FIXTURES / "arxiv_oai" / "listrecords_oai_dc_2024.xml"
OAI_RAW = FIXTURES / "arxiv_oai" / "listrecords_arXivRaw_2015.xml"
OAI_ERRORS = FIXTURES / "arxiv_oai"

# Written by hand (no real arXiv error feed was ever recorded, see fixtures/arxiv_api/SOURCE.md):
# the shape arXiv documents for errors in its API user manual, served with HTTP 200.
SYNTHETIC_ARXIV_ERROR_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3D%26id_list%3D1234.12345v9" rel="self"/>
  <title type="html">ArXiv Query: search_query=&amp;id_list=1234.12345v9</title>
  <id>http://arxiv.org/api/nDnBmdbwQjK4V3pFuTmD9BpSi6Y</id>
  <updated>2025-01-01T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:itemsPerPage>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345v9</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.12345v9</summary>
    <updated>2025-01-01T00:00:00-05:00</updated>
    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345v9"
          rel="alternate" type="text/html"/>
    <author>
      <name>arXiv api core</name>
    </author>
  </entry>
</feed>
"""

EMPTY_FEED = b"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/empty</id>
  <title>arXiv Query: empty</title>
  <updated>2026-06-14T02:30:47Z</updated>
  <opensearch:itemsPerPage>0</opensearch:itemsPerPage>
  <opensearch:totalResults>0</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
</feed>
"""


@dataclass
class Fault:
    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    payload: bytes = b""
    seconds: float = 0.0

    @classmethod
    def status_code(
        cls, status: int, *, retry_after: str | None = None, ratelimit: str | None = None
    ) -> Fault:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if ratelimit is not None:
            headers["RateLimit"] = ratelimit
            headers["RateLimit-Policy"] = '"fixed window";"api";q=500;w=300'
        return cls("status", status=status, headers=headers, payload=b"busy")

    @classmethod
    def ok(cls) -> Fault:
        """Answer normally (to let the first N requests through before the faults)."""
        return cls("pass")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        return cls("hang", seconds=seconds)

    @classmethod
    def truncate(cls) -> Fault:
        """The real answer, cut in half, connection closed before Content-Length is reached."""
        return cls("truncate")

    @classmethod
    def body(cls, payload: bytes, *, status: int = 200, content_type: str = "text/plain") -> Fault:
        return cls("body", status=status, payload=payload, headers={"Content-Type": content_type})


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float
    done: float = 0.0


def rewrite_daily(payload: bytes, prefix: str) -> bytes:
    """The recorded daily list with every arXiv id moved to ``prefix.NNNNN`` (distinct papers)."""
    items = json.loads(payload)
    for item in items:
        paper_id = item["paper"]["id"]
        item["paper"]["id"] = f"{prefix}.{paper_id.split('.', 1)[1]}"
    return json.dumps(items).encode()


_OAI_ID = re.compile(r"(oai:arXiv\.org:|<id>|arxiv\.org/abs/)(\d{4})\.(\d{4,5})")
_TOKEN = re.compile(rb"<resumptionToken[^>]*>[^<]*</resumptionToken>|<resumptionToken[^>]*/>")


def oai_page(template: bytes, page: int, pages: int) -> bytes:
    """Page ``page`` (1-based) of ``pages``: page 1 has the recorded ids, later pages shifted ids;
    the token links to the next page, the last page has an empty token."""
    text = template
    if page > 1:
        prefix = f"{(9000 + page) % 10000:04d}"
        text = _OAI_ID.sub(lambda m: f"{m.group(1)}{prefix}.{m.group(3)}", text.decode()).encode()
    if page < pages:
        token = f'<resumptionToken cursor="{page}">paperbot-test|{page + 1}</resumptionToken>'
    else:
        token = f'<resumptionToken cursor="{page}" completeListSize="{pages}"/>'
    return _TOKEN.sub(token.encode(), text, count=1)


class FixtureServer:
    """Start with ``with FixtureServer() as server:``; ``server.url`` is ``http://127.0.0.1:P``."""

    def __init__(self) -> None:
        require_shared()  # it serves the recorded responses in the shared fixtures
        self.daily: dict[str, bytes] = {}
        self.daily_default: bytes | None = HF_DAILY.read_bytes()
        self.papers: dict[str, bytes] = {"2608.09888": HF_PAPER.read_bytes()}
        self.arxiv_pages: dict[int, bytes] = {}
        self.arxiv_ids: dict[str, bytes] = {"1601.00001": ARXIV_2020.read_bytes()}
        self.oai_pages = 2
        self.oai_templates = {"oai_dc": OAI_DC.read_bytes(), "arXivRaw": OAI_RAW.read_bytes()}
        self.extra_headers: dict[str, str] = {}
        self.routes: dict[str, Callable[[dict[str, list[str]]], tuple[int, bytes, str]]] = {}
        self.seen: list[Seen] = []
        self._faults: list[tuple[str, Fault]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- configuration ---------------------------------------------------------------------------
    def serve_daily_papers(self, payload: bytes | None = None) -> list[str]:
        """Serve each paper of a daily list (default: the recorded one) at ``/api/papers/{id}``,
        as Hugging Face does (the bare paper object). Returns the ids, in list order."""
        items = json.loads(payload if payload is not None else HF_DAILY.read_bytes())
        ids = []
        for item in items:
            paper = dict(item["paper"])
            paper.setdefault("title", item.get("title"))
            paper.setdefault("summary", item.get("summary"))
            self.papers[paper["id"]] = json.dumps(paper).encode()
            ids.append(paper["id"])
        return ids

    def fault(self, path_prefix: str, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend((path_prefix, f) for f in faults)

    def requests_to(self, path_prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(path_prefix)]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for index, (prefix, fault) in enumerate(self._faults):
                if path.startswith(prefix):
                    del self._faults[index]
                    return fault
        return None

    # -- answers ---------------------------------------------------------------------------------
    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes, str]:
        def one(name: str, default: str = "") -> str:
            return query.get(name, [default])[0]

        if path in self.routes:
            return self.routes[path](query)
        json_type = "application/json; charset=utf-8"
        atom = "application/atom+xml; charset=utf-8"
        xml = "text/xml; charset=utf-8"
        if path == "/api/daily_papers":
            if int(one("p", "0") or 0) > 0:
                return 200, b"[]", json_type
            day = one("date")
            body = self.daily.get(day, self.daily_default)
            return 200, body if body is not None else b"[]", json_type
        if path == "/api/papers/search":
            return 200, HF_SEARCH.read_bytes(), json_type
        if path.startswith("/api/papers/"):
            paper_id = path.removeprefix("/api/papers/")
            if paper_id in self.papers:
                return 200, self.papers[paper_id], json_type
            return 404, b'{"error":"Entry not found"}', json_type
        if path == "/api/query":
            if one("id_list"):
                ids = one("id_list").split(",")
                for paper_id in ids:
                    if paper_id in self.arxiv_ids:
                        return 200, self.arxiv_ids[paper_id], atom
                return 200, EMPTY_FEED, atom
            start = int(one("start", "0") or 0)
            if self.arxiv_pages:
                return 200, self.arxiv_pages.get(start, EMPTY_FEED), atom
            return 200, ARXIV_2026.read_bytes() if start == 0 else EMPTY_FEED, atom
        if path == "/oai":
            token = one("resumptionToken")
            if token:
                match = re.fullmatch(r"paperbot-test\|(\d+)", token)
                page = int(match.group(1)) if match else 0
                if not match or page > self.oai_pages:
                    return 200, (OAI_ERRORS / "error_BadResumptionToken.xml").read_bytes(), xml
                prefix = self._oai_prefix
            else:
                if one("set") == "moo":
                    return 200, (OAI_ERRORS / "error_NoRecordsMatch.xml").read_bytes(), xml
                prefix = one("metadataPrefix")
                if prefix not in self.oai_templates:
                    return 200, (OAI_ERRORS / "error_BadArgument.xml").read_bytes(), xml
                self._oai_prefix = prefix
                page = 1
            return 200, oai_page(self.oai_templates[prefix], page, self.oai_pages), xml
        return 404, b"not found", "text/plain"

    _oai_prefix = "oai_dc"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, content_type: str, headers=None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in {**server.extra_headers, **(headers or {})}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                seen = Seen(
                    "GET", parts.path, parse_qs(parts.query), dict(self.headers), time.monotonic()
                )
                server.seen.append(seen)
                try:
                    self._serve(parts.path, seen)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    seen.done = time.monotonic()

            def _serve(self, path: str, seen: Seen) -> None:
                fault = server._take_fault(path)
                if fault is not None and fault.kind == "pass":
                    fault = None
                if fault is not None and fault.kind == "hang":
                    server._stop.wait(fault.seconds)
                    fault = None
                if fault is not None and fault.kind == "status":
                    self._send(fault.status, fault.payload, "text/plain", fault.headers)
                    return
                if fault is not None and fault.kind == "body":
                    ctype = fault.headers.get("Content-Type", "text/plain")
                    self._send(fault.status, fault.payload, ctype)
                    return
                status, body, ctype = server.answer(path, seen.query)
                if fault is not None and fault.kind == "truncate":
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(status, body, ctype)

        return Handler


def fixture_path(name: str) -> Path:
    return FIXTURES / name
