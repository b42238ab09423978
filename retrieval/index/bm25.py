"""The BM25 index of one collection: postings, corpus statistics and the chosen engine.

It is also the composer's source of corpus statistics (``idf``, ``doc_freq``): sentences are
weighed with the same IDF the retriever used, so a quote is chosen for the words that made its
paper rank, not for words that are common everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from config.settings import default
from retrieval.index.delta import Delta, JoinedPks
from retrieval.index.engines import Engine, OkapiEngine, SparseEngine, rank_candidates
from retrieval.index.postings import Postings
from retrieval.index.pruning import term_maxima
from retrieval.index.scoring import BM25Params

EngineChoice = Literal["auto", "okapi", "sparse"]


class TermStats(Protocol):
    """What sentence selection needs to know about the corpus."""

    n_docs: int
    avgdl: float

    def idf(self, term: str) -> float: ...

    def doc_freq(self, term: str) -> int: ...


@dataclass(frozen=True, slots=True)
class IndexMeta:
    """Where an index came from: enough to know whether it is still current."""

    collection: str
    generation: int
    built_at: datetime
    tokenizer: str


class BM25Index:
    """Scores a query's terms against a collection; positions map to store keys (``doc_pks``)."""

    def __init__(
        self,
        postings: Postings,
        doc_pks: NDArray[np.int64],
        params: BM25Params,
        meta: IndexMeta,
        *,
        engine: EngineChoice = "auto",
        sparse_threshold: int = default("sparse_threshold"),
        scores: NDArray[np.float32] | None = None,
        reference: BM25Index | None = None,
        df: NDArray[np.int64] | None = None,
        idf: NDArray[np.float64] | None = None,
        term_max: NDArray[np.float32] | None = None,
        delta: Delta | None = None,
    ) -> None:
        self.postings = postings
        self.doc_pks: NDArray[np.int64] | JoinedPks = doc_pks
        self.params = params
        self.meta = meta
        self.n_docs = postings.n_docs
        self.reference = reference
        # Document frequencies and IDF are saved with an index, so a loaded one reuses them.
        self._df = postings.df if df is None else df
        if reference is None:
            self.avgdl = postings.avgdl
            self._idf = postings.idf(params) if idf is None else idf
        else:
            # A small collection (a guild's own papers) scored on the scale of the large one it
            # is searched beside: IDF from both collections' document frequencies, the large
            # one's average length. Then the two result lists can be merged by score.
            self.avgdl = reference.avgdl
            ref_df = np.array(
                [reference.doc_freq(t) for t in postings.terms()], dtype=np.float64
            ).reshape(-1)
            self._df = postings.df
            self._idf = params.idf_values(
                reference.n_docs + self.n_docs, ref_df + self._df.astype(np.float64)
            )
            scores = postings.scores(params, idf=self._idf, avgdl=self.avgdl)
            engine = "sparse"  # rank-bm25 cannot take outside statistics
        self._scores = scores
        self._term_max = term_max
        if engine == "auto":
            engine = "okapi" if self.n_docs < sparse_threshold else "sparse"
        self.engine: Engine = self._make_engine(engine)
        # Papers changed since this index was built, indexed beside it (retrieval.index.delta).
        self.delta = delta
        self._main: BM25Index | None = None
        if delta is not None:
            self.n_docs = postings.n_docs + delta.postings.n_docs
            self.doc_pks = JoinedPks(doc_pks, delta.pks)

    @property
    def main(self) -> BM25Index:
        """The full build this index serves from (itself, unless it carries a delta)."""
        return self._main if self._main is not None else self

    @property
    def paper_count(self) -> int:
        """Papers this index answers from (a delta's masked old copies left out)."""
        return self.n_docs - (self.delta.masked if self.delta is not None else 0)

    @property
    def main_pks(self) -> NDArray[np.int64]:
        """Store keys of the main index's positions (without any delta)."""
        return self.doc_pks.main if isinstance(self.doc_pks, JoinedPks) else self.doc_pks

    def with_delta(self, delta: Delta, meta: IndexMeta) -> BM25Index:
        """This index with ``delta`` beside it (see :mod:`retrieval.index.delta`), labelled
        ``meta`` (the store generation it is current at)."""
        if self.delta is not None:
            raise ValueError("a delta goes beside a main index, not beside another delta")
        live = BM25Index(
            self.postings,
            self.main_pks,
            self.params,
            meta,
            engine="sparse",
            scores=self.contributions,
            df=self._df,
            idf=self._idf,
            term_max=self.term_max,
            delta=delta,
        )
        live._main = self
        return live

    def _make_engine(self, name: str) -> Engine:
        if name == "okapi":
            return OkapiEngine(self.postings, self.params)
        return SparseEngine(
            self.postings.indptr,
            self.postings.docs,
            self.contributions,
            self.n_docs,
            term_max=self.term_max,
        )

    @property
    def contributions(self) -> NDArray[np.float32]:
        """Per-posting BM25 contributions (computed once, or loaded with a saved index)."""
        if self._scores is None:
            self._scores = self.postings.scores(self.params)
        return self._scores

    @property
    def term_max(self) -> NDArray[np.float32]:
        """Each term's largest contribution, by term id: the bounds dynamic pruning skips
        postings by (computed once, or loaded with a saved index)."""
        if self._term_max is None:
            self._term_max = term_maxima(self.postings.indptr, self.contributions)
        return self._term_max

    def with_engine(self, name: EngineChoice) -> BM25Index:
        """The same index served by another engine (for parity checks and benchmarks)."""
        own = self.reference is None  # else its IDF is the reference's mix: recompute as before
        return BM25Index(
            self.postings,
            self.main_pks,
            self.params,
            self.meta,
            engine=name,
            scores=self._scores,
            df=self._df if own else None,
            idf=self._idf if own else None,
            term_max=self._term_max if own else None,
        )

    @property
    def df_values(self) -> NDArray[np.int64]:
        """Document frequency of every term, by term id (saved with the index)."""
        return self._df

    @property
    def idf_values(self) -> NDArray[np.float64]:
        """IDF of every term, by term id, as scored (saved with the index)."""
        return self._idf

    # -- TermStats ------------------------------------------------------------------------------
    def idf(self, term: str) -> float:
        if self.delta is not None:
            delta_tid = self.delta.postings.vocab.get(term)
            if delta_tid is not None:
                return float(self.delta.idf[delta_tid])
            tid = self.postings.vocab.get(term)
            if tid is None:
                return 0.0
            df = np.array([self._df[tid]], dtype=np.float64)
            return float(self.params.idf_values(self.delta.n_docs, df)[0])
        tid = self.postings.vocab.get(term)
        return float(self._idf[tid]) if tid is not None else 0.0

    def doc_freq(self, term: str) -> int:
        if self.delta is not None:
            delta_tid = self.delta.postings.vocab.get(term)
            if delta_tid is not None:
                return int(self.delta.df[delta_tid])
        tid = self.postings.vocab.get(term)
        return int(self._df[tid]) if tid is not None else 0

    # -- search ---------------------------------------------------------------------------------
    def search(
        self, terms: Sequence[str], k: int, *, alive: NDArray[np.bool_] | None = None
    ) -> list[tuple[int, float]]:
        """Best ``k`` documents for already-tokenized ``terms``: ``(position, score)``.
        ``alive`` (one flag per position, delta positions included) keeps the others out: the
        result is the best ``k`` of the allowed documents, not the allowed ones of the best k
        (see :mod:`retrieval.filters`)."""
        if alive is not None and alive.shape[0] != self.n_docs:
            raise ValueError(f"a mask of {alive.shape[0]} positions for {self.n_docs} documents")
        if self.delta is not None:
            return self._search_with_delta(self.delta, terms, k, alive)
        vocab = self.postings.vocab
        known = [t for t in terms if t in vocab]
        ids = [vocab[t] for t in known]
        engine = self.engine
        if alive is None:
            hits = engine.top_k(ids, known, k)
        elif isinstance(engine, SparseEngine):
            hits = engine.top_k(ids, known, k, alive=alive)
        else:  # rank-bm25 scores everything anyway: rank the allowed documents only
            scores = engine.score_all(ids, known)
            hits = rank_candidates(scores, np.flatnonzero((scores > 0) & alive), k)
        if len(hits) < k and ids:
            # Terms found in (nearly) every document score zero or less, yet those documents do
            # contain them: in a tiny collection they are still the answer, ranked by score.
            postings = self.postings
            matched = np.unique(
                np.concatenate(
                    [postings.docs[postings.indptr[t] : postings.indptr[t + 1]] for t in set(ids)]
                )
            )
            if alive is not None:
                matched = matched[alive[matched]]
            if matched.shape[0] > len(hits):
                scores = self.engine.score_all(ids, known)
                hits = rank_candidates(scores, matched, k, positive=False)
        return hits

    def _search_with_delta(
        self,
        delta: Delta,
        terms: Sequence[str],
        k: int,
        alive: NDArray[np.bool_] | None = None,
    ) -> list[tuple[int, float]]:
        """The main index's best (old copies masked, rescaled to the joint IDF) and the delta's
        best, merged by score then position: what one index of both would return. ``alive``
        covers main then delta positions, and is combined with the delta's own mask."""
        engine = self.engine
        assert isinstance(engine, SparseEngine)
        split = self.postings.n_docs
        main_alive = delta.alive
        delta_alive: NDArray[np.bool_] | None = None
        if alive is not None:
            main_alive = alive[:split] if main_alive is None else main_alive & alive[:split]
            delta_alive = alive[split:]
        vocab = self.postings.vocab
        found = {t: vocab[t] for t in terms if t in vocab}
        ids = [found[t] for t in terms if t in found]
        weights = delta.main_weights(self, found)
        hits = engine.top_k(ids, [], k, weights=weights, alive=main_alive) if ids else []
        dvocab = delta.postings.vocab
        delta_ids = [dvocab[t] for t in terms if t in dvocab]
        hits += [
            (split + pos, s) for pos, s in delta.engine.top_k(delta_ids, [], k, alive=delta_alive)
        ]
        hits.sort(key=lambda hit: (-hit[1], hit[0]))
        return hits[:k]

    def score_all(self, terms: Sequence[str]) -> NDArray[np.floating]:
        vocab = self.postings.vocab
        known = [t for t in terms if t in vocab]
        if self.delta is not None:
            delta = self.delta
            engine = self.engine
            assert isinstance(engine, SparseEngine)
            ids = [vocab[t] for t in known]
            weights = delta.main_weights(self, {t: vocab[t] for t in known})
            main = engine.score_all(ids, known, weights=weights)
            if delta.alive is not None:
                main[~delta.alive] = 0.0
            dvocab = delta.postings.vocab
            dknown = [t for t in terms if t in dvocab]
            extra = delta.engine.score_all([dvocab[t] for t in dknown], dknown)
            return np.concatenate([main, extra])
        return self.engine.score_all([vocab[t] for t in known], known)
