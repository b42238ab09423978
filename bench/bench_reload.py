"""Reload cost of a saved index: load time, RSS after load, query latency (issue "All of arXiv").

Builds the index of the 100k-paper store ``bench/out/arxiv-cs.db`` once and saves it under
``bench/out/reload/fmt-<format version>/`` (one cache per on-disk format, so the figures before
and after a format change can be compared), then loads it 5 times, each in a fresh process, with
:func:`retrieval.index.persist.load_index`, and runs 200 title queries against each load.

    python -m bench.bench_reload [--store bench/out/arxiv-cs.db] [--loads 5] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def _cache(store_path: Path) -> Path:
    from retrieval.index import persist

    return OUT / "reload" / f"fmt-{persist.FORMAT_VERSION}" / store_path.stem


def prepare(store_path: Path, n_queries: int) -> Path:
    """The cached saved index (built on first use) and the query terms, in ``<cache>/bench``."""
    from config import Settings
    from retrieval.index.persist import read_manifest, save_index
    from retrieval.search import Library

    cache = _cache(store_path)
    info = cache / "bench.json"
    if info.exists() and read_manifest(cache / "index") is not None:
        return cache
    library = Library.open(Settings(db_path=store_path), seed=False)
    library.indexes.persist = False  # build in memory; leave the store's own saved index alone
    start = time.perf_counter()
    index = library.rebuild()
    build_s = time.perf_counter() - start
    save_index(index, cache / "index")
    titles = [title for _, title, _ in library.store.iter_texts(library.default_collection)]
    rng = random.Random(7)
    queries = [library.tokenizer.query_terms(t) for t in rng.sample(titles, n_queries)]
    info.write_text(
        json.dumps(
            {
                "generation": index.meta.generation,
                "params": index.params.as_dict(),
                "tokenizer": library.tokenizer.signature,
                "build_s": build_s,
                "docs": index.n_docs,
                "terms": len(index.postings.vocab),
                "queries": queries,
            }
        ),
        encoding="utf-8",
    )
    return cache


def child(cache: Path) -> None:
    """One fresh process: load the saved index, then time the queries; prints JSON."""
    import gc

    import psutil

    from retrieval.index import BM25Params
    from retrieval.index.persist import load_index

    info = json.loads((cache / "bench.json").read_text(encoding="utf-8"))
    params = BM25Params(**info["params"])
    gc.collect()
    rss_before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    index = load_index(
        cache / "index",
        generation=info["generation"],
        params=params,
        tokenizer_signature=info["tokenizer"],
        engine="sparse",
    )
    load_s = time.perf_counter() - start
    assert index is not None, "saved index did not load"
    rss_after = psutil.Process().memory_info().rss
    times = []
    for terms in info["queries"]:
        t0 = time.perf_counter()
        index.search(terms, 10)
        times.append(time.perf_counter() - t0)
    words = [t for terms in info["queries"] for t in terms]
    t0 = time.perf_counter()
    for t in words:
        index.idf(t)
    idf_us = (time.perf_counter() - t0) / max(len(words), 1) * 1e6
    print(
        json.dumps(
            {
                "load_s": load_s,
                "rss_mb": rss_after / 2**20,
                "rss_load_mb": (rss_after - rss_before) / 2**20,
                "query_ms": statistics.median(times) * 1e3,
                "query_p95_ms": sorted(times)[int(0.95 * len(times))] * 1e3,
                "idf_us": idf_us,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=OUT / "arxiv-cs.db")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from retrieval.index import persist

    cache = prepare(args.store.resolve(), args.queries)
    runs = []
    for _ in range(args.loads):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.bench_reload", "--child", str(cache)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    info = json.loads((cache / "bench.json").read_text(encoding="utf-8"))
    result = {
        "format": persist.FORMAT_VERSION,
        "docs": info["docs"],
        "terms": info["terms"],
        "build_s": info["build_s"],
        "loads": len(runs),
        **{key: statistics.median(r[key] for r in runs) for key in runs[0]},
        "load_s_all": [round(r["load_s"], 4) for r in runs],
    }
    (OUT / f"bench_reload-fmt{persist.FORMAT_VERSION}.json").write_text(
        json.dumps(result, indent=1), encoding="utf-8"
    )
    print(
        f"format {result['format']}: {result['docs']} docs, {result['terms']} terms | "
        f"load median {result['load_s'] * 1e3:.1f} ms over {len(runs)} fresh processes "
        f"({result['load_s_all']}) | RSS after load {result['rss_mb']:.0f} MB "
        f"(+{result['rss_load_mb']:.0f} MB by the load) | "
        f"query median {result['query_ms']:.2f} ms, "
        f"p95 {result['query_p95_ms']:.2f} ms | idf() {result['idf_us']:.2f} us/term"
    )


if __name__ == "__main__":
    main()
