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
from retrieval.index.engines import Engine, OkapiEngine, SparseEngine, rank_candidates
from retrieval.index.postings import Postings
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
    ) -> None:
        self.postings = postings
        self.doc_pks = doc_pks
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
        if engine == "auto":
            engine = "okapi" if self.n_docs < sparse_threshold else "sparse"
        self.engine: Engine = self._make_engine(engine)

    def _make_engine(self, name: str) -> Engine:
        if name == "okapi":
            return OkapiEngine(self.postings, self.params)
        return SparseEngine(
            self.postings.indptr, self.postings.docs, self.contributions, self.n_docs
        )

    @property
    def contributions(self) -> NDArray[np.float32]:
        """Per-posting BM25 contributions (computed once, or loaded with a saved index)."""
        if self._scores is None:
            self._scores = self.postings.scores(self.params)
        return self._scores

    def with_engine(self, name: EngineChoice) -> BM25Index:
        """The same index served by another engine (for parity checks and benchmarks)."""
        own = self.reference is None  # else its IDF is the reference's mix: recompute as before
        return BM25Index(
            self.postings,
            self.doc_pks,
            self.params,
            self.meta,
            engine=name,
            scores=self._scores,
            df=self._df if own else None,
            idf=self._idf if own else None,
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
        tid = self.postings.vocab.get(term)
        return float(self._idf[tid]) if tid is not None else 0.0

    def doc_freq(self, term: str) -> int:
        tid = self.postings.vocab.get(term)
        return int(self._df[tid]) if tid is not None else 0

    # -- search ---------------------------------------------------------------------------------
    def search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Best ``k`` documents for already-tokenized ``terms``: ``(position, score)``."""
        vocab = self.postings.vocab
        known = [t for t in terms if t in vocab]
        ids = [vocab[t] for t in known]
        hits = self.engine.top_k(ids, known, k)
        if len(hits) < k and ids:
            # Terms found in (nearly) every document score zero or less, yet those documents do
            # contain them: in a tiny collection they are still the answer, ranked by score.
            postings = self.postings
            matched = np.unique(
                np.concatenate(
                    [postings.docs[postings.indptr[t] : postings.indptr[t + 1]] for t in set(ids)]
                )
            )
            if matched.shape[0] > len(hits):
                scores = self.engine.score_all(ids, known)
                hits = rank_candidates(scores, matched, k, positive=False)
        return hits

    def score_all(self, terms: Sequence[str]) -> NDArray[np.floating]:
        vocab = self.postings.vocab
        known = [t for t in terms if t in vocab]
        return self.engine.score_all([vocab[t] for t in known], known)
