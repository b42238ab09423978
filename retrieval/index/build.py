"""Building postings from the store's texts, in chunks, on every core.

Tokenizing is the expensive part of a build (a regex and a stemmer over every word), so chunks
of documents are tokenized in worker processes, each with its own vocabulary, kept from chunk to
chunk (:class:`_Tokenizing`), and sent back term-major with each term's bytes and hash
(:func:`~retrieval.index.postings.chunk_postings`). The parent does next to nothing per chunk
(it writes it to the build's scratch file), so the workers have the cores; at the end it
numbers the terms by hash and lays the postings out, all vectorised
(:class:`~retrieval.index.postings.PostingsBuilder`). Texts are streamed from SQLite, never all
in memory.

Interrupting a build (Ctrl-C, which a terminal sends to the workers too, or an exception)
must neither hang nor print a traceback per worker, so the workers are not a
``multiprocessing.Pool`` (whose terminate can wait forever on a queue lock or a half-written
result of a worker it killed): each worker has its own pair of pipes and at most one chunk at a
time, ignores SIGINT, and dies with its parent (even a ``kill -9``'d one, on Linux). The parent
alone reads SQLite, hands each chunk to the first worker free and adds results in chunk order;
on any exception it SIGKILLs the workers, which nothing else waits on, and lets the exception
go on. Its scratch and output files live in the build's temporary directory, removed with it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrieval.index.postings import Postings, PostingsBuilder, TokenizedChunk, chunk_postings
from retrieval.index.scoring import BM25Params
from retrieval.index.vocab import term_bytes, term_digests
from retrieval.tokenize import Tokenizer

log = logging.getLogger(__name__)

CHUNK_DOCS = 20_000  # at most 65,536: documents within a chunk are numbered in 16 bits
_PARALLEL_MIN_DOCS = 2 * CHUNK_DOCS


# What one tokenizing process remembers from chunk to chunk (see :class:`_Tokenizing`).
_KEEP_CHUNK_STRINGS = 600_000  # distinct whitespace-separated strings, per generation
_KEEP_TERMS = 1_200_000  # terms numbered before it starts afresh


class _TermIds(dict[str, tuple[int, ...]]):
    """Whitespace-separated string -> term ids, filled on first sight (``__missing__``).

    The tokenizer's word regex never matches across whitespace, so tokenizing each distinct
    string once (``"(DPO;"``, ``"model's"``) gives exactly the terms of the whole text, while the
    per-token work of a build runs in C: ``str.split`` and ``map(ids.__getitem__, strings)``.
    Strings of the previous generation (``previous``) are taken over without tokenizing again.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        vocab: dict[str, int],
        previous: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__()
        self.vocab = vocab
        self.previous = previous if previous is not None else {}
        self._tokenizer = tokenizer

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        ids = self.previous.pop(chunk, None)
        if ids is None:
            vocab = self.vocab
            word_terms = self._tokenizer.word_terms
            ids = tuple(
                [
                    vocab.setdefault(term, len(vocab))
                    for raw in self._tokenizer.words(chunk)
                    for term in word_terms(raw)
                ]
            )
        self[chunk] = ids
        return ids


class _Tokenizing:
    """One process's tokenizing state, kept across the chunks it is given.

    Most of a chunk's distinct strings and terms were in earlier chunks too (in a synthetic
    arXiv-like corpus, ~520k distinct strings a chunk of 20,000 abstracts, of which ~100-200k
    not in the chunks before it), so they are tokenized, encoded and hashed once per process,
    not once per chunk: a quarter less CPU for the workers. Memory stays bounded: strings
    live two generations of ``_KEEP_CHUNK_STRINGS`` (those seen again move to the newer one),
    and past ``_KEEP_TERMS`` terms everything starts afresh (term ids are only this process's:
    a chunk is sent with its terms' bytes and hashes).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._reset()

    def _reset(self) -> None:
        self.vocab: dict[str, int] = {}
        self.encoded: list[bytes] = []
        self.digests = np.zeros((0, 2), dtype=np.uint64)
        self.strings = _TermIds(self.tokenizer, self.vocab)

    def chunk(self, texts: list[tuple[str, str]], title_weight: int) -> TokenizedChunk:
        """Postings of a chunk of documents: where a million-abstract build spends its time."""
        if len(self.vocab) > _KEEP_TERMS:
            self._reset()
        elif len(self.strings) > _KEEP_CHUNK_STRINGS:
            self.strings = _TermIds(self.tokenizer, self.vocab, previous=self.strings)
        lookup = self.strings.__getitem__
        flat: list[int] = []
        lens: list[int] = []
        for title, abstract in texts:
            before = len(flat)
            flat.extend(chain.from_iterable(map(lookup, abstract.split())))
            if title and title_weight:
                flat.extend(list(chain.from_iterable(map(lookup, title.split()))) * title_weight)
            lens.append(len(flat) - before)
        known = len(self.encoded)
        if len(self.vocab) > known:
            new = [term_bytes(t) for t in islice(self.vocab, known, None)]
            self.encoded.extend(new)
            self.digests = np.concatenate([self.digests, term_digests(new)])
        return chunk_postings(self.encoded, self.digests, flat, lens)


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (a ``kill -9``'d build must not
    leave workers behind, holding memory and an inherited lock file)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _worker(
    tasks: Connection, results: Connection, tokenizer: Tokenizer, title_weight: int, parent: int
) -> None:
    """A build worker: chunks of texts in, term ids out, until ``None`` or the pipe closes."""
    # Ctrl-C is the parent's to handle (it kills the workers); SIGINT was blocked across the
    # fork so that none arrives before this line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_parent(parent)
    # Nothing here makes reference cycles, and the cyclic collector would otherwise walk the
    # millions of cached strings and tuples again and again.
    gc.freeze()
    gc.disable()
    state = _Tokenizing(tokenizer)
    while True:
        try:
            texts = tasks.recv()
        except (EOFError, OSError):
            return
        if texts is None:
            return
        try:
            reply: tuple[bool, Any] = (True, state.chunk(texts, title_weight))
        except Exception as exc:
            reply = (False, exc)
        results.send(reply)


class _Workers:
    """``n`` forked workers, each fed one chunk at a time over its own pipes (no shared queue,
    no helper threads: stopping them never waits on anything)."""

    def __init__(self, n: int, tokenizer: Tokenizer, title_weight: int) -> None:
        ctx = mp.get_context("fork")
        self._procs: list[Any] = []
        self._tasks: list[Connection] = []
        self._results: list[Connection] = []
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(n):
                task_r, task_w = ctx.Pipe(duplex=False)
                result_r, result_w = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_worker,
                    args=(task_r, result_w, tokenizer, title_weight, os.getpid()),
                    daemon=True,
                )
                self._procs.append(proc)
                self._tasks.append(task_w)
                self._results.append(result_r)
                try:
                    proc.start()
                finally:
                    task_r.close()
                    result_w.close()
        except BaseException:
            self.kill()
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def __len__(self) -> int:
        return len(self._procs)

    def send(self, worker: int, texts: list[tuple[str, str]]) -> None:
        self._tasks[worker].send(texts)

    def ready(self, workers: list[int]) -> list[int]:
        """Those of ``workers`` with a result waiting (blocks until there is one)."""
        conns = {id(self._results[w]): w for w in workers}
        return [conns[id(conn)] for conn in wait([self._results[w] for w in workers])]

    def receive(self, worker: int) -> TokenizedChunk:
        try:
            ok, value = self._results[worker].recv()
        except EOFError:
            raise RuntimeError(f"index build worker {worker} died") from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """After the last result: let the workers exit, and reap them."""
        for conn in self._tasks:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc in self._procs:
            proc.join(timeout=10)
        self.kill()

    def kill(self) -> None:
        """Stop every worker now (SIGKILL: nothing to flush, nothing to print) and reap it."""
        for proc in self._procs:
            if proc.pid is not None and proc.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        for proc in self._procs:
            if proc.pid is not None:
                proc.join()
        for conn in (*self._tasks, *self._results):
            conn.close()
        self._procs, self._tasks, self._results = [], [], []


def _chunks(
    rows: Iterable[tuple[int, str, str]], pks: list[NDArray[np.int64]]
) -> Iterator[list[tuple[str, str]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, CHUNK_DOCS)):
        pks.append(np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch)))
        yield [(row[1], row[2]) for row in batch]


def _feed(
    workers: _Workers,
    chunks: Iterator[list[tuple[str, str]]],
    add: Callable[[TokenizedChunk], None],
) -> None:
    """Tokenize ``chunks`` on ``workers``, adding the results in chunk order.

    Each worker has at most one chunk at a time, so neither side ever blocks writing to the
    other while it is writing too. Whichever worker finishes first gets the next chunk, read
    from the store beforehand, at once (chunks take unequal times; waiting in turn would idle
    the faster worker); results that overtake an earlier one wait for it.
    """
    upcoming = next(chunks, None)
    assigned: dict[int, int] = {}  # worker -> index of the chunk it has
    finished: dict[int, TokenizedChunk] = {}
    sent = added = 0
    for worker in range(len(workers)):
        if upcoming is None:
            break
        workers.send(worker, upcoming)
        assigned[worker], sent = sent, sent + 1
        upcoming = next(chunks, None)
    while assigned:
        for worker in workers.ready(list(assigned)):
            finished[assigned.pop(worker)] = workers.receive(worker)
            if upcoming is not None:
                workers.send(worker, upcoming)
                assigned[worker], sent = sent, sent + 1
                upcoming = next(chunks, None)
        while added in finished:
            add(finished.pop(added))
            added += 1


def build_postings(
    rows: Iterable[tuple[int, str, str]],
    tokenizer: Tokenizer,
    *,
    title_weight: int = 1,
    expected_docs: int | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    scoring: BM25Params | None = None,
    keep_tf: bool = True,
    directory: Path | None = None,
) -> tuple[Postings, NDArray[np.int64]]:
    """Postings and store keys for ``(pk, title, abstract)`` rows, in row order.

    Uses worker processes (fork) when the corpus is large enough to repay starting them.
    With ``scoring``, the postings' BM25 contributions for those parameters are computed as
    they are laid out (``Postings.built``); ``keep_tf=False`` (only with ``scoring``) then
    leaves term frequencies out, which only rank-bm25 and other parameters would need. With
    ``directory`` (a fresh temporary build directory, see :func:`retrieval.index.persist.
    build_directory`), scratch data and the index's arrays are written there and the result is
    memory-mapped from it: the build's memory stays bounded whatever the corpus size.
    """
    pks: list[NDArray[np.int64]] = []
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    parallel = (
        n_workers > 1
        and (expected_docs or 0) >= _PARALLEL_MIN_DOCS
        and "fork" in mp.get_all_start_methods()
    )
    chunks = _chunks(rows, pks)
    started = time.perf_counter()
    with PostingsBuilder(directory, params=scoring, keep_tf=keep_tf) as builder:

        def add(chunk: TokenizedChunk) -> None:
            builder.add_chunk(chunk)
            if progress:
                progress(builder.n_docs)

        if parallel:
            workers_ = _Workers(n_workers, tokenizer, title_weight)
            try:
                _feed(workers_, chunks, add)
            except BaseException:
                workers_.kill()
                raise
            workers_.close()
        else:
            state = _Tokenizing(tokenizer)
            for texts in chunks:
                add(state.chunk(texts, title_weight))
        tokenized = time.perf_counter()
        postings = builder.finish()
    log.debug(
        "built postings: %d docs, %d terms; tokenized in %.1fs, laid out in %.1fs",
        postings.n_docs,
        len(postings.vocab),
        tokenized - started,
        time.perf_counter() - tokenized,
    )
    doc_pks = np.concatenate(pks) if pks else np.zeros(0, dtype=np.int64)
    return postings, doc_pks
