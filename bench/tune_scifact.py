"""Grid search of BM25 settings on SciFact *train* queries only (qrels/train.tsv).

The test split is never read here: tuning on it would make the reported nDCG@10 worthless.
Prints the best configurations; the winner becomes the defaults in config/settings.py.

    python -m bench.tune_scifact
"""

from __future__ import annotations

import argparse
import itertools
from datetime import UTC, datetime

from bench.scifact import corpus_rows, evaluate, qrels, queries
from retrieval.index import BM25Index, BM25Params, IndexMeta, build_postings
from retrieval.stopwords import QUESTION_WORDS
from retrieval.tokenize import Tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    rows = list(corpus_rows())
    ids = [r[0] for r in rows]
    qtext = queries()
    train = qrels("train")
    results = []
    for qwords in (True, False):
        tok = Tokenizer(query_stopwords=QUESTION_WORDS if qwords else ())
        qterms = {q: tok.query_terms(qtext[q]) for q in train}
        for tw in (0, 1, 2, 3):
            postings, pks = build_postings(
                ((i, r[1], r[2]) for i, r in enumerate(rows)), tok, title_weight=tw
            )
            meta = IndexMeta("scifact", 0, datetime.now(UTC), tok.signature)
            grid = itertools.product(
                ("okapi", "lucene", "atire"),
                (0.6, 0.8, 0.9, 1.0, 1.2, 1.5, 1.8, 2.2),
                (0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0),
            )
            for idf, k1, b in grid:
                params = BM25Params(k1=k1, b=b, title_weight=tw, idf=idf)  # type: ignore[arg-type]
                index = BM25Index(postings, pks, params, meta, engine="sparse")
                run = {q: [ids[p] for p, _ in index.search(t, 100)] for q, t in qterms.items()}
                scores = evaluate(run, train)
                results.append((scores["ndcg@10"], scores["recall@100"], qwords, params))
        print(f"done question-words={qwords}", flush=True)
    results.sort(key=lambda r: r[0], reverse=True)
    for ndcg, recall, qwords, params in results[: args.top]:
        print(f"train nDCG@10={ndcg:.4f} R@100={recall:.4f} qwords={qwords} {params}")


if __name__ == "__main__":
    main()
