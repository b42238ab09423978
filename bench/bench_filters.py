"""Filtered search at 100k papers: latency with and without filters, the one-off cost of the
filter cache, and exactness against scoring every paper and filtering.

The store is the 100k real arXiv CS abstracts (``bench/out/arxiv-cs.db``, opened read-only; its
saved index is used when current, else one is built in memory). Queries are questions of our
arXiv question set (``bench/data/arxiv_questions/questions.jsonl``, dev then test split, in
file order), searched through ``Library.search`` (tokenizing, the index, reading titles), with
semantic re-ranking off: the re-ranker re-scores the same number of candidates whether or not a
filter is set, so it adds the same time to both.

    python -m bench.bench_filters [--queries 300] [--exact 60]

It also times, on a temporary copy of the store, the first filtered query after an ingest of
200 papers (served from a delta) and after a full build.

Writes ``bench/out/bench_filters.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
QUESTIONS = REPO / "bench" / "data" / "arxiv_questions" / "questions.jsonl"


def _filters() -> dict[str, Any]:
    from retrieval.filters import make_filters

    return {
        "none": None,
        "since 2025": make_filters(since="2025"),
        "category cs.CL": make_filters(categories="cs.CL"),
        "since 2026-01 + cs.LG": make_filters(since="2026-01", categories="cs.LG"),
        "one month (2024-10)": make_filters(since="2024-10", until="2024-10"),
        "one month + cs.RO": make_filters(since="2025-06", until="2025-06", categories="cs.RO"),
    }


def _questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.open(encoding="utf-8")]
    order = {"dev": 0, "test": 1}
    picked = [r for r in rows if r["split"] in order]
    picked.sort(key=lambda r: order[r["split"]])  # stable: file order within a split
    return [r["question"] for r in picked[:n]]


def _summary(times: Sequence[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(ordered) * 1e3,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
        "max_ms": ordered[-1] * 1e3,
    }


def _timed(fn: Callable[[str], object], items: Sequence[str]) -> list[float]:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return times


def _independent_allowed(library: Any, index: Any, filters: Any) -> np.ndarray:
    """Which positions pass, from every paper's own fields (not retrieval.filters' facets)."""
    pks = np.asarray(index.doc_pks)
    allowed = np.zeros(pks.shape[0], dtype=bool)
    at = {int(pk): i for i, pk in enumerate(pks.tolist())}
    wanted = {c.casefold() for c in filters.categories}
    for row in library.store.reader().execute(
        "SELECT p.pk, p.id, p.published, p.metadata FROM papers p"
    ):
        pos = at.get(int(row[0]))
        if pos is None:
            continue
        match = re.match(r"^(\d\d)(\d\d)\.\d{4,5}$", row[1])
        day = (
            date.fromisoformat(row[2][:10])
            if row[2]
            else (date(2000 + int(match[1]), int(match[2]), 1) if match else None)
        )
        if filters.since and (day is None or day < filters.since):
            continue
        if filters.until and (day is None or day > filters.until):
            continue
        cats = {c.casefold() for c in json.loads(row[3]).get("categories") or []}
        if wanted and not wanted & cats:
            continue
        allowed[pos] = True
    return allowed


def exactness(library: Any, questions: Sequence[str], filters: dict[str, Any]) -> dict[str, Any]:
    """Filtered top 10 vs every paper scored then filtered; and what filtering the unfiltered
    top 10 / top 100 afterwards would have returned instead."""
    index = library.index()
    out: dict[str, Any] = {}
    for label, f in filters.items():
        if f is None:
            continue
        allowed = _independent_allowed(library, index, f)
        same = tied = 0
        post10 = post100 = full = 0
        for q in questions:
            terms = library.query_terms(q)
            _, got = library._ranked(terms, 10, (library.default_collection,), filters=f)
            scores = np.asarray(index.score_all(terms), dtype=np.float64)
            ok = np.flatnonzero((scores > 0) & allowed)
            best = ok[np.lexsort((ok, -scores[ok]))][:10]
            want = [(int(index.doc_pks[p]), float(scores[p])) for p in best]
            gs = [s for _, s in got]
            ws = [s for _, s in want]
            scores_match = len(gs) == len(ws) and all(
                abs(a - b) <= 2e-6 * max(1.0, b) for a, b in zip(gs, ws, strict=True)
            )
            ids_match = [pk for pk, _ in got] == [pk for pk, _ in want]
            same += scores_match and ids_match
            tied += scores_match and not ids_match  # equal scores, another order among them
            full += len(want)
            top = library._ranked(terms, 100, (library.default_collection,))[1]
            keep = {int(pk) for pk in np.asarray(index.doc_pks)[allowed]}
            post10 += min(10, sum(1 for pk, _ in top[:10] if pk in keep))
            post100 += min(10, sum(1 for pk, _ in top if pk in keep))
        n = len(questions)
        out[label] = {
            "queries": n,
            "exact": same,
            "same_scores_tied_order": tied,
            "papers_passing": int(allowed.sum()),
            "results_per_query": full / n,
            "post_filter_top10_results_per_query": post10 / n,
            "post_filter_top100_results_per_query": post100 / n,
        }
    return out


def after_ingest(store: Path, question: str, n_papers: int = 200) -> dict[str, float]:
    """The first filtered query after another ingest, on a copy of the store: served from a
    delta (the main build's facets kept, the delta's read), then after a full build (its facets
    read with the build, as the collection had been filtered)."""
    import shutil
    import tempfile

    from retrieval.filters import make_filters
    from retrieval.papers import Paper
    from retrieval.search import Library
    from retrieval.store import PaperStore

    f = make_filters(categories="cs.CL")
    with tempfile.TemporaryDirectory(prefix="bench-filters-") as tmp:
        copy = Path(tmp) / store.name
        shutil.copyfile(store, copy)
        saved = store.with_name(store.name + ".index")
        if saved.is_dir():
            shutil.copytree(saved, copy.with_name(copy.name + ".index"))
        library = Library(PaperStore(copy), semantic=False)
        library.indexes.background = False
        start = time.perf_counter()
        library.search(question, k=10, filters=f)
        first = time.perf_counter() - start
        papers = [
            Paper(
                id=f"2612.{90000 + i:05d}",
                title=f"Speech recognition study {i}",
                abstract="We propose a speech recognition model for many languages.",
                source="bench",
                metadata={"categories": ["cs.CL"]},
            )
            for i in range(n_papers)
        ]
        library.add_papers(papers)
        assert library.index().delta is not None
        start = time.perf_counter()
        library.search(question, k=10, filters=f)
        after_delta = time.perf_counter() - start
        start = time.perf_counter()
        library.rebuild()
        rebuild = time.perf_counter() - start
        start = time.perf_counter()
        library.search(question, k=10, filters=f)
        after_build = time.perf_counter() - start
    return {
        "papers_ingested": n_papers,
        "first_filtered_query_s": first,
        "first_filtered_query_after_ingest_s": after_delta,
        "full_build_s": rebuild,
        "first_filtered_query_after_full_build_s": after_build,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=OUT / "arxiv-cs.db")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--exact", type=int, default=60, help="queries checked by brute force")
    parser.add_argument("--out", type=Path, default=OUT / "bench_filters.json")
    args = parser.parse_args(argv)

    from config import Settings
    from retrieval import filters as filters_mod
    from retrieval.index import BM25Params
    from retrieval.search import Library
    from retrieval.store import PaperStore

    settings = Settings(db_path=args.store)
    start = time.perf_counter()
    library = Library(
        PaperStore(args.store, readonly=True),
        params=BM25Params.from_settings(settings),
        engine=settings.engine,
        sparse_threshold=settings.sparse_threshold,
        semantic=False,
    )
    index = library.index()
    load_s = time.perf_counter() - start
    questions = _questions(args.queries)
    filters = _filters()

    # First filtered query on a fresh index: it reads the facets (dates, categories) once.
    first = filters["since 2025"]
    start = time.perf_counter()
    library.search(questions[0], k=10, filters=first)
    first_query_s = time.perf_counter() - start
    facet_reads = []
    for _ in range(3):
        start = time.perf_counter()
        filters_mod.read_facets(library.store, index)
        facet_reads.append(time.perf_counter() - start)

    results: dict[str, Any] = {}
    for label, f in filters.items():

        def run(q: str, f: Any = f) -> object:
            return library.search(q, k=10, filters=f)

        _timed(run, questions[:50])  # warm
        times = _timed(run, questions)

        def mask(_q: str, f: Any = f) -> object:
            return filters_mod.alive_mask(library.store, index, f)

        masks = _timed(mask, questions[:50])
        results[label] = {
            **_summary(times),
            "mask_ms_median": statistics.median(masks) * 1e3,
            "papers_passing": library.passing(f) if f is not None else index.paper_count,
            "empty_results": sum(1 for q in questions if not library.search(q, k=10, filters=f)),
        }
    exact = exactness(library, questions[: args.exact], filters)
    ingest = after_ingest(args.store, questions[0])
    payload = {
        "store": str(
            args.store.relative_to(REPO) if args.store.is_relative_to(REPO) else args.store
        ),
        "papers": index.paper_count,
        "engine": index.engine.name,
        "queries": len(questions),
        "query_set": "bench/data/arxiv_questions/questions.jsonl (dev, then test split)",
        "semantic_rerank": False,
        "index_load_s": load_s,
        "first_filtered_query_s": first_query_s,
        "facet_read_s": facet_reads,
        "latency": results,
        "exactness": exact,
        "after_ingest": ingest,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")

    print(f"{payload['papers']:,} papers, {len(questions)} queries, engine {payload['engine']}")
    print(
        f"index load {load_s:.2f} s; first filtered query {first_query_s * 1e3:.0f} ms "
        f"(facet read {statistics.median(facet_reads) * 1e3:.0f} ms)"
    )
    print(
        "first cs.CL query on a writable copy {:.0f} ms; after a {}-paper ingest (delta) {:.1f} ms;"
        " full build {:.1f} s, then {:.1f} ms".format(
            ingest["first_filtered_query_s"] * 1e3,
            ingest["papers_ingested"],
            ingest["first_filtered_query_after_ingest_s"] * 1e3,
            ingest["full_build_s"],
            ingest["first_filtered_query_after_full_build_s"] * 1e3,
        )
    )
    print(f"{'filter':<24}{'passing':>9}{'median ms':>11}{'p95 ms':>9}{'mask ms':>9}{'empty':>7}")
    for label, r in results.items():
        print(
            f"{label:<24}{r['papers_passing']:>9,}{r['median_ms']:>11.2f}{r['p95_ms']:>9.2f}"
            f"{r['mask_ms_median']:>9.2f}{r['empty_results']:>7}"
        )
    print(f"\n{'exactness':<24}{'exact':>9}{'results':>9}{'post@10':>9}{'post@100':>9}")
    for label, e in exact.items():
        print(
            f"{label:<24}{e['exact']:>5}/{e['queries']:<3}{e['results_per_query']:>9.2f}"
            f"{e['post_filter_top10_results_per_query']:>9.2f}"
            f"{e['post_filter_top100_results_per_query']:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
