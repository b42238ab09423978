"""Building postings from the store's texts, in chunks, on every core.

Tokenizing is the expensive part of a build (a regex and a stemmer over every word), so chunks
of documents are tokenized in worker processes, each with its own small vocabulary; the parent
only remaps ids and lays the postings out. Texts are streamed from SQLite, never all in memory.

Interrupting a build (Ctrl-C, which a terminal sends to the workers too, or an exception)
must neither hang nor print a traceback per worker, so the workers are not a
``multiprocessing.Pool`` (whose terminate can wait forever on a queue lock or a half-written
result of a worker it killed): each worker has its own pair of pipes and at most one chunk at a
time, ignores SIGINT, and dies with its parent (even a ``kill -9``'d one, on Linux). The parent
alone reads SQLite, hands chunks out round-robin and takes results in order; on any exception it
SIGKILLs the workers, which nothing else waits on, and lets the exception go on.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrieval.index.postings import Postings, PostingsBuilder, chunk_triples
from retrieval.tokenize import Tokenizer

log = logging.getLogger(__name__)

CHUNK_DOCS = 20_000
_PARALLEL_MIN_DOCS = 2 * CHUNK_DOCS

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


def _die_with_parent(parent: int) -> None:
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
    _die_with_parent(parent)
    while True:
        try:
            texts = tasks.recv()
        except (EOFError, OSError):
            return
        if texts is None:
            return
        try:
            reply: tuple[bool, Any] = (True, _tokenize_chunk(texts, tokenizer, title_weight))
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

    def receive(self, worker: int) -> Chunk:
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

    def add(chunk: Chunk) -> None:
        builder.add_chunk(*chunk)
        if progress:
            progress(builder.n_docs)

    if parallel:
        workers_ = _Workers(n_workers, tokenizer, title_weight)
        try:
            # Worker i gets chunks i, i + n, ...; each has at most one chunk at a time, so
            # neither side ever blocks writing to the other while it is writing too.
            busy = 0
            for texts in chunks:
                worker = busy % n_workers
                if busy >= n_workers:
                    chunk = workers_.receive(worker)
                    workers_.send(worker, texts)
                    add(chunk)
                else:
                    workers_.send(worker, texts)
                busy += 1
            for n in range(max(0, busy - n_workers), busy):
                add(workers_.receive(n % n_workers))
        except BaseException:
            workers_.kill()
            raise
        workers_.close()
    else:
        for texts in chunks:
            add(_tokenize_chunk(texts, tokenizer, title_weight))
    postings = builder.finish()
    log.debug("built postings: %d docs, %d terms", postings.n_docs, len(postings.vocab))
    return postings, np.asarray(pks, dtype=np.int64)
