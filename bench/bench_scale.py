"""All of arXiv on one box (issue 11): build, disk, reload, queries, memory and updates at scale.

Corpora are synthetic arXiv-like papers with a realistic vocabulary (bench/synth_arxiv.py) in
real paperbot stores, ``bench/out/scale-<size>.db`` (ingested once through
``PaperStore.upsert``, timed, then reused), plus with ``--real`` the 100k arXiv CS abstracts of
``../shared/eval/arxiv-cs`` (``bench/out/scale-real-100k.db``, ingested from the file with the
production loader). Every measurement runs in a fresh process where memory matters:

* build   -- ``IndexServer(store, tokenizer, params).rebuild("default")`` with the configured
             defaults (what ``paperbot`` runs; saving the index included): wall time, peak RSS of
             the building process and of its workers (``ru_maxrss`` of RUSAGE_SELF and
             RUSAGE_CHILDREN), the process tree's summed RSS sampled every 50 ms, index files
             on disk (``<db>.index/default/<CURRENT>``);
* reload  -- ``IndexServer.index("default")`` in ``--loads`` fresh processes (median), RSS
             after it and its split (``/proc/self/smaps_rollup``: anonymous vs file-backed);
* serve   -- one fresh process: synthetic queries (3-10 words of one paper, ``--queries`` of
             them) and all SciFact claims (train+dev+test, 1,105 distinct), warm, each timed
             (a) ``index.search(terms, 10)`` on already tokenized terms: BM25 top-10 itself, and
             (b) ``server.index("default").search(tokenizer.query_terms(text), 10)``: tokenizing
             and the served-index lookup included, the bot's retrieval step before re-ranking;
             then an exactness check (``--exact`` queries: ``index.search`` top-10 positions and
             scores against ``index.score_all`` fully sorted, ties by position), then queries
             until 10,000 ran in the process, and its RSS / shared / private memory;
* bm25s   -- with ``--bm25s-at SIZE``: bm25s (its own tokenizer, English stopwords, PyStemmer)
             indexing the same texts, peak memory, the same queries (tokenizing included, and
             ``retrieve`` alone);
* delta   -- with ``--delta N``: on a copy of the store and its saved index, N new papers are
             upserted (a daily refresh) while a thread keeps querying through the served index;
             times how long until ``IndexServer.index("default")`` finds the new papers, and
             query latency before / during / after.

    python -m bench.bench_scale --sizes 100k,1m,2.5m --real --bm25s-at 1m --delta 1000
    python -m bench.bench_scale --sizes 2.5m --prepare-only   # only fill the store (~5 min)
    python -m bench.bench_scale --report                      # the table of every result so far

Results go to ``bench/out/bench_scale.json`` (merged with earlier runs, per corpus; every phase
has its ``measured_at`` and the 1-minute load average before and after it, since the machine
may be shared) and a markdown table is printed. Progress goes to stderr. ``--reuse-index``
skips the build when the saved index is current (to re-run only the query measurements).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
ARXIV = REPO.parent / "shared" / "eval" / "arxiv-cs" / "papers.jsonl.gz"
REAL = "real-100k"
COLLECTION = "default"
INGEST_BATCH = 100_000  # papers per write transaction while a store is filled
SERVE_QUERIES = 10_000
MB = 2**20

# Children log on their parent's clock, so a long run's stderr reads as one timeline.
_T0_ENV = "BENCH_SCALE_T0"
_started = float(os.environ.setdefault(_T0_ENV, repr(time.time())))


def log(message: str) -> None:
    """Progress on stderr (a 2.5M run takes a while)."""
    print(f"[{time.time() - _started:8.1f}s] {message}", file=sys.stderr, flush=True)


class _TimedIter:
    """Wraps an iterator and adds up the time spent producing its items (the generator's share
    of an ingest)."""

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items
        self.seconds = 0.0

    def __iter__(self) -> _TimedIter:
        return self

    def __next__(self) -> Any:
        start = time.perf_counter()
        try:
            return next(self._items)
        finally:
            self.seconds += time.perf_counter() - start


# -- corpora and stores ---------------------------------------------------------------------------
def store_path(label: str, out: Path = OUT) -> Path:
    return out / f"scale-{label}.db"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _file_bytes(path: Path) -> int:
    return sum(
        p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


def ensure_store(label: str, n: int, out: Path = OUT) -> dict[str, Any]:
    """The store of a corpus, filled once (and resumed where an interrupted fill stopped)."""
    from retrieval.store import PaperStore

    path = store_path(label, out)
    meta = _read_json(_sidecar(path))
    store = PaperStore(path)
    have = store.count(COLLECTION)
    if label == REAL:
        if have == 0:
            from retrieval.loaders import open_source

            log(f"{label}: ingesting {ARXIV} into {path}")
            start = time.perf_counter()
            store.upsert(open_source(ARXIV), COLLECTION)
            meta["ingest_s"] = time.perf_counter() - start
            have = store.count(COLLECTION)
    elif have < n:
        from bench.synth_arxiv import GENERATOR_VERSION, generator

        if have and meta.get("generator") != GENERATOR_VERSION:
            raise SystemExit(
                f"{path} was filled by another generator version; delete it to refill it"
            )
        meta["generator"] = GENERATOR_VERSION
        gen = generator()
        if have:
            log(f"{label}: resuming the fill at {have:,} of {n:,} papers")
        for key in ("ingest_s", "generate_s"):
            meta[key] = float(meta.get(key, 0.0)) if have else 0.0
        while have < n:
            take = min(INGEST_BATCH, n - have)
            start = time.perf_counter()
            papers = _TimedIter(gen.papers(take, start=have))
            store.upsert(papers, COLLECTION)
            meta["ingest_s"] += time.perf_counter() - start
            meta["generate_s"] += papers.seconds
            have += take
            _write_json(_sidecar(path), {**meta, "papers": have})
            rate = have / max(meta["ingest_s"], 1e-9)
            log(f"{label}: {have:,}/{n:,} papers stored ({rate:,.0f} papers/s)")
    elif have > n:
        raise SystemExit(f"{path} holds {have:,} papers, not {n:,}: delete it to rebuild it")
    with contextlib.suppress(sqlite3.Error):  # the size on disk is then the file's
        store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    meta["papers"] = have
    meta["store_bytes"] = _file_bytes(path)
    meta["generation"] = store.generation(COLLECTION)
    _write_json(_sidecar(path), meta)
    store.close()
    return meta


def ensure_queries(label: str, n_queries: int, out: Path = OUT) -> dict[str, Any]:
    """Synthetic queries (each 3-10 words of one stored paper, its pk kept) and SciFact's
    claims, saved beside the store so every run and every process uses the same ones."""
    from bench.synth_arxiv import scifact_claims, synthetic_queries
    from retrieval.store import PaperStore

    path = store_path(label, out).with_suffix(".queries.json")
    cached = _read_json(path)
    if len(cached.get("synthetic", [])) >= n_queries:
        return cached
    store = PaperStore(store_path(label, out))
    pks = [
        row[0]
        for row in store._conn().execute(
            "SELECT pk FROM collection_papers WHERE collection = ? ORDER BY pk", (COLLECTION,)
        )
    ]
    chosen = random.Random(17).sample(pks, min(n_queries, len(pks)))
    papers = store.papers_by_pks(chosen)
    chosen = [pk for pk in chosen if pk in papers]
    queries = {
        "synthetic": synthetic_queries((papers[pk].title, papers[pk].abstract) for pk in chosen),
        "synthetic_pks": chosen,
        "claims": scifact_claims(),
    }
    _write_json(path, queries)
    store.close()
    return queries


def _server(path: Path, *, background: bool = True):  # -> (IndexServer, Tokenizer)
    """An IndexServer on the store with the configured defaults, as ``Library.open`` makes it."""
    from config import Settings
    from retrieval.index import BM25Params
    from retrieval.index.serving import IndexServer
    from retrieval.store import PaperStore
    from retrieval.tokenize import Tokenizer, default_tokenizer

    settings = Settings(db_path=path)
    if settings.drop_question_words:
        from retrieval.stopwords import QUESTION_WORDS

        tokenizer = Tokenizer(query_stopwords=QUESTION_WORDS)
    else:
        tokenizer = default_tokenizer()
    server = IndexServer(
        PaperStore(path),
        tokenizer,
        BM25Params.from_settings(settings),
        engine=settings.engine,
        sparse_threshold=settings.sparse_threshold,
        background=background,
    )
    return server, tokenizer


# -- memory ---------------------------------------------------------------------------------------
def smaps() -> dict[str, float]:
    """This process's memory by kind, in MB (``/proc/self/smaps_rollup``): Rss = Anonymous
    (private heap) + file-backed pages (the memory-mapped index and libraries, shareable)."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    except OSError:
        return out
    keep = (
        "Rss",
        "Pss",
        "Pss_Anon",
        "Pss_File",
        "Shared_Clean",
        "Shared_Dirty",
        "Private_Clean",
        "Private_Dirty",
        "Anonymous",
    )
    picked = {k: round(out[k], 1) for k in keep if k in out}
    if "Rss" in out and "Anonymous" in out:
        picked["File_backed"] = round(out["Rss"] - out["Anonymous"], 1)
    return picked


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss / MB)


def maxrss_mb() -> dict[str, float]:
    """Peak RSS of this process and of its largest reaped child (Linux: kB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "self": round(own, 1),
        "children": round(children, 1),
        "max": round(max(own, children), 1),
    }


# -- timing ---------------------------------------------------------------------------------------
def summary(times: Sequence[float]) -> dict[str, float]:
    ordered = sorted(times)
    if not ordered:
        return {}

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))] * 1e3

    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1e3, 3),
        "p95_ms": round(pct(0.95), 3),
        "p99_ms": round(pct(0.99), 3),
        "mean_ms": round(statistics.fmean(ordered) * 1e3, 3),
        "max_ms": round(ordered[-1] * 1e3, 3),
    }


def _timed(fn: Callable[[Any], object], items: Sequence[Any]) -> list[float]:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return times


def index_files(path: Path) -> dict[str, Any]:
    """Files of the saved index that is current (``<db>.index/default/<CURRENT>``)."""
    from retrieval.index.persist import index_root, read_manifest

    found = read_manifest(index_root(path, COLLECTION))
    if found is None:
        return {}
    build, manifest = found
    files = {p.name: p.stat().st_size for p in sorted(build.iterdir()) if p.is_file()}
    return {
        "dir": str(build.relative_to(REPO)) if build.is_relative_to(REPO) else str(build),
        "generation": manifest.get("generation"),
        "files_mb": {name: round(size / MB, 2) for name, size in files.items()},
        "total_mb": round(sum(files.values()) / MB, 1),
    }


# -- phases (each in its own process) -------------------------------------------------------------
def phase_prepare(label: str, n: int, opts: dict[str, Any]) -> dict[str, Any]:
    meta = ensure_store(label, n, Path(opts["out"]))
    queries = ensure_queries(label, int(opts["queries"]), Path(opts["out"]))
    return {
        **meta,
        "synthetic_queries": len(queries["synthetic"]),
        "claims": len(queries["claims"]),
    }


def phase_build(label: str, n: int, opts: dict[str, Any]) -> dict[str, Any]:
    import retrieval.index.serving as serving

    path = store_path(label, Path(opts["out"]))
    server, _ = _server(path)
    saving: list[float] = []
    save = serving.save_index

    def timed_save(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return save(*args, **kwargs)
        finally:
            saving.append(time.perf_counter() - start)

    serving.save_index = timed_save
    step = max(100_000, n // 10)
    marks = {"next": step}
    started = time.perf_counter()

    def progress(docs: int) -> None:
        if docs >= marks["next"]:
            marks["next"] += step
            log(f"{label} build: {docs:,} papers tokenized, {time.perf_counter() - started:.0f} s")

    log(f"{label} build: starting ({n:,} papers)")
    index = server.rebuild(COLLECTION, progress=progress)
    seconds = time.perf_counter() - started
    result = {
        "seconds": round(seconds, 2),
        "save_s": round(sum(saving), 2),
        "docs": index.n_docs,
        "terms": len(index.postings.vocab),
        "postings": int(index.postings.docs.shape[0]),
        "engine": index.engine.name,
        "maxrss_mb": maxrss_mb(),
        "disk": index_files(path),
    }
    log(f"{label} build: {seconds:.1f} s, {result['terms']:,} terms")
    return result


def _saved(path: Path, generation: int) -> object:
    """The saved index's manifest, checked to be loadable at ``generation`` (so what follows
    measures a load, not a rebuild: an index of an older format is not loadable)."""
    from retrieval.index.persist import index_root, read_manifest

    found = read_manifest(index_root(path, COLLECTION))
    if found is None or found[1].get("generation") != generation:
        raise SystemExit(
            f"{path}: no loadable saved index at generation {generation} (none, or of an older"
            " format); run the build phase first"
        )
    return found


def _load(label: str, opts: dict[str, Any]):  # -> (server, tokenizer, index, load info)
    from retrieval.index.persist import index_root, read_manifest

    path = store_path(label, Path(opts["out"]))
    server, tokenizer = _server(path)
    found = _saved(path, server.store.generation(COLLECTION))
    gc.collect()
    before, smaps_before = rss_mb(), smaps()
    start = time.perf_counter()
    index = server.index(COLLECTION)
    load_s = time.perf_counter() - start
    after = rss_mb()
    if read_manifest(index_root(path, COLLECTION)) != found:
        raise SystemExit(f"{path}: the index was rebuilt, not loaded")
    info = {
        "load_s": round(load_s, 5),
        "rss_before_mb": round(before, 1),
        "rss_mb": round(after, 1),
        "rss_added_mb": round(after - before, 1),
        "smaps_before": smaps_before,
        "smaps": smaps(),
        "docs": index.n_docs,
    }
    return server, tokenizer, index, info


def phase_reload(label: str, n: int, opts: dict[str, Any]) -> dict[str, Any]:
    return _load(label, opts)[3]


def _reference_top(index: Any, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
    """Exhaustive top-k: every document's score (``score_all``), a full sort by score, ties by
    position; documents that match a term but score <= 0 only fill a list shorter than k (as
    ``BM25Index.search`` does)."""
    import numpy as np

    vocab = index.postings.vocab
    ids = sorted({vocab[t] for t in terms if t in vocab})
    if not ids:
        return []
    scores = np.asarray(index.score_all(terms), dtype=np.float64)
    pool = np.flatnonzero(scores > 0)
    if pool.shape[0] < k:
        indptr, docs = index.postings.indptr, index.postings.docs
        pool = np.unique(np.concatenate([docs[int(indptr[t]) : int(indptr[t + 1])] for t in ids]))
    order = np.lexsort((pool, -scores[pool]))[:k]
    return [(int(pool[i]), float(scores[pool[i]])) for i in order]


def exactness(index: Any, queries: Sequence[list[str]], k: int = 10) -> dict[str, Any]:
    """``index.search`` against :func:`_reference_top` for each query: position lists must be
    equal and scores equal to float32 rounding. Also times, interleaved with ``search`` (so a
    busy machine slows both alike), an exhaustive top-k through the public API:
    ``score_all`` then ``argpartition`` -- what ``search`` would cost without pruning."""
    import numpy as np

    mismatches: list[dict[str, Any]] = []
    max_diff = 0.0
    search_times: list[float] = []
    exhaustive_times: list[float] = []
    start = time.perf_counter()
    for qi, terms in enumerate(queries):
        t0 = time.perf_counter()
        got = index.search(terms, k)
        t1 = time.perf_counter()
        scores = index.score_all(terms)
        if scores.shape[0] > k:
            np.argpartition(-scores, k - 1)[:k]
        t2 = time.perf_counter()
        search_times.append(t1 - t0)
        exhaustive_times.append(t2 - t1)
        ref = _reference_top(index, terms, k)
        same_pos = [p for p, _ in got] == [p for p, _ in ref]
        diff = max((abs(a[1] - b[1]) for a, b in zip(got, ref, strict=False)), default=0.0)
        max_diff = max(max_diff, diff)
        tolerance = 1e-5 * max((abs(s) for _, s in ref), default=1.0)
        if not same_pos or diff > tolerance:
            mismatches.append(
                {"query": qi, "terms": list(terms)[:12], "got": got[:k], "reference": ref[:k]}
            )
    return {
        "queries": len(queries),
        "mismatches": len(mismatches),
        "max_score_diff": max_diff,
        "examples": mismatches[:5],
        "search": summary(search_times),
        "exhaustive_score_all_top_k": summary(exhaustive_times),
        "seconds": round(time.perf_counter() - start, 1),
    }


def phase_serve(label: str, n: int, opts: dict[str, Any]) -> dict[str, Any]:
    server, tokenizer, index, load = _load(label, opts)
    queries = ensure_queries(label, int(opts["queries"]), Path(opts["out"]))
    kinds = {"synthetic": queries["synthetic"], "claims": queries["claims"]}
    terms = {kind: [tokenizer.query_terms(q) for q in texts] for kind, texts in kinds.items()}
    executed = 0
    log(f"{label} serve: warming with {sum(map(len, kinds.values())):,} queries")
    warm_start = time.perf_counter()
    for kind in kinds:
        for t in terms[kind]:
            index.search(t, 10)
            executed += 1
    warm_s = time.perf_counter() - warm_start

    def e2e(text: str) -> object:
        return server.index(COLLECTION).search(tokenizer.query_terms(text), 10)

    result: dict[str, Any] = {"load": load, "warm_s": round(warm_s, 2)}
    for kind, texts in kinds.items():
        search_times = _timed(lambda t: index.search(t, 10), terms[kind])
        e2e_times = _timed(e2e, texts)
        executed += 2 * len(texts)
        result[kind] = {
            "search": summary(search_times),
            "with_tokenizing": summary(e2e_times),
            "mean_terms": round(statistics.fmean(len(t) for t in terms[kind]), 2),
        }
        log(
            f"{label} serve: {kind} median {result[kind]['with_tokenizing']['median_ms']:.2f} ms"
            f" p95 {result[kind]['with_tokenizing']['p95_ms']:.2f} ms"
        )
    # Sanity: the paper a synthetic query was drawn from is usually in its top 10.
    pks = queries["synthetic_pks"]
    found = sum(
        any(int(index.doc_pks[p]) == pk for p, _ in index.search(t, 10))
        for t, pk in zip(terms["synthetic"], pks, strict=True)
    )
    executed += len(pks)
    result["synthetic"]["source_in_top10"] = round(found / max(len(pks), 1), 4)
    n_exact = int(opts["exact"])
    if n_exact:
        half = n_exact // 2
        sample = terms["synthetic"][: n_exact - half] + terms["claims"][:half]
        log(f"{label} serve: exactness check on {len(sample)} queries")
        result["exactness"] = exactness(index, sample)
        executed += len(sample)
        log(f"{label} serve: {result['exactness']['mismatches']} mismatches")
    texts_all = kinds["synthetic"] + kinds["claims"]
    i = 0
    while executed < SERVE_QUERIES:
        e2e(texts_all[i % len(texts_all)])
        i += 1
        executed += 1
    gc.collect()
    result["after_queries"] = {"queries": executed, "rss_mb": round(rss_mb(), 1), "smaps": smaps()}
    return result


def phase_bm25s(label: str, n: int, opts: dict[str, Any]) -> dict[str, Any]:
    import bm25s
    import Stemmer

    from retrieval.store import PaperStore

    path = store_path(label, Path(opts["out"]))
    queries = ensure_queries(label, int(opts["queries"]), Path(opts["out"]))
    stemmer = Stemmer.Stemmer("english")
    log(f"{label} bm25s: reading {n:,} texts")
    texts = [f"{title}\n{abstract}" for _, title, abstract in PaperStore(path).iter_texts()]
    rss_texts = rss_mb()
    log(f"{label} bm25s: indexing")
    start = time.perf_counter()
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    tokenize_s = time.perf_counter() - start
    del texts
    n_terms = len(tokens.vocab)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    del tokens
    build_s = time.perf_counter() - start
    gc.collect()
    log(f"{label} bm25s: built in {build_s:.1f} s, {n_terms:,} terms")
    result: dict[str, Any] = {
        "tokenizer": "bm25s.tokenize (stopwords='en', PyStemmer english)",
        "build_s": round(build_s, 2),
        "tokenize_s": round(tokenize_s, 2),
        "terms": n_terms,
        "rss_texts_mb": round(rss_texts, 1),
        "rss_after_build_mb": round(rss_mb(), 1),
    }

    def tok(text: str) -> Any:
        return bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)

    def query(text: str) -> None:
        retriever.retrieve(tok(text), k=10, show_progress=False, n_threads=1)

    for kind in ("synthetic", "claims"):
        texts_k = queries[kind]
        tokenized = [tok(t) for t in texts_k]
        for q in tokenized:  # warm
            retriever.retrieve(q, k=10, show_progress=False, n_threads=1)
        retrieve = _timed(
            lambda q: retriever.retrieve(q, k=10, show_progress=False, n_threads=1), tokenized
        )
        result[kind] = {
            "retrieve": summary(retrieve),
            "with_tokenizing": summary(_timed(query, texts_k)),
        }
        log(f"{label} bm25s: {kind} median {result[kind]['with_tokenizing']['median_ms']:.2f} ms")
    result["maxrss_mb"] = maxrss_mb()
    return result


def _copy_store(src: Path, dst: Path) -> None:
    """A consistent copy of a store (SQLite backup) and of its saved indexes."""
    _remove_store(dst)
    with (
        contextlib.closing(sqlite3.connect(src)) as a,
        contextlib.closing(sqlite3.connect(dst)) as b,
    ):
        a.backup(b)
    src_index = src.with_name(src.name + ".index")
    if src_index.exists():
        shutil.copytree(
            src_index,
            dst.with_name(dst.name + ".index"),
            ignore=shutil.ignore_patterns(".tmp-*", ".CURRENT-*"),
        )


def _remove_store(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(path.name + ".index"), ignore_errors=True)


class _Querier(threading.Thread):
    """Keeps querying through ``IndexServer.index`` (as the bot does), recording each query's
    start time and latency, until stopped."""

    def __init__(self, server: Any, tokenizer: Any, texts: Sequence[str]) -> None:
        super().__init__(name="bench-querier", daemon=True)
        self.server, self.tokenizer, self.texts = server, tokenizer, texts
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        i = 0
        try:
            while not self.stop.is_set():
                text = self.texts[i % len(self.texts)]
                i += 1
                start = time.perf_counter()
                self.server.index(COLLECTION).search(self.tokenizer.query_terms(text), 10)
                self.samples.append((start, time.perf_counter() - start))
        except BaseException as exc:
            self.error = exc


def _probe(tokenizer: Any, index: Any, title: str, abstract: str) -> list[str]:
    """Query terms that find one paper: its rarest terms in the index it is not in yet."""
    terms = list(dict.fromkeys(tokenizer.terms(f"{title}\n{abstract}")))
    terms.sort(key=lambda t: (index.doc_freq(t), t))
    return terms[:5]


def phase_delta(label: str, n: int, opts: dict[str, Any]) -> dict[str, Any]:
    from bench.synth_arxiv import generator

    out = Path(opts["out"])
    n_new = int(opts["delta"])
    src = store_path(label, out)
    copy = out / f"scale-{label}-delta.db"
    log(f"{label} delta: copying the store and its index to {copy.name}")
    start = time.perf_counter()
    _copy_store(src, copy)
    copy_s = time.perf_counter() - start
    try:
        return _delta(label, n, n_new, copy, copy_s, opts, generator())
    finally:
        if not opts.get("keep_delta_copy"):
            _remove_store(copy)


def _delta(
    label: str, n: int, n_new: int, copy: Path, copy_s: float, opts: dict[str, Any], gen: Any
) -> dict[str, Any]:
    server, tokenizer = _server(copy)
    _saved(copy, server.store.generation(COLLECTION))
    start = time.perf_counter()
    index0 = server.index(COLLECTION)
    load_s = time.perf_counter() - start
    if index0.n_docs != server.store.count(COLLECTION):
        raise SystemExit(f"{copy}: the copied index is not current")
    first = n if label != REAL else 0  # new papers: the generator's next ones
    new = list(gen.papers(n_new, start=first, source="synthetic-arxiv-delta"))
    probes = []
    for paper in (new[0], new[len(new) // 2], new[-1]):
        probes.append((paper.id, _probe(tokenizer, index0, paper.title, paper.abstract)))
    queries = ensure_queries(label, int(opts["queries"]), Path(opts["out"]))
    texts = [q for pair in zip(queries["synthetic"], queries["claims"], strict=False) for q in pair]
    for text in texts:  # warm, as in the serve phase
        index0.search(tokenizer.query_terms(text), 10)
    querier = _Querier(server, tokenizer, texts)
    querier.start()
    baseline_n = int(opts.get("delta_baseline", 1000))
    while len(querier.samples) < baseline_n and querier.is_alive():
        time.sleep(0.05)
    log(f"{label} delta: baseline of {len(querier.samples)} queries taken; upserting {n_new:,}")
    t_upsert = time.perf_counter()
    upserted = server.store.upsert(new, COLLECTION)
    t_committed = time.perf_counter()
    pks = {
        row[1]: row[0]
        for row in server.store._conn().execute(
            f"SELECT pk, id FROM papers WHERE id IN ({','.join('?' * len(probes))})",
            [pid for pid, _ in probes],
        )
    }
    want = [(pks[pid], terms) for pid, terms in probes]
    timeout = float(opts.get("delta_timeout", 3600))
    found_at = None
    checks = 0
    last_log = t_committed
    while time.perf_counter() - t_upsert < timeout:
        index = server.index(COLLECTION)
        checks += 1
        if all(
            any(int(index.doc_pks[p]) == pk for p, _ in index.search(terms, 10))
            for pk, terms in want
        ):
            found_at = time.perf_counter()
            break
        if time.perf_counter() - last_log > 30:
            last_log = time.perf_counter()
            log(f"{label} delta: not searchable yet after {last_log - t_upsert:.0f} s")
        time.sleep(0.01)
    tail_s = float(opts.get("delta_tail", 5.0))
    time.sleep(tail_s)
    merge: dict[str, Any] = {}
    if opts.get("merge") and found_at is not None:
        # The merge: a full build folding the delta in, in the server's background thread,
        # while the querier goes on (as the bot does past PAPERBOT_INDEX_MERGE_AT changes).
        log(f"{label} delta: merging (a full build in the background)")
        t_merge = time.perf_counter()
        server.merge(COLLECTION)
        while server.index(COLLECTION).delta is not None:
            if time.perf_counter() - t_merge > timeout:
                break
            time.sleep(0.05)
        merged_at = time.perf_counter()
        time.sleep(2.0)
        merge = {"t0": t_merge, "t1": merged_at}
    querier.stop.set()
    querier.join()
    if querier.error is not None:
        raise querier.error
    samples = querier.samples
    before = [d for s, d in samples if s < t_upsert]
    end = found_at if found_at is not None else time.perf_counter()
    during = [d for s, d in samples if t_upsert <= s < end]
    after = [d for s, d in samples if s >= end]
    p95_before = summary(before).get("p95_ms", 0.0)
    if merge:
        in_merge = [d for s, d in samples if merge["t0"] <= s < merge["t1"]]
        merge = {
            "merge_s": round(merge["t1"] - merge["t0"], 1),
            "merged": server.index(COLLECTION).delta is None,
            "queries_during_merge": summary(in_merge),
            "during_merge_over_2x_p95_before": sum(d * 1e3 > 2 * p95_before for d in in_merge),
        }
        log(f"{label} delta: merged in {merge['merge_s']} s")
    result = {
        "new_papers": n_new,
        "copy_s": round(copy_s, 1),
        "load_s": round(load_s, 4),
        "upsert": {"added": upserted.added, "updated": upserted.updated},
        "upsert_s": round(t_committed - t_upsert, 3),
        "searchable_s": None if found_at is None else round(found_at - t_upsert, 3),
        "searchable_after_commit_s": None if found_at is None else round(found_at - t_committed, 3),
        "checks": checks,
        "probe_terms": [terms for _, terms in want],
        "queries_before": summary(before),
        "queries_during": summary(during),
        "queries_after": summary(after),
        "during_over_2x_p95_before": sum(d * 1e3 > 2 * p95_before for d in during),
        "final_docs": server.index(COLLECTION).n_docs,
        **({"merge": merge} if merge else {}),
        "maxrss_mb": maxrss_mb(),
    }
    if found_at is None:
        log(f"{label} delta: NOT searchable after {timeout:.0f} s")
    else:
        log(f"{label} delta: searchable {found_at - t_upsert:.2f} s after the upsert began")
    return result


PHASES: dict[str, Callable[[str, int, dict[str, Any]], dict[str, Any]]] = {
    "prepare": phase_prepare,
    "build": phase_build,
    "reload": phase_reload,
    "serve": phase_serve,
    "bm25s": phase_bm25s,
    "delta": phase_delta,
}


# -- orchestration --------------------------------------------------------------------------------
def run_child(phase: str, label: str, n: int, opts: dict[str, Any]) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its process tree's RSS is sampled every 50 ms."""
    import psutil

    cmd = [
        sys.executable,
        "-m",
        "bench.bench_scale",
        "--child",
        phase,
        "--label",
        label,
        "--n",
        str(n),
        "--opts",
        json.dumps(opts),
    ]
    start = time.perf_counter()
    load_before = os.getloadavg()[0]  # the machine may be shared: context for the timings
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            tree = [parent, *parent.children(recursive=True)]
            total = 0
            for p in tree:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            peak = max(peak, total)
        time.sleep(0.05)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} of {label} failed (exit {proc.returncode})")
    result = dict(json.loads(out.strip().splitlines()[-1]))
    result["tree_peak_rss_mb"] = round(peak / MB, 1)
    result["wall_s"] = round(time.perf_counter() - start, 2)
    result["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


def measure(label: str, n: int, opts: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {
        "papers": n,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    log(f"== {label}: {n:,} papers ==")
    row["store"] = run_child("prepare", label, n, opts)
    from retrieval.index.persist import index_root, read_manifest

    path = store_path(label, Path(opts["out"]))
    saved = read_manifest(index_root(path, COLLECTION))
    current = saved is not None and saved[1].get("generation") == row["store"]["generation"]
    if args.reuse_index and current:
        # The build figures stay those of the run that built it (merged in by ``main``).
        log(f"{label}: reusing the saved index (--reuse-index)")
    else:
        row["build"] = run_child("build", label, n, opts)
    loads = [run_child("reload", label, n, opts) for _ in range(args.loads)]
    row["reload"] = {
        "runs": len(loads),
        "load_s_all": [r["load_s"] for r in loads],
        "load_s": statistics.median(r["load_s"] for r in loads),
        "rss_mb": statistics.median(r["rss_mb"] for r in loads),
        "rss_added_mb": statistics.median(r["rss_added_mb"] for r in loads),
        "smaps": loads[len(loads) // 2]["smaps"],
    }
    log(f"{label}: reload median {row['reload']['load_s'] * 1e3:.1f} ms")
    row["serve"] = run_child("serve", label, n, opts)
    if args.bm25s_at is not None and n == args.bm25s_at and label != REAL:
        row["bm25s"] = run_child("bm25s", label, n, opts)
    if args.delta:
        row["delta"] = run_child("delta", label, n, opts)
    return row


# -- report ---------------------------------------------------------------------------------------
def _get(row: dict[str, Any], *keys: str) -> Any:
    value: Any = row
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _fmt_ms(value: Any) -> str:
    return "—" if value is None else (f"{value:.2f}" if value < 100 else f"{value:,.0f}")


def _fmt_mb(value: Any) -> str:
    return "—" if value is None else f"{value:,.0f} MB"


def table(rows: dict[str, dict[str, Any]]) -> str:
    """The issue's table: one column per corpus, bm25s beside the size it ran at."""
    columns: list[tuple[str, dict[str, Any], bool]] = []
    for label, row in rows.items():
        columns.append((label, row, False))
        if "bm25s" in row:
            columns.append((f"bm25s {label}", row, True))

    def cell(row: dict[str, Any], bm25s: bool, what: str) -> str:
        b = row.get("bm25s", {}) if bm25s else {}
        if what == "vocab":
            v = b.get("terms") if bm25s else _get(row, "build", "terms")
            return "—" if v is None else f"{v:,}"
        if what == "load":
            v = None if bm25s else _get(row, "reload", "load_s")
            return "—" if v is None else f"{v * 1e3:.1f} ms"
        if what == "mem_load":
            if bm25s:
                return "—"
            rss, anon = _get(row, "reload", "rss_mb"), _get(row, "reload", "smaps", "Anonymous")
            return "—" if rss is None else f"{rss:,.0f} MB ({anon or 0:,.0f} anon)"
        if what == "mem_serve":
            if bm25s:
                return _fmt_mb(b.get("rss_after_build_mb")) + " (after build)"
            rss = _get(row, "serve", "after_queries", "rss_mb")
            sm = _get(row, "serve", "after_queries", "smaps") or {}
            if rss is None:
                return "—"
            return (
                f"{rss:,.0f} MB ({sm.get('Anonymous', 0):,.0f} anon,"
                f" {sm.get('File_backed', 0):,.0f} file-backed)"
            )
        if what == "peak":
            if bm25s:
                return _fmt_mb(_get(b, "maxrss_mb", "max"))
            m = _get(row, "build", "maxrss_mb")
            tree = _get(row, "build", "tree_peak_rss_mb")
            if m is None:
                return "—"
            return f"{m['self']:,.0f} / {m['children']:,.0f} MB (tree {tree or 0:,.0f})"
        if what == "build":
            v = b.get("build_s") if bm25s else _get(row, "build", "seconds")
            return "—" if v is None else f"{v:,.1f} s"
        if what == "disk":
            if bm25s:
                return "—"
            d = _get(row, "build", "disk")
            if not d:
                return "—"
            big = max(d["files_mb"].items(), key=lambda item: item[1])
            return f"{d['total_mb']:,.0f} MB (largest {big[0]} {big[1]:,.0f})"
        if what in ("claims", "synthetic"):
            key = "with_tokenizing"
            s = b.get(what, {}).get(key) if bm25s else _get(row, "serve", what, key)
            if not s:
                return "—"
            return f"{_fmt_ms(s['median_ms'])} / {_fmt_ms(s['p95_ms'])} ms"
        if what in ("claims_core", "synthetic_core"):
            kind = what.split("_")[0]
            s = b.get(kind, {}).get("retrieve") if bm25s else _get(row, "serve", kind, "search")
            if not s:
                return "—"
            return f"{_fmt_ms(s['median_ms'])} / {_fmt_ms(s['p95_ms'])} ms"
        if what == "exact":
            e = None if bm25s else _get(row, "serve", "exactness")
            return "—" if not e else f"{e['mismatches']} of {e['queries']}"
        if what == "pruning":
            e = None if bm25s else _get(row, "serve", "exactness")
            if not e or "search" not in e:
                return "—"
            a, x = e["search"], e["exhaustive_score_all_top_k"]
            return (
                f"{_fmt_ms(a['median_ms'])} / {_fmt_ms(a['p95_ms'])} vs"
                f" {_fmt_ms(x['median_ms'])} / {_fmt_ms(x['p95_ms'])} ms"
            )
        if what == "ingest":
            if bm25s:
                return "—"
            st = row.get("store", {})
            if "ingest_s" not in st:
                return "—"
            return f"{st['ingest_s']:,.0f} s, {st['store_bytes'] / MB:,.0f} MB"
        if what == "delta":
            d = None if bm25s else row.get("delta")
            if not d:
                return "—"
            s = d["searchable_s"]
            before = _fmt_ms(d["queries_before"].get("p95_ms"))
            during = _fmt_ms(d["queries_during"].get("p95_ms"))
            return f"{'never' if s is None else f'{s:.1f} s'}; p95 {before} -> {during} ms"
        if what == "merge":
            m = None if bm25s else (row.get("delta") or {}).get("merge")
            if not m:
                return "—"
            d = row["delta"]
            q = m["queries_during_merge"]
            return (
                f"{m['merge_s']:.0f} s; p95 {_fmt_ms(d['queries_before'].get('p95_ms'))} ->"
                f" {_fmt_ms(q.get('p95_ms'))} ms, max {_fmt_ms(q.get('max_ms'))} ms,"
                f" {m['during_merge_over_2x_p95_before']} of {q.get('n', 0)} over 2x p95"
            )
        return "—"

    lines = [
        "| | " + " | ".join(name for name, _, _ in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    labels = [
        ("vocab", "terms in the index"),
        ("load", "index load (median of fresh processes)"),
        ("mem_load", "memory right after load (RSS)"),
        ("peak", "peak build memory (builder / largest worker)"),
        ("build", "build time (2 cores, saving included)"),
        ("disk", "index on disk"),
        ("claims", "claim-like queries, median / p95 (tokenizing incl.)"),
        ("synthetic", "synthetic queries, median / p95 (tokenizing incl.)"),
        ("claims_core", "claim-like, `search` alone, median / p95"),
        ("synthetic_core", "synthetic, `search` alone, median / p95"),
        ("mem_serve", "serving memory after 10,000 queries"),
        ("exact", "top-10 mismatches vs exhaustive"),
        ("pruning", "same queries: `search` vs exhaustive (`score_all` + top-k), median / p95"),
        ("ingest", "store ingest (once), store size"),
        ("delta", "delta: searchable after; query p95 before -> during"),
        ("merge", "merge (full build beside queries): time; query p95 before -> during"),
    ]
    for key, name in labels:
        cells = [cell(row, bm25s, key) for _, row, bm25s in columns]
        if all(c == "—" for c in cells):
            continue
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100k", help="comma-separated: 100k,1m,2.5m")
    parser.add_argument("--real", action="store_true", help="also the real 100k arXiv CS corpus")
    parser.add_argument("--bm25s-at", help="also run bm25s at this size (e.g. 1m)")
    parser.add_argument("--delta", type=int, default=0, help="add this many papers (e.g. 1000)")
    parser.add_argument(
        "--merge", action="store_true", help="after the delta, time a merge (full build) too"
    )
    parser.add_argument("--queries", type=int, default=1000, help="synthetic queries")
    parser.add_argument("--exact", type=int, default=500, help="queries checked for exactness")
    parser.add_argument("--loads", type=int, default=5, help="fresh processes timing a reload")
    parser.add_argument("--reuse-index", action="store_true", help="skip the build if current")
    parser.add_argument("--keep-delta-copy", action="store_true")
    parser.add_argument(
        "--prepare-only", action="store_true", help="only fill the stores (and their queries)"
    )
    parser.add_argument(
        "--report", action="store_true", help="print the table of every corpus measured so far"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--label", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--opts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = PHASES[args.child](args.label, args.n, json.loads(args.opts))
        print(json.dumps(result))
        return

    from bench.synth_arxiv import parse_size, size_label

    args.bm25s_at = parse_size(args.bm25s_at) if args.bm25s_at else None
    args.out.mkdir(parents=True, exist_ok=True)
    opts = {
        "out": str(args.out.resolve()),
        "queries": args.queries,
        "exact": args.exact,
        "delta": args.delta,
        "keep_delta_copy": args.keep_delta_copy,
        "merge": args.merge,
    }
    corpora = [(size_label(parse_size(s)), parse_size(s)) for s in args.sizes.split(",") if s]
    if args.real:
        corpora.insert(0, (REAL, 100_000))
    report_path = args.out / "bench_scale.json"
    report = _read_json(report_path)
    if args.report:
        print(table(_ordered(report.get("corpora", {}))))
        return
    if args.prepare_only:
        for label, n in corpora:
            log(f"{label}: {json.dumps(run_child('prepare', label, n, opts))}")
        return
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    rows = report.setdefault("corpora", {})
    for label, n in corpora:
        # Phases not run this time (the build with --reuse-index, bm25s, delta) keep their
        # earlier results, each with its own ``measured_at``.
        rows[label] = {**rows.get(label, {}), **measure(label, n, opts, args)}
        _write_json(report_path, report)
    print(table({label: rows[label] for label, _ in corpora}))
    if set(rows) - {label for label, _ in corpora}:
        print("\nEvery corpus measured so far (see `measured_at` in the JSON):\n")
        print(table(_ordered(rows)))
    log(f"results in {report_path}")


def _ordered(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The real corpus first, then the synthetic ones by size."""
    return dict(sorted(rows.items(), key=lambda item: (item[0] != REAL, item[1].get("papers", 0))))


if __name__ == "__main__":
    main()
