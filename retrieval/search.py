"""The façade the bot and the CLI call: papers in a store, ranked hits and composed answers out.

It owns the policy the callers should not have to know: which index serves a collection (a saved
one when the store has not changed since, else a fresh build swapped in whole), how a question
becomes terms, and how hits become papers. Everything is synchronous and thread-safe; the bot
runs the slow calls in a worker thread.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from config import Settings, default, paperbot_version
from retrieval.answer.semantic import embedder
from retrieval.filters import CategoryCounts, Filters, alive_mask, warm_after_build
from retrieval.index import BM25Index, BM25Params
from retrieval.index.persist import store_write_lock
from retrieval.index.serving import IndexServer
from retrieval.interrupts import CommitGuard
from retrieval.papers import Paper, paper_link
from retrieval.store import StoredCollection, UpsertResult, merge_with_stored
from retrieval.stores import Store, database_url, describe, is_empty, is_new, open_store, store_size
from retrieval.tokenize import Tokenizer, default_tokenizer

if TYPE_CHECKING:
    from retrieval.answer.compose import Answer
    from retrieval.conversations import FollowUp

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 4000
# What a saved index with impossible values (out-of-range offsets, mismatched arrays) raises.
_DAMAGED = (IndexError, ValueError, KeyError)


def _shape_problem(index: BM25Index) -> str | None:
    """What is impossible about an index's array shapes (a truncated or hand-edited file), in
    constant time; None when they fit together."""
    postings = index.postings
    indptr = postings.indptr
    if len(indptr) != len(postings.vocab) + 1 or (len(indptr) and int(indptr[0]) != 0):
        return "its term offsets do not match its vocabulary"
    if len(indptr) and not int(indptr[-1]) == len(postings.docs) == len(postings.tf):
        return "its postings are not as long as its offsets say"
    if len(index.doc_pks) != index.n_docs:
        return "it has more or fewer papers than document lengths"
    return None


MAX_QUERY_TERMS = 256
CANDIDATES_FOR_ANSWER = 10


class EmptyQuery(ValueError):
    """The question has no searchable words (empty, only punctuation or only stopwords)."""


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during :meth:`Library.add_papers`; the message says what was kept: nothing (the
    transaction was rolled back) or every paper (it had committed; the index is rebuilt on next
    use)."""

    def __init__(self, collection: str, result: UpsertResult | None) -> None:
        self.collection = collection
        self.result = result
        if result is None:
            message = f"nothing was written to {collection!r} (the store is as it was)"
        elif result.added or result.updated:
            message = (
                f"all {result.total:,} papers are saved in {collection!r} ({result.added:,} "
                f"added, {result.updated:,} updated); its index will be rebuilt on next use"
            )
        else:
            message = f"all {result.total:,} papers were already in {collection!r}"
        super().__init__(message)


class CollectionFull(Exception):
    """A collection already holds as many papers as it may (``add_papers(limit=...)``)."""

    def __init__(self, collection: str, limit: int) -> None:
        super().__init__(f"collection {collection!r} already holds its limit of {limit} papers")
        self.collection = collection
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    title: str
    score: float
    url: str | None


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    name: str
    paper_count: int
    indexed_at: datetime | None
    generation: int


GUILD_PREFIX = "guild-"


@dataclass(frozen=True, slots=True)
class Scope:
    """The collections a question searches, made by :meth:`Library.scope`: the base collection,
    whose statistics score them all, then (for a server) the server's own papers beside it, so
    one ranked list comes back. A paper another server added is not in this scope."""

    collections: tuple[str, ...]

    @property
    def base(self) -> str:
        return self.collections[0]

    @property
    def own(self) -> str | None:
        """The server's own collection (filled by ``/add``), if the scope has one."""
        return self.collections[1] if len(self.collections) > 1 else None


Where = Scope | str | None
"""What the query verbs accept: a scope, one collection by name, or the default collection."""


@dataclass(frozen=True, slots=True)
class Candidates:
    """Papers for the composer, best first, with the index that scored them and the WordLlama
    cosines of the question with the re-ranked ones (by paper id)."""

    index: BM25Index
    papers: list[tuple[Paper, float]]
    similarity: dict[str, float]


@dataclass(frozen=True, slots=True)
class _Reranked:
    index: BM25Index
    ranked: list[tuple[int, float]]  # (store key, score), best first
    papers: dict[int, Paper]  # the re-ranked head, already read
    similarity: dict[int, float]  # store key -> cosine with the question


@dataclass
class _Titles:
    generation: int
    rows: list[tuple[str, str, str]]  # (id, title, folded title)


class Library:
    """Search and answers over one paper store."""

    def __init__(
        self,
        store: Store,
        *,
        params: BM25Params | None = None,
        tokenizer: Tokenizer | None = None,
        default_collection: str = default("collection"),
        engine: str = default("engine"),
        sparse_threshold: int = default("sparse_threshold"),
        merge_at: int = default("index_merge_at"),
        max_answer_papers: int = default("answer_papers"),
        persist: bool = True,
        semantic: bool = default("semantic"),
        rerank_candidates: int = default("rerank_candidates"),
        semantic_weight: float = default("semantic_weight"),
    ) -> None:
        self.store = store
        self.params = params or BM25Params()
        self.tokenizer = tokenizer or default_tokenizer()
        self.default_collection = default_collection
        self.max_answer_papers = max_answer_papers
        self.semantic = semantic
        self.rerank_candidates = rerank_candidates if semantic else 0
        self.semantic_weight = semantic_weight
        self.version = paperbot_version()
        self._titles: dict[str, _Titles] = {}
        self._category_counts = CategoryCounts(store)
        self._sound: weakref.WeakSet[BM25Index] = weakref.WeakSet()  # indexes checked whole
        self.indexes = IndexServer(
            store,
            self.tokenizer,
            self.params,
            engine=engine,
            sparse_threshold=sparse_threshold,
            merge_at=merge_at,
            persist=persist,
        )
        # A merge's new build gets its filter facets in the merge's thread, if anyone filters.
        self.indexes.on_full_build = self._warm_filters

    @classmethod
    def open(cls, settings: Settings, *, seed: bool = True, create: bool = True) -> Library:
        """The library of the configured store; a store that does not exist yet starts with the
        bundled 50-paper corpus (unless ``seed`` is false), so a fresh install answers questions
        with no network. ``create`` false: an empty file is an error rather than a new store
        (a store that cannot be written is opened read-only either way)."""
        fresh = is_new(settings)
        store = open_store(settings, create=create)
        if database_url(settings) is not None:  # a new database is one without collections
            fresh = create and not store.readonly and is_empty(store)
        if fresh and seed:
            from retrieval.loaders import bundled_papers

            store.upsert(bundled_papers(), settings.collection)
            log.info("created %s with the bundled corpus", describe(settings))
        from retrieval.stopwords import QUESTION_WORDS

        tokenizer = (
            Tokenizer(query_stopwords=QUESTION_WORDS)
            if settings.drop_question_words
            else default_tokenizer()
        )
        return cls(
            store,
            tokenizer=tokenizer,
            params=BM25Params.from_settings(settings),
            default_collection=settings.collection,
            engine=settings.engine,
            sparse_threshold=settings.sparse_threshold,
            merge_at=settings.index_merge_at,
            max_answer_papers=settings.answer_papers,
            semantic=settings.semantic,
            rerank_candidates=settings.rerank_candidates,
            semantic_weight=settings.semantic_weight,
        )

    def _warm_filters(self, name: str, index: BM25Index) -> None:
        """After a full build: its filter facets read now, if the collection is ever filtered
        (:func:`retrieval.filters.warm_after_build`), not on the next user's filtered query."""
        try:
            warm_after_build(self.store, index)
        except Exception:  # an optimisation only: the next filtered query reads them instead
            log.exception("reading the filter facets of %r after its build failed", name)

    # -- indexes ----------------------------------------------------------------------------------
    def index(self, collection: str | None = None) -> BM25Index:
        """The current index of a collection (see :class:`IndexServer`). One that cannot be
        saved beside the store (a read-only store or ``.index`` directory) is served from
        memory; a saved one too damaged to load is rebuilt."""
        name = collection or self.default_collection
        try:
            index = self.indexes.index(name)
        except OSError as exc:
            if not self._index_in_memory(exc):
                raise
            index = self.indexes.index(name)
        except _DAMAGED as exc:
            return self._rebuild_damaged(name, exc)
        if index not in self._sound:
            problem = _shape_problem(index)
            if problem:
                return self._rebuild_damaged(name, problem)
            self._sound.add(index)
        return index

    def _rebuild_damaged(self, name: str, problem: object) -> BM25Index:
        log.warning("the saved index of %r is damaged (%s); rebuilding it", name, problem)
        index = self.rebuild(name)
        self._sound.add(index)
        return index

    def rebuild(
        self, collection: str | None = None, *, progress: Callable[[int], None] | None = None
    ) -> BM25Index:
        """Build a collection's index from the store now and make it current."""
        name = collection or self.default_collection
        with self.indexes.building(name), self.indexes.lock(name):  # in this order (serving.py)
            try:
                index = self.indexes.rebuild(name, progress=progress)
            except OSError as exc:
                if not self._index_in_memory(exc):
                    raise
                index = self.indexes.rebuild(name, progress=progress)
        self._warm_filters(name, index)
        return index

    def _index_in_memory(self, exc: OSError) -> bool:
        """After an index failed to save: stop saving (indexes are kept in memory only) and
        say so once. False when they were not being saved, so the error is something else."""
        if not self.indexes.persist:
            return False
        self.indexes.persist = False
        where = self.store.path.with_name(self.store.path.name + ".index")
        log.warning(
            "cannot save the index in %s (%s); keeping it in memory only",
            where,
            exc.strerror or exc,
        )
        return True

    def _search_index(
        self, name: str, terms: list[str], k: int, filters: Filters | None = None
    ) -> tuple[BM25Index, list[tuple[int, float]]]:
        """``(index, best k store keys)`` of one collection; a saved index whose files hold
        impossible values (a damaged disk, a hand edit) is rebuilt once instead of failing."""
        index = self.index(name)
        try:
            alive = alive_mask(self.store, index, filters)
            ranked = [
                (int(index.doc_pks[pos]), s) for pos, s in index.search(terms, k, alive=alive)
            ]
            # Papers are never deleted, so a key the store lacks is a damaged index file.
            lost = len({pk for pk, _ in ranked}) - self.store.count_pks([pk for pk, _ in ranked])
            if not lost:
                return index, ranked
            problem: object = f"{lost} of its papers are not in the store"
        except _DAMAGED as exc:
            problem = exc
        index = self._rebuild_damaged(name, problem)
        alive = alive_mask(self.store, index, filters)
        return index, [
            (int(index.doc_pks[pos]), s) for pos, s in index.search(terms, k, alive=alive)
        ]

    def scope(self, guild_id: int | None = None) -> Scope:
        """What a question asked in ``guild_id`` searches: the shared collection plus the
        server's own (``guild-<id>``); in a DM, the shared collection only. A server that never
        added anything costs nothing (its collection is empty)."""
        if guild_id is None:
            return Scope((self.default_collection,))
        return Scope((self.default_collection, f"{GUILD_PREFIX}{guild_id}"))

    def _scope(self, collection: Where) -> tuple[str, ...]:
        if collection is None:
            return (self.default_collection,)
        if isinstance(collection, str):
            return (collection,)
        return collection.collections

    # -- writing ----------------------------------------------------------------------------------
    def add_papers(
        self,
        papers: Iterable[Paper],
        collection: str | None = None,
        *,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
        index_progress: Callable[[int], None] | None = None,
    ) -> UpsertResult:
        """The one way papers enter the store (file and remote ingest, ``/add``, the daily
        refresh): the stored metadata of papers already known is folded in (incoming keys win,
        so a Hugging Face ingest after arXiv keeps the arXiv categories), everything is written
        in one transaction, and the collection is re-indexed so the papers are answerable at
        once. A server's own collection, searched beside the shared one, is re-indexed instead
        on its next query (milliseconds). ``limit`` refuses to grow a collection past that many
        papers (:class:`CollectionFull`, nothing written). Ctrl-C raises
        :class:`IngestInterrupted`, which says whether the papers were written."""
        name = collection or self.default_collection
        if limit and self.store.count(name) >= limit:
            raise CollectionFull(name, limit)
        own = name.startswith(GUILD_PREFIX)
        written: list[UpsertResult] = []  # filled the moment the write has committed
        try:
            if self._write(papers, name, progress, written):
                raise KeyboardInterrupt
            result = written[0]
            if (result.added or result.updated) and not own:
                # Under the build lock (other processes' readers answer from the previous index
                # meanwhile); an ingest that committed while another one was building may find
                # the index already current when the lock comes free, and build nothing.
                with self.indexes.building(name):
                    if self.indexes.update(name) is None:
                        self.rebuild(name, progress=index_progress)
        except KeyboardInterrupt:
            raise IngestInterrupted(name, written[0] if written else None) from None
        if own:
            self.warm(Scope((self.default_collection, name)))
        return result

    def _write(
        self,
        papers: Iterable[Paper],
        name: str,
        progress: Callable[[int], None] | None,
        written: list[UpsertResult],
    ) -> bool:
        """One transaction (its result appended to ``written``); True if Ctrl-C was pressed
        while it committed (held off until then, so that it is raised with the outcome known)."""
        guard = CommitGuard()
        with store_write_lock(self.store.path):  # a second writer waits here, interruptibly
            try:
                written.append(
                    self.store.upsert(
                        merge_with_stored(self.store, guard.after(papers)), name, progress=progress
                    )
                )
            except BaseException:
                if guard.release():
                    raise KeyboardInterrupt from None
                raise
        return guard.release()

    # -- what is stored ---------------------------------------------------------------------------
    def count(self, collection: str | None = None) -> int:
        """Papers in one collection."""
        return self.store.count(collection or self.default_collection)

    def holders(self, paper_id: str) -> frozenset[str]:
        """The collections a stored paper is in (empty when it is not stored)."""
        return frozenset(self.store.collections_of(paper_id.strip()))

    def visible(self, paper_id: str, collection: Where = None) -> bool:
        """Whether a stored paper can be shown in ``collection``: a paper another server added
        must not show up in this one, nor in direct messages."""
        return bool(self.holders(paper_id) & set(self._scope(collection)))

    def collections(self) -> list[StoredCollection]:
        return list(self.store.collections())

    def papers(self, collection: str | None = None) -> Iterator[Paper]:
        """Every paper of a collection, in store order (for export)."""
        return self.store.iter_papers(collection or self.default_collection)

    def has_collection(self, collection: str) -> bool:
        """Whether the store has this collection (one seek for any that ever changed)."""
        if self.store.generation(collection) > 0:
            return True
        return any(c.name == collection for c in self.store.collections())

    @property
    def read_only(self) -> bool:
        """The store cannot be written (read-only file, directory or volume): reads only."""
        return bool(self.store.readonly)

    @property
    def store_path(self) -> Path:
        """The store's SQLite file (its indexes live beside it)."""
        return self.store.path

    def store_size(self) -> int:
        """Bytes the store takes: its file, or its PostgreSQL database (``paperbot stats``)."""
        return store_size(self.store)

    # -- queries ----------------------------------------------------------------------------------
    def query_terms(self, text: str) -> list[str]:
        """Question text to terms; raises :class:`EmptyQuery` when nothing searchable is left."""
        terms = self.tokenizer.query_terms(text[:MAX_QUERY_CHARS])[:MAX_QUERY_TERMS]
        if not terms:
            # A question made only of question words ("what is this paper?") still has words.
            terms = self.tokenizer.terms(text[:MAX_QUERY_CHARS])[:MAX_QUERY_TERMS]
        if not terms:
            raise EmptyQuery("the question has no searchable words")
        return terms

    def _ranked(
        self, terms: list[str], k: int, names: tuple[str, ...], *, filters: Filters | None = None
    ) -> tuple[BM25Index, list[tuple[int, float]]]:
        """Best ``k`` store keys over a scope's collections, merged by score, each paper once;
        ``filters`` applied inside each collection's search."""
        base, ranked = self._search_index(names[0], terms, k, filters)
        extras = [idx for name in names[1:] if (idx := self.indexes.extra(name, base)) is not None]
        if extras:
            best: dict[int, float] = dict(ranked)
            for extra in extras:
                alive = alive_mask(self.store, extra, filters)
                for pos, score in extra.search(terms, k, alive=alive):
                    pk = int(extra.doc_pks[pos])
                    if score > best.get(pk, float("-inf")):
                        best[pk] = score
            ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]
        return base, ranked

    def _reranked(
        self, question: str, k: int, collection: Where, *, filters: Filters | None = None
    ) -> _Reranked:
        """BM25's best, the first ``rerank_candidates`` of them re-scored as BM25 plus
        ``semantic_weight`` x the best BM25 score x the WordLlama cosine of question and paper,
        so a paper that says what was asked in other words can overtake one that shares more
        words (weight chosen on our question set's train split). Keeps the papers it read and
        the cosines, so answering does not read or embed them again."""
        names = self._scope(collection)
        depth = max(k, self.rerank_candidates)
        index, ranked = self._ranked(self.query_terms(question), depth, names, filters=filters)
        head = ranked[: self.rerank_candidates]
        n_head = len(head)
        model = embedder() if len(head) > 1 and head[0][1] > 0 else None
        if model is None:
            return _Reranked(index, ranked[:k], {}, {})
        papers = self.store.papers_by_pks([pk for pk, _ in head])
        head = [(pk, score) for pk, score in head if pk in papers]
        sims = model.similarity(
            question[:MAX_QUERY_CHARS],
            [f"{papers[pk].title}. {papers[pk].abstract}" for pk, _ in head],
        )
        top = head[0][1] if head and head[0][1] > 0 else 1.0
        # In BM25's units: the best paper's BM25 score times the semantic weight per unit of
        # cosine, so scores stay comparable with the papers below the re-ranked head.
        rescored = [
            (pk, score + self.semantic_weight * top * float(sim))
            for (pk, score), sim in zip(head, sims, strict=True)
        ]
        rescored.sort(key=lambda item: -item[1])
        floor = rescored[-1][1] if rescored else 0.0
        tail = [(pk, min(score, floor)) for pk, score in ranked[n_head:]]
        similarity = {pk: float(sim) for (pk, _), sim in zip(head, sims, strict=True)}
        return _Reranked(index, (rescored + tail)[:k], papers, similarity)

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        offset: int = 0,
        collection: Where = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """Ranked hits ``offset .. offset + k`` for a free-text query (only papers that pass
        ``filters``)."""
        if k <= 0:
            return []
        ranked = self._reranked(query, k + offset, collection, filters=filters).ranked[offset:]
        rows = self.store.titles_by_pks([pk for pk, _ in ranked])
        return [
            Hit(id=row[0], title=row[1], score=score, url=paper_link(row[0], row[2]))
            for row, (_, score) in zip(rows, ranked, strict=True)
        ]

    def candidates(
        self,
        question: str,
        *,
        k: int = CANDIDATES_FOR_ANSWER,
        collection: Where = None,
        filters: Filters | None = None,
    ) -> Candidates:
        """What :meth:`ask` hands the composer: the best ``k`` papers (re-ranked), the index
        whose statistics score them, and the question-paper cosines already computed."""
        reranked = self._reranked(question, k, collection, filters=filters)
        known = dict(reranked.papers)
        missing = [pk for pk, _ in reranked.ranked if pk not in known]
        if missing:
            known.update(self.store.papers_by_pks(missing))
        return Candidates(
            index=reranked.index,
            papers=[(known[pk], score) for pk, score in reranked.ranked if pk in known],
            similarity={known[pk].id: sim for pk, sim in reranked.similarity.items()},
        )

    def ask(
        self, question: str, *, collection: Where = None, filters: Filters | None = None
    ) -> Answer:
        """The composed answer: best papers with the sentences that answer, or a plain 'no'
        (reason ``"filtered-out"`` when ``filters`` leave no paper at all to answer from)."""
        from retrieval.answer.compose import Answer, compose

        names = self._scope(collection)
        found = self.candidates(question, collection=Scope(names), filters=filters)
        if not found.papers and filters is not None and not self.passing(filters, Scope(names)):
            return Answer(
                question=question,
                answered=False,
                papers=(),
                collection=names[-1],
                reason="filtered-out",
            )
        return compose(
            question,
            found.papers,
            found.index,
            self.tokenizer,
            max_papers=self.max_answer_papers,
            collection=names[-1],
            paper_count=self.info(Scope(names)).paper_count,
            as_of=found.index.meta.built_at,
            semantic=self.semantic,
            similarity=found.similarity,
        )

    def passing(self, filters: Filters, collection: Where = None) -> int:
        """How many papers of ``collection`` pass ``filters`` (counted on the indexes)."""
        names = self._scope(collection)
        base = self.index(names[0])
        indexes = [base] + [
            idx for name in names[1:] if (idx := self.indexes.extra(name, base)) is not None
        ]
        total = 0
        for index in indexes:
            alive = alive_mask(self.store, index, filters)
            if alive is None:
                return sum(i.paper_count for i in indexes)
            if index.delta is not None and index.delta.alive is not None:
                alive[: index.delta.alive.shape[0]] &= index.delta.alive
            total += int(alive.sum())
        return total

    def categories(self, collection: Where = None) -> list[tuple[str, int]]:
        """``(arXiv category, papers)`` present in ``collection``, most common first: for
        autocomplete and for checking a typed category. Kept in memory per collection
        generation."""
        return self._category_counts.merged(self._scope(collection))

    def ask_followup(
        self,
        question: str,
        previous_ids: Iterable[str],
        *,
        collection: Where = None,
        previous_question: str = "",
    ) -> FollowUp:
        """A follow-up answered from the previous answer's papers first ("the second one",
        "they"), then from the collection (see :mod:`retrieval.conversations`)."""
        from retrieval.conversations import answer_followup

        return answer_followup(
            self,
            question,
            previous_ids,
            collection=collection,
            previous_question=previous_question,
        )

    def paper(self, paper_id: str) -> Paper | None:
        return self.store.get(paper_id.strip())

    def similar(self, paper_id: str, *, k: int = 10, collection: Where = None) -> list[Hit]:
        """Papers most like a given one (its title and abstract used as the query)."""
        paper = self.paper(paper_id)
        if paper is None:
            return []
        terms = self.tokenizer.terms(f"{paper.title}\n{paper.abstract}")[:MAX_QUERY_TERMS]
        if not terms:
            return []
        _, ranked = self._ranked(terms, k + 1, self._scope(collection))
        rows = self.store.titles_by_pks([pk for pk, _ in ranked])
        hits = [
            Hit(id=row[0], title=row[1], score=score, url=paper_link(row[0], row[2]))
            for row, (_, score) in zip(rows, ranked, strict=True)
            if row[0] != paper.id
        ]
        return hits[:k]

    def suggest(
        self, prefix: str, *, limit: int = 25, collection: Where = None
    ) -> list[tuple[str, str]]:
        """Autocomplete: ``(id, title)`` pairs whose id or title matches what was typed so far.

        Served from memory (Discord gives autocomplete no time to defer): exact id first, then
        titles starting with the text, then titles with a word starting with it, then anywhere.
        """
        names = reversed(self._scope(collection))  # a guild's own papers first
        rows = [row for name in names for row in self._title_cache(name).rows]
        needle = " ".join(prefix.casefold().split())
        if not needle:
            return list(dict.fromkeys((pid, title) for pid, title, _ in rows))[:limit]
        buckets: list[list[tuple[str, str]]] = [[], [], [], []]
        for pid, title, folded in rows:
            if pid.casefold() == needle:
                buckets[0].append((pid, title))
            elif folded.startswith(needle) or pid.casefold().startswith(needle):
                buckets[1].append((pid, title))
            elif f" {needle}" in f" {folded}":
                buckets[2].append((pid, title))
            elif needle in folded:
                buckets[3].append((pid, title))
            if len(buckets[0]) + len(buckets[1]) >= limit:
                break
        out = dict.fromkeys(item for bucket in buckets for item in bucket)
        return list(out)[:limit]

    def _title_cache(self, collection: str) -> _Titles:
        generation = self.store.generation(collection)
        cached = self._titles.get(collection)
        if cached is None or cached.generation != generation:
            rows = [
                (pid, title, " ".join(title.casefold().split()))
                for _, pid, title in self.store.iter_titles(collection)
            ]
            cached = _Titles(generation, rows)
            self._titles[collection] = cached
        return cached

    def warm(self, collection: Where = None) -> None:
        """Load the index and the autocomplete titles and categories now rather than on the
        first request."""
        names = self._scope(collection)
        base = self.index(names[0])
        for name in names[1:]:
            self.indexes.extra(name, base)
        for name in names:
            self._title_cache(name)
            self._category_counts.counts(name)

    def info(self, collection: Where = None) -> CollectionInfo:
        """Name, paper count and index date; for a scope, the papers of all its collections."""
        names = self._scope(collection)
        index = self.index(names[0])
        count = index.paper_count + sum(self.store.count(name) for name in names[1:])
        return CollectionInfo(
            name=names[-1],
            paper_count=count,
            indexed_at=index.meta.built_at,
            generation=index.meta.generation,
        )
