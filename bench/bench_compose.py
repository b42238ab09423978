"""Answer-composer quality and speed on SciFact (``shared/eval/scifact/original``).

Abstracts are rebuilt as their stripped gold sentences joined by one space (exactly the BEIR
text), so every gold rationale sentence has known offsets; a quote "hits" when its span overlaps
a gold rationale sentence. The composer segments the text itself (our segmenter, not the gold).

    python bench/bench_compose.py select --split dev       # gold paper given: top-1 / top-2
    python bench/bench_compose.py select --split train --tune   # grid search (train only!)
    python bench/bench_compose.py e2e --split dev          # retriever (BM25 index) then composer
    python bench/bench_compose.py decline --split train    # calibrate the no-answer threshold
    python bench/bench_compose.py bundled                  # dev / off-topic questions, 50 papers
    python bench/bench_compose.py timing                   # ms per compose() call

Baselines (select): plain BM25 sentence scoring with the index's IDF, last sentence, random.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from retrieval.compose import (  # noqa: E402
    DEFAULT_COMPOSE,
    ComposeParams,
    _addresses,
    _analyse,
    compose,
)
from retrieval.index import BM25Index, BM25Params, IndexMeta, build_postings  # noqa: E402
from retrieval.papers import Paper  # noqa: E402
from retrieval.select import (  # noqa: E402
    DEFAULT_PARAMS,
    SelectionParams,
    query_weights,
    score_sentences,
)
from retrieval.sentences import split_sentences  # noqa: E402
from retrieval.tokenize import default_tokenizer  # noqa: E402

SCIFACT = REPO.parent / "shared" / "eval" / "scifact" / "original"
DATA = REPO / "tests" / "data"


@dataclass
class Doc:
    paper: Paper
    gold_spans: list[tuple[int, int]]  # gold sentence offsets in paper.abstract


def load_corpus() -> dict[int, Doc]:
    docs: dict[int, Doc] = {}
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            sentences = [s.strip() for s in raw["abstract"]]
            spans, offset = [], 0
            for s in sentences:
                spans.append((offset, offset + len(s)))
                offset += len(s) + 1
            text = " ".join(sentences)
            if not text.strip():
                continue
            paper = Paper(
                id=str(raw["doc_id"]), title=raw["title"].strip(), abstract=text, source="scifact"
            )
            docs[raw["doc_id"]] = Doc(paper, spans)
    return docs


def load_claims(split: str) -> list[dict]:
    with (SCIFACT / f"claims_{split}.jsonl").open(encoding="utf-8") as handle:
        return [c for c in map(json.loads, handle) if c["evidence"]]


def build_index(papers: list[Paper]) -> BM25Index:
    tok = default_tokenizer()
    postings, pks = build_postings(
        ((i, p.title, p.abstract) for i, p in enumerate(papers)), tok, expected_docs=len(papers)
    )
    meta = IndexMeta("bench", 1, datetime.now(), tok.signature)
    return BM25Index(postings, pks, BM25Params(), meta)


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def rationale_spans(doc: Doc, evidence: list[dict]) -> list[tuple[int, int]]:
    idx = {i for ev in evidence for i in ev["sentences"]}
    return [doc.gold_spans[i] for i in sorted(idx) if i < len(doc.gold_spans)]


# --------------------------------------------------------------------------------- selection
def rank_ours(
    doc: Doc, claim: str, index: BM25Index, params: SelectionParams
) -> list[tuple[int, int]]:
    tok = default_tokenizer()
    query = query_weights(claim, index, tok)
    scored = score_sentences(doc.paper.abstract, doc.paper.title, query, tok, params)
    return [(s.start, s.end) for s in sorted(scored, key=lambda s: (-s.score, s.index))]


def rank_bm25(doc: Doc, claim: str, index: BM25Index, gold_seg: bool) -> list[tuple[int, int]]:
    """Plain BM25 over sentences: index IDF, k1=1.2, b=0.75, avg sentence length of the abstract."""
    tok = default_tokenizer()
    q = set(tok.query_terms(claim))
    spans = doc.gold_spans if gold_seg else split_sentences(doc.paper.abstract)
    terms = [tok.terms(doc.paper.abstract[a:b]) for a, b in spans]
    avg = statistics.mean(len(t) for t in terms) or 1.0
    scores = []
    for i, ts in enumerate(terms):
        s = 0.0
        for t in q:
            tf = ts.count(t)
            if tf:
                s += index.idf(t) * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(ts) / avg))
        scores.append((-s, i))
    return [spans[i] for _, i in sorted(scores)]


def select_pairs(split: str, docs: dict[int, Doc]) -> list[tuple[str, Doc, list[tuple[int, int]]]]:
    pairs = []
    for claim in load_claims(split):
        for doc_id, evidence in claim["evidence"].items():
            doc = docs.get(int(doc_id))
            if doc:
                pairs.append((claim["claim"], doc, rationale_spans(doc, evidence)))
    return pairs


def evaluate_ranking(pairs, ranker) -> tuple[float, float]:
    top1 = top2 = 0
    for claim, doc, gold in pairs:
        ranked = ranker(claim, doc)
        top1 += any(overlaps(ranked[0], g) for g in gold) if ranked else 0
        top2 += any(overlaps(r, g) for r in ranked[:2] for g in gold)
    return top1 / len(pairs), top2 / len(pairs)


def evaluate_quotes(pairs, index: BM25Index, params: ComposeParams) -> tuple[float, float, float]:
    """Hit rate of the composer's first quote / any shown quote, and mean sentences shown."""
    tok = default_tokenizer()
    first = anyq = 0
    shown = []
    for claim, doc, gold in pairs:
        answer = compose(
            claim,
            [(doc.paper, 1.0)],
            index,
            tok,
            max_papers=1,
            params=replace(params, min_coverage=0.0, single_concept_coverage=0.0),
        )
        quotes = answer.papers[0].quotes if answer.answered else ()
        if quotes:
            first += any(overlaps((quotes[0].start, quotes[0].end), g) for g in gold)
            anyq += any(overlaps((q.start, q.end), g) for q in quotes for g in gold)
        shown.append(sum(len(split_sentences(q.text)) for q in quotes))
    n = len(pairs)
    return first / n, anyq / n, statistics.mean(shown)


def cmd_select(args: argparse.Namespace) -> None:
    docs = load_corpus()
    index = build_index([d.paper for d in docs.values()])
    pairs = select_pairs(args.split, docs)
    print(f"split={args.split} claim/paper pairs={len(pairs)}")
    rng = random.Random(0)
    baselines = {
        "bm25 sentences (gold seg)": lambda c, d: rank_bm25(d, c, index, True),
        "bm25 sentences (our seg)": lambda c, d: rank_bm25(d, c, index, False),
        "last sentence": lambda c, d: list(reversed(d.gold_spans)),
        "random": lambda c, d: rng.sample(d.gold_spans, len(d.gold_spans)),
    }
    for name, ranker in baselines.items():
        t1, t2 = evaluate_ranking(pairs, ranker)
        print(f"{name:28s} top1={t1:.3f} top2={t2:.3f}")
    if args.tune:
        if args.split != "train":
            raise SystemExit("tune on train only")
        # Second-stage grid around the first stage's best (b=0.3, coverage 0, proximity 0,
        # title 0.6, neighbour 0.3, position 0.1 at the edge of its range).
        grid = {
            "b": [0.2, 0.3],
            "coverage_weight": [0.0, 0.2],
            "proximity_weight": [0.0, 0.1],
            "title_discount": [0.6],
            "neighbour_weight": [0.3, 0.5],
            "position_weight": [0.1, 0.2, 0.3],
        }
        best = None
        for values in itertools.product(*grid.values()):
            params = replace(DEFAULT_PARAMS, **dict(zip(grid, values, strict=True)))
            t1, t2 = evaluate_ranking(pairs, lambda c, d, p=params: rank_ours(d, c, index, p))
            key = (t1 + t2, t1)
            if best is None or key > best[0]:
                best = (key, params, t1, t2)
                print(
                    f"  better: top1={t1:.3f} top2={t2:.3f} {dict(zip(grid, values, strict=True))}"
                )
        print("best", best[1])
        return
    t1, t2 = evaluate_ranking(pairs, lambda c, d: rank_ours(d, c, index, DEFAULT_PARAMS))
    print(f"{'ours (ranking)':28s} top1={t1:.3f} top2={t2:.3f}")
    f, a, s = evaluate_quotes(pairs, index, DEFAULT_COMPOSE)
    print(
        f"{'ours (quotes shown)':28s} first quote={f:.3f} any quote={a:.3f} sentences shown={s:.2f}"
    )


# --------------------------------------------------------------------------------- end to end
def cmd_e2e(args: argparse.Namespace) -> None:
    docs = load_corpus()
    papers = [d.paper for d in docs.values()]
    by_pos = list(docs.values())
    index = build_index(papers)
    tok = default_tokenizer()
    claims = load_claims(args.split)
    hit = baseline = answered = 0
    quotes_shown = []
    for claim in claims:
        gold = {
            int(doc_id): rationale_spans(docs[int(doc_id)], ev)
            for doc_id, ev in claim["evidence"].items()
            if int(doc_id) in docs
        }
        results = index.search(tok.query_terms(claim["claim"]), args.k)
        candidates = [(by_pos[pos].paper, score) for pos, score in results]
        answer = compose(claim["claim"], candidates, index, tok, max_papers=3)
        answered += answer.answered
        shown = [(int(p.id), (q.start, q.end)) for p in answer.papers for q in p.quotes]
        quotes_shown.append(len(shown))
        hit += any(d in gold and any(overlaps(s, g) for g in gold[d]) for d, s in shown)
        # baseline: pool the sentences of the top-3 papers, keep the 3 best BM25 sentences
        pool = []
        for pos, _ in results[:3]:
            doc = by_pos[pos]
            ranked = rank_bm25(doc, claim["claim"], index, True)
            q = set(tok.query_terms(claim["claim"]))
            for span in ranked[:3]:
                ts = tok.terms(doc.paper.abstract[span[0] : span[1]])
                s = sum(index.idf(t) for t in q if t in ts)
                pool.append((s, int(doc.paper.id), span))
        pool.sort(key=lambda x: -x[0])
        baseline += any(d in gold and any(overlaps(s, g) for g in gold[d]) for _, d, s in pool[:3])
    n = len(claims)
    print(f"split={args.split} claims with evidence={n} candidates k={args.k}")
    print(
        f"composer: gold rationale among quotes shown={hit / n:.3f} answered={answered / n:.3f} "
        f"mean quotes shown={statistics.mean(quotes_shown):.2f}"
    )
    print(f"baseline pooled top-3 BM25 sentences (of top-3 papers)={baseline / n:.3f}")


# --------------------------------------------------------------------------------- decline
def decline_features(question: str, candidates, index, params: ComposeParams) -> list:
    tok = default_tokenizer()
    query = query_weights(question, index, tok)
    return [_analyse(p, s, query, tok, params) for p, s in candidates[: params.analysed_candidates]]


def _would_answer(analyses, query, params: ComposeParams) -> bool:
    return any(_addresses(a, query, params) for a in analyses)


def cmd_decline(args: argparse.Namespace) -> None:
    """Positives: the gold paper among the candidates. Negatives: the same claim with every
    gold paper removed from the candidates (nothing in the collection was cited for it).
    SciFact negatives are hard (same-topic papers remain), so this sets a conservative rule."""
    docs = load_corpus()
    by_pos = list(docs.values())
    index = build_index([d.paper for d in docs.values()])
    tok = default_tokenizer()
    pos, neg = [], []
    for claim in load_claims(args.split):
        gold = {int(d) for d in claim["evidence"]}
        query = query_weights(claim["claim"], index, tok)
        results = index.search(tok.query_terms(claim["claim"]), 20)
        cands = [(by_pos[p].paper, s) for p, s in results]
        gold_cands = [c for c in cands if int(c[0].id) in gold]
        if gold_cands:
            pos.append(
                (query, decline_features(claim["claim"], gold_cands, index, DEFAULT_COMPOSE))
            )
        without = [c for c in cands if int(c[0].id) not in gold]
        neg.append((query, decline_features(claim["claim"], without, index, DEFAULT_COMPOSE)))
    print(f"split={args.split} positives={len(pos)} negatives={len(neg)}")
    for min_cov in [x / 20 for x in range(6, 19)]:
        for single in (0.6, 0.7, 0.8, 0.9):
            params = replace(DEFAULT_COMPOSE, min_coverage=min_cov, single_concept_coverage=single)
            tp = sum(_would_answer(a, q, params) for q, a in pos) / len(pos)
            tn = sum(not _would_answer(a, q, params) for q, a in neg) / len(neg)
            print(
                f"min_coverage={min_cov:.2f} single={single:.1f} answered(gold)={tp:.3f} "
                f"declined(no gold)={tn:.3f} balanced={(tp + tn) / 2:.3f}"
            )


# --------------------------------------------------------------------------------- bundled
def bundled_library():
    from retrieval.loaders import bundled_papers

    papers = bundled_papers()
    return papers, build_index(papers)


def cmd_bundled(args: argparse.Namespace) -> None:
    papers, index = bundled_library()
    tok = default_tokenizer()

    def ask(question: str):
        results = index.search(tok.query_terms(question), 10)
        return compose(question, [(papers[p], s) for p, s in results], index, tok)

    dev = [json.loads(line) for line in (DATA / "dev_questions.jsonl").open(encoding="utf-8")]
    off = [json.loads(line) for line in (DATA / "offtopic_questions.jsonl").open(encoding="utf-8")]
    answered = correct_first = correct_any = 0
    for item in dev:
        answer = ask(item["question"])
        ids = [p.id for p in answer.papers]
        answered += answer.answered
        ok_first = answer.answered and ids[:1] and ids[0] in item["expected_ids"]
        correct_first += bool(ok_first)
        correct_any += answer.answered and any(i in item["expected_ids"] for i in ids)
        if args.verbose or not answer.answered:
            print(
                f"DEV {'answered' if answer.answered else 'DECLINED'} "
                f"{'ok ' if ok_first else 'xx '}"
                f"{item['question']!r} -> {answer.papers[0].title[:50] if answer.papers else '-'}"
            )
    declined = 0
    for item in off:
        answer = ask(item["question"])
        declined += not answer.answered
        if args.verbose or answer.answered:
            print(
                f"OFF {'declined' if not answer.answered else 'ANSWERED'} {item['question']!r} -> "
                f"{answer.papers[0].title[:50] if answer.papers else '-'}"
            )
    print(
        f"dev questions={len(dev)} answered={answered / len(dev):.3f} "
        f"expected paper first={correct_first / len(dev):.3f} "
        f"expected paper among shown={correct_any / len(dev):.3f}"
    )
    print(f"off-topic questions={len(off)} declined={declined / len(off):.3f}")


# --------------------------------------------------------------------------------- timing
def cmd_timing(args: argparse.Namespace) -> None:
    docs = load_corpus()
    by_pos = list(docs.values())
    index = build_index([d.paper for d in docs.values()])
    tok = default_tokenizer()
    claims = load_claims("dev") + load_claims("train")
    prepared = []
    for claim in claims[: args.n]:
        results = index.search(tok.query_terms(claim["claim"]), 10)
        prepared.append((claim["claim"], [(by_pos[p].paper, s) for p, s in results]))
    split_sentences.__wrapped__ if hasattr(split_sentences, "__wrapped__") else None
    from retrieval.sentences import _split_cached

    times = []
    for question, cands in prepared:
        _split_cached.cache_clear()  # cold: segment every candidate again
        began = time.perf_counter()
        compose(question, cands, index, tok)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    print(
        f"compose() over top-10 candidates, cold sentence cache, n={len(times)} "
        f"(index {index.n_docs} docs, {len(index.postings.vocab)} terms)"
    )
    print(
        f"median={times[len(times) // 2]:.2f} ms p95={times[int(len(times) * 0.95)]:.2f} ms "
        f"max={times[-1]:.2f} ms mean={statistics.mean(times):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("select")
    p.add_argument("--split", default="dev")
    p.add_argument("--tune", action="store_true")
    p = sub.add_parser("e2e")
    p.add_argument("--split", default="dev")
    p.add_argument("--k", type=int, default=10)
    p = sub.add_parser("decline")
    p.add_argument("--split", default="train")
    p = sub.add_parser("bundled")
    p.add_argument("--verbose", action="store_true")
    p = sub.add_parser("timing")
    p.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    {
        "select": cmd_select,
        "e2e": cmd_e2e,
        "decline": cmd_decline,
        "bundled": cmd_bundled,
        "timing": cmd_timing,
    }[args.cmd](args)


if __name__ == "__main__":
    math.log(1)
    main()
