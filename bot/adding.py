"""Adding one paper to a server's own collection: what ``/add`` and watched-channel links share.

No Discord here: :class:`PaperAdder` takes an id, fetches the paper if the store does not have it
yet (Hugging Face ``/api/papers/{id}``, falling back to the arXiv API), and adds it to the guild's
collection in one store transaction, then builds the guild's small index so the very next
question finds it. Network waits happen on the event loop (async httpx); store and index work
runs through ``run_blocking`` (the bot's index thread), so a slow upstream never holds a query
and a query never waits behind a download.

Failures are :class:`AddError` subclasses whose ``str()`` is a polite line for the user; the
technical cause (request, status) goes to the log. Nothing is written unless the fetch succeeded.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from retrieval.papers import split_arxiv_id

if TYPE_CHECKING:
    from config.settings import Settings
    from retrieval.ingest.http import PoliteClient
    from retrieval.papers import Paper
    from retrieval.search import Library

_log = logging.getLogger("paperbot.bot.adding")

T = TypeVar("T")
RunBlocking = Callable[..., Awaitable[Any]]

EXAMPLES = (
    "an arXiv id like `2401.12345`, an arXiv link like `https://arxiv.org/abs/2401.12345` or a "
    "Hugging Face paper link like `https://huggingface.co/papers/2401.12345`"
)

_ID = r"(?:\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
# Paper links as people paste them: arxiv.org/abs|pdf (any subdomain: export., www.), with or
# without a version or ".pdf", and Hugging Face paper pages (huggingface.co or hf.co).
LINK_RE = re.compile(
    rf"(?:https?://)?(?:[\w-]+\.)?(?:arxiv\.org/(?:abs|pdf)/|(?:huggingface|hf)\.co/papers/)"
    rf"(?P<id>{_ID})(?:v\d+)?(?:\.pdf)?",
    re.IGNORECASE,
)


def parse_reference(text: str) -> str | None:
    """The arXiv id ``text`` names (an id, an arXiv URL, a Hugging Face paper URL), else None.

    Versions are dropped: the store keeps the newest version of a paper under its bare id.
    """
    value = text.strip().strip("<>").strip()
    if not value or len(value) > 300 or any(ch.isspace() for ch in value):
        return None
    match = LINK_RE.fullmatch(value.split("?", 1)[0].split("#", 1)[0].rstrip("/"))
    if match:
        value = match.group("id")
    parts = split_arxiv_id(value)
    return parts[0] if parts else None


def find_links(text: str, limit: int) -> list[str]:
    """arXiv ids of the paper links in a message, first occurrence order, at most ``limit``."""
    ids: list[str] = []
    for match in LINK_RE.finditer(text):
        parts = split_arxiv_id(match.group("id"))
        if parts and parts[0] not in ids:
            ids.append(parts[0])
            if len(ids) >= limit:
                break
    return ids


def strip_links(text: str) -> str:
    """The message without its paper links (``<link>``, Discord's no-preview form, included)."""
    without = re.sub(rf"<\s*{LINK_RE.pattern}\s*>", " ", text, flags=re.IGNORECASE)
    return " ".join(LINK_RE.sub(" ", without).split())


def question_beside_links(text: str) -> str | None:
    """What to answer after capturing a message's links: its remaining text when it asks
    something (has a "?"), else None ("new ones: <link> and <link>" is not a question)."""
    rest = strip_links(text)
    return rest if "?" in rest else None


# -- outcomes and errors ----------------------------------------------------------------------
class Status(enum.Enum):
    ADDED = "added"
    ALREADY_HERE = "already in this server's collection"
    ALREADY_SHARED = "already in the shared collection"


@dataclass(frozen=True, slots=True)
class AddOutcome:
    paper: Paper
    status: Status
    guild_count: int  # papers in the guild's own collection afterwards
    source: str  # "store", "huggingface" or "arxiv": where the paper came from


class AddError(Exception):
    """``/add`` could not add the paper; ``str()`` is the polite line shown to the user."""


class NotAReference(AddError):
    def __init__(self) -> None:
        super().__init__(f"That doesn't look like an arXiv paper. Please give {EXAMPLES}.")


class UnknownPaper(AddError):
    def __init__(self, paper_id: str) -> None:
        super().__init__(
            f"I couldn't find arXiv paper `{paper_id}` on Hugging Face or on arXiv. Please check "
            "the id; nothing was added."
        )
        self.paper_id = paper_id


class UpstreamError(AddError):
    def __init__(self, paper_id: str, detail: str) -> None:
        super().__init__(
            f"I couldn't fetch `{paper_id}` right now: {detail}. Nothing was added; please try "
            "again in a few minutes."
        )
        self.paper_id = paper_id


class CollectionFull(AddError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"This server's collection is full ({limit:,} papers, the limit set by the bot's "
            "operator). Nothing was added."
        )


def _detail(error: BaseException) -> str:
    """What went wrong upstream, in words a user can act on (no URLs, no internals)."""
    from retrieval.ingest.errors import ParseError, SourceError

    reason = str(getattr(error, "reason", error)).lower()
    status = getattr(error, "status", None)
    if status is None and (found := re.search(r"http (\d{3})", reason)):
        status = int(found.group(1))
    if status == 429 or "rate limit" in reason or "rate exceeded" in reason:
        return "Hugging Face and arXiv are limiting requests right now"
    if status is not None and status >= 500:
        return f"the paper sites are having trouble (HTTP {status})"
    if isinstance(error, TimeoutError) or "timed out" in reason or "time budget" in reason:
        return "Hugging Face and arXiv did not answer in time"
    if isinstance(error, ParseError | SourceError):
        return "the paper sites sent an answer I couldn't read"
    return "the paper sites could not be reached"


class PaperAdder:
    """Fetch-if-needed and add papers to guild collections (see the module docstring)."""

    def __init__(
        self,
        library: Library,
        settings: Settings,
        http: Callable[[], PoliteClient],
        run_blocking: RunBlocking,
    ) -> None:
        self.library = library
        self.settings = settings
        self._http = http  # created on first use, on the running loop
        self.run_blocking = run_blocking

    @property
    def shared(self) -> str:
        return self.settings.collection

    # -- store side (index thread) ------------------------------------------------------------
    def _membership(self, paper_id: str, own: str) -> tuple[Paper | None, bool, bool]:
        """The stored paper (if any) and whether it is in the shared / the guild's collection."""
        paper = self.library.paper(paper_id)
        if paper is None:
            return None, False, False
        holders = self.library.holders(paper_id)
        return paper, self.shared in holders, own in holders

    def _write(self, paper: Paper, own: str) -> tuple[int, int]:
        """Add to the guild's collection (one transaction, indexed at once); (added, count)."""
        from retrieval.search import CollectionFull as Full

        try:
            result = self.library.add_papers(
                [paper], own, limit=self.settings.guild_max_papers or None
            )
        except Full as exc:
            raise CollectionFull(exc.limit) from None
        return result.added, self.library.count(own)

    # -- network side (event loop) ------------------------------------------------------------
    async def fetch(self, paper_id: str) -> tuple[Paper, str]:
        """The paper from Hugging Face, else from arXiv; raises UnknownPaper / UpstreamError."""
        from retrieval.ingest.errors import IngestError, NotFound
        from retrieval.ingest.pipeline import fetch_arxiv_ids, fetch_hf_papers

        http = self._http()
        hf_problem: BaseException | None = None
        try:
            got = await fetch_hf_papers(http, self.settings, [paper_id])
            return got.papers[0], "huggingface"
        except NotFound:
            pass  # Hugging Face lists only some arXiv papers: ask arXiv itself
        except IngestError as exc:
            _log.warning("add %s: Hugging Face failed (%s); trying arXiv", paper_id, exc)
            hf_problem = exc
        try:
            got = await fetch_arxiv_ids(http, self.settings, [paper_id])
            return got.papers[0], "arxiv"
        except NotFound as exc:
            if hf_problem is not None:  # arXiv's "no" cannot overrule Hugging Face being down
                raise UpstreamError(paper_id, _detail(hf_problem)) from exc
            raise UnknownPaper(paper_id) from exc
        except IngestError as exc:
            _log.warning("add %s: arXiv failed too (%s)", paper_id, exc)
            raise UpstreamError(paper_id, _detail(hf_problem or exc)) from exc

    async def add(self, paper_id: str, guild_id: int) -> AddOutcome:
        """Make ``paper_id`` answerable in ``guild_id``. Raises :class:`AddError`."""
        own = self.library.scope(guild_id).own
        assert own is not None
        stored, in_shared, in_guild = await self.run_blocking(self._membership, paper_id, own)
        if stored is not None and (in_shared or in_guild):
            count = await self.run_blocking(self.library.count, own)
            status = Status.ALREADY_SHARED if in_shared else Status.ALREADY_HERE
            return AddOutcome(stored, status, count, "store")
        if stored is not None:  # another server added it: no need to download it again
            paper, source = stored, "store"
        else:
            try:
                async with asyncio.timeout(self.settings.add_timeout):
                    paper, source = await self.fetch(paper_id)
            except TimeoutError as exc:
                raise UpstreamError(paper_id, _detail(exc)) from None
        added, count = await self.run_blocking(self._write, paper, own)
        status = Status.ADDED if added else Status.ALREADY_HERE
        _log.info("add %s to %s: %s (from %s)", paper.id, own, status.value, source)
        return AddOutcome(paper, status, count, source)
