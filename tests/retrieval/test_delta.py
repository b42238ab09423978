"""A delta index beside a main one scores every paper as one index of both would, under the
joint statistics (documents and document frequencies of both, the main's average length)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from retrieval.index import BM25Index, BM25Params, IndexMeta, build_postings
from retrieval.index.delta import make_delta, supports_delta
from retrieval.index.engines import SparseEngine
from retrieval.tokenize import default_tokenizer
from tests.paths import SCIFACT

TOK = default_tokenizer()
PARAMS = BM25Params()


def _meta(generation: int = 1) -> IndexMeta:
    return IndexMeta("test", generation, datetime.now(UTC), TOK.signature)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[tuple[int, str, str]], list[list[str]]]:
    rows = []
    with (SCIFACT / "beir" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            doc = json.loads(line)
            rows.append((i + 1, doc["title"], doc["text"]))
    with (SCIFACT / "beir" / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = [TOK.query_terms(json.loads(line)["text"]) for line in fh]
    return rows, queries


def _build(rows: list[tuple[int, str, str]]) -> BM25Index:
    postings, pks = build_postings(rows, TOK, title_weight=PARAMS.title_weight)
    return BM25Index(postings, pks, PARAMS, _meta(), engine="sparse")


def _close(a: list[tuple[int, float]], b: list[tuple[int, float]], ref: np.ndarray) -> bool:
    """Same documents in the same order and the same scores to float32 precision; where the
    reference scores two documents equally to that precision either may come first."""
    if len(a) != len(b):
        return False
    for (da, sa), (db, sb) in zip(a, b, strict=True):
        tol = 2e-6 * max(1.0, abs(sb))
        if abs(sa - sb) > tol or (da != db and abs(ref[da] - sb) > tol):
            return False
    return True


def test_delta_matches_one_index_under_joint_statistics(corpus) -> None:
    rows, queries = corpus
    main_rows, new_rows = rows[:4800], rows[4800:]
    rng = np.random.default_rng(7)
    # Updated papers: the same key with other text (another paper's abstract).
    updated_pks = sorted(int(p) for p in rng.choice([r[0] for r in main_rows], 150, replace=False))
    updated_rows = [(pk, f"revised {pk}", rows[-1 - i][2]) for i, pk in enumerate(updated_pks)]
    delta_rows = sorted(new_rows + updated_rows)

    main = _build(main_rows)
    assert supports_delta(main)
    d_postings, d_pks = build_postings(delta_rows, TOK, title_weight=PARAMS.title_weight)
    changed = np.array(updated_pks + [r[0] for r in new_rows], dtype=np.int64)
    delta = make_delta(main, d_postings, d_pks, changed)
    live = main.with_delta(delta, _meta(2))
    assert live.n_docs == len(main_rows) + len(delta_rows)
    assert live.paper_count == len(main_rows) + len(new_rows)
    assert len(live.doc_pks) == live.n_docs

    # The reference: one index over main's rows (old copies included) then the delta's rows,
    # whose N and df are the joint ones, scored with the main's average length, old copies
    # masked out.
    ref_postings, ref_pks = build_postings(
        main_rows + delta_rows, TOK, title_weight=PARAMS.title_weight
    )
    ref_scores = ref_postings.scores(PARAMS, avgdl=main.avgdl)
    reference = SparseEngine(
        ref_postings.indptr, ref_postings.docs, ref_scores, ref_postings.n_docs
    )
    alive = np.ones(ref_postings.n_docs, dtype=bool)
    alive[: len(main_rows)] = ~np.isin(ref_pks[: len(main_rows)], changed)
    assert [live.doc_pks[i] for i in range(live.n_docs)] == ref_pks.tolist()

    checked = 0
    for terms in queries:
        ids = [ref_postings.vocab[t] for t in terms if t in ref_postings.vocab]
        if not ids:
            continue
        ref_all = reference.score_all(ids, [])
        ref_all[~alive] = 0.0
        expected = reference.exhaustive_top_k(ids, 10, alive=alive)
        got = live.search(terms, 10)
        assert _close(got, expected, ref_all), terms
        assert np.allclose(live.score_all(terms), ref_all, rtol=2e-6, atol=1e-6)
        checked += 1
    assert checked > 1000
    # Statistics the composer weighs sentences by are the joint ones too.
    for term in TOK.query_terms("cell revised protein"):
        assert live.doc_freq(term) == int(ref_postings.df[ref_postings.vocab[term]])
        assert live.idf(term) == pytest.approx(
            float(ref_postings.idf(PARAMS)[ref_postings.vocab[term]]), rel=1e-9
        )


def test_updated_paper_is_found_by_its_new_text_only(corpus) -> None:
    rows, _ = corpus
    main = _build(rows[:5000])
    target = rows[10]
    new_text = "Zirconium titanate Zr3Ti lattice strain under cryogenic loading."
    d_postings, d_pks = build_postings(
        [(target[0], "Cryogenic strain in Zr3Ti", new_text)], TOK, title_weight=PARAMS.title_weight
    )
    live = main.with_delta(make_delta(main, d_postings, d_pks, np.array([target[0]])), _meta(2))
    top = live.search(TOK.query_terms("Zr3Ti lattice strain cryogenic"), 3)
    assert live.doc_pks[top[0][0]] == target[0]
    old_words = TOK.query_terms(target[1])
    assert main.doc_pks[main.search(old_words, 1)[0][0]] == target[0]  # found by its old title
    assert target[0] not in {live.doc_pks[pos] for pos, _ in live.search(old_words, 100)}


def test_okapi_idf_and_small_engines_take_no_delta(corpus) -> None:
    rows, _ = corpus
    postings, pks = build_postings(rows[:300], TOK, title_weight=1)
    okapi_engine = BM25Index(postings, pks, PARAMS, _meta(), engine="okapi")
    okapi_idf = BM25Index(postings, pks, BM25Params(idf="okapi"), _meta(), engine="sparse")
    assert not supports_delta(okapi_engine)
    assert not supports_delta(okapi_idf)
