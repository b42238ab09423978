"""The two BM25 engines: rank-bm25's ``BM25Okapi`` (the reference) and a sparse-matrix engine.

rank-bm25 scores every document in Python for every query term: fine for the bundled corpus,
~0.3 s a query at 100k abstracts. The sparse engine precomputes each posting's contribution once
(as bm25s does) so a query is a handful of vectorised slice-adds plus an exact top-k. Both read
the same postings and the same scoring functions, so their scores agree to float precision.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from rank_bm25 import BM25Okapi

from retrieval.index.postings import Postings
from retrieval.index.pruning import MaxScore, contributions, plan, rank_candidates
from retrieval.index.scoring import BM25Params

# Below this many documents a query adds up everything: a bounded pass costs more than it saves.
_PRUNE_MIN_DOCS = 4096


class Engine(Protocol):
    name: str

    def top_k(
        self, term_ids: Sequence[int], terms: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        """Best ``k`` documents as ``(position, score)``, best first, zero scores left out."""
        ...

    def score_all(self, term_ids: Sequence[int], terms: Sequence[str]) -> NDArray[np.floating]:
        """Scores of every document (for tests and reference comparisons)."""
        ...


class SparseEngine:
    """Term-major precomputed BM25 contributions; a query touches only its terms' postings, and
    with per-term bounds (``term_max``) skips those that cannot change the top k
    (:mod:`retrieval.index.pruning`)."""

    name = "sparse"

    def __init__(
        self,
        indptr: NDArray[np.int64],
        docs: NDArray[np.int32],
        scores: NDArray[np.float32],
        n_docs: int,
        term_max: NDArray[np.float32] | None = None,
    ) -> None:
        self.indptr = indptr
        self.docs = docs
        self.scores = scores
        self.n_docs = n_docs
        self.term_max = term_max
        self._local = threading.local()

    def _accumulate(
        self, term_ids: Sequence[int], weights: Mapping[int, float] | None = None
    ) -> NDArray[np.float32]:
        """Every posting of every term added up, in the canonical order of
        :func:`~retrieval.index.pruning.plan` (so pruned scores are bit-identical)."""
        acc: NDArray[np.float32] | None = getattr(self._local, "acc", None)
        if acc is None or acc.shape[0] != self.n_docs:
            acc = np.zeros(self.n_docs, dtype=np.float32)
            self._local.acc = acc
        else:
            acc.fill(0.0)
        indptr, docs, scores = self.indptr, self.docs, self.scores
        p = plan(term_ids, self.term_max, weights)
        for term, factor in zip(p.terms.tolist(), p.factors, strict=True):
            start, stop = int(indptr[term]), int(indptr[term + 1])
            acc[docs[start:stop]] += contributions(scores[start:stop], factor)
        return acc

    def score_all(
        self,
        term_ids: Sequence[int],
        terms: Sequence[str],
        *,
        weights: Mapping[int, float] | None = None,
    ) -> NDArray[np.floating]:
        return self._accumulate(term_ids, weights).copy()

    def _pruner(self) -> MaxScore | None:
        if self.term_max is None:
            return None
        pruner: MaxScore | None = getattr(self._local, "pruner", None)
        if pruner is None:
            pruner = MaxScore(self.indptr, self.docs, self.scores, self.term_max, self.n_docs)
            self._local.pruner = pruner
        return pruner

    def top_k(
        self,
        term_ids: Sequence[int],
        terms: Sequence[str],
        k: int,
        *,
        weights: Mapping[int, float] | None = None,
        alive: NDArray[np.bool_] | None = None,
    ) -> list[tuple[int, float]]:
        if not term_ids or k <= 0 or self.n_docs == 0:
            return []
        pruner = self._pruner() if self.n_docs > _PRUNE_MIN_DOCS else None
        if pruner is not None and all(
            pruner.term_max[t] >= 0 and (weights or {}).get(int(t), 1.0) >= 0 for t in term_ids
        ):
            return pruner.top_k(term_ids, k, weights=weights, alive=alive)
        return self.exhaustive_top_k(term_ids, k, weights=weights, alive=alive)

    def exhaustive_top_k(
        self,
        term_ids: Sequence[int],
        k: int,
        *,
        weights: Mapping[int, float] | None = None,
        alive: NDArray[np.bool_] | None = None,
    ) -> list[tuple[int, float]]:
        """Every posting of every term added up, then the exact top k (the reference that
        pruning is checked against, and the path for negative contributions)."""
        if not term_ids or k <= 0 or self.n_docs == 0:
            return []
        acc = self._accumulate(term_ids, weights)
        if alive is not None:
            acc[~alive] = 0.0
        return rank_candidates(acc, np.flatnonzero(acc > 0), k)


class _IdfOkapi(BM25Okapi):
    """``BM25Okapi`` whose IDF comes from our named scoring functions (identical for "okapi")."""

    def __init__(self, corpus: list[list[str]], params: BM25Params) -> None:
        self._params = params
        super().__init__(corpus, k1=params.k1, b=params.b)

    def _calc_idf(self, nd: dict[str, int]) -> None:
        terms = list(nd)
        df = np.array([nd[t] for t in terms], dtype=np.float64)
        values = self._params.idf_values(self.corpus_size, df)
        self.idf = dict(zip(terms, values.tolist(), strict=True))


class OkapiEngine:
    """rank-bm25 over the same postings (token lists are rebuilt from term frequencies)."""

    name = "okapi"

    def __init__(self, postings: Postings, params: BM25Params) -> None:
        inverse = postings.terms()
        corpus: list[list[str]] = [[] for _ in range(postings.n_docs)]
        df = postings.df
        for tid, term in enumerate(inverse):
            start = int(postings.indptr[tid])
            for offset in range(int(df[tid])):
                corpus[int(postings.docs[start + offset])].extend(
                    [term] * int(postings.tf[start + offset])
                )
        # rank-bm25 divides by the corpus' average length; an all-empty corpus would divide by 0.
        self._bm25 = _IdfOkapi(corpus, params) if any(corpus) else None
        self.n_docs = postings.n_docs

    def score_all(self, term_ids: Sequence[int], terms: Sequence[str]) -> NDArray[np.floating]:
        if self._bm25 is None or not terms:
            return np.zeros(self.n_docs)
        return np.asarray(self._bm25.get_scores(list(terms)), dtype=np.float64)

    def top_k(
        self, term_ids: Sequence[int], terms: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        if k <= 0 or not terms:
            return []
        scores = self.score_all(term_ids, terms)
        return rank_candidates(scores, np.flatnonzero(scores > 0), k)
