"""Term-major postings (a CSC matrix: for each term, its documents and term frequencies).

Built chunk by chunk so that a million abstracts never exist as Python token lists at once: each
chunk arrives as compact ``(term id, doc, tf)`` triples and is scattered into its final place
once document frequencies are known. Memory stays at a few bytes per posting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from retrieval.index.scoring import BM25Params, tf_saturation
from retrieval.index.vocab import FlatVocab

_SCORE_SLICE = 8_000_000


@dataclass
class Postings:
    """The corpus as numbers: enough to score any query and to re-score for new params."""

    vocab: Mapping[str, int]  # a dict when built, a :class:`FlatVocab` when loaded
    indptr: NDArray[np.int64]  # len(vocab) + 1
    docs: NDArray[np.int32]  # doc positions, ascending within each term
    tf: NDArray[np.uint16]
    doc_len: NDArray[np.float32]  # weighted length (title counted title_weight times)

    @property
    def n_docs(self) -> int:
        return int(self.doc_len.shape[0])

    @property
    def df(self) -> NDArray[np.int64]:
        return np.diff(self.indptr)

    @property
    def avgdl(self) -> float:
        return float(self.doc_len.mean()) if self.n_docs else 0.0

    def terms(self) -> list[str]:
        """The vocabulary in term-id order (the inverse of ``vocab``)."""
        if isinstance(self.vocab, FlatVocab):
            return self.vocab.terms()
        terms = [""] * len(self.vocab)
        for term, tid in self.vocab.items():
            terms[tid] = term
        return terms

    def idf(self, params: BM25Params) -> NDArray[np.float64]:
        return params.idf_values(self.n_docs, self.df.astype(np.float64))

    def scores(
        self,
        params: BM25Params,
        *,
        idf: NDArray[np.float64] | None = None,
        avgdl: float | None = None,
    ) -> NDArray[np.float32]:
        """Per-posting BM25 contributions ``idf(term) * saturation(tf, doc length)``.

        ``idf`` and ``avgdl`` default to this corpus' own; a small collection scored on a larger
        one's scale passes the larger one's.
        """
        idf = self.idf(params) if idf is None else idf
        out = np.empty(self.docs.shape[0], dtype=np.float32)
        avgdl = self.avgdl if avgdl is None else avgdl
        indptr = np.asarray(self.indptr, dtype=np.int64)
        for start in range(0, out.shape[0], _SCORE_SLICE):
            stop = min(start + _SCORE_SLICE, out.shape[0])
            # The term of each posting in this slice, found from the term offsets: no array of
            # one term id per posting for the whole corpus (614 MB at a million abstracts).
            first = int(np.searchsorted(indptr, start, side="right")) - 1
            last = int(np.searchsorted(indptr, stop - 1, side="right")) - 1
            counts = np.diff(np.clip(indptr[first : last + 2], start, stop)).astype(np.int64)
            term_of = np.repeat(np.arange(first, last + 1), counts)
            sat = tf_saturation(
                self.tf[start:stop], self.doc_len[self.docs[start:stop]], avgdl, params.k1, params.b
            )
            out[start:stop] = idf[term_of] * sat
        return out


@dataclass
class PostingsBuilder:
    """Collects chunks of documents as term-id triples, then lays them out term-major."""

    vocab: dict[str, int] = field(default_factory=dict)
    _chunks: list[tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.uint16]]] = field(
        default_factory=list
    )
    _lens: list[NDArray[np.float32]] = field(default_factory=list)
    _n_docs: int = 0

    @property
    def n_docs(self) -> int:
        return self._n_docs

    def add_chunk(
        self,
        local_terms: list[str],
        term_ids: NDArray[np.int32],
        doc_idx: NDArray[np.int32],
        tf: NDArray[np.uint16],
        doc_len: NDArray[np.float32],
    ) -> None:
        """Add a chunk of documents given as unique (local term id, local doc, tf) triples.

        ``local_terms[i]`` is the string of local id ``i``; ids are remapped to the global vocab.
        """
        vocab = self.vocab
        mapping = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in local_terms),
            dtype=np.int32,
            count=len(local_terms),
        )
        self._chunks.append(
            (
                mapping[term_ids] if term_ids.size else term_ids.astype(np.int32),
                (doc_idx + self._n_docs).astype(np.int32),
                tf,
            )
        )
        self._lens.append(doc_len.astype(np.float32))
        self._n_docs += int(doc_len.shape[0])

    def finish(self) -> Postings:
        n_terms = len(self.vocab)
        df = np.zeros(n_terms, dtype=np.int64)
        for terms, _, _ in self._chunks:
            df += np.bincount(terms, minlength=n_terms)
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        nnz = int(indptr[-1])
        docs = np.empty(nnz, dtype=np.int32)
        tfs = np.empty(nnz, dtype=np.uint16)
        fill = indptr[:-1].copy()
        while self._chunks:
            terms, chunk_docs, chunk_tf = self._chunks.pop(0)
            order = np.argsort(terms, kind="stable")  # keeps docs ascending within a term
            terms = terms[order]
            counts = np.bincount(terms, minlength=n_terms)
            run_start = np.cumsum(counts) - counts
            pos = fill[terms] + (np.arange(terms.shape[0], dtype=np.int64) - run_start[terms])
            docs[pos] = chunk_docs[order]
            tfs[pos] = chunk_tf[order]
            fill += counts
        doc_len = (
            np.concatenate(self._lens) if self._lens else np.zeros(0, dtype=np.float32)
        ).astype(np.float32)
        self._lens.clear()
        return Postings(self.vocab, indptr, docs, tfs, doc_len)


def chunk_triples(
    flat_ids: list[int], lens: list[int]
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.uint16], NDArray[np.float32]]:
    """Unique (term, doc, tf) triples and doc lengths from concatenated per-document term ids."""
    lengths = np.asarray(lens, dtype=np.int64)
    flat = np.asarray(flat_ids, dtype=np.int64)
    doc_of = np.repeat(np.arange(lengths.shape[0], dtype=np.int64), lengths)
    keys, counts = np.unique((doc_of << 32) | flat, return_counts=True)
    return (
        (keys & 0xFFFFFFFF).astype(np.int32),
        (keys >> 32).astype(np.int32),
        np.minimum(counts, np.iinfo(np.uint16).max).astype(np.uint16),
        lengths.astype(np.float32),
    )
