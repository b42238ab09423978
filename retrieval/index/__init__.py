"""BM25 indexing: postings, scoring functions, two engines, persistence."""

from retrieval.index.bm25 import BM25Index, EngineChoice, IndexMeta, TermStats
from retrieval.index.build import build_postings
from retrieval.index.persist import index_root, load_index, save_index
from retrieval.index.scoring import BM25Params

__all__ = [
    "BM25Index",
    "BM25Params",
    "EngineChoice",
    "IndexMeta",
    "TermStats",
    "build_postings",
    "index_root",
    "load_index",
    "save_index",
]
