"""Which index answers a collection right now: served from memory, reloaded or rebuilt aside.

The policy the façade should not have to know. An index is checked against the store's
generation at most once a second (``GENERATION_TTL``); when another process has changed the
collection, queries keep being answered from the current index while the new one is built in a
background thread and swapped in whole. A collection searched *beside* another (a server's own
papers next to the shared ones) gets a small index scored with the base's statistics, built
lazily on its next query. Everything here is thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from config import default
from retrieval.index.bm25 import BM25Index, IndexMeta
from retrieval.index.build import build_postings
from retrieval.index.persist import index_root, load_index, save_index
from retrieval.index.scoring import BM25Params
from retrieval.store import PaperStore
from retrieval.tokenize import Tokenizer

log = logging.getLogger(__name__)

GENERATION_TTL = 1.0  # seconds a served index is trusted before the store's generation is read


@dataclass
class _Served:
    index: BM25Index
    checked_at: float


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
    ) -> None:
        self.store = store
        self.tokenizer = tokenizer
        self.params = params
        self.engine = engine
        self.sparse_threshold = sparse_threshold
        self.persist = persist
        self._served: dict[str, _Served] = {}
        self._extras: dict[str, _Extra] = {}
        self._refreshing: set[str] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lock(self, collection: str) -> threading.Lock:
        """The lock that serialises builds of one collection."""
        with self._locks_guard:
            return self._locks.setdefault(collection, threading.Lock())

    def index(self, name: str) -> BM25Index:
        """The current index of a collection: cached, else loaded from disk, else built."""
        served = self._served.get(name)
        now = time.monotonic()
        if served is not None and now - served.checked_at < GENERATION_TTL:
            return served.index
        generation = self.store.generation(name)
        if served is not None and served.index.meta.generation == generation:
            served.checked_at = now
            return served.index
        if served is not None:
            # Changed by someone else (another process ingested): keep answering from the
            # current index while the new one is built aside, then swap it in whole.
            served.checked_at = now
            self._refresh_in_background(name, generation)
            return served.index
        with self.lock(name):
            served = self._served.get(name)
            if served is not None and served.index.meta.generation == generation:
                return served.index
            index = self._load_or_build(name, generation)
            self._served[name] = _Served(index, time.monotonic())  # swap in whole
            return index

    def _refresh_in_background(self, name: str, generation: int) -> None:
        with self._locks_guard:
            if name in self._refreshing:
                return
            self._refreshing.add(name)

        def work() -> None:
            try:
                with self.lock(name):
                    served = self._served.get(name)
                    if served is None or served.index.meta.generation != generation:
                        index = self._load_or_build(name, generation)
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

    def _load_or_build(self, name: str, generation: int) -> BM25Index:
        if self.persist:
            loaded = load_index(
                index_root(self.store.path, name),
                generation=generation,
                params=self.params,
                tokenizer_signature=self.tokenizer.signature,
                engine=self.engine,  # type: ignore[arg-type]
                sparse_threshold=self.sparse_threshold,
            )
            if loaded is not None:
                return loaded
        return self.rebuild(name, generation=generation)

    def rebuild(
        self,
        name: str,
        *,
        generation: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> BM25Index:
        """Build a collection's index from the store, save it aside and make it current."""
        if generation is None:
            generation = self.store.generation(name)
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
        if self.persist:
            save_index(index, index_root(self.store.path, name))
        self._served[name] = _Served(index, time.monotonic())
        log.info(
            "indexed collection %r: %d papers in %.2fs (%s engine)",
            name,
            index.n_docs,
            time.perf_counter() - started,
            index.engine.name,
        )
        return index
