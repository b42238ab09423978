"""Helpers every remote source shares: identity, text clean-up, "newest version wins".

Identity is the whole point of ingesting from several sources: the same arXiv paper reached
through Hugging Face, the arXiv API and OAI-PMH must become one :class:`Paper` with one id, so
every source parses its ids with :func:`retrieval.papers.split_arxiv_id`, and the clean-up and
"newest version wins" rules here are shared by all of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from retrieval.papers import Paper

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


@dataclass
class Batch:
    """Papers parsed from one or more responses of any source, what had to be skipped (and
    why), the ids asked for that the source does not have, and the source's own total."""

    papers: list[Paper] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    total_results: int | None = None

    def extend(self, other: Batch) -> None:
        self.papers.extend(other.papers)
        self.skipped.extend(other.skipped)
        self.missing.extend(other.missing)


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


def replaces(new: int | None, old: int | None) -> bool:
    """ "Newest version wins", the one rule for every source: whether a record of version ``new``
    should replace one of version ``old`` (same id) within one ingest. A known higher version
    wins; with equal or unknown versions the later one wins (it is the fresher response), except
    that a versionless record never replaces a versioned one."""
    if new is not None and old is not None:
        return new >= old
    return not (new is None and old is not None)


def newer_or_equal(candidate: Paper, current: Paper) -> bool:
    """Whether ``candidate`` should replace ``current`` (same id): :func:`replaces` on papers."""
    return replaces(version_of(candidate), version_of(current))


def dedupe_newest(papers: Iterable[Paper]) -> list[Paper]:
    """One paper per id, the newest version, in first-seen order."""
    best: dict[str, Paper] = {}
    for paper in papers:
        current = best.get(paper.id)
        if current is None or newer_or_equal(paper, current):
            best[paper.id] = paper
    return list(best.values())


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
