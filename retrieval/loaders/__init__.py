"""File loaders: every supported format becomes a stream of :class:`~retrieval.papers.Paper`.

``open_source(path)`` sniffs the format from the content (a Hugging Face Papers page text, the
project's own JSON Lines export, a BEIR ``corpus.jsonl`` or the Kaggle arXiv metadata snapshot)
and returns a lazy :class:`PaperSource`; ``bundled_papers()`` gives the shipped seed corpus;
``write_jsonl`` writes the export format that ``open_source`` reads back unchanged.
"""

from retrieval.loaders.base import MAX_REPORTED_SKIPS, LoaderError, LoadReport
from retrieval.loaders.bundled import bundled_papers
from retrieval.loaders.jsonl import MAX_LINE_BYTES
from retrieval.loaders.native import write_jsonl
from retrieval.loaders.source import PaperSource, open_source

FORMATS = ("hf-page", "paperbot-jsonl", "beir", "kaggle-arxiv")

__all__ = [
    "FORMATS",
    "MAX_LINE_BYTES",
    "MAX_REPORTED_SKIPS",
    "LoadReport",
    "LoaderError",
    "PaperSource",
    "bundled_papers",
    "open_source",
    "write_jsonl",
]
