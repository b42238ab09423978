"""The paper model and its identifiers.

Every source (the scraped Hugging Face page, BEIR, Kaggle, the HF and arXiv APIs) is turned into
one validated :class:`Paper` so that the store, the index and the composer never care where a
paper came from. Identity matters most: the same arXiv paper seen through Hugging Face and through
arXiv must get the same id, so arXiv ids are normalised here, in one place.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# New-style ids (0704.0001 .. 2607.12345) and old-style ids (hep-th/9901001, math.GT/0309136).
_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_ARXIV_ID_RE = re.compile(rf"^(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?$")
_ARXIV_IN_TEXT_RE = re.compile(
    rf"(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/|arxiv:\s*|^)"
    rf"(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?(?:\.pdf)?(?:[/?#].*)?$",
    re.IGNORECASE,
)


def split_arxiv_id(value: str) -> tuple[str, int | None] | None:
    """Return ``(id_without_version, version)`` for an arXiv id, URL or ``arXiv:`` reference.

    Accepts ``2405.21046``, ``2405.21046v2``, ``arXiv:2405.21046``, ``hep-th/9901001v1``,
    ``https://arxiv.org/abs/2405.21046v3``, ``https://arxiv.org/pdf/2405.21046.pdf`` and
    ``https://huggingface.co/papers/2405.21046``. Anything else gives ``None``.
    """
    text = value.strip()
    if not text:
        return None
    match = _ARXIV_IN_TEXT_RE.search(text)
    if match is None:
        return None
    arxiv_id = match.group("id")
    if "/" in arxiv_id:  # old style: archive part is lower case, optional subject class upper
        archive, number = arxiv_id.split("/", 1)
        if "." in archive:
            head, subject = archive.split(".", 1)
            archive = f"{head.lower()}.{subject.upper()}"
        else:
            archive = archive.lower()
        arxiv_id = f"{archive}/{number}"
    version = match.group("version")
    return arxiv_id, int(version) if version else None


def normalize_arxiv_id(value: str) -> str | None:
    """The arXiv id without its version, or ``None`` when ``value`` is not an arXiv reference."""
    parts = split_arxiv_id(value)
    return parts[0] if parts else None


def is_arxiv_id(value: str) -> bool:
    """True when ``value`` is a bare, versionless arXiv id (the form stored as a paper id)."""
    match = _ARXIV_ID_RE.match(value)
    return match is not None and match.group("version") is None


def title_slug(title: str, *, max_words_chars: int = 60) -> str:
    """A stable id for a paper that has no source id: readable words plus a short hash.

    The hash is over the case-folded, whitespace-collapsed title so that re-scraping the same
    page (with CRLF, wrapped titles, doubled spaces) gives the same id.
    """
    canonical = " ".join(unicodedata.normalize("NFKC", title).casefold().split())
    words = re.findall(r"[a-z0-9]+", canonical)
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_words_chars:
            break
        slug = candidate
    digest = hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:8]
    return f"{slug or 'paper'}-{digest}"


def arxiv_abs_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def hf_paper_url(arxiv_id: str) -> str:
    return f"https://huggingface.co/papers/{arxiv_id}"


def paper_link(paper_id: str, url: str | None) -> str | None:
    """The one page every answer and search result links to: the arXiv abstract page for an
    arXiv paper (stable, and it shows the abstract verbatim, so a text-fragment link highlights
    the quote), else the source's own url, else none."""
    if is_arxiv_id(paper_id):
        return arxiv_abs_url(paper_id)
    return url or None


class Paper(BaseModel):
    """One paper as the store keeps it. Title and abstract are the paper's own words, verbatim.

    ``metadata`` holds whatever else a source offers (categories, upvotes, GitHub repo, an AI
    summary, ...). It is never searched or quoted as if it were the abstract.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=300)
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    published: date | None = None
    url: str | None = None
    source: str = Field(min_length=1, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_has_no_edge_space(cls, value: str) -> str:
        if value != value.strip() or any(ch in value for ch in "\r\n\t"):
            raise ValueError("paper id must not contain surrounding whitespace or line breaks")
        return value

    @field_validator("abstract")
    @classmethod
    def _abstract_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("abstract is empty")
        return value

    @property
    def arxiv_id(self) -> str | None:
        """The arXiv id when the paper's id is one (then links can go to arXiv and HF)."""
        return self.id if is_arxiv_id(self.id) else None

    @property
    def link(self) -> str | None:
        """The page this paper links to everywhere (see ``paper_link``)."""
        return paper_link(self.id, self.url)
