"""The project's own JSON Lines format: one ``Paper.model_dump(mode="json")`` object per line.

This is what ``paperbot export`` writes, so loading it must give back exactly the same papers.
The ``source`` of each paper is whatever its line says (a paper exported after coming from
Kaggle stays a Kaggle paper).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from retrieval.loaders.base import MalformedRecord
from retrieval.papers import Paper

FORMAT = "paperbot-jsonl"

_FIELDS = frozenset(Paper.model_fields)
_REQUIRED = frozenset({"id", "title", "abstract", "source"})


def matches(keys: Iterable[str]) -> bool:
    """True when an object's keys are those of an exported paper (required ones, no others)."""
    key_set = frozenset(keys)
    return _REQUIRED <= key_set <= _FIELDS


def parse(obj: Mapping[str, Any]) -> Paper:
    """One exported line back into a :class:`Paper` (pydantic errors propagate to the caller)."""
    for name in sorted(_REQUIRED):
        if name not in obj:
            raise MalformedRecord(f"missing field '{name}'")
    extra = sorted(set(obj) - _FIELDS)
    if extra:
        raise MalformedRecord(f"unexpected field '{extra[0]}' for {FORMAT}")
    return Paper.model_validate(obj)


def dumps(paper: Paper) -> str:
    """One line (without the newline) of the export format.

    Non-ASCII stays readable, but U+2028/U+2029 are escaped: they are line breaks to
    ``str.splitlines`` and to some editors, and a JSON Lines record must stay on one line.
    """
    text = json.dumps(paper.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def write_jsonl(papers: Iterable[Paper], out: TextIO) -> int:
    """Write papers in the export format, one per line; returns how many were written."""
    count = 0
    for paper in papers:
        out.write(dumps(paper))
        out.write("\n")
        count += 1
    return count
