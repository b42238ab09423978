"""Building postings from the store's texts, in chunks, on every core.

Tokenizing is the expensive part of a build (a regex and a stemmer over every word), so chunks
of documents are tokenized in worker processes, each with its own small vocabulary; the parent
only remaps ids and lays the postings out. Texts are streamed from SQLite, never all in memory.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice

import numpy as np
from numpy.typing import NDArray

from retrieval.index.postings import Postings, PostingsBuilder, chunk_triples
from retrieval.tokenize import Tokenizer

log = logging.getLogger(__name__)

CHUNK_DOCS = 20_000
_PARALLEL_MIN_DOCS = 2 * CHUNK_DOCS

_worker_tokenizer: Tokenizer | None = None
_worker_title_weight = 1

Chunk = tuple[
    list[str], NDArray[np.int32], NDArray[np.int32], NDArray[np.uint16], NDArray[np.float32]
]


class _TermIds(dict[str, tuple[int, ...]]):
    """Whitespace-separated chunk -> term ids, filled on first sight (``__missing__``).

    The tokenizer's word regex never matches across whitespace, so tokenizing each distinct
    chunk once (``"(DPO;"``, ``"model's"``) gives exactly the terms of the whole text, while the
    per-token work of a build runs in C: ``str.split`` and ``map(ids.__getitem__, chunks)``.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__()
        self.vocab: dict[str, int] = {}
        self._tokenizer = tokenizer

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        vocab = self.vocab
        word_terms = self._tokenizer.word_terms
        ids = tuple(
            vocab.setdefault(term, len(vocab))
            for raw in self._tokenizer.words(chunk)
            for term in word_terms(raw)
        )
        self[chunk] = ids
        return ids


def _tokenize_chunk(texts: list[tuple[str, str]], tokenizer: Tokenizer, title_weight: int) -> Chunk:
    """Term ids of a chunk of documents: where a million-abstract build spends its time."""
    term_ids = _TermIds(tokenizer)
    lookup = term_ids.__getitem__
    flat: list[int] = []
    lens: list[int] = []
    for title, abstract in texts:
        before = len(flat)
        flat.extend(chain.from_iterable(map(lookup, abstract.split())))
        if title and title_weight:
            flat.extend(list(chain.from_iterable(map(lookup, title.split()))) * title_weight)
        lens.append(len(flat) - before)
    terms, doc_idx, tf, doc_len = chunk_triples(flat, lens)
    return list(term_ids.vocab), terms, doc_idx, tf, doc_len


def _worker_init(tokenizer: Tokenizer, title_weight: int) -> None:
    global _worker_tokenizer, _worker_title_weight
    _worker_tokenizer, _worker_title_weight = tokenizer, title_weight


def _worker_chunk(texts: list[tuple[str, str]]) -> Chunk:
    assert _worker_tokenizer is not None
    return _tokenize_chunk(texts, _worker_tokenizer, _worker_title_weight)


def _chunks(
    rows: Iterable[tuple[int, str, str]], pks: list[int]
) -> Iterator[list[tuple[str, str]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, CHUNK_DOCS)):
        pks.extend(row[0] for row in batch)
        yield [(row[1], row[2]) for row in batch]


def build_postings(
    rows: Iterable[tuple[int, str, str]],
    tokenizer: Tokenizer,
    *,
    title_weight: int = 1,
    expected_docs: int | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Postings, NDArray[np.int64]]:
    """Postings and store keys for ``(pk, title, abstract)`` rows, in row order.

    Uses worker processes (fork) when the corpus is large enough to repay starting them.
    """
    builder = PostingsBuilder()
    pks: list[int] = []
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    parallel = (
        n_workers > 1
        and (expected_docs or 0) >= _PARALLEL_MIN_DOCS
        and "fork" in mp.get_all_start_methods()
    )
    chunks = _chunks(rows, pks)
    if parallel:
        ctx = mp.get_context("fork")
        with ctx.Pool(
            n_workers, initializer=_worker_init, initargs=(tokenizer, title_weight)
        ) as pool:
            for chunk in pool.imap(_worker_chunk, chunks):
                builder.add_chunk(*chunk)
                if progress:
                    progress(builder.n_docs)
    else:
        for texts in chunks:
            builder.add_chunk(*_tokenize_chunk(texts, tokenizer, title_weight))
            if progress:
                progress(builder.n_docs)
    postings = builder.finish()
    log.debug("built postings: %d docs, %d terms", postings.n_docs, len(postings.vocab))
    return postings, np.asarray(pks, dtype=np.int64)
