"""The bundled seed corpus: 50 papers that work out of the box, with no network.

The scraped page is shipped as it is (``retrieval/data/seed_hf_papers_page.txt``) and parsed at
load time, so the shipped text stays byte-identical to the shared seed and there is no
converted copy to keep in sync. Parsing it takes about a millisecond; the result is cached
because the CLI and the bot may ask for it more than once.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from retrieval.loaders import hf_page
from retrieval.loaders.base import LoaderError
from retrieval.papers import Paper, is_arxiv_id

SEED_PAGE = "seed_hf_papers_page.txt"
KNOWN_IDS = "seed_known_ids.json"
SEED_PAPER_COUNT = 50


def _data_text(name: str) -> str:
    return resources.files("retrieval").joinpath("data", name).read_text(encoding="utf-8")


@cache
def known_ids() -> hf_page.KnownIds:
    """Exact seed title -> arXiv id, from ``retrieval/data/seed_known_ids.json``."""
    raw = json.loads(_data_text(KNOWN_IDS))["ids"]
    bad = [arxiv_id for arxiv_id in raw.values() if not is_arxiv_id(arxiv_id)]
    if bad:
        raise LoaderError(f"{KNOWN_IDS}: not bare arXiv ids: {', '.join(bad)}")
    return hf_page.KnownIds(raw)


@cache
def _bundled() -> tuple[Paper, ...]:
    ids = known_ids()
    papers = tuple(
        hf_page.entry_to_paper(item, ids)
        for item in hf_page.parse_page(_data_text(SEED_PAGE))
        if isinstance(item, hf_page.Entry)
    )
    if len(papers) != SEED_PAPER_COUNT:  # a packaging mistake, not user input
        raise LoaderError(
            f"bundled seed corpus has {len(papers)} papers, expected {SEED_PAPER_COUNT}"
        )
    return papers


def bundled_papers() -> list[Paper]:
    """The 50 seed papers, in page order, with the known arXiv ids applied (a new list each
    call; the papers themselves are immutable)."""
    return list(_bundled())
