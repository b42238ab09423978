"""The index build at scale (issue 11): terms numbered by their hashes without a per-term loop in
the parent, postings set aside in a scratch file and laid out straight into the build directory,
contributions computed as they are laid out, and no term frequencies in sparse indexes. Each
way of building must give exactly the postings, scores and search results of the plain one."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import config
from retrieval.index import (
    BM25Index,
    BM25Params,
    IndexMeta,
    build_postings,
    load_index,
    save_index,
    serving,
    vocab,
)
from retrieval.index import build as build_module
from retrieval.index import postings as postings_module
from retrieval.index.persist import build_directory, index_root, read_manifest
from retrieval.index.postings import Postings, TermFrequenciesMissing
from retrieval.index.vocab import FlatVocab, term_bytes, term_hash
from retrieval.papers import Paper
from retrieval.store import PaperStore
from retrieval.tokenize import default_tokenizer

TOK = default_tokenizer()
PARAMS = BM25Params()
_SYLLABLES = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "an", "or")]
_EXTRA = [
    (10_001, "Naïve Bayes for Schrödinger equations", "A naïve solver of Schrödinger's equation."),
    (10_002, "日本語の論文", "東京 大学 の 研究 と 機械 学習 deep learning (GPT-4, Q*)."),
    (10_003, "", "the of and"),
    (10_004, "Zr3Ti and GW150914", "Zr3Ti lattices; GW150914 strain, co-citations x-ray 49.7 6K."),
]


def _rows(n: int, seed: int = 0) -> list[tuple[int, str, str]]:
    """Abstracts with a long tail: common words, and words most documents do not share."""
    rng = random.Random(seed)
    common = ["".join(rng.choices(_SYLLABLES, k=rng.randint(1, 3))) for _ in range(300)]
    rows = []
    for i in range(n):
        words = [
            rng.choice(common)
            if rng.random() < 0.8
            else "".join(rng.choices(_SYLLABLES, k=rng.randint(2, 5)))
            for _ in range(rng.randint(5, 40))
        ]
        title = " ".join(rng.choices(common, k=rng.randint(0, 6))).capitalize()
        rows.append((i * 3 + 1, title, " ".join(words) + "."))
    return rows + _EXTRA


ROWS = _rows(1500)


def _meta() -> IndexMeta:
    return IndexMeta("test", 1, datetime.now(UTC), TOK.signature)


def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks, and the caches workers keep between them, small enough for a test corpus."""
    monkeypatch.setattr(build_module, "CHUNK_DOCS", 200)
    monkeypatch.setattr(build_module, "_PARALLEL_MIN_DOCS", 400)
    monkeypatch.setattr(build_module, "_KEEP_CHUNK_STRINGS", 300)
    monkeypatch.setattr(build_module, "_KEEP_TERMS", 1500)
    monkeypatch.setattr(postings_module, "_LAYOUT_SLICE", 1000)
    monkeypatch.setattr(postings_module, "_MERGE_MIN", 500)


def _assert_same_postings(a: Postings, b: Postings) -> None:
    """The same corpus, term for term (term ids may differ)."""
    terms_a, terms_b = a.terms(), b.terms()
    assert sorted(terms_a) == sorted(terms_b)
    assert np.array_equal(a.doc_len, b.doc_len)
    for tid_a, term in enumerate(terms_a):
        tid_b = b.vocab[term]
        sa = slice(int(a.indptr[tid_a]), int(a.indptr[tid_a + 1]))
        sb = slice(int(b.indptr[tid_b]), int(b.indptr[tid_b + 1]))
        assert np.array_equal(a.docs[sa], b.docs[sb]), term
        if a.has_tf and b.has_tf:
            assert np.array_equal(a.tf[sa], b.tf[sb]), term
        assert np.array_equal(a.scores(PARAMS)[sa], b.scores(PARAMS)[sb]), term


def _term_max(postings: Postings, scores: np.ndarray) -> np.ndarray:
    starts = np.asarray(postings.indptr[:-1])
    return np.maximum.reduceat(scores, starts) if starts.size else np.zeros(0, np.float32)


def test_build_into_a_directory_equals_the_plain_build(tmp_path: Path) -> None:
    plain, pks = build_postings(ROWS, TOK, title_weight=PARAMS.title_weight)
    directory = tmp_path / "build"
    directory.mkdir()
    built, built_pks = build_postings(
        ROWS,
        TOK,
        title_weight=PARAMS.title_weight,
        scoring=PARAMS,
        keep_tf=False,
        directory=directory,
    )
    assert np.array_equal(pks, built_pks) and list(pks) == [row[0] for row in ROWS]
    # Term ids are the order of the terms' hashes, whichever way the corpus was built.
    assert built.terms() == plain.terms()
    for name in ("indptr", "docs", "doc_len"):
        assert np.array_equal(getattr(built, name), getattr(plain, name)), name
    assert built.built is not None
    assert np.array_equal(built.scores(PARAMS), plain.scores(PARAMS))
    assert np.array_equal(built.built.term_max, _term_max(plain, plain.scores(PARAMS)))
    # The arrays live in the directory (memory-mapped), the scratch file is gone.
    vocab_files = [f"vocab-{part}.npy" for part in ("blob", "offsets", "hashes", "ids")]
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"{name}.npy" for name in ("indptr", "docs", "doc_len", "scores")] + vocab_files
    )
    assert isinstance(built.docs, np.memmap) and isinstance(built.vocab, FlatVocab)
    # Without term frequencies: shapes still hold, but nothing can be re-scored.
    assert not built.has_tf and len(built.tf) == len(built.docs)
    with pytest.raises(TermFrequenciesMissing):
        built.tf[0]
    with pytest.raises(TermFrequenciesMissing):
        built.scores(BM25Params(k1=2.0))


def test_term_ids_follow_hash_order() -> None:
    postings, _ = build_postings(ROWS, TOK, title_weight=PARAMS.title_weight)
    flat = postings.vocab
    assert isinstance(flat, FlatVocab)
    assert np.array_equal(flat.ids, np.arange(len(flat)))
    assert np.all(flat.hashes[1:] >= flat.hashes[:-1])
    for tid, term in enumerate(postings.terms()):
        assert flat[term] == tid
        assert int(flat.hashes[tid]) == term_hash(term_bytes(term))
    assert "zzzznotaword" not in flat and flat.get("zzzznotaword") is None


def test_parallel_build_with_small_caches_equals_serial_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many chunks over two workers, each forgetting strings and terms between chunks: the same
    postings and the same term ids as one chunk tokenized in this process."""
    serial, pks = build_postings(ROWS, TOK, title_weight=PARAMS.title_weight, workers=1)
    _small_chunks(monkeypatch)
    directory = tmp_path / "build"
    directory.mkdir()
    parallel, parallel_pks = build_postings(
        ROWS,
        TOK,
        title_weight=PARAMS.title_weight,
        workers=2,
        expected_docs=len(ROWS),
        scoring=PARAMS,
        directory=directory,
    )
    assert np.array_equal(pks, parallel_pks)
    assert parallel.terms() == serial.terms()
    for name in ("indptr", "docs", "tf", "doc_len"):
        assert np.array_equal(getattr(parallel, name), getattr(serial, name)), name
    assert np.array_equal(parallel.scores(PARAMS), serial.scores(PARAMS))
    in_memory, _ = build_postings(
        ROWS, TOK, title_weight=PARAMS.title_weight, workers=1, scoring=PARAMS
    )
    assert in_memory.terms() == serial.terms()
    assert np.array_equal(in_memory.scores(PARAMS), serial.scores(PARAMS))


def test_terms_sharing_the_first_half_of_their_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every term's first 64 bits made to collide with many others': each still gets its own
    id, its own postings, and is found by lookups, before and after saving."""
    plain, _ = build_postings(ROWS, TOK, title_weight=PARAMS.title_weight)
    fresh = BM25Index(plain, np.arange(len(ROWS)), PARAMS, _meta(), engine="sparse")
    queries = [TOK.query_terms(f"{title} {abstract}") for _, title, abstract in ROWS[::50] + _EXTRA]
    expected = [fresh.search(query, 10) for query in queries]
    terms = plain.terms()
    real_digests = vocab.term_digests

    def colliding(encoded):
        digests = real_digests(encoded).copy()
        digests[:, 0] %= np.uint64(5)
        return digests

    monkeypatch.setattr(build_module, "term_digests", colliding)
    monkeypatch.setattr(vocab, "term_hash", lambda data: int(colliding([data])[0, 0]))
    _small_chunks(monkeypatch)
    built, _ = build_postings(
        ROWS,
        TOK,
        title_weight=PARAMS.title_weight,
        workers=2,
        expected_docs=len(ROWS),
        scoring=PARAMS,
    )
    assert len(built.vocab) == len(plain.vocab)
    assert set(np.unique(built.vocab.hashes).tolist()) <= {0, 1, 2, 3, 4}
    assert sorted(built.terms()) == sorted(terms)
    for tid, term in enumerate(built.terms()):
        assert built.vocab[term] == tid
    assert built.vocab.get("zzzznotaword") is None
    index = BM25Index(built, np.arange(len(ROWS)), PARAMS, _meta(), engine="sparse")
    save_index(index, tmp_path / "idx")
    loaded = load_index(
        tmp_path / "idx",
        generation=1,
        params=PARAMS,
        tokenizer_signature=TOK.signature,
        engine="sparse",
    )
    assert loaded is not None
    for query, hits in zip(queries, expected, strict=True):
        assert index.search(query, 10) == hits
        assert loaded.search(query, 10) == hits
    _assert_same_postings(plain, built)  # term for term, as without collisions


def test_sparse_index_is_saved_without_term_frequencies(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    with build_directory(root) as directory:
        postings, pks = build_postings(
            ROWS,
            TOK,
            title_weight=PARAMS.title_weight,
            scoring=PARAMS,
            keep_tf=False,
            directory=directory,
        )
        assert postings.built is not None
        index = BM25Index(
            postings, pks, PARAMS, _meta(), engine="sparse", term_max=postings.built.term_max
        )
        final = save_index(index, root, directory=directory)
    assert not directory.exists() and not [p for p in root.iterdir() if p.name.startswith(".tmp")]
    manifest = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tf"] is False and not (final / "tf.npy").exists()
    assert not (final / "scratch.bin").exists()
    assert np.array_equal(np.load(final / "term_max.npy"), postings.built.term_max)

    plain, _ = build_postings(ROWS, TOK, title_weight=PARAMS.title_weight)
    fresh = BM25Index(plain, pks, PARAMS, _meta(), engine="sparse")
    kwargs = {"generation": 1, "params": PARAMS, "tokenizer_signature": TOK.signature}
    loaded = load_index(root, engine="sparse", **kwargs)
    assert loaded is not None and not loaded.postings.has_tf
    assert len(loaded.postings.tf) == len(loaded.postings.docs)
    assert np.array_equal(loaded.term_max, postings.built.term_max)
    for _, title, abstract in ROWS[::40] + _EXTRA:
        query = TOK.query_terms(f"{title} {abstract}")
        assert loaded.search(query, 10) == fresh.search(query, 10)
    # rank-bm25 needs term frequencies: such an index is rebuilt rather than served by it.
    assert load_index(root, engine="okapi", **kwargs) is None
    assert load_index(root, engine="auto", sparse_threshold=len(ROWS) + 1, **kwargs) is None
    assert load_index(root, engine="auto", sparse_threshold=len(ROWS), **kwargs) is not None


def _store(path: Path, rows: list[tuple[int, str, str]]) -> PaperStore:
    store = PaperStore(path)
    store.upsert(
        (
            Paper(id=f"p{pk}", title=title, abstract=abstract, source="test")
            for pk, title, abstract in rows
        ),
        "default",
    )
    return store


def test_rebuild_writes_the_index_where_it_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large collection (here: past a threshold lowered for the test) is built straight into
    its saved directory, without term frequencies; a small one keeps them for rank-bm25."""
    store = _store(tmp_path / "s.db", ROWS)
    _small_chunks(monkeypatch)
    real_default = config.default
    monkeypatch.setattr(
        serving, "default", lambda name: 0 if name == "sparse_threshold" else real_default(name)
    )
    server = serving.IndexServer(store, TOK, PARAMS, sparse_threshold=0)
    index = server.rebuild("default")
    found = read_manifest(index_root(store.path, "default"))
    assert found is not None
    build, manifest = found
    assert manifest["tf"] is False and index.engine.name == "sparse"
    assert sorted(p.name for p in build.iterdir()) == sorted(
        [f"{n}.npy" for n in ("indptr", "docs", "doc_len", "doc_pks", "scores", "df", "idf")]
        + [f"{n}.npy" for n in ("term_max", "vocab-blob", "vocab-offsets")]
        + ["vocab-hashes.npy", "vocab-ids.npy", "manifest.json"]
    )
    assert Path(index.postings.docs.filename).name == "docs.npy"  # served from those files
    in_memory = serving.IndexServer(store, TOK, PARAMS, sparse_threshold=0, persist=False)
    expected = in_memory.rebuild("default")
    for _, title, abstract in ROWS[::60] + _EXTRA:
        query = TOK.query_terms(f"{title} {abstract}")
        assert index.search(query, 10) == expected.search(query, 10)

    monkeypatch.setattr(serving, "default", real_default)
    small = serving.IndexServer(store, TOK, PARAMS)
    assert small.rebuild("default").engine.name == "okapi"
    build, manifest = read_manifest(index_root(store.path, "default"))  # type: ignore[misc]
    assert manifest["tf"] is True and (build / "tf.npy").exists()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_interrupted_rebuild_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    store = _store(tmp_path / "s.db", ROWS)
    _small_chunks(monkeypatch)
    server = serving.IndexServer(store, TOK, PARAMS)
    first = server.rebuild("default")
    root = index_root(store.path, "default")
    before = sorted(p.name for p in root.iterdir())

    def fail(*args, **kwargs):
        raise error("interrupted while laying out")

    monkeypatch.setattr(postings_module.PostingsBuilder, "_lay_out", fail)
    with pytest.raises(error):
        server.rebuild("default")
    assert sorted(p.name for p in root.iterdir()) == before  # no temp directory left
    loaded = load_index(root, generation=1, params=PARAMS, tokenizer_signature=TOK.signature)
    assert loaded is not None
    query = TOK.query_terms(ROWS[0][2])
    assert loaded.search(query, 5) == first.search(query, 5)


def _tricky_strings(n: int) -> list[str]:
    rng = random.Random(7)
    pieces = [
        *"aAbBzZ09",
        *"-/'’.,;:()[]{}*^\\\"!?_",
        "star",
        "STAR",
        "^{*}",
        "^{\\star}",
        "^*",
        "LLMs",
        "GPT",
        "ü",
        "ẞ",
        "Σ",
        "ﬁ",
        "™",
        "①",
        "\u0301",
        "\u200b",
        "\u00ad",
        "．",
        "49.7",
        "1,000",
    ]
    return ["".join(rng.choices(pieces, k=rng.randint(1, 6))) for _ in range(n)]


def test_built_postings_are_the_tokenizers_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the build caches (strings, their plain forms, terms across chunks), each
    document's postings are exactly its tokenizer terms, the title counted title_weight times."""
    from collections import Counter

    rng = random.Random(3)
    tricky = _tricky_strings(3000)
    rows = [
        (i, " ".join(rng.choices(tricky, k=4)), " ".join(rng.choices(tricky, k=30)))
        for i in range(600)
    ] + ROWS[:300]
    _small_chunks(monkeypatch)
    for workers in (1, 2):
        postings, _ = build_postings(
            rows, TOK, title_weight=2, workers=workers, expected_docs=len(rows)
        )
        terms = postings.terms()
        got: list[Counter[str]] = [Counter() for _ in rows]
        for tid, term in enumerate(terms):
            for at in range(int(postings.indptr[tid]), int(postings.indptr[tid + 1])):
                got[int(postings.docs[at])][term] = int(postings.tf[at])
        for doc, ((_, title, abstract), counts) in enumerate(zip(rows, got, strict=True)):
            expected = Counter(TOK.terms(abstract) + TOK.terms(title) * 2)
            assert counts == expected
            assert postings.doc_len[doc] == expected.total()
