"""Lines of the Kaggle "Cornell-University/arxiv" metadata snapshot.

The snapshot is arXiv's OAI metadata: titles and abstracts are hard-wrapped with leading spaces
(collapsed here so quotes read naturally), ``authors`` is LaTeX-escaped (so the already parsed
``authors_parsed`` is used instead), and the first submission date is in ``versions[0].created``
as an RFC 2822 string.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from retrieval.loaders.base import MalformedRecord
from retrieval.papers import Paper, arxiv_abs_url, normalize_arxiv_id

FORMAT = "kaggle-arxiv"
SOURCE = "kaggle-arxiv"

# Keys only the snapshot has (a paperbot export or a BEIR line never carries them).
_MARKERS = frozenset({"authors_parsed", "versions", "submitter", "update_date", "journal-ref"})


def matches(keys: Iterable[str]) -> bool:
    key_set = frozenset(keys)
    return {"id", "title", "abstract"} <= key_set and bool(key_set & _MARKERS)


def _collapse(value: str) -> str:
    return " ".join(value.split())


def _required_text(obj: Mapping[str, Any], name: str) -> str:
    if name not in obj:
        raise MalformedRecord(f"missing field '{name}'")
    value = obj[name]
    if not isinstance(value, str):
        raise MalformedRecord(f"field '{name}' is not a string")
    return value


def _optional_text(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if isinstance(value, str) and value.strip():
        return _collapse(value)
    return None


def _authors(parsed: Any) -> tuple[str, ...]:
    """``[[last, first, suffix], ...]`` -> ``("First Last Suffix", ...)``; odd entries dropped."""
    if not isinstance(parsed, list):
        return ()
    names: list[str] = []
    for entry in parsed:
        if not isinstance(entry, list) or not entry:
            continue
        parts = [part if isinstance(part, str) else "" for part in entry[:3]]
        last, first, suffix = [*parts, "", ""][:3]
        name = _collapse(" ".join((first, last, suffix)))
        if name:
            names.append(name)
    return tuple(names)


def _versions(versions: Any) -> tuple[date | None, int | None]:
    """First submission date and latest version number; unknown parts are ``None``."""
    if not isinstance(versions, list) or not versions:
        return None, None
    published: date | None = None
    first = versions[0]
    if isinstance(first, Mapping) and isinstance(first.get("created"), str):
        try:
            published = email.utils.parsedate_to_datetime(first["created"]).date()
        except (TypeError, ValueError, IndexError):
            published = None
    numbers = [
        int(entry["version"][1:])
        for entry in versions
        if isinstance(entry, Mapping)
        and isinstance(entry.get("version"), str)
        and entry["version"][:1] == "v"
        and entry["version"][1:].isdigit()
    ]
    return published, max(numbers) if numbers else None


def parse(obj: Mapping[str, Any]) -> Paper:
    raw_id = _required_text(obj, "id")
    arxiv_id = normalize_arxiv_id(raw_id)
    if arxiv_id is None:
        raise MalformedRecord(f"not an arXiv id: {raw_id[:40]!r}")
    title = _collapse(_required_text(obj, "title"))
    abstract = _collapse(_required_text(obj, "abstract"))
    if not abstract:
        raise MalformedRecord("empty abstract")
    published, latest_version = _versions(obj.get("versions"))
    metadata: dict[str, Any] = {}
    categories = obj.get("categories")
    if isinstance(categories, str) and categories.split():
        metadata["categories"] = categories.split()
    for key, name in (("doi", "doi"), ("journal-ref", "journal_ref"), ("comments", "comments")):
        value = _optional_text(obj, key)
        if value is not None:
            metadata[name] = value
    if latest_version is not None:
        metadata["version"] = latest_version
    return Paper(
        id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=_authors(obj.get("authors_parsed")),
        published=published,
        url=arxiv_abs_url(arxiv_id),
        source=SOURCE,
        metadata=metadata,
    )
