"""Answer-composer quality and speed on SciFact (``shared/eval/scifact``).

Everything runs through the real stack with the shipped defaults: a store of the SciFact BEIR
corpus (ids are BEIR ``_id``s, titles are titles), ``Library.open(Settings(db_path=...))``, and
its index as the composer's corpus statistics. The BEIR text of an abstract is exactly its gold
sentences (``original/corpus.jsonl``) joined by one space, so every gold rationale sentence has
known offsets; a quote "hits" when its span overlaps a gold rationale sentence. The composer
segments the text itself (our segmenter, not the gold one).

    python bench/bench_compose.py select --split dev     # gold paper given: top-1/2, baselines
    python bench/bench_compose.py fit                    # a claims_train-only fit (comparison)
    python bench/bench_compose.py e2e --split dev        # Library.ask, then the quotes shown
    python bench/bench_compose.py tune --split train     # composer knobs (train only)
    python bench/bench_compose.py bundled                # own dev / off-topic questions, 50 papers
    python bench/bench_compose.py timing --docs 100000   # ms per compose() on a synthetic store

Tuning and fitting refuse any split but ``train``; dev is only reported.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config import Settings  # noqa: E402
from retrieval.answer.compose import DEFAULT_COMPOSE, ComposeParams, compose  # noqa: E402
from retrieval.answer.evidence import (  # noqa: E402
    FEATURES,
    MODEL_PATH,
    SelectionParams,
    SentenceModel,
    query_weights,
    score_sentences,
    sentence_features,
)
from retrieval.answer.sentences import split_sentences  # noqa: E402
from retrieval.index import BM25Index  # noqa: E402
from retrieval.papers import Paper  # noqa: E402
from retrieval.search import Library  # noqa: E402
from retrieval.store import PaperStore  # noqa: E402
from retrieval.tokenize import default_tokenizer  # noqa: E402

SCIFACT = REPO.parent / "shared" / "eval" / "scifact"
DATA = REPO / "tests" / "data"
OUT = REPO / "bench" / "out"
Span = tuple[int, int]


# --------------------------------------------------------------------------------- data
def scifact_library() -> Library:
    """The SciFact BEIR corpus in a real store, opened with the default settings."""
    path = OUT / "scifact-beir.db"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        store = PaperStore(path)
        with (SCIFACT / "beir" / "corpus.jsonl").open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        store.upsert(
            Paper(id=r["_id"], title=r["title"], abstract=r["text"], source="scifact") for r in rows
        )
        store.close()
    return Library.open(Settings(db_path=path), seed=False)


def gold_sentence_spans() -> dict[str, list[Span]]:
    """BEIR id -> offsets of each gold sentence in the BEIR text."""
    out: dict[str, list[Span]] = {}
    with (SCIFACT / "original" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            spans, offset = [], 0
            for sentence in raw["abstract"]:
                sentence = sentence.strip()
                spans.append((offset, offset + len(sentence)))
                offset += len(sentence) + 1
            out[str(raw["doc_id"])] = spans
    return out


def load_claims(split: str) -> list[dict]:
    """Claims with evidence (the ones the issue's numbers are about)."""
    with (SCIFACT / "original" / f"claims_{split}.jsonl").open(encoding="utf-8") as handle:
        return [c for c in map(json.loads, handle) if c["evidence"]]


def rationales(evidence: dict, gold: dict[str, list[Span]]) -> dict[str, list[Span]]:
    return {
        doc_id: [gold[doc_id][i] for i in sorted({i for ev in evs for i in ev["sentences"]})]
        for doc_id, evs in evidence.items()
    }


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@dataclass
class Pair:
    """A claim and one of its gold papers (the selection task)."""

    claim_id: int
    claim: str
    paper: Paper
    sentences: list[Span]  # gold segmentation
    gold: list[Span]


def select_pairs(library: Library, split: str) -> list[Pair]:
    gold = gold_sentence_spans()
    pairs = []
    for claim in load_claims(split):
        for doc_id, spans in rationales(claim["evidence"], gold).items():
            paper = library.paper(doc_id)
            if paper is not None:
                pairs.append(Pair(claim["id"], claim["claim"], paper, gold[doc_id], spans))
    return pairs


# --------------------------------------------------------------------------------- selection
Ranker = Callable[[Pair], list[Span]]


def hit_rates(pairs: Sequence[Pair], ranker: Ranker) -> tuple[float, float]:
    top1 = top2 = 0
    for pair in pairs:
        ranked = ranker(pair)
        top1 += bool(ranked) and any(overlaps(ranked[0], g) for g in pair.gold)
        top2 += any(overlaps(r, g) for r in ranked[:2] for g in pair.gold)
    return top1 / len(pairs), top2 / len(pairs)


def bm25_ranker(index: BM25Index, *, b: float, k1: float = 1.2) -> Ranker:
    """Plain BM25 over the gold sentences as documents: index IDF, avgdl of the abstract."""
    tok = default_tokenizer()

    def rank(pair: Pair) -> list[Span]:
        terms = [tok.terms(pair.paper.abstract[a:e]) for a, e in pair.sentences]
        avg = statistics.mean(len(t) for t in terms) or 1.0
        query = set(tok.query_terms(pair.claim))
        scores = []
        for i, ts in enumerate(terms):
            s = 0.0
            for t in query:
                tf = ts.count(t)
                if tf:
                    s += index.idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(ts) / avg))
            scores.append((-s, i))
        return [pair.sentences[i] for _, i in sorted(scores)]

    return rank


def our_ranker(index: BM25Index, params: SelectionParams | None = None) -> Ranker:
    params = params or SelectionParams()
    tok = default_tokenizer()

    def rank(pair: Pair) -> list[Span]:
        query = query_weights(pair.claim, index, tok)
        scored = score_sentences(pair.paper.abstract, pair.paper.title, query, tok, params)
        return [(s.start, s.end) for s in sorted(scored, key=lambda s: (-s.score, s.index))]

    return rank


def expected_random(pairs: Sequence[Pair]) -> tuple[float, float]:
    """Expected hit rates of a uniformly random order (no sampling noise)."""
    t1 = t2 = 0.0
    for pair in pairs:
        n, g = (
            len(pair.sentences),
            sum(any(overlaps(s, x) for x in pair.gold) for s in pair.sentences),
        )
        t1 += g / n
        t2 += 1 - ((n - g) / n) * ((n - g - 1) / (n - 1)) if n > 1 else g / n
    return t1 / len(pairs), t2 / len(pairs)


def first_quote_rate(pairs: Sequence[Pair], index: BM25Index) -> tuple[float, float]:
    """What the reader sees: the composer's first quote / any quote, gold paper given (the
    no-answer rule is switched off: this measures selection, not declining)."""
    tok = default_tokenizer()
    params = replace(
        DEFAULT_COMPOSE, min_coverage=0.0, min_total_coverage=0.0, single_concept_coverage=0.0
    )
    first = anyq = 0
    for pair in pairs:
        answer = compose(pair.claim, [(pair.paper, 1.0)], index, tok, max_papers=1, params=params)
        quotes = answer.papers[0].quotes if answer.answered else ()
        first += bool(quotes) and any(
            overlaps((quotes[0].start, quotes[0].end), g) for g in pair.gold
        )
        anyq += any(overlaps((q.start, q.end), g) for q in quotes for g in pair.gold)
    return first / len(pairs), anyq / len(pairs)


def cmd_select(args: argparse.Namespace) -> None:
    library = scifact_library()
    index = library.index()
    pairs = select_pairs(library, args.split)
    print(f"split={args.split} claim/paper pairs={len(pairs)} index={index.params}")
    rows = {
        "bm25 sentences k1=1.2 b=0.75": hit_rates(pairs, bm25_ranker(index, b=0.75)),
        "bm25 sentences k1=1.2 b=0": hit_rates(pairs, bm25_ranker(index, b=0.0)),
        "last sentence": hit_rates(pairs, lambda p: list(reversed(p.sentences))),
        "random (expected)": expected_random(pairs),
        "ours: top sentences": hit_rates(pairs, our_ranker(index)),
        "ours: composer quotes (1st/any)": first_quote_rate(pairs, index),
    }
    for name, (t1, t2) in rows.items():
        print(f"{name:34s} top1={t1:.3f} top2={t2:.3f}")


# --------------------------------------------------------------------------------- fitting
@dataclass
class Groups:
    """Feature rows of many abstracts, stacked, with the gold labels."""

    x: np.ndarray
    y: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    group: np.ndarray
    claims: np.ndarray

    @classmethod
    def of(cls, items: Sequence[tuple[int, np.ndarray, np.ndarray]]) -> Groups:
        items = [it for it in items if it[2].any()]
        sizes = np.array([len(it[2]) for it in items])
        return cls(
            x=np.vstack([it[1] for it in items]),
            y=np.concatenate([it[2] for it in items]),
            offsets=np.concatenate([[0], np.cumsum(sizes)[:-1]]),
            sizes=sizes,
            group=np.repeat(np.arange(len(items)), sizes),
            claims=np.array([it[0] for it in items]),
        )


def feature_items(pairs: Sequence[Pair], index: BM25Index):
    tok = default_tokenizer()
    items = []
    for pair in pairs:
        query = query_weights(pair.claim, index, tok)
        rows, data = sentence_features(pair.paper.abstract, pair.paper.title, query, tok)
        y = np.array([any(overlaps(s, g) for g in pair.gold) for s in data.spans], dtype=bool)
        items.append((pair.claim_id, np.asarray(rows, dtype=np.float64), y))
    return items


def fit_model(
    data: Groups, *, hidden: int, l2: float, iters: int, seeds: Sequence[int]
) -> SentenceModel:
    """Listwise fit: softmax over each abstract's sentences, maximise the gold sentences' mass.

    Adam on standardised features; the result folds the scaling back into the weights. Several
    seeds are averaged (concatenated hidden units, averaged linear part).
    """
    mu = data.x.mean(0)
    sd = data.x.std(0) + 1e-9
    xs = (data.x - mu) / sd
    n_groups = len(data.sizes)
    n_features = xs.shape[1]
    members = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        params = [
            rng.normal(0, 0.3, (n_features, hidden)),
            np.zeros(hidden),
            rng.normal(0, 0.3, hidden),
            np.zeros(n_features),
        ]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        for step in range(1, iters + 1):
            w1, b1, w2, wl = params
            h = np.tanh(xs @ w1 + b1) if hidden else np.zeros((len(xs), 0))
            s = h @ w2 + xs @ wl
            top = np.maximum.reduceat(s, data.offsets)
            e = np.exp(s - top[data.group])
            p = e / np.add.reduceat(e, data.offsets)[data.group]
            gold_mass = np.add.reduceat(p * data.y, data.offsets)
            q = np.where(data.y, p / gold_mass[data.group], 0.0)
            ds = (p - q) / n_groups
            dh = np.outer(ds, w2) * (1 - h**2)
            grads = [xs.T @ dh + l2 * w1, dh.sum(0), h.T @ ds + l2 * w2, xs.T @ ds + l2 * wl]
            for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
                m[i] = 0.9 * m[i] + 0.1 * grad
                v[i] = 0.999 * v[i] + 0.001 * grad * grad
                m_hat = m[i] / (1 - 0.9**step)
                v_hat = v[i] / (1 - 0.999**step)
                param -= 0.05 * m_hat / (np.sqrt(v_hat) + 1e-8)
        members.append(params)
    k = len(members)
    w1 = np.hstack([p[0] for p in members]) / sd[:, None]
    b1 = np.concatenate([p[1] for p in members]) - (mu / sd) @ np.hstack([p[0] for p in members])
    w2 = np.concatenate([p[2] for p in members]) / k
    wl = sum(p[3] for p in members) / k / sd
    return SentenceModel(FEATURES, wl, w1, b1, w2)


def group_hits(data: Groups, model: SentenceModel) -> np.ndarray:
    s = model.score(data.x)
    out = np.zeros(2)
    for offset, size in zip(data.offsets, data.sizes, strict=True):
        order = np.lexsort((np.arange(size), -s[offset : offset + size]))
        y = data.y[offset : offset + size]
        out += (y[order[0]], y[order[:2]].any())
    return out


def cross_validate(items, folds: int = 5, fold_seeds=(0, 1, 2), **fit) -> np.ndarray:
    """Mean top-1 / top-2 over folds grouped by claim (no claim on both sides)."""
    claims = sorted({it[0] for it in items})
    total = np.zeros(2)
    for fold_seed in fold_seeds:
        order = list(claims)
        np.random.default_rng(fold_seed).shuffle(order)
        fold = {c: i % folds for i, c in enumerate(order)}
        for f in range(folds):
            train = Groups.of([it for it in items if fold[it[0]] != f])
            test = [it for it in items if fold[it[0]] == f]
            total += group_hits(Groups.of(test), fit_model(train, **fit))
    return total / (len(items) * len(fold_seeds))


def cmd_fit(args: argparse.Namespace) -> None:
    """Fit the sentence model on claims_train alone (a comparison point: the shipped model is
    fitted on our question set's train split plus claims_train by ``bench.bench_answers fit``);
    written only with ``--write``."""
    library = scifact_library()
    index = library.index()
    items = feature_items(select_pairs(library, "train"), index)
    print(f"train pairs={len(items)} features={len(FEATURES)}")
    choices = [
        {"hidden": 0, "l2": 0.1, "iters": 400, "seeds": (0,)},
        {"hidden": 16, "l2": 0.01, "iters": 300, "seeds": (0,)},
        {"hidden": 16, "l2": 0.01, "iters": 300, "seeds": (0, 1, 2)},
    ]
    if args.quick:
        choices = choices[-1:]
    best = None
    for choice in choices:
        t1, t2 = cross_validate(items, **choice)
        print(f"  CV on train {choice}: top1={t1:.3f} top2={t2:.3f}")
        if best is None or t1 + 0.5 * t2 > best[0]:
            best = (t1 + 0.5 * t2, choice)
    model = fit_model(Groups.of(items), **best[1])
    t1, t2 = group_hits(Groups.of(items), model) / len(items)
    print(f"chosen {best[1]}; in-sample train top1={t1:.3f} top2={t2:.3f}")
    if getattr(args, "write", False):
        MODEL_PATH.write_text(json.dumps(model.to_dict()) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH.relative_to(REPO)}")


# --------------------------------------------------------------------------------- end to end
@dataclass
class Case:
    claim: str
    candidates: list[tuple[Paper, float]]
    gold: dict[str, list[Span]]


def e2e_cases(library: Library, split: str) -> list[Case]:
    """Each claim's top-10 candidates exactly as ``Library.ask`` gets them."""
    gold = gold_sentence_spans()
    cases = []
    for claim in load_claims(split):
        candidates = library.candidates(claim["claim"]).papers
        cases.append(Case(claim["claim"], candidates, rationales(claim["evidence"], gold)))
    return cases


def shown_hit(answer, gold: dict[str, list[Span]]) -> bool:
    return any(
        paper.id in gold and any(overlaps((q.start, q.end), g) for g in gold[paper.id])
        for paper in answer.papers
        for q in paper.quotes
    )


def e2e_score(
    library: Library, cases: Sequence[Case], params: ComposeParams = DEFAULT_COMPOSE
) -> dict[str, float]:
    index = library.index()
    tok = library.tokenizer
    hit = answered = quotes = 0
    for case in cases:
        answer = compose(
            case.claim,
            case.candidates,
            index,
            tok,
            max_papers=library.max_answer_papers,
            params=params,
        )
        hit += shown_hit(answer, case.gold)
        answered += answer.answered
        quotes += sum(len(p.quotes) for p in answer.papers)
    n = len(cases)
    return {"hit": hit / n, "answered": answered / n, "quotes": quotes / n}


def pooled_baseline(library: Library, cases: Sequence[Case]) -> float:
    """Pool the gold-segmented sentences of the top-3 papers, keep the 3 best by BM25."""
    index = library.index()
    tok = library.tokenizer
    gold_spans = gold_sentence_spans()
    hit = 0
    for case in cases:
        query = set(tok.query_terms(case.claim))
        pool = []
        for paper, _ in case.candidates[:3]:
            spans = gold_spans.get(paper.id) or split_sentences(paper.abstract)
            terms = [tok.terms(paper.abstract[a:b]) for a, b in spans]
            avg = statistics.mean(len(t) for t in terms) or 1.0
            for span, ts in zip(spans, terms, strict=True):
                s = sum(
                    index.idf(t)
                    * ts.count(t)
                    * 2.2
                    / (ts.count(t) + 1.2 * (0.25 + 0.75 * len(ts) / avg))
                    for t in query
                    if t in ts
                )
                pool.append((s, paper.id, span))
        pool.sort(key=lambda x: -x[0])
        hit += any(
            d in case.gold and any(overlaps(s, g) for g in case.gold[d]) for _, d, s in pool[:3]
        )
    return hit / len(cases)


def cmd_e2e(args: argparse.Namespace) -> None:
    library = scifact_library()
    gold = gold_sentence_spans()
    claims = load_claims(args.split)
    hit = answered = 0
    quotes = papers = 0
    for claim in claims:
        answer = library.ask(claim["claim"])  # exactly what the bot and the CLI call
        hit += shown_hit(answer, rationales(claim["evidence"], gold))
        answered += answer.answered
        papers += len(answer.papers) if answer.answered else 0
        quotes += sum(len(p.quotes) for p in answer.papers)
    n = len(claims)
    cases = e2e_cases(library, args.split)
    in_top10 = sum(any(p.id in c.gold for p, _ in c.candidates) for c in cases) / n
    print(f"split={args.split} claims with evidence={n} index={library.index().params}")
    print(
        f"Library.ask: gold rationale among quotes shown={hit / n:.3f} answered={answered / n:.3f} "
        f"papers/answer={papers / max(answered, 1):.2f} quotes/claim={quotes / n:.2f}"
    )
    print(f"gold paper among the 10 candidates={in_top10:.3f}")
    print(
        "baseline pooled top-3 BM25 sentences of the top-3 papers="
        f"{pooled_baseline(library, cases):.3f}"
    )


def cmd_tune(args: argparse.Namespace) -> None:
    """Grid over the composer's knobs on train claims (dev is never read here)."""
    if args.split != "train":
        raise SystemExit("tune on train only")
    library = scifact_library()
    cases = e2e_cases(library, "train")
    print("current", e2e_score(library, cases))
    grid = {
        "keep_ratio": [0.0, 0.5, 0.7],
        "second_quote_margin": [0.5, 1.0, 2.0],
        "min_coverage": [0.3, 0.4, 0.5],
        "single_concept_coverage": [0.6, 0.7],
    }
    results = []
    for values in itertools.product(*grid.values()):
        change = dict(zip(grid, values, strict=True))
        scores = e2e_score(library, cases, replace(DEFAULT_COMPOSE, **change))
        results.append((scores["hit"], scores, change))
    for hit, scores, change in sorted(results, key=lambda r: -r[0])[:15]:
        print(
            f"hit={hit:.3f} answered={scores['answered']:.3f} "
            f"quotes={scores['quotes']:.2f} {change}"
        )


# --------------------------------------------------------------------------------- bundled
def bundled_library(root: Path) -> Library:
    """The 50 bundled papers in a fresh store, default settings (what a new install serves)."""
    return Library.open(Settings(db_path=root / "bundled.db"))


def cmd_bundled(args: argparse.Namespace) -> None:
    dev = [json.loads(line) for line in (DATA / "dev_questions.jsonl").open(encoding="utf-8")]
    off = [json.loads(line) for line in (DATA / "offtopic_questions.jsonl").open(encoding="utf-8")]
    with tempfile.TemporaryDirectory() as tmp:
        library = bundled_library(Path(tmp))
        answered = first = among = 0
        for item in dev:
            answer = library.ask(item["question"])
            ids = [p.id for p in answer.papers]
            ok = answer.answered and ids[:1] and ids[0] in item["expected_ids"]
            answered += answer.answered
            first += bool(ok)
            among += answer.answered and any(i in item["expected_ids"] for i in ids)
            if args.verbose or not answer.answered:
                print(
                    f"DEV {'answered' if answer.answered else 'DECLINED'} {'ok ' if ok else 'xx '}"
                    f"{item['question']!r} -> "
                    f"{answer.papers[0].title[:50] if answer.papers else '-'}"
                )
        declined = 0
        for item in off:
            answer = library.ask(item["question"])
            declined += not answer.answered
            if args.verbose or answer.answered:
                print(
                    f"OFF {'declined' if not answer.answered else 'ANSWERED'} {item['question']!r}"
                    f" -> {answer.papers[0].title[:50] if answer.papers else '-'}"
                )
        library.store.close()
    print(
        f"dev questions={len(dev)} answered={answered / len(dev):.3f} "
        f"expected paper first={first / len(dev):.3f} among shown={among / len(dev):.3f}"
    )
    print(f"off-topic questions={len(off)} declined={declined / len(off):.3f}")


# --------------------------------------------------------------------------------- timing
def cmd_timing(args: argparse.Namespace) -> None:
    """compose() per query on a synthetic collection, candidates as Library.ask gets them."""
    from bench.synth import ensure_store
    from retrieval.answer.sentences import _split_cached

    path = OUT / f"synthetic-{args.docs}.db"
    library = Library(ensure_store(path, args.docs))
    index = library.index()
    tok = library.tokenizer
    prepared = []
    for claim in load_claims("dev"):
        prepared.append((claim["claim"], library.candidates(claim["claim"]).papers))
    times = []
    for _ in range(args.repeat):
        for question, candidates in prepared:
            _split_cached.cache_clear()  # cold: segment every candidate again
            began = time.perf_counter()
            compose(question, candidates, index, tok, paper_count=index.n_docs)
            times.append((time.perf_counter() - began) * 1000)
    times.sort()
    print(
        f"compose() over top-10 candidates, cold sentence cache, {len(times)} calls "
        f"({len(prepared)} SciFact dev claims x {args.repeat}); index {index.n_docs} docs"
    )
    print(
        f"median={statistics.median(times):.2f} ms p95={times[int(len(times) * 0.95)]:.2f} ms "
        f"max={times[-1]:.2f} ms mean={statistics.mean(times):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("select")
    p.add_argument("--split", default="dev")
    p = sub.add_parser("fit")
    p.add_argument("--quick", action="store_true", help="only the chosen configuration")
    p.add_argument("--write", action="store_true", help="replace the shipped sentence model")
    p = sub.add_parser("e2e")
    p.add_argument("--split", default="dev")
    p = sub.add_parser("tune")
    p.add_argument("--split", default="train")
    p = sub.add_parser("bundled")
    p.add_argument("--verbose", action="store_true")
    p = sub.add_parser("timing")
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    {
        "select": cmd_select,
        "fit": cmd_fit,
        "e2e": cmd_e2e,
        "tune": cmd_tune,
        "bundled": cmd_bundled,
        "timing": cmd_timing,
    }[args.cmd](args)


if __name__ == "__main__":
    main()
