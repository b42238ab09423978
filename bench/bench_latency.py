"""Speed and memory of the retrieval core at 100k and 1M abstracts, against rank-bm25 and bm25s.

Every phase runs in its own process so memory is measured cleanly (peak RSS of the whole process
tree, sampled every 50 ms, build workers included):

* build   -- index a synthetic store (SciFact sentences resampled, see bench/synth.py)
* serve   -- reload the saved index, then time single queries, warm, tokenizing included
* bm25s   -- plain bm25s (its own tokenizer + PyStemmer) on the same texts, same queries
* okapi   -- rank-bm25 ``BM25Okapi.get_scores`` on our tokens (skipped above --okapi-max docs)

    python -m bench.bench_latency --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

OUT = Path(__file__).resolve().parent / "out"


def _queries() -> list[str]:
    from bench.scifact import qrels, queries

    text = queries()
    return [text[q] for q in qrels("test")]


def _timed(fn, items, repeats: int) -> list[float]:
    for item in items:  # warm caches, page in the memory-mapped postings
        fn(item)
    times: list[float] = []
    for _ in range(repeats):
        for item in items:
            start = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - start)
    return times


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(ordered) * 1e3,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
    }


# -- phases (each runs in a child process) ---------------------------------------------------------
def phase_prepare(store_path: Path, n: int) -> dict[str, object]:
    from bench.synth import ensure_store

    start = time.perf_counter()
    store = ensure_store(store_path, n)
    return {"papers": store.count(), "seconds": time.perf_counter() - start}


def _library(store_path: Path):
    from config import Settings
    from retrieval.index import BM25Params
    from retrieval.search import Library
    from retrieval.store import PaperStore

    params = BM25Params.from_settings(Settings(db_path=store_path))
    return Library(PaperStore(store_path), params=params, engine="sparse")


def phase_build(store_path: Path, n: int) -> dict[str, object]:
    library = _library(store_path)
    start = time.perf_counter()
    index = library.rebuild()
    return {
        "seconds": time.perf_counter() - start,
        "docs": index.n_docs,
        "postings": int(index.postings.docs.shape[0]),
        "terms": len(index.postings.vocab),
    }


def phase_serve(store_path: Path, n: int) -> dict[str, object]:
    library = _library(store_path)
    start = time.perf_counter()
    index = library.index()
    reload_s = time.perf_counter() - start
    assert index.n_docs == n, (index.n_docs, n)
    tokenizer = library.tokenizer
    queries = _queries()
    core = _timed(lambda q: index.search(tokenizer.query_terms(q), 10), queries, repeats=3)
    facade = _timed(lambda q: library.search(q, k=10), queries, repeats=1)
    gc.collect()
    return {
        "reload_s": reload_s,
        "query": _summary(core),
        "facade_query": _summary(facade),
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
    }


def _texts(store_path: Path) -> list[str]:
    from retrieval.store import PaperStore

    return [f"{title}\n{abstract}" for _, title, abstract in PaperStore(store_path).iter_texts()]


def phase_bm25s(store_path: Path, n: int) -> dict[str, object]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    texts = _texts(store_path)
    start = time.perf_counter()
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    del texts
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    del tokens
    build_s = time.perf_counter() - start
    gc.collect()

    def query(text: str) -> None:
        q = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        retriever.retrieve(q, k=10, show_progress=False, n_threads=1)

    times = _timed(query, _queries(), repeats=1)
    return {
        "build_s": build_s,
        "query": _summary(times),
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
    }


def phase_okapi(store_path: Path, n: int) -> dict[str, object]:
    from rank_bm25 import BM25Okapi

    from retrieval.tokenize import default_tokenizer

    tokenizer = default_tokenizer()
    corpus = [tokenizer.terms(text) for text in _texts(store_path)]
    model = BM25Okapi(corpus)
    del corpus
    queries = _queries()[:20]
    times = _timed(lambda q: model.get_scores(tokenizer.query_terms(q)), queries, repeats=1)
    return {"query": _summary(times)}


PHASES = {
    "prepare": phase_prepare,
    "build": phase_build,
    "serve": phase_serve,
    "bm25s": phase_bm25s,
    "okapi": phase_okapi,
}


# -- orchestration --------------------------------------------------------------------------------
def _run_child(phase: str, store_path: Path, n: int) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "bench.bench_latency",
        "--child",
        phase,
        "--store",
        str(store_path),
        "--n",
        str(n),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} at {n:,} failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=OUT)
    parser.add_argument("--okapi-max", type=int, default=200_000)
    parser.add_argument("--skip-bm25s", action="store_true")
    parser.add_argument("--child", choices=sorted(PHASES))
    parser.add_argument("--store", type=Path)
    parser.add_argument("--n", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(PHASES[args.child](args.store, args.n)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"cpus": os.cpu_count()}
    for n in args.sizes:
        store_path = args.dir / f"synthetic-{n}.db"
        row: dict[str, object] = {}
        for phase in ("prepare", "build", "serve"):
            row[phase] = _run_child(phase, store_path, n)
            print(f"[{n:,}] {phase}: {json.dumps(row[phase])}", flush=True)
        if not args.skip_bm25s:
            row["bm25s"] = _run_child("bm25s", store_path, n)
            print(f"[{n:,}] bm25s: {json.dumps(row['bm25s'])}", flush=True)
        if n <= args.okapi_max:
            row["okapi"] = _run_child("okapi", store_path, n)
            print(f"[{n:,}] okapi: {json.dumps(row['okapi'])}", flush=True)
        ours = row["serve"]["query"]["median_ms"]  # type: ignore[index]
        lines = [
            f"== {n:,} abstracts ==",
            f"query median {ours:.3f} ms (p95 {row['serve']['query']['p95_ms']:.3f}),"  # type: ignore[index]
            f" facade {row['serve']['facade_query']['median_ms']:.3f} ms",  # type: ignore[index]
            f"serving RSS {row['serve']['rss_mb']:.0f} MB,"  # type: ignore[index]
            f" reload {row['serve']['reload_s']:.2f} s",  # type: ignore[index]
            f"build {row['build']['seconds']:.1f} s, peak {row['build']['peak_rss_mb']:.0f} MB",
        ]  # type: ignore[index]
        if "bm25s" in row:
            theirs = row["bm25s"]["query"]["median_ms"]  # type: ignore[index]
            lines.append(
                f"bm25s median {theirs:.3f} ms -> ours is {theirs / ours:.1f}x faster;"
                f" bm25s build {row['bm25s']['build_s']:.1f} s,"  # type: ignore[index]
                f" peak {row['bm25s']['peak_rss_mb']:.0f} MB"
            )  # type: ignore[index]
        if "okapi" in row:
            ref = row["okapi"]["query"]["median_ms"]  # type: ignore[index]
            lines.append(
                f"rank-bm25 get_scores median {ref:.1f} ms -> ours is {ref / ours:.0f}x faster"
            )
        print("\n".join(lines), flush=True)
        report[str(n)] = row
    (args.dir / "latency.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
