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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from config import default
from retrieval.index.bm25 import BM25Index, IndexMeta
from retrieval.index.build import build_postings
from retrieval.index.persist import build_lock, index_root, load_index, save_index
from retrieval.index.scoring import BM25Params
from retrieval.store import PaperStore
from retrieval.tokenize import Tokenizer

log = logging.getLogger(__name__)

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
        store: PaperStore,
        tokenizer: Tokenizer,
        params: BM25Params,
        *,
        engine: str = default("engine"),
        sparse_threshold: int = default("sparse_threshold"),
        persist: bool = True,
        background: bool = True,
    ) -> None:
        self.store = store
        self.tokenizer = tokenizer
        self.params = params
        self.engine = engine
        self.sparse_threshold = sparse_threshold
        self.persist = persist
        # A served index found stale is refreshed in a background thread (the bot), or on the
        # next query in the calling thread (a command that is about to exit: no thread to leave
        # behind in the middle of a build).
        self.background = background
        # Told once per collection when an earlier generation is served (default: logged).
        self.on_behind: Callable[[Behind], None] | None = None
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
            return self.rebuild(name, generation=generation)
        saved = self._load(name, generation)
        if saved is not None:
            return saved
        lock = build_lock(self.root(name))
        if lock.acquire(blocking=False):
            try:
                return self._load_or_build(name)
            finally:
                lock.release()
        previous = previous or self._load(name, generation, stale_ok=True)
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

    def _refresh_in_background(self, name: str) -> None:
        with self._locks_guard:
            if name in self._refreshing:
                return
            self._refreshing.add(name)

        def work() -> None:
            try:
                # Waits for another process's build, then loads it (or builds if it failed).
                with self.building(name), self.lock(name):
                    served = self._served.get(name)
                    if served is None or served.index.meta.generation != self.store.generation(
                        name
                    ):
                        index = self._load_or_build(name)
                        self._served[name] = _Served(index, time.monotonic())
            except Exception:
                log.exception("background re-index of %r failed; serving the previous index", name)
            finally:
                with self._locks_guard:
                    self._refreshing.discard(name)

        threading.Thread(target=work, name=f"reindex-{name}", daemon=True).start()

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
            index = self._build(name, generation, progress)
            if self.persist:
                save_index(index, self.root(name))
            self._served[name] = _Served(index, time.monotonic())
            return index

    def _build(
        self, name: str, generation: int, progress: Callable[[int], None] | None = None
    ) -> BM25Index:
        """An index of the collection as the store holds it now, labelled ``generation`` (read
        before the texts, so a change made meanwhile makes it look older, never newer)."""
        started = time.perf_counter()
        postings, pks = build_postings(
            self.store.iter_texts(name),
            self.tokenizer,
            title_weight=self.params.title_weight,
            expected_docs=self.store.count(name),
            progress=progress,
        )
        meta = IndexMeta(name, generation, datetime.now(UTC), self.tokenizer.signature)
        index = BM25Index(
            postings,
            pks,
            self.params,
            meta,
            engine=self.engine,  # type: ignore[arg-type]
            sparse_threshold=self.sparse_threshold,
        )
        log.info(
            "indexed collection %r: %d papers in %.2fs (%s engine)",
            name,
            index.n_docs,
            time.perf_counter() - started,
            index.engine.name,
        )
        return index
