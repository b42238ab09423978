"""BEIR ``corpus.jsonl`` lines: ``{"_id", "title", "text"}`` (optionally ``metadata``).

The ``_id`` is kept exactly, because BEIR qrels refer to documents by it; evaluation breaks if
it is rewritten into an arXiv id or a slug. An empty (or, as BEIR's own loader allows, absent)
title is valid: many BEIR corpora have none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from retrieval.loaders.base import MalformedRecord
from retrieval.papers import Paper

FORMAT = "beir"
SOURCE = "beir"


def matches(keys: Iterable[str]) -> bool:
    key_set = frozenset(keys)
    return "_id" in key_set and "text" in key_set


def parse(obj: Mapping[str, Any]) -> Paper:
    doc_id = obj.get("_id")
    if doc_id is None:
        raise MalformedRecord("missing field '_id'")
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        raise MalformedRecord("field '_id' is not a string")
    if "text" not in obj:
        raise MalformedRecord("missing field 'text'")
    text = obj["text"]
    if not isinstance(text, str):
        raise MalformedRecord("field 'text' is not a string")
    if not text.strip():
        raise MalformedRecord("empty abstract")
    title = obj.get("title") or ""
    if not isinstance(title, str):
        raise MalformedRecord("field 'title' is not a string")
    metadata = obj.get("metadata")
    return Paper(
        id=str(doc_id),
        title=title,
        abstract=text,
        source=SOURCE,
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
    )
