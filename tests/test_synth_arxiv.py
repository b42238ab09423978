"""The synthetic arXiv generator of bench/synth_arxiv.py: deterministic, prefix-stable, and
shaped as the scale benchmark assumes (title and abstract lengths, sentences, the long tail)."""

from __future__ import annotations

import numpy as np
import pytest

from bench import synth_arxiv
from bench.synth_arxiv import (
    ABSTRACT_WORDS,
    BLOCK,
    TITLE_WORDS,
    Generator,
    TypeNames,
    paper_id,
    parse_size,
    size_label,
    synthetic_queries,
)
from tests.paths import require_shared


@pytest.fixture(scope="module")
def gen() -> Generator:
    require_shared()  # the word frequencies are SciFact's
    return synth_arxiv.generator()


def test_same_seed_same_papers_in_a_fresh_generator(gen: Generator) -> None:
    again = Generator(gen.seed)  # nothing cached shared with ``gen``
    assert again.block(1) == gen.block(1)
    assert Generator(gen.seed + 1).block(1) != gen.block(1)


def test_a_corpus_is_the_prefix_of_any_larger_one(gen: Generator) -> None:
    small = list(gen.texts(5, start=BLOCK - 2))  # across a block boundary
    large = list(gen.texts(BLOCK + 10))
    assert small == large[BLOCK - 2 : BLOCK + 3]
    assert [pid for pid, _, _ in small] == [paper_id(i) for i in range(BLOCK - 2, BLOCK + 3)]


def test_papers_have_the_lengths_and_sentences_the_benchmark_assumes(gen: Generator) -> None:
    rows = gen.block(0)
    assert len(rows) == BLOCK
    title_lens = [len(title.split()) for title, _ in rows]
    abstract_lens = [len(abstract.split()) for _, abstract in rows]
    assert (min(title_lens), max(title_lens)) == TITLE_WORDS
    assert (min(abstract_lens), max(abstract_lens)) == ABSTRACT_WORDS
    for title, abstract in rows[:200]:
        assert title[:1] == title[:1].upper() and not title.endswith((".", ","))
        assert abstract.endswith(".") and ",." not in abstract
        sentences = abstract.split(". ")
        assert 150 // 30 <= len(sentences) <= 200 // 8 + 1
        assert all(s[:1] == s[:1].upper() for s in sentences)


def test_tokens_mix_scifact_words_topics_and_a_long_tail(gen: Generator) -> None:
    words = [w.rstrip(".,") for _, abstract in gen.block(2)[:2000] for w in abstract.split()]
    scifact = set(gen.lexicon[: gen.n_scifact].tolist())
    share = sum(w in scifact or w.lower() in scifact for w in words) / len(words)
    assert 0.6 < share < 0.85  # 62% drawn from SciFact, plus topic words taken from SciFact
    assert len(set(words)) > 0.2 * len(words)  # the tail: many distinct types


def test_tail_types_are_a_function_of_their_id_alone(gen: Generator) -> None:
    ids = np.array([0, 1, 5, 123_456, 9_999_999, 5, 0], dtype=np.int64)
    names = gen._tail.names(ids)  # through the cache
    fresh = TypeNames(gen.lexicon[: gen.n_scifact].tolist(), gen.seed).make(ids)
    assert names.tolist() == fresh.tolist()
    assert names[0] == names[6] and names[2] == names[5]
    assert len(set(fresh.tolist())) == 5
    assert all(" " not in name and name for name in fresh.tolist())


def test_synthetic_queries_are_3_to_10_words_of_their_paper(gen: Generator) -> None:
    rows = gen.block(3)[:300]
    queries = synthetic_queries(rows)
    assert queries == synthetic_queries(rows)
    for (title, abstract), query in zip(rows, queries, strict=True):
        words = query.split()
        assert 3 <= len(words) <= 10
        assert len(set(words)) == len(words)
        assert all(w in f"{title} {abstract}" for w in words)


def test_sizes_parse_and_label() -> None:
    assert [parse_size(s) for s in ("100k", "1m", "2.5m", "200000", "1_000")] == [
        100_000,
        1_000_000,
        2_500_000,
        200_000,
        1_000,
    ]
    assert [size_label(n) for n in (100_000, 1_000_000, 2_500_000, 200_000)] == [
        "100k",
        "1m",
        "2.5m",
        "200k",
    ]
