"""Exact top-k with dynamic pruning (MaxScore, as Lucene and PISA do it, vectorised).

Summing every posting of every query term is what made a claim-like query slow at millions of
abstracts: its common words ("cells", "patients") have postings in a tenth of the corpus, yet
they rarely decide the top 10. MaxScore uses each term's largest contribution (``term_max``,
saved with the index) as an upper bound:

1. Terms are taken best bound first and their postings added up in full, as long as the
   documents not seen yet could still reach the top k: that is, while the bounds of the terms
   left add up to at least the k-th best partial score so far (a lower bound of the final k-th
   score, since contributions are never negative).
2. The documents seen whose partial score plus those bounds can still reach it are the only
   candidates. The terms left are not scanned: each candidate's contribution is looked up in
   their postings by binary search (documents are ascending within a term).
3. The terms left are taken one at a time; after each, candidates that can no longer reach the
   k-th best are dropped, so the lookups shrink as the bound tightens.

Scores are bit-identical to exhaustive scoring, so ties resolve the same way: both add the
terms' contributions in one canonical order (:func:`plan`: best bound first, a repeated term
once with its contributions multiplied by its count), in float32, and pruning only ever takes a
prefix of that order in full and the rest for a subset of documents.

Nothing here is approximate: a document is left out only when its best possible score is below
a score that k documents already have. ``tests/retrieval/test_pruning.py`` checks thousands of
queries against exhaustive scoring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Float32 partial sums in another order than the final one differ by a few ulps: bounds are
# compared with this much room so rounding can never prune a document that belongs.
_SLACK_REL = 1e-4
_SLACK_ABS = 1e-6
# A binary search per candidate costs about this many sequential postings (cache misses
# included): below, a remaining term is looked up per candidate, above, scattered whole.
_LOOKUP_COST = 24


def term_maxima(indptr: NDArray[np.int64], scores: NDArray[np.float32]) -> NDArray[np.float32]:
    """The largest contribution of each term (0 for a term without postings)."""
    n_terms = int(indptr.shape[0]) - 1
    out = np.zeros(max(n_terms, 0), dtype=np.float32)
    if n_terms <= 0 or scores.shape[0] == 0:
        return out
    starts = np.asarray(indptr[:-1], dtype=np.int64)
    nonempty = np.flatnonzero(np.asarray(indptr[1:]) > starts)
    if nonempty.size:
        out[nonempty] = np.maximum.reduceat(scores, starts[nonempty])
    return out


def rank_values(
    candidates: NDArray[np.integer],
    values: NDArray[np.floating],
    k: int,
    *,
    positive: bool = True,
) -> list[tuple[int, float]]:
    """The best ``k`` of ``(candidate, value)`` pairs: value desc, then position asc, so ties
    are deterministic (zero and negative values left out when ``positive``)."""
    if candidates.shape[0] > k:
        part = np.argpartition(-values, k - 1)[:k]
        # Every candidate tied with the k-th stays, so the position decides among them (an
        # arbitrary pick here would make results differ between runs and engines).
        keep = np.flatnonzero(values >= values[part].min())
        candidates, values = candidates[keep], values[keep]
    order = np.lexsort((candidates, -values.astype(np.float64)))[:k]
    return [(int(candidates[i]), float(values[i])) for i in order if values[i] > 0 or not positive]


def rank_candidates(
    scores: NDArray[np.floating], candidates: NDArray[np.intp], k: int, *, positive: bool = True
) -> list[tuple[int, float]]:
    """:func:`rank_values` of ``candidates`` scored by ``scores`` (indexed by position)."""
    return rank_values(candidates, scores[candidates], k, positive=positive)


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """A query's distinct terms in the canonical order scores are added in, each with the
    factor its contributions are multiplied by (its weight times its count; 1 for most) and
    its upper bound."""

    terms: NDArray[np.int64]
    factors: NDArray[np.float32]
    bounds: NDArray[np.float64]


def plan(
    term_ids: Sequence[int],
    term_max: NDArray[np.float32] | None,
    weights: Mapping[int, float] | None = None,
) -> QueryPlan:
    """The canonical order: largest bound first, then term id (term id order without bounds)."""
    unique, counts = np.unique(np.asarray(term_ids, dtype=np.int64), return_counts=True)
    scale = np.array([(weights or {}).get(int(t), 1.0) for t in unique], dtype=np.float64)
    factors = (scale.reshape(-1) * counts).astype(np.float32)
    if term_max is None:
        bounds = np.zeros(unique.shape[0], dtype=np.float64)
    else:
        bounds = np.asarray(term_max[unique], dtype=np.float64) * factors
    order = np.lexsort((unique, -bounds))
    return QueryPlan(unique[order], factors[order], bounds[order])


def contributions(scores: NDArray[np.float32], factor: np.float32) -> NDArray[np.float32]:
    """A term's contributions (a slice of its postings' scores) times its plan factor."""
    return scores if factor == 1.0 else scores * factor


def _slack(*values: float) -> float:
    return _SLACK_REL * max(values) + _SLACK_ABS


class MaxScore:
    """MaxScore over term-major postings (see the module docstring). Not thread-safe: each
    thread uses its own (the scratch arrays are per instance)."""

    def __init__(
        self,
        indptr: NDArray[np.int64],
        docs: NDArray[np.int32],
        scores: NDArray[np.float32],
        term_max: NDArray[np.float32],
        n_docs: int,
    ) -> None:
        # Plain views of the (memory-mapped) arrays: slicing a ``np.memmap`` costs more than
        # the slice itself at these sizes.
        self.indptr = np.asarray(indptr)
        self.docs = np.asarray(docs)
        self.scores = np.asarray(scores)
        self.term_max = np.asarray(term_max)
        self.n_docs = n_docs
        self._acc = np.zeros(n_docs, dtype=np.float32)

    def top_k(
        self,
        term_ids: Sequence[int],
        k: int,
        *,
        weights: Mapping[int, float] | None = None,
        alive: NDArray[np.bool_] | None = None,
    ) -> list[tuple[int, float]]:
        """Exact best ``k`` documents for ``term_ids`` (a repeated term counts again);
        ``weights`` scales a term's contributions, ``alive`` masks documents out. Every bound
        must be non-negative (the caller checks)."""
        if k <= 0 or not len(term_ids):
            return []
        p = plan(term_ids, self.term_max, weights)
        indptr, all_docs, all_scores = self.indptr, self.docs, self.scores
        acc = self._acc
        scanned_docs: list[NDArray[np.int32]] = []
        volume = 0  # postings added to ``acc``
        threshold = 0.0
        done = 0.0  # sum of the bounds of the terms scanned in full
        remaining = float(p.bounds.sum())
        scanned = 0
        try:
            for j in range(p.terms.shape[0]):
                if threshold > 0 and remaining + _slack(threshold, remaining) < threshold:
                    break  # documents not seen yet cannot reach the k-th best
                start, stop = int(indptr[p.terms[j]]), int(indptr[p.terms[j] + 1])
                docs = all_docs[start:stop]
                acc[docs] += contributions(all_scores[start:stop], p.factors[j])
                scanned_docs.append(docs)
                volume += stop - start
                scanned = j + 1
                done += float(p.bounds[j])
                remaining -= float(p.bounds[j])
                # A lower bound of the k-th best final score: the k-th best partial score
                # among this term's documents (distinct within a term). It is at most ``done``,
                # so only worth finding once that exceeds what the remaining terms can add.
                if docs.shape[0] >= k and done > remaining:
                    values = acc[docs if alive is None else docs[alive[docs]]]
                    threshold = max(threshold, self._kth_value(values, k))
            # Candidates: documents whose partial score plus what the remaining terms can add
            # reaches the k-th best so far (and never a document without a positive score).
            cutoff = threshold - max(remaining, 0.0) - _slack(threshold, remaining)
            if volume > self.n_docs // 64:
                # Many postings seen: one pass over the dense scores beats sorting them.
                candidates = np.flatnonzero(acc >= cutoff if cutoff > 0 else acc > 0)
            else:
                seen = np.concatenate(scanned_docs) if scanned_docs else np.zeros(0, np.int32)
                partial = acc[seen]
                candidates = np.unique(seen[partial >= cutoff if cutoff > 0 else partial > 0])
            if alive is not None:
                candidates = candidates[alive[candidates]]
            values = acc[candidates]
        finally:
            if volume > self.n_docs // 4:
                acc.fill(0.0)
            else:
                for docs in scanned_docs:
                    acc[docs] = 0.0
        # The terms left, for the candidates only (``acc`` is all zeros again): each lookup
        # by binary search, or for a long list through ``acc`` when that touches less. Adding
        # 0.0 for a candidate without the term leaves its float32 sum unchanged.
        for j in range(scanned, p.terms.shape[0]):
            keep = values + (max(remaining, 0.0) + _slack(threshold, remaining)) >= threshold
            candidates, values = candidates[keep], values[keep]
            if candidates.shape[0] == 0:
                return []
            start, stop = int(indptr[p.terms[j]]), int(indptr[p.terms[j] + 1])
            docs = all_docs[start:stop]
            if candidates.shape[0] * _LOOKUP_COST < stop - start:
                pos = np.searchsorted(docs, candidates)
                hit = np.flatnonzero(pos < docs.shape[0])
                hit = hit[docs[pos[hit]] == candidates[hit]]
                values[hit] += contributions(all_scores[start + pos[hit]], p.factors[j])
            else:
                acc[docs] = contributions(all_scores[start:stop], p.factors[j])
                values += acc[candidates]
                acc[docs] = 0.0
            remaining -= float(p.bounds[j])
            threshold = max(threshold, self._kth_value(values, k))
        return rank_values(candidates, values, k)

    @staticmethod
    def _kth_value(values: NDArray[np.float32], k: int) -> float:
        if values.shape[0] < k:
            return 0.0
        return float(np.partition(values, values.shape[0] - k)[values.shape[0] - k])
