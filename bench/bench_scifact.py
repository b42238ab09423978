"""Retrieval quality on SciFact (BEIR), test split, with the shipped default settings.

Defaults were tuned on the train split by bench/tune_scifact.py; this script only reports.
Also prints two anchors measured the same way: untuned BM25 (k1=1.2, b=0.75, Okapi IDF, title
once) on our tokenizer, and a naive lower-cased whitespace split.

    python -m bench.bench_scifact
"""

from __future__ import annotations

import time

from bench.scifact import default_params, scifact_run
from retrieval.index import BM25Params
from retrieval.tokenize import Tokenizer, default_tokenizer


class _Whitespace(Tokenizer):
    """The naive anchor: lower-case, split on whitespace, nothing else."""

    def __init__(self) -> None:
        super().__init__(stopwords=(), stemmer=None, query_stopwords=())

    def words(self, text: str) -> list[str]:
        return text.split()

    def word_terms(self, raw: str) -> tuple[str, ...]:
        return (raw.lower(),)

    def terms(self, text: str) -> list[str]:
        return text.lower().split()

    query_terms = terms


def run(tokenizer: Tokenizer, params: BM25Params, split: str) -> dict[str, float]:
    return scifact_run(tokenizer, params, split)


def main() -> None:
    tuned = default_params()
    started = time.perf_counter()
    lines = [
        ("paperbot defaults " + str(tuned), default_tokenizer(), tuned),
        (
            "untuned BM25 (k1=1.2, b=0.75, okapi idf, title x1)",
            default_tokenizer(),
            BM25Params.untuned(),
        ),
        ("naive whitespace split, untuned", _Whitespace(), BM25Params.untuned()),
    ]
    for label, tokenizer, params in lines:
        test = run(tokenizer, params, "test")
        train = run(tokenizer, params, "train")
        print(
            f"{label}\n  test  nDCG@10 {test['ndcg@10']:.4f}  Recall@100 {test['recall@100']:.4f}"
            f"\n  train nDCG@10 {train['ndcg@10']:.4f}  Recall@100 {train['recall@100']:.4f}"
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
