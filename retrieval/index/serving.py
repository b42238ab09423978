"""Which index answers a collection right now: served from memory, reloaded or rebuilt aside.

The policy the façade should not have to know. An index is checked against the store's
generation at most once a second (``GENERATION_TTL``); when another process has changed the
collection, queries keep being answered from the current index while the new one is built in a
background thread and swapped in whole. A collection searched *beside* another (a server's own
papers next to the shared ones) gets a small index scored with the base's statistics, built
lazily on its next query. Everything here is thread-safe.

Between processes (the CLI, the bot, several ingests), whoever holds a collection's build lock
(:func:`~retrieval.index.persist.build_lock`) is making its index current: an ingest holds it
from its write to the saved index. A reader that finds the saved index older than the store
never waits for that: if nobody holds the lock it builds (and saves) the index itself; if
someone does, it answers from the saved index of an earlier generation, reported once through
``on_behind``; with no saved index at all, it builds one in memory. Lock order, to stay free of
deadlocks: the build lock, then :meth:`IndexServer.lock`; a thread holding the latter only ever
*tries* the former.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from config import default
from retrieval.index.bm25 import BM25Index, IndexMeta
from retrieval.index.build import build_postings, die_with_parent
from retrieval.index.delta import make_delta, supports_delta
from retrieval.index.persist import (
    build_directory,
    build_lock,
    index_root,
    load_index,
    save_index,
)
from retrieval.index.scoring import BM25Params
from retrieval.stores import Store, reopen_spec, reopen_store
from retrieval.tokenize import Tokenizer

log = logging.getLogger(__name__)

# From this many papers a merge (full build) in the bot runs in a child process.
MERGE_IN_CHILD_MIN = 50_000
# A delta is built for at most this many times ``merge_at`` changed papers (beyond, a full build
# costs less than the delta would).
DELTA_LIMIT = 4
GENERATION_TTL = 1.0  # seconds a served index is trusted before the store's generation is read


@dataclass
class _Served:
    index: BM25Index
    checked_at: float


@dataclass(frozen=True, slots=True)
class Behind:
    """A saved index of an earlier generation, served while another process builds the current
    one (``papers_behind``: papers in the store and not in it; 0 when only texts changed)."""

    collection: str
    index_generation: int
    store_generation: int
    papers_behind: int


@dataclass
class _Extra:
    """A collection searched beside a base one, scored with the base's statistics."""

    index: BM25Index
    base: BM25Index


class IndexServer:
    """The current index of each collection of one store (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        tokenizer: Tokenizer,
        params: BM25Params,
        *,
        engine: str = default("engine"),
        sparse_threshold: int = default("sparse_threshold"),
        merge_at: int = default("index_merge_at"),
        persist: bool = True,
        background: bool = True,
    ) -> None:
        self.store = store
        self.tokenizer = tokenizer
        self.params = params
        self.engine = engine
        self.sparse_threshold = sparse_threshold
        # Papers changed since a full build served from a delta beside it (more: rebuilt whole).
        self.merge_at = merge_at
        self.persist = persist
        # A served index found stale is refreshed in a background thread (the bot), or on the
        # next query in the calling thread (a command that is about to exit: no thread to leave
        # behind in the middle of a build).
        self.background = background
        # Told once per collection when an earlier generation is served (default: logged).
        self.on_behind: Callable[[Behind], None] | None = None
        # Called, in the background refresh's thread, with each full build it swaps in (the
        # Library warms what it derives from an index there, not on the next user's query).
        self.on_full_build: Callable[[str, BM25Index], None] | None = None
        self._behind_told: set[str] = set()
        self._served: dict[str, _Served] = {}
        self._extras: dict[str, _Extra] = {}
        self._refreshing: set[str] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lock(self, collection: str) -> threading.Lock:
        """The lock that serialises this process's work on one collection's served index."""
        with self._locks_guard:
            return self._locks.setdefault(collection, threading.Lock())

    def root(self, collection: str) -> Path:
        """Where a collection's index is saved."""
        return index_root(self.store.path, collection)

    def building(self, collection: str) -> contextlib.AbstractContextManager[object]:
        """Held while a collection's index is made current, across threads and processes (the
        saved index's build lock; nothing to hold when indexes are not saved). Take it before
        :meth:`lock`, never after."""
        if self.persist:
            return build_lock(self.root(collection))
        return contextlib.nullcontext()

    def index(self, name: str) -> BM25Index:
        """The current index of a collection: cached, else loaded from disk, else built (see
        the module docstring for what is served while another process builds)."""
        served = self._served.get(name)
        now = time.monotonic()
        if served is not None and now - served.checked_at < GENERATION_TTL:
            return served.index
        generation = self.store.generation(name)
        if served is not None and served.index.meta.generation == generation:
            served.checked_at = now
            return served.index
        if served is not None:
            served.checked_at = now
            if self.background:
                # Changed by someone else (another process ingested): keep answering from the
                # current index while the new one is built aside, then swap it in whole.
                self._refresh_in_background(name)
                return served.index
        with self.lock(name):
            served = self._served.get(name)
            if served is not None and served.index.meta.generation == generation:
                return served.index
            index = self._current(name, generation, served.index if served else None)
            self._served[name] = _Served(index, time.monotonic())  # swap in whole
            return index

    def _current(self, name: str, generation: int, previous: BM25Index | None) -> BM25Index:
        """The index at ``generation`` if it can be had without waiting for another process,
        else the best one there is (see the module docstring). Called holding :meth:`lock`."""
        if not self.persist:
            live = self._with_delta(name, generation, previous)
            return live if live is not None else self.rebuild(name, generation=generation)
        saved = self._load(name, generation)
        if saved is not None:
            return saved
        base = previous or self._load(name, generation, stale_ok=True)
        live = self._with_delta(name, generation, base)
        if live is not None:
            return live
        lock = build_lock(self.root(name))
        if lock.acquire(blocking=False):
            try:
                return self._load_or_build(name)
            finally:
                lock.release()
        previous = base
        if previous is not None:
            self._tell_behind(name, previous, generation)
            return previous
        # Nothing saved yet and another process is building it: build this one in memory
        # rather than wait (that process saves its own).
        return self._build(name, generation)

    def _tell_behind(self, name: str, index: BM25Index, generation: int) -> None:
        if name in self._behind_told:
            return
        self._behind_told.add(name)
        behind = Behind(
            collection=name,
            index_generation=index.meta.generation,
            store_generation=generation,
            papers_behind=max(0, self.store.count(name) - index.n_docs),
        )
        if self.on_behind is not None:
            self.on_behind(behind)
        else:
            log.info(
                "answering from the previous index of %r (%d papers behind) while another "
                "process rebuilds it",
                name,
                behind.papers_behind,
            )

    def _full_build_due(self, name: str, merge: bool) -> bool:
        served = self._served.get(name)
        return (
            served is None
            or served.index.meta.generation != self.store.generation(name)
            or self._should_merge(served.index)
            or (merge and served.index.delta is not None)
        )

    def _merged(self, name: str) -> BM25Index | None:
        """In a background thread, not holding the build lock: a large collection rebuilt and
        saved by a child process at low priority, then loaded (memory-mapped). A build in this
        process's thread would hold the interpreter lock for much of a minute, and every query
        would wait for it. The child is a fresh interpreter, not a fork: a fork of a threaded
        process could inherit a lock some other thread held (SQLite's, logging's) and hang.
        None when indexes are not saved, the collection is small, or the child failed (the
        caller then builds here)."""
        if not self.persist or self.store.count(name) < MERGE_IN_CHILD_MIN:
            return None
        generation = self.store.generation(name)
        saved = self._load(name, generation)
        if saved is not None:
            return saved
        try:
            payload = pickle.dumps(
                (
                    reopen_spec(self.store),
                    name,
                    self.tokenizer,
                    self.params,
                    self.engine,
                    self.sparse_threshold,
                    os.getpid(),
                )
            )
        except (TypeError, pickle.PicklingError):
            return None
        started = time.perf_counter()
        # Its own session: a Ctrl-C at the terminal is the parent's to handle, and the child
        # dies with the parent (PR_SET_PDEATHSIG). Not a multiprocessing child, which would
        # keep the parent from exiting until the merge ended, and could not start workers.
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD_MAIN],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        assert child.stdin is not None
        with child.stdin:
            child.stdin.write(pickle.dumps(list(sys.path)))
            child.stdin.write(payload)
        exitcode = child.wait()
        if exitcode != 0:
            log.warning("the merge of %r failed in its process (exit %s)", name, exitcode)
            return None
        loaded = self._load(name, generation, stale_ok=True)
        if loaded is not None:
            log.info("merged collection %r in %.1fs", name, time.perf_counter() - started)
        return loaded

    def merge(self, name: str) -> None:
        """Fold the served delta of a collection into a new full build, in the background (the
        served index answers meanwhile); what happens by itself past ``merge_at`` changes."""
        self._refresh_in_background(name, merge=True)

    def _refresh_in_background(self, name: str, *, merge: bool = False) -> None:
        with self._locks_guard:
            if name in self._refreshing:
                return
            self._refreshing.add(name)

        def work() -> None:
            try:
                # The papers changed since the served index's full build, indexed beside it:
                # searchable in well under a second, without waiting for anyone.
                served = self._served.get(name)
                generation = self.store.generation(name)
                if not merge and served is not None and served.index.meta.generation != generation:
                    live = self._with_delta(name, generation, served.index)
                    if live is not None:
                        with self.lock(name):
                            self._served[name] = _Served(live, time.monotonic())
                        if not self._should_merge(live):
                            return
                # Then (or instead) a full build: in a child process for a large collection
                # (which waits for any other process's build, under the build lock, then
                # builds and saves; loaded here), else here.
                if self._full_build_due(name, merge):
                    merged = self._merged(name)
                    if merged is not None:
                        with self.lock(name):
                            self._served[name] = _Served(merged, time.monotonic())
                        self._built(name, merged)
                        return
                built = None
                with self.building(name), self.lock(name):
                    if self._full_build_due(name, merge):
                        built = self._load_or_build(name)
                        self._served[name] = _Served(built, time.monotonic())
                if built is not None:
                    self._built(name, built)
            except Exception:
                log.exception("background re-index of %r failed; serving the previous index", name)
            finally:
                with self._locks_guard:
                    self._refreshing.discard(name)

        threading.Thread(target=work, name=f"reindex-{name}", daemon=True).start()

    def _built(self, name: str, index: BM25Index) -> None:
        if self.on_full_build is None:
            return
        try:
            self.on_full_build(name, index)
        except Exception:  # warming is an optimisation: the next query does it instead
            log.exception("after the full build of %r", name)

    def _should_merge(self, index: BM25Index) -> bool:
        """Whether a served delta has grown past ``merge_at`` papers (then a full build)."""
        return index.delta is not None and index.delta.changed > self.merge_at

    def _with_delta(self, name: str, generation: int, base: BM25Index | None) -> BM25Index | None:
        """``base``'s main index with the papers changed since its full build indexed beside
        it (:mod:`retrieval.index.delta`), labelled ``generation``; None when the store cannot
        say what changed, the change is too large for a delta, or ``base`` takes none."""
        if base is None or self.merge_at <= 0:
            return None
        main = base.main
        if not supports_delta(main):
            return None
        changed = self.store.changes_since(name, main.meta.generation)
        if changed is None or len(changed) > DELTA_LIMIT * max(self.merge_at, 1):
            return None
        if not self.background and len(changed) > self.merge_at:
            return None  # a command about to exit: the full build now is the merge
        started = time.perf_counter()
        postings, pks = build_postings(
            self.store.iter_texts_by_pks(name, changed),
            self.tokenizer,
            title_weight=self.params.title_weight,
        )
        delta = make_delta(main, postings, pks, np.asarray(changed, dtype=np.int64))
        meta = IndexMeta(name, generation, datetime.now(UTC), self.tokenizer.signature)
        live = main.with_delta(delta, meta)
        log.info(
            "collection %r: %d changed papers indexed beside the index of generation %d in %.2fs",
            name,
            len(changed),
            main.meta.generation,
            time.perf_counter() - started,
        )
        return live

    def update(self, name: str) -> BM25Index | None:
        """After a write (holding the build lock): the collection's index made current without
        a full build if possible: the saved one if it already is (another process built it), or
        the served or saved one with a delta of the changes beside it. None when only a full
        build will do (the caller rebuilds)."""
        with self.lock(name):
            generation = self.store.generation(name)
            if self.persist:
                loaded = self._load(name, generation)
                if loaded is not None:
                    self._served[name] = _Served(loaded, time.monotonic())
                    return loaded
            served = self._served.get(name)
            base = served.index if served is not None else None
            if base is None and self.persist:
                base = self._load(name, generation, stale_ok=True)
            live = self._with_delta(name, generation, base)
            if live is None or self._should_merge(live):
                return None
            self._served[name] = _Served(live, time.monotonic())
            return live

    def changed(self, name: str) -> None:
        """Another process changed ``name`` (heard over LISTEN/NOTIFY, :mod:`retrieval.changes`):
        the next query reads the store's generation rather than trusting the served index for
        up to ``GENERATION_TTL``, and the refresh starts now, in the background, so that query
        already finds it (or nearly). A server's own collection is checked on every query."""
        served = self._served.get(name)
        if served is None:
            return
        served.checked_at = float("-inf")
        if self.background and served.index.meta.generation != self.store.generation(name):
            self._refresh_in_background(name)

    def extra(self, name: str, base: BM25Index) -> BM25Index | None:
        """The index of a collection searched beside ``base``; None when it is empty."""
        generation = self.store.generation(name)
        extra = self._extras.get(name)
        if extra is not None and extra.base is base and extra.index.meta.generation == generation:
            return extra.index
        if generation == 0:
            return None
        with self.lock(name):
            extra = self._extras.get(name)
            if extra is None or extra.base is not base or extra.index.meta.generation != generation:
                postings, pks = build_postings(
                    self.store.iter_texts(name),
                    self.tokenizer,
                    title_weight=self.params.title_weight,
                )
                meta = IndexMeta(name, generation, datetime.now(UTC), self.tokenizer.signature)
                index = BM25Index(postings, pks, self.params, meta, reference=base)
                extra = _Extra(index, base)
                self._extras[name] = extra
            return extra.index

    def load_current(self, name: str) -> BM25Index | None:
        """The saved index if it is at the store's generation now (served from then on); None
        when there is none, or indexes are not saved."""
        if not self.persist:
            return None
        with self.lock(name):
            loaded = self._load(name, self.store.generation(name))
            if loaded is not None:
                self._served[name] = _Served(loaded, time.monotonic())
            return loaded

    def _load(self, name: str, generation: int, *, stale_ok: bool = False) -> BM25Index | None:
        return load_index(
            self.root(name),
            generation=generation,
            params=self.params,
            tokenizer_signature=self.tokenizer.signature,
            engine=self.engine,  # type: ignore[arg-type]
            sparse_threshold=self.sparse_threshold,
            stale_ok=stale_ok,
        )

    def _load_or_build(self, name: str) -> BM25Index:
        """Under the build lock: the saved index if it is current (another process may have
        just saved it), else a new one built and saved."""
        generation = self.store.generation(name)
        if self.persist and (loaded := self._load(name, generation)) is not None:
            return loaded
        return self.rebuild(name, generation=generation)

    def rebuild(
        self,
        name: str,
        *,
        generation: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> BM25Index:
        """Build a collection's index from the store, save it aside and make it current
        (holding the build lock, re-entered if the caller holds it)."""
        with self.building(name):
            if generation is None:
                generation = self.store.generation(name)
            if self.persist:
                # Built straight into the directory that becomes the saved index.
                with build_directory(self.root(name)) as directory:
                    index = self._build(name, generation, progress, directory)
                    save_index(index, self.root(name), directory=directory)
            else:
                index = self._build(name, generation, progress)
            self._served[name] = _Served(index, time.monotonic())
            return index

    def _build(
        self,
        name: str,
        generation: int,
        progress: Callable[[int], None] | None = None,
        directory: Path | None = None,
    ) -> BM25Index:
        """An index of the collection as the store holds it now, labelled ``generation`` (read
        before the texts, so a change made meanwhile makes it look older, never newer)."""
        started = time.perf_counter()
        expected = self.store.count(name)
        # Term frequencies only where rank-bm25 may serve the index (here or in a process with
        # the default threshold): the sparse engine needs only the contributions.
        keep_tf = self.engine == "okapi" or expected < max(
            self.sparse_threshold, default("sparse_threshold")
        )
        postings, pks = build_postings(
            self.store.iter_texts(name),
            self.tokenizer,
            title_weight=self.params.title_weight,
            expected_docs=expected,
            progress=progress,
            scoring=self.params,
            keep_tf=keep_tf,
            directory=directory,
        )
        meta = IndexMeta(name, generation, datetime.now(UTC), self.tokenizer.signature)
        index = BM25Index(
            postings,
            pks,
            self.params,
            meta,
            engine=self.engine,  # type: ignore[arg-type]
            sparse_threshold=self.sparse_threshold,
            term_max=postings.built.term_max if postings.built is not None else None,
        )
        log.info(
            "indexed collection %r: %d papers in %.2fs (%s engine)",
            name,
            index.n_docs,
            time.perf_counter() - started,
            index.engine.name,
        )
        return index


# What the merge process runs: the parent's import path, then the arguments of
# :func:`_build_in_child`, both pickled on its standard input.
_CHILD_MAIN = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from retrieval.index.serving import _build_in_child; "
    "_build_in_child(*pickle.load(sys.stdin.buffer))"
)


def _build_in_child(
    store_path: Path | dict[str, Any],
    name: str,
    tokenizer: Tokenizer,
    params: BM25Params,
    engine: str,
    sparse_threshold: int,
    parent: int,
) -> None:
    """A merge process: builds and saves the collection's index under its build lock (after
    any other process's build) at low priority, so the parent's queries keep the cores they
    need; it dies with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.nice(10)
    store = reopen_store(store_path)  # the parent's store: a SQLite path or a database URL
    try:
        server = IndexServer(
            store,
            tokenizer,
            params,
            engine=engine,
            sparse_threshold=sparse_threshold,
            persist=True,
            background=False,
        )
        with server.building(name):
            if server._load(name, store.generation(name)) is None:
                server.rebuild(name)
    finally:
        store.close()
