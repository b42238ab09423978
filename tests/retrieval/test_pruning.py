"""Dynamic pruning (MaxScore) returns exactly what exhaustive scoring returns: same documents,
same order, bit-identical scores, for thousands of queries on SciFact and on a long-tail corpus."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from retrieval.index import BM25Index, BM25Params, IndexMeta, build_postings
from retrieval.index.engines import SparseEngine
from retrieval.index.postings import Postings
from retrieval.index.pruning import rank_values, term_maxima
from retrieval.tokenize import default_tokenizer
from tests.paths import SCIFACT

TOK = default_tokenizer()


def _meta() -> IndexMeta:
    return IndexMeta("test", 1, datetime.now(UTC), TOK.signature)


def _full_sort(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The reference: every document scored, sorted by score desc then position asc."""
    positive = np.flatnonzero(scores > 0)
    order = np.lexsort((positive, -scores[positive].astype(np.float64)))[:k]
    return [(int(positive[i]), float(scores[positive[i]])) for i in order]


def _engine(index: BM25Index) -> SparseEngine:
    engine = index.engine
    assert isinstance(engine, SparseEngine) and engine.term_max is not None
    return engine


@pytest.fixture(scope="module")
def scifact() -> tuple[BM25Index, list[list[str]]]:
    rows = []
    with (SCIFACT / "beir" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            doc = json.loads(line)
            rows.append((i, doc["title"], doc["text"]))
    with (SCIFACT / "beir" / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = [TOK.query_terms(json.loads(line)["text"]) for line in fh]
    postings, pks = build_postings(rows, TOK, title_weight=BM25Params().title_weight)
    return BM25Index(postings, pks, BM25Params(), _meta(), engine="sparse"), queries


def test_scifact_every_claim_pruned_equals_exhaustive(scifact) -> None:
    index, queries = scifact
    engine = _engine(index)
    assert len(queries) > 1000
    vocab = index.postings.vocab
    for terms in queries:
        ids = [vocab[t] for t in terms if t in vocab]
        for k in (10, 100):
            pruned = engine.top_k(ids, [], k)
            assert pruned == engine.exhaustive_top_k(ids, k)
            assert pruned == _full_sort(index.score_all(terms), k)


def _long_tail_postings(seed: int, n_docs: int = 12_000) -> Postings:
    """Documents of 20-80 terms drawn from a Zipf vocabulary: a few terms in most documents,
    a long tail in one or two, and many exact score ties (equal lengths and frequencies)."""
    rng = np.random.default_rng(seed)
    n_terms = 30_000
    weights = 1.0 / np.arange(1, n_terms + 1)
    weights /= weights.sum()
    triples: dict[tuple[int, int], int] = {}
    lens = np.zeros(n_docs, dtype=np.float32)
    for doc in range(n_docs):
        length = int(rng.integers(20, 80))
        lens[doc] = length
        for term in rng.choice(n_terms, size=length, p=weights):
            triples[(int(term), doc)] = triples.get((int(term), doc), 0) + 1
    keys = np.array(sorted(triples), dtype=np.int64)
    tf = np.array([triples[(int(t), int(d))] for t, d in keys], dtype=np.uint16)
    df = np.bincount(keys[:, 0], minlength=n_terms)
    used = np.flatnonzero(df)
    remap = np.full(n_terms, -1, dtype=np.int64)
    remap[used] = np.arange(used.shape[0])
    indptr = np.zeros(used.shape[0] + 1, dtype=np.int64)
    np.cumsum(df[used], out=indptr[1:])
    vocab = {f"t{t}": int(remap[t]) for t in used}
    return Postings(vocab, indptr, keys[:, 1].astype(np.int32), tf, lens)


@pytest.mark.parametrize("seed", [1, 2])
def test_long_tail_random_queries_with_repeats_weights_and_masks(seed: int) -> None:
    postings = _long_tail_postings(seed)
    index = BM25Index(postings, np.arange(postings.n_docs), BM25Params(), _meta(), engine="sparse")
    engine = _engine(index)
    rng = np.random.default_rng(100 + seed)
    n_terms = len(postings.vocab)
    df = postings.df
    common = np.argsort(-df)[:50]
    for trial in range(1500):
        # Mixtures of common terms (long postings) and rare ones, sometimes repeated.
        picks = list(rng.choice(common, size=int(rng.integers(1, 5))))
        picks += list(rng.integers(0, n_terms, size=int(rng.integers(0, 6))))
        if trial % 7 == 0:
            picks += picks[:2]
        ids = [int(t) for t in rng.permutation(picks)]
        k = int(rng.choice([1, 3, 10, 50]))
        weights = None
        alive = None
        if trial % 3 == 1:
            weights = {t: float(rng.uniform(0.5, 1.5)) for t in set(ids)}
        if trial % 4 == 2:
            alive = rng.random(postings.n_docs) > 0.3
        pruned = engine.top_k(ids, [], k, weights=weights, alive=alive)
        assert pruned == engine.exhaustive_top_k(ids, k, weights=weights, alive=alive)


def test_ties_at_the_kth_place_go_to_the_lower_position() -> None:
    candidates = np.array([9, 3, 7, 1, 5])
    values = np.array([1.0, 2.0, 1.0, 1.0, 0.0], dtype=np.float32)
    assert rank_values(candidates, values, 2) == [(3, 2.0), (1, 1.0)]
    assert rank_values(candidates, values, 3) == [(3, 2.0), (1, 1.0), (7, 1.0)]
    assert rank_values(candidates, values, 10) == [(3, 2.0), (1, 1.0), (7, 1.0), (9, 1.0)]


def test_term_maxima_handles_terms_without_postings() -> None:
    indptr = np.array([0, 2, 2, 5], dtype=np.int64)
    scores = np.array([0.5, 1.5, 0.2, 3.0, 0.1], dtype=np.float32)
    assert term_maxima(indptr, scores).tolist() == [1.5, 0.0, 3.0]
