"""Does dropping topic-less question words (which, paper, ...) from questions help?

The retrieval issue allows it "only if it measures better". Measured three ways, each with and
without: SciFact *train* nDCG@10 (claims, few question words), the bundled dev questions (expected
paper ranked first, MRR@10), and the composer's answered / declined rates on the bundled sets.

    python -m bench.bench_question_words
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.scifact import corpus_rows, evaluate, qrels, queries
from config import Settings
from retrieval.index import BM25Index, BM25Params, IndexMeta, build_postings
from retrieval.search import Library
from retrieval.stopwords import QUESTION_WORDS
from retrieval.tokenize import Tokenizer

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def main() -> None:
    settings = Settings()
    params = BM25Params(
        k1=settings.bm25_k1,
        b=settings.bm25_b,
        title_weight=settings.title_weight,
        idf=settings.bm25_idf,
    )
    rows = list(corpus_rows())
    ids = [r[0] for r in rows]
    dev, off = _jsonl("dev_questions.jsonl"), _jsonl("offtopic_questions.jsonl")
    for drop in (False, True):
        tok = Tokenizer(query_stopwords=QUESTION_WORDS if drop else ())
        postings, pks = build_postings(
            ((i, r[1], r[2]) for i, r in enumerate(rows)), tok, title_weight=params.title_weight
        )
        index = BM25Index(
            postings, pks, params, IndexMeta("s", 0, datetime.now(UTC), "b"), engine="sparse"
        )
        text, train = queries(), qrels("train")
        run = {q: [ids[p] for p, _ in index.search(tok.query_terms(text[q]), 100)] for q in train}
        scifact = evaluate(run, train)["ndcg@10"]
        with tempfile.TemporaryDirectory() as tmp:
            library = Library.open(Settings(db_path=Path(tmp) / "s.db"))
            library.tokenizer = tok
            first = mrr = 0.0
            for q in dev:
                hits = [h.id for h in library.search(q["question"], k=10)]
                ranks = [i for i, h in enumerate(hits) if h in set(q["expected_ids"])]
                first += bool(ranks) and ranks[0] == 0
                mrr += 1 / (ranks[0] + 1) if ranks else 0.0
            answered = sum(library.ask(q["question"]).answered for q in dev)
            declined = sum(not library.ask(q["question"]).answered for q in off)
        label = "dropped" if drop else "kept   "
        print(
            f"question words {label}: SciFact train nDCG@10 {scifact:.4f} | bundled dev "
            f"top-1 {first:.0f}/{len(dev)}, MRR@10 {mrr / len(dev):.3f} | answered "
            f"{answered}/{len(dev)}, off-topic declined {declined}/{len(off)}"
        )


if __name__ == "__main__":
    main()
