"""A saved and loaded index (flat, memory-mapped vocabulary; saved df/IDF) answers exactly as the
freshly built one: same term ids, IDF, document frequencies and search results."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from retrieval.index import (
    BM25Index,
    BM25Params,
    IndexMeta,
    build_postings,
    load_index,
    persist,
    save_index,
    vocab,
)
from retrieval.index.vocab import FlatVocab
from retrieval.tokenize import default_tokenizer

TOK = default_tokenizer()

ROWS = [
    (1, "Naïve Bayes for Schrödinger equations", "A naïve solver of Schrödinger's equation."),
    (2, "Über die Quantentheorie", "Größe und Maß: straße, café, résumé, señor, ñandú."),
    (3, "日本語の論文", "東京 大学 の 研究 と 機械 学習 deep learning transformers."),
    (4, "Graph neural networks", "Message passing on graphs; 𝛼-smoothing and emoji 🚀 tokens."),
    (5, "Deep learning survey", "Deep networks learn representations; learning rates matter."),
    (6, "Café au lait spots", "Dermatology of café au lait macules and naïve cells."),
    (7, "Ελληνικά κείμενα", "Ανάλυση κειμένου με μηχανική μάθηση και graphs."),
    (8, "Empty-ish", "the of and"),
]
UNKNOWN = ["zzzznotaword", "", "ｆｕｌｌｗｉｄｔｈ", "naïvé", "日本", "🚀🚀", "\udc80", "a" * 300]


def _meta(generation: int = 1) -> IndexMeta:
    return IndexMeta("test", generation, datetime.now(UTC), TOK.signature)


def _fresh(rows=ROWS, params: BM25Params | None = None, **kw) -> BM25Index:
    params = params or BM25Params()
    postings, pks = build_postings(rows, TOK, title_weight=params.title_weight)
    return BM25Index(postings, pks, params, _meta(), **kw)


def _load(root: Path, params: BM25Params | None = None, **kw) -> BM25Index:
    loaded = load_index(
        root, generation=1, params=params or BM25Params(), tokenizer_signature=TOK.signature, **kw
    )
    assert loaded is not None
    return loaded


def _assert_same(fresh: BM25Index, loaded: BM25Index) -> None:
    terms = fresh.postings.terms()
    assert any(not t.isascii() for t in terms)  # the corpus does exercise non-ASCII terms
    assert isinstance(loaded.postings.vocab, FlatVocab)
    assert loaded.postings.terms() == terms
    assert len(loaded.postings.vocab) == len(terms)
    for term in terms:
        assert loaded.postings.vocab[term] == fresh.postings.vocab[term]
        assert term in loaded.postings.vocab
        assert loaded.idf(term) == fresh.idf(term)
        assert loaded.doc_freq(term) == fresh.doc_freq(term)
    for term in UNKNOWN:
        assert term not in loaded.postings.vocab
        assert loaded.postings.vocab.get(term) is None
        assert loaded.idf(term) == fresh.idf(term) == 0.0
        assert loaded.doc_freq(term) == fresh.doc_freq(term) == 0
    queries = [[t] for t in terms] + [terms[i::3] for i in range(3)] + [UNKNOWN, UNKNOWN + terms]
    queries += [TOK.query_terms(f"{title} {text}") for _, title, text in ROWS]
    for query in queries:
        assert loaded.search(query, 5) == fresh.search(query, 5)
        assert np.array_equal(loaded.score_all(query), fresh.score_all(query))


@pytest.mark.parametrize("engine", ["okapi", "sparse"])
@pytest.mark.parametrize("idf", ["okapi", "lucene", "atire"])
def test_saved_index_equals_fresh_one(tmp_path: Path, engine: str, idf: str) -> None:
    params = BM25Params(idf=idf)  # type: ignore[arg-type]
    fresh = _fresh(params=params, engine=engine)
    save_index(fresh, tmp_path / "idx")
    loaded = _load(tmp_path / "idx", params, engine=engine)
    assert loaded.engine.name == engine
    _assert_same(fresh, loaded)
    assert np.array_equal(loaded.idf_values, fresh.idf_values)
    assert np.array_equal(loaded.df_values, fresh.df_values)
    # Saving a loaded index again (its vocabulary already flat) round-trips too.
    save_index(loaded, tmp_path / "again")
    _assert_same(fresh, _load(tmp_path / "again", params, engine=engine))


def test_saved_files_have_no_json_vocabulary(tmp_path: Path) -> None:
    save_index(_fresh(), tmp_path)
    build = tmp_path / (tmp_path / "CURRENT").read_text(encoding="utf-8").strip()
    assert not (build / "vocab.json").exists()
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == persist.FORMAT_VERSION >= 2
    for name in ("df", "idf", "vocab-blob", "vocab-offsets", "vocab-hashes", "vocab-ids"):
        assert (build / f"{name}.npy").exists()


def test_older_format_is_not_loaded(tmp_path: Path) -> None:
    save_index(_fresh(), tmp_path)
    build = tmp_path / (tmp_path / "CURRENT").read_text(encoding="utf-8").strip()
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    manifest["format"] = 1
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    kwargs = {"params": BM25Params(), "tokenizer_signature": TOK.signature}
    assert load_index(tmp_path, generation=1, **kwargs) is None


def test_mismatched_statistics_mean_rebuild(tmp_path: Path) -> None:
    save_index(_fresh(), tmp_path)
    build = tmp_path / (tmp_path / "CURRENT").read_text(encoding="utf-8").strip()
    np.save(build / "idf.npy", np.zeros(3))
    kwargs = {"params": BM25Params(), "tokenizer_signature": TOK.signature}
    assert load_index(tmp_path, generation=1, **kwargs) is None


def test_guild_index_scored_with_loaded_base_statistics(tmp_path: Path) -> None:
    base = _fresh()
    save_index(base, tmp_path)
    loaded_base = _load(tmp_path, engine="sparse")
    own = [(101, "Naïve café graphs", "Schrödinger 日本語 learning and brand-new words.")]
    postings, pks = build_postings(own, TOK, title_weight=BM25Params().title_weight)
    with_fresh = BM25Index(postings, pks, BM25Params(), _meta(), reference=base)
    with_loaded = BM25Index(postings, pks, BM25Params(), _meta(), reference=loaded_base)
    for term in postings.terms() + UNKNOWN:
        assert with_loaded.idf(term) == with_fresh.idf(term)
        assert with_loaded.doc_freq(term) == with_fresh.doc_freq(term)
    query = TOK.query_terms("naïve café graphs Schrödinger learning words")
    assert with_loaded.search(query, 3) == with_fresh.search(query, 3)


def test_flat_vocab_resolves_hash_collisions(monkeypatch: pytest.MonkeyPatch) -> None:
    terms = ["alpha", "beta", "gamma", "naïve", "日本語", ""]
    monkeypatch.setattr(vocab, "term_hash", lambda data: 42)  # every term collides
    flat = FlatVocab.from_terms(terms)
    assert [flat[t] for t in terms] == list(range(len(terms)))
    assert flat.get("delta") is None and "delta" not in flat
    assert flat.terms() == terms and list(flat) == terms and len(flat) == len(terms)


def test_empty_vocabulary(tmp_path: Path) -> None:
    fresh = _fresh(rows=[])
    save_index(fresh, tmp_path)
    loaded = _load(tmp_path)
    assert len(loaded.postings.vocab) == 0
    assert loaded.idf("x") == 0.0 and loaded.doc_freq("x") == 0
    assert loaded.search(["x"], 3) == []
