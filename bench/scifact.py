"""SciFact (BEIR packaging) loading and the standard IR metrics, shared by the bench scripts.

Metrics follow BEIR/pytrec_eval: nDCG@k with graded gains and log2 discounts, Recall@k as the
share of a query's relevant documents found in the top k, averaged over queries.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "eval" / "scifact"
BEIR = SCIFACT / "beir"


def corpus_rows(path: Path = BEIR / "corpus.jsonl") -> Iterator[tuple[str, str, str]]:
    """``(_id, title, text)`` for every SciFact abstract."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            yield doc["_id"], doc.get("title", ""), doc["text"]


def queries(path: Path = BEIR / "queries.jsonl") -> dict[str, str]:
    with path.open(encoding="utf-8") as fh:
        return {q["_id"]: q["text"] for q in map(json.loads, fh)}


def qrels(split: str) -> dict[str, dict[str, int]]:
    """Relevance judgements of a split: ``train`` (for tuning) or ``test`` (for reporting)."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    with (BEIR / "qrels" / f"{split}.tsv").open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            out[qid][did] = int(score)
    return dict(out)


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(
        (2 ** relevant.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:k])
    )
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 100) -> float:
    rel = {d for d, g in relevant.items() if g > 0}
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def evaluate(
    run: Mapping[str, Sequence[str]], judged: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """Mean nDCG@10 and Recall@100 of a run over the judged queries."""
    n = len(judged)
    return {
        "ndcg@10": sum(ndcg_at(run.get(q, []), rel, 10) for q, rel in judged.items()) / n,
        "recall@100": sum(recall_at(run.get(q, []), rel, 100) for q, rel in judged.items()) / n,
    }


def scifact_run(tokenizer, params, split: str) -> dict[str, float]:
    """nDCG@10 and Recall@100 of the sparse engine over SciFact for one split's judged queries."""
    from datetime import UTC, datetime

    from retrieval.index import BM25Index, IndexMeta, build_postings

    rows = list(corpus_rows())
    ids = [r[0] for r in rows]
    postings, pks = build_postings(
        ((i, r[1], r[2]) for i, r in enumerate(rows)), tokenizer, title_weight=params.title_weight
    )
    meta = IndexMeta("scifact", 0, datetime.now(UTC), "bench")
    index = BM25Index(postings, pks, params, meta, engine="sparse")
    text = queries()
    judged = qrels(split)
    ranked = {
        q: [ids[p] for p, _ in index.search(tokenizer.query_terms(text[q]), 100)] for q in judged
    }
    return evaluate(ranked, judged)


def default_params():
    """The shipped BM25 settings (config defaults, tuned on train)."""
    from config import Settings
    from retrieval.index import BM25Params

    return BM25Params.from_settings(Settings())
