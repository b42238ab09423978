"""The two BM25 engines: rank-bm25's ``BM25Okapi`` (the reference) and a sparse-matrix engine.

rank-bm25 scores every document in Python for every query term: fine for the bundled corpus,
~0.3 s a query at 100k abstracts. The sparse engine precomputes each posting's contribution once
(as bm25s does) so a query is a handful of vectorised slice-adds plus an exact top-k. Both read
the same postings and the same scoring functions, so their scores agree to float precision.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from rank_bm25 import BM25Okapi

from retrieval.index.postings import Postings
from retrieval.index.scoring import BM25Params


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


def rank_candidates(
    scores: NDArray[np.floating], candidates: NDArray[np.intp], k: int, *, positive: bool = True
) -> list[tuple[int, float]]:
    """Order candidates by score (desc), then position (asc) so ties are deterministic."""
    values = scores[candidates]
    if candidates.shape[0] > k:
        part = np.argpartition(-values, k - 1)[:k]
        candidates, values = candidates[part], values[part]
    order = np.lexsort((candidates, -values.astype(np.float64)))
    return [(int(candidates[i]), float(values[i])) for i in order if values[i] > 0 or not positive]


class SparseEngine:
    """Term-major precomputed BM25 contributions; a query touches only its terms' postings."""

    name = "sparse"

    def __init__(
        self,
        indptr: NDArray[np.int64],
        docs: NDArray[np.int32],
        scores: NDArray[np.float32],
        n_docs: int,
    ) -> None:
        self.indptr = indptr
        self.docs = docs
        self.scores = scores
        self.n_docs = n_docs
        self._local = threading.local()

    def _accumulate(self, term_ids: Sequence[int]) -> NDArray[np.float32]:
        acc: NDArray[np.float32] | None = getattr(self._local, "acc", None)
        if acc is None or acc.shape[0] != self.n_docs:
            acc = np.zeros(self.n_docs, dtype=np.float32)
            self._local.acc = acc
        else:
            acc.fill(0.0)
        indptr, docs, scores = self.indptr, self.docs, self.scores
        for term in term_ids:
            start, stop = int(indptr[term]), int(indptr[term + 1])
            acc[docs[start:stop]] += scores[start:stop]
        return acc

    def score_all(self, term_ids: Sequence[int], terms: Sequence[str]) -> NDArray[np.floating]:
        return self._accumulate(term_ids).copy()

    def top_k(
        self, term_ids: Sequence[int], terms: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        if not term_ids or k <= 0 or self.n_docs == 0:
            return []
        acc = self._accumulate(term_ids)
        if self.n_docs <= 8 * k or self.n_docs <= 4096:
            return rank_candidates(acc, np.flatnonzero(acc > 0), k)
        # Exact top-k without sorting a million scores: any k scored documents give a lower
        # bound for the k-th best score. Take them from the rarest terms' postings (likely good
        # documents), then keep only documents scoring at least that bound.
        seeds: list[NDArray[np.int32]] = []
        found = 0
        for term in sorted(set(term_ids), key=lambda t: self.indptr[t + 1] - self.indptr[t]):
            start, stop = int(self.indptr[term]), int(self.indptr[term + 1])
            seeds.append(self.docs[start:stop])
            found += stop - start
            if found >= 4 * k:
                break
        seed = np.unique(np.concatenate(seeds)) if seeds else np.zeros(0, dtype=np.int32)
        if seed.shape[0] < k:
            return rank_candidates(acc, np.flatnonzero(acc > 0), k)
        seed_scores = acc[seed]
        bound = float(np.partition(seed_scores, seed_scores.shape[0] - k)[seed_scores.shape[0] - k])
        if bound <= 0:
            return rank_candidates(acc, np.flatnonzero(acc > 0), k)
        return rank_candidates(acc, np.flatnonzero(acc >= bound), k)


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
