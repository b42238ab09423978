"""A small index of recently changed papers, searched beside a large saved one.

Rebuilding a 2.5M-abstract index for each day's thousand new papers costs minutes of both cores.
Instead, the papers that changed since the saved (main) index was built are indexed alone, in
memory, in well under a second; the main index serves the rest, with its old copies of changed
papers masked out. Lucene's segments work the same way.

Scores must merge exactly, so both parts are scored with one set of collection statistics:

- documents: the main index's plus the delta's (masked old copies still count, as deleted
  documents do in Lucene until a merge);
- document frequencies: the main index's plus the delta's;
- average length: the main index's, kept until the next full build (a thousand papers move it by
  a hundredth of a percent, and changing it would mean re-scoring every posting).

The main index's contributions were saved with its own IDF; a query term's contributions are
multiplied by ``idf_now / idf_saved`` (one factor per query term), and the delta's are computed
with ``idf_now``. So a paper scores what it would in one index holding both parts under those
statistics. The next full build (the merge) folds the delta in and starts a new main index.

Okapi's IDF floors negative values at a fraction of the mean IDF of *every* term, which a delta
would change everywhere; with ``bm25_idf = "okapi"`` changes are always merged by a full build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from retrieval.index.engines import SparseEngine
from retrieval.index.postings import Postings

if TYPE_CHECKING:
    from retrieval.index.bm25 import BM25Index


def supports_delta(index: BM25Index) -> bool:
    """Whether changes to ``index``'s collection can be served as a delta beside it."""
    return (
        index.delta is None
        and index.reference is None
        and index.params.idf != "okapi"
        and isinstance(index.engine, SparseEngine)
    )


class JoinedPks:
    """Store keys by position over main then delta, without copying the main's array."""

    def __init__(self, main: NDArray[np.int64], delta: NDArray[np.int64]) -> None:
        self.main = main
        self.delta = delta
        self._split = int(main.shape[0])

    def __len__(self) -> int:
        return self._split + int(self.delta.shape[0])

    def __getitem__(self, position: int) -> int:
        if position < 0:
            position += len(self)
        if position < self._split:
            return int(self.main[position])
        return int(self.delta[position - self._split])

    def __array__(self, dtype: object = None, copy: object = None) -> NDArray[np.int64]:
        return np.concatenate([np.asarray(self.main), np.asarray(self.delta)])


@dataclass
class Delta:
    """The changed papers of a collection, indexed on the main index's scale."""

    postings: Postings
    pks: NDArray[np.int64]
    alive: NDArray[np.bool_] | None  # main positions still current (None: nothing masked)
    masked: int  # main positions masked out
    changed: int  # store keys changed since the main index's build (added, updated, removed)
    n_docs: int  # documents in the statistics: main + delta
    df: NDArray[np.int64]  # by delta term id: main df + delta df
    idf: NDArray[np.float64]  # by delta term id, under the joint statistics
    engine: SparseEngine
    _factors: dict[int, float] = field(default_factory=dict)

    def main_weights(self, main: BM25Index, terms: Mapping[str, int]) -> dict[int, float]:
        """``idf_now / idf_saved`` of each query term (``term -> main term id``), by main term
        id; cached, since a term's factor never changes for one delta."""
        out: dict[int, float] = {}
        for term, tid in terms.items():
            factor = self._factors.get(tid)
            if factor is None:
                delta_tid = self.postings.vocab.get(term)
                term_df = int(main.df_values[tid] if delta_tid is None else self.df[delta_tid])
                now = float(
                    main.params.idf_values(self.n_docs, np.array([term_df], dtype=np.float64))[0]
                )
                old = float(main.idf_values[tid])
                # A term whose saved IDF is 0 contributed nothing, and its factor cannot be
                # known; it stays at nothing until the merge.
                factor = now / old if old > 0 else 1.0
                self._factors[tid] = factor
            out[tid] = factor
        return out


def make_delta(
    main: BM25Index,
    postings: Postings,
    pks: NDArray[np.int64],
    changed: NDArray[np.int64],
) -> Delta:
    """The delta of ``postings`` (the changed papers still in the collection, store keys
    ``pks``) beside ``main``, masking main's copies of every ``changed`` store key (updated or
    removed papers)."""
    main_pks = np.asarray(main.doc_pks)
    alive: NDArray[np.bool_] | None = None
    masked = 0
    if changed.size and main_pks.size:
        hit = np.isin(main_pks, changed)
        masked = int(hit.sum())
        if masked:
            alive = ~hit
    n_docs = main.n_docs + postings.n_docs
    terms = postings.terms()
    main_df = np.fromiter((main.doc_freq(t) for t in terms), dtype=np.int64, count=len(terms))
    df = main_df + postings.df
    idf = main.params.idf_values(n_docs, df.astype(np.float64))
    scores = postings.scores(main.params, idf=idf, avgdl=main.avgdl)
    engine = SparseEngine(postings.indptr, postings.docs, scores, postings.n_docs)
    return Delta(postings, pks, alive, masked, int(changed.size), n_docs, df, idf, engine)
