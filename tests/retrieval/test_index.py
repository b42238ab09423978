"""BM25 index: engine parity with rank-bm25, exact top-k, parallel build, save/load/swap."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from retrieval.index import BM25Index, BM25Params, IndexMeta, build_postings, load_index, save_index
from retrieval.index.build import CHUNK_DOCS
from retrieval.tokenize import default_tokenizer
from tests.paths import SCIFACT

TOK = default_tokenizer()


def _meta(generation: int = 1) -> IndexMeta:
    return IndexMeta("test", generation, datetime.now(UTC), TOK.signature)


def _index(rows, params: BM25Params | None = None, **kw) -> BM25Index:
    postings, pks = build_postings(rows, TOK, title_weight=(params or BM25Params()).title_weight)
    return BM25Index(postings, pks, params or BM25Params(), _meta(), **kw)


@pytest.fixture(scope="module")
def scifact():
    rows, ids = [], []
    with (SCIFACT / "beir" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            doc = json.loads(line)
            rows.append((i, doc["title"], doc["text"]))
            ids.append(doc["_id"])
    queries = []
    with (SCIFACT / "beir" / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh]
    postings, pks = build_postings(rows, TOK, title_weight=1)
    return postings, pks, queries


def _same_top10(a: list[tuple[int, float]], b: list[tuple[int, float]], ref: np.ndarray) -> bool:
    """Same documents in the same order, except where the reference itself scores two documents
    equally (to float32 precision): then either may come first."""
    if len(a) != len(b):
        return False
    for (da, sa), (db, sb) in zip(a, b, strict=True):
        tol = 1e-5 * max(1.0, abs(sb))
        if abs(sa - sb) > tol:
            return False
        if da != db and abs(ref[da] - sb) > tol:
            return False
    return True


@pytest.mark.parametrize("idf", ["okapi", "lucene", "atire"])
def test_sparse_engine_matches_rank_bm25_on_scifact(scifact, idf: str) -> None:
    postings, pks, queries = scifact
    params = BM25Params(k1=1.2, b=0.75, idf=idf)  # type: ignore[arg-type]
    sparse = BM25Index(postings, pks, params, _meta(), engine="sparse")
    okapi = sparse.with_engine("okapi")
    assert sparse.engine.name == "sparse" and okapi.engine.name == "okapi"
    for query in queries[:300:5]:  # 60 queries: rank-bm25 is slow by design
        terms = TOK.query_terms(query)
        ref = okapi.score_all(terms)
        ours = sparse.score_all(terms)
        assert np.allclose(ours, ref, rtol=1e-5, atol=1e-5)
        assert _same_top10(sparse.search(terms, 10), okapi.search(terms, 10), ref)


def test_sparse_top_k_is_exact(scifact) -> None:
    postings, pks, queries = scifact
    index = BM25Index(postings, pks, BM25Params(), _meta(), engine="sparse")
    for query in queries[1::37]:
        terms = TOK.query_terms(query)
        scores = index.score_all(terms)
        for k in (1, 10, 100):
            got = index.search(terms, k)
            best = np.sort(scores[scores > 0])[::-1][:k]
            assert np.allclose([s for _, s in got], best)
            assert all(scores[d] == pytest.approx(s) for d, s in got)


def test_unknown_terms_and_empty_queries(scifact) -> None:
    postings, pks, _ = scifact
    index = BM25Index(postings, pks, BM25Params(), _meta(), engine="sparse")
    assert index.search([], 10) == []
    assert index.search(["zzzznotaword"], 10) == []
    assert index.idf("zzzznotaword") == 0.0
    assert index.doc_freq("cell") > 100


def test_title_weight_counts_title_terms_more() -> None:
    rows = [
        (1, "graphene transistors", "A study of devices."),
        (2, "Devices", "graphene transistors"),
    ]
    plain = _index(rows, BM25Params(title_weight=0))
    assert plain.doc_freq("graphen") == 1  # title ignored
    weighted = _index(rows, BM25Params(title_weight=3))
    assert weighted.postings.doc_len[0] > plain.postings.doc_len[0]


def test_parallel_build_equals_serial_build() -> None:
    rows = [
        (i, f"title {i % 7}", f"word{i % 13} common text number {i} alpha{i % 5}")
        for i in range(2 * CHUNK_DOCS + 123)
    ]
    serial, pks1 = build_postings(rows, TOK, workers=1)
    parallel, pks2 = build_postings(rows, TOK, workers=2, expected_docs=len(rows))
    assert np.array_equal(pks1, pks2)
    assert serial.vocab.keys() == parallel.vocab.keys()
    for term in ("common", "word7", "alpha3", "titl"):
        a, b = serial.vocab[term], parallel.vocab[term]
        sa = slice(serial.indptr[a], serial.indptr[a + 1])
        sb = slice(parallel.indptr[b], parallel.indptr[b + 1])
        assert np.array_equal(serial.docs[sa], parallel.docs[sb])
        assert np.array_equal(serial.tf[sa], parallel.tf[sb])


def test_empty_corpus() -> None:
    index = _index([])
    assert index.n_docs == 0
    assert index.search(["anything"], 10) == []


def test_save_load_and_staleness(tmp_path: Path) -> None:
    rows = [(10 + i, f"Title {i}", f"alpha beta gamma {i} delta") for i in range(30)]
    index = _index(rows)
    root = tmp_path / "idx"
    save_index(index, root)
    kwargs = {"params": BM25Params(), "tokenizer_signature": TOK.signature}
    loaded = load_index(root, generation=1, **kwargs)
    assert loaded is not None
    assert loaded.search(["alpha", "3"], 5) == index.search(["alpha", "3"], 5)
    assert list(loaded.doc_pks) == list(index.doc_pks)
    assert load_index(root, generation=2, **kwargs) is None  # store changed since
    assert (
        load_index(root, generation=1, params=BM25Params(k1=2.0), tokenizer_signature=TOK.signature)
        is None
    )
    assert load_index(root, generation=1, params=BM25Params(), tokenizer_signature="other") is None


def test_rebuild_swaps_atomically_and_cleans_up(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    first = save_index(_index([(1, "a", "old words here")]), root)
    # A crashed earlier build leaves a temp dir named with its pid: it must not be mistaken for
    # an index, and goes once that process is gone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    crashed = root / f".tmp-{dead.pid}-0123abcd"
    crashed.mkdir()
    second = save_index(_index([(1, "a", "new words here")]), root)
    assert (root / "CURRENT").read_text() == second.name
    assert not first.exists() and not crashed.exists()
    loaded = load_index(root, generation=1, params=BM25Params(), tokenizer_signature=TOK.signature)
    assert loaded is not None and loaded.doc_freq("new") == 1 and loaded.doc_freq("old") == 0


def test_corrupt_current_pointer_means_rebuild(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    save_index(_index([(1, "a", "words")]), root)
    (root / "CURRENT").write_text("gen-does-not-exist")
    assert (
        load_index(root, generation=1, params=BM25Params(), tokenizer_signature=TOK.signature)
        is None
    )
