"""Helpers every remote source shares: identity, text clean-up, "newest version wins".

Identity is the whole point of ingesting from several sources: the same arXiv paper reached
through Hugging Face, the arXiv API and OAI-PMH must become one :class:`Paper` with one id, so
all ids go through :func:`retrieval.papers.split_arxiv_id` here and nowhere else in ingest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from retrieval.papers import Paper, split_arxiv_id

log = logging.getLogger(__name__)


def clean_text(value: object) -> str:
    """Collapse runs of whitespace (arXiv hard-wraps titles and abstracts) and trim.

    Only whitespace changes: the words, TeX and punctuation stay verbatim, so quotes taken from
    the abstract are still the authors' own words, and the same abstract seen through HF and
    through arXiv compares equal (no spurious "updated" on re-ingest from the other source).
    """
    if value is None:
        return ""
    return " ".join(str(value).split())  # str.split(): any Unicode whitespace, ~5x a regex


def arxiv_identity(value: str) -> tuple[str, int | None] | None:
    """``(id, version)`` for anything that names an arXiv paper, else ``None``."""
    return split_arxiv_id(value) if value else None


def parse_iso_date(value: object) -> date | None:
    """A date from ``2026-05-30T00:00:00.000Z``, ``2015-12-26T21:19:45Z`` or ``2013-03-08``."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            return None


def version_of(paper: Paper) -> int | None:
    value = paper.metadata.get("version")
    return value if isinstance(value, int) else None


def newer_or_equal(candidate: Paper, current: Paper) -> bool:
    """Whether ``candidate`` should replace ``current`` (same id) within one ingest.

    A known higher version wins; with equal or unknown versions the later one wins (it is the
    fresher response), except that a versionless record never replaces a versioned one.
    """
    new, old = version_of(candidate), version_of(current)
    if new is not None and old is not None:
        return new >= old
    return not (new is None and old is not None)


def dedupe_newest(papers: Iterable[Paper]) -> list[Paper]:
    """One paper per id, the newest version, in first-seen order."""
    best: dict[str, Paper] = {}
    for paper in papers:
        current = best.get(paper.id)
        if current is None or newer_or_equal(paper, current):
            best[paper.id] = paper
    return list(best.values())


def merge_with_stored(store: Any, papers: Iterable[Paper], *, batch: int = 500) -> Iterator[Paper]:
    """Yield ``papers`` with the stored metadata folded in (incoming keys win).

    The store replaces a paper's row on update; without this, ingesting a paper from Hugging
    Face after arXiv would drop its arXiv categories and version (and vice versa for upvotes).
    Meant to be iterated *inside* ``store.upsert`` (same thread, same transaction), so what is
    read is exactly what the upsert then compares against.
    """
    pending: list[Paper] = []

    def flush() -> Iterator[Paper]:
        stored = {p.id: p for p in store.get_many([p.id for p in pending])}
        for paper in pending:
            old = stored.get(paper.id)
            if old is None or not old.metadata:
                yield paper
                continue
            merged = {**old.metadata, **paper.metadata}
            old_version, new_version = old.metadata.get("version"), paper.metadata.get("version")
            if isinstance(old_version, int) and not isinstance(new_version, int):
                merged["version"] = old_version
            if merged != paper.metadata:
                paper = paper.model_copy(update={"metadata": merged})
            yield paper
        pending.clear()

    for paper in papers:
        pending.append(paper)
        if len(pending) >= batch:
            yield from flush()
    if pending:
        yield from flush()


def split_authors(value: str) -> tuple[str, ...]:
    """arXivRaw's ``"A. One, B. Two, and C. Three"`` -> ``("A. One", "B. Two", "C. Three")``."""
    text = clean_text(value)
    if not text:
        return ()
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+", text)
    return tuple(p.strip() for p in parts if p.strip())


def flip_name(value: str) -> str:
    """Dublin Core's ``"Liepins, Vilnis"`` -> ``"Vilnis Liepins"`` (one comma only)."""
    text = clean_text(value)
    if text.count(",") == 1:
        last, first = (part.strip() for part in text.split(","))
        if last and first:
            return f"{first} {last}"
    return text
