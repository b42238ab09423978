"""Answer quality in paperbot's own field: our question set over 100k arXiv CS abstracts.

The question set (``bench/data/arxiv_questions/``, see its README) has on-topic questions, each
with its paper and the abstract sentence(s) that answer, and off-topic questions no paper in the
corpus answers; every question is in a train, dev or test split (by paper). Everything runs
through the real stack: a store of ``shared/eval/arxiv-cs/papers.jsonl.gz`` and
``Library.open(Settings(db_path=...))`` with the shipped defaults.

    python -m bench.bench_answers e2e --split dev       # Library.ask end to end at 100k
    python -m bench.bench_answers gold --split dev      # gold paper given: top sentence / top two
    python -m bench.bench_answers fit                   # fit the sentence model (train splits)

A quote "contains the answer" when its shown text and a gold sentence overlap by at least half of
the shorter of the two (a quote trimmed to the answering clause counts; a neighbour does not).
Choices are made on train and dev; ``--split test`` is for the final report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config import Settings  # noqa: E402
from retrieval.answer.compose import DEFAULT_COMPOSE, Answer, compose  # noqa: E402
from retrieval.answer.evidence import (  # noqa: E402
    FEATURES,
    MODEL_PATH,
    query_weights,
    score_sentences,
    sentence_features,
)
from retrieval.loaders import open_source  # noqa: E402
from retrieval.papers import Paper  # noqa: E402
from retrieval.search import Library  # noqa: E402
from retrieval.store import PaperStore  # noqa: E402

ARXIV = REPO.parent / "shared" / "eval" / "arxiv-cs" / "papers.jsonl.gz"
QUESTIONS = REPO / "bench" / "data" / "arxiv_questions" / "questions.jsonl"
OUT = REPO / "bench" / "out"
Span = tuple[int, int]
KINDS = ("definition", "method", "quantity", "paper-finding", "problem")


@dataclass(frozen=True)
class Question:
    qid: str
    split: str
    kind: str
    text: str
    paper_id: str | None
    gold: tuple[Span, ...]


def load_questions(split: str | None = None) -> list[Question]:
    out = []
    with QUESTIONS.open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            if split not in (None, "all") and raw["split"] not in split.split("+"):
                continue
            gold = tuple((a["start"], a["end"]) for a in raw["answers"])
            out.append(
                Question(
                    raw["qid"], raw["split"], raw["type"], raw["question"], raw["paper_id"], gold
                )
            )
    return out


def arxiv_library(path: Path | None = None) -> Library:
    """The 100k arXiv CS corpus in a real store (built once), opened with default settings."""
    path = path or OUT / "arxiv-cs.db"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        store = PaperStore(path)
        store.upsert(open_source(ARXIV))
        store.close()
    library = Library.open(Settings(db_path=path), seed=False)
    library.warm()
    return library


def hits_gold(spans: Sequence[Span], gold: Sequence[Span]) -> bool:
    """Some shown piece and some gold sentence overlap by half of the shorter of the two."""
    for g in gold:
        for s in spans:
            overlap = min(s[1], g[1]) - max(s[0], g[0])
            if overlap > 0 and overlap >= 0.5 * min(s[1] - s[0], g[1] - g[0]):
                return True
    return False


def quoted_answer(answer: Answer, question: Question) -> bool:
    for paper in answer.papers:
        if paper.id == question.paper_id:
            return any(hits_gold(q.segments, question.gold) for q in paper.quotes)
    return False


def rate(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


# --------------------------------------------------------------------------------- end to end
def run_e2e(library: Library, questions: Sequence[Question]) -> dict:
    per: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    timings = []
    misses = []
    # Warm: the index loaded and the embedding's word cache filled by other questions, as in a
    # running bot (the train questions; timing the train split itself then is a little warmer).
    for question in load_questions("train")[:60]:
        library.ask(question.text)
    for question in questions:
        started = time.perf_counter()
        answer = library.ask(question.text)
        timings.append((time.perf_counter() - started) * 1000)
        ranked = [hit.id for hit in library.search(question.text, k=3)]
        kinds = ("all", question.kind) if question.paper_id else ("off-topic",)
        for kind in kinds:
            row = per[kind]
            if question.paper_id is None:
                row["declined"].append(not answer.answered)
                continue
            row["answered"].append(answer.answered)
            row["top1"].append(ranked[:1] == [question.paper_id])
            row["top3"].append(question.paper_id in ranked[:3])
            row["quoted"].append(quoted_answer(answer, question))
            row["lead_quoted"].append(
                bool(answer.papers)
                and answer.papers[0].id == question.paper_id
                and bool(answer.papers[0].quotes)
                and hits_gold(answer.papers[0].quotes[0].segments, question.gold)
            )
        if question.paper_id and not quoted_answer(answer, question):
            misses.append(
                {
                    "qid": question.qid,
                    "kind": question.kind,
                    "question": question.text,
                    "answered": answer.answered,
                    "top": ranked[:1],
                    "gold_paper": question.paper_id,
                    "quotes": [q.display for p in answer.papers[:1] for q in p.quotes],
                }
            )
        if question.paper_id is None and answer.answered:
            misses.append({"qid": question.qid, "kind": "off-topic", "question": question.text})
    report = {
        kind: {metric: rate(values) for metric, values in row.items()}
        | {"n": len(next(iter(row.values())))}
        for kind, row in per.items()
    }
    report["latency_ms"] = {
        "median": statistics.median(timings),
        "p95": float(np.percentile(timings, 95)),
    }
    return {"report": report, "misses": misses}


def cmd_e2e(args: argparse.Namespace) -> None:
    library = arxiv_library(args.db)
    questions = load_questions(args.split)
    result = run_e2e(library, questions)
    report = result["report"]
    print(f"split={args.split} questions={len(questions)} papers={library.info().paper_count}")
    for kind in ("all", *KINDS, "off-topic"):
        if kind in report:
            row = report[kind]
            shown = "  ".join(f"{k}={v:.3f}" if k != "n" else f"n={v}" for k, v in row.items())
            print(f"  {kind:14s} {shown}")
    lat = report["latency_ms"]
    print(f"  ask latency median={lat['median']:.1f} ms p95={lat['p95']:.1f} ms")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"answers-e2e-{args.split}.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(REPO)}")


# --------------------------------------------------------------------------------- gold paper given
def ranked_sentences(library: Library, question: Question, paper: Paper) -> list[Span]:
    index = library.index()
    query = query_weights(question.text, index, library.tokenizer)
    scored = score_sentences(paper.abstract, paper.title, query, library.tokenizer)
    return [(s.start, s.end) for s in sorted(scored, key=lambda s: (-s.score, s.index))]


def run_gold(library: Library, questions: Sequence[Question]) -> dict:
    per: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    open_rule = replace(
        DEFAULT_COMPOSE, min_coverage=0.0, min_total_coverage=0.0, single_concept_coverage=0.0
    )
    index = library.index()
    for question in questions:
        if question.paper_id is None:
            continue
        paper = library.paper(question.paper_id)
        assert paper is not None, question.paper_id
        ranked = ranked_sentences(library, question, paper)
        answer = compose(
            question.text, [(paper, 1.0)], index, library.tokenizer, max_papers=1, params=open_rule
        )
        quotes = answer.papers[0].quotes if answer.answered else ()
        for kind in ("all", question.kind):
            per[kind]["top1"].append(hits_gold(ranked[:1], question.gold))
            per[kind]["top2"].append(hits_gold(ranked[:2], question.gold))
            per[kind]["first_quote"].append(
                bool(quotes) and hits_gold(quotes[0].segments, question.gold)
            )
            per[kind]["any_quote"].append(any(hits_gold(q.segments, question.gold) for q in quotes))
    return {
        kind: {m: rate(v) for m, v in row.items()} | {"n": len(row["top1"])}
        for kind, row in per.items()
    }


def cmd_gold(args: argparse.Namespace) -> None:
    library = arxiv_library(args.db)
    report = run_gold(library, load_questions(args.split))
    print(f"split={args.split} (gold paper given)")
    for kind in ("all", *KINDS):
        if kind in report:
            row = report[kind]
            shown = "  ".join(f"{k}={v:.3f}" if k != "n" else f"n={v}" for k, v in row.items())
            print(f"  {kind:14s} {shown}")


# --------------------------------------------------------------------------------- fitting
def arxiv_items(library: Library, questions: Sequence[Question]) -> list:
    """(group id, feature rows, gold labels) per on-topic question, gold paper given."""
    index = library.index()
    tok = library.tokenizer
    items = []
    for question in questions:
        if question.paper_id is None:
            continue
        paper = library.paper(question.paper_id)
        assert paper is not None
        query = query_weights(question.text, index, tok)
        rows, data = sentence_features(paper.abstract, paper.title, query, tok)
        y = np.array([hits_gold([span], question.gold) for span in data.spans], dtype=bool)
        items.append((question.qid, np.asarray(rows, dtype=np.float64), y))
    return items


def cmd_fit(args: argparse.Namespace) -> None:
    """Fit on our train split plus SciFact claims_train; choose the size and the weight of our
    questions on our dev split (and SciFact's dev pairs, which must not regress)."""
    from bench import bench_compose as sci

    library = arxiv_library(args.db)
    scifact = sci.scifact_library()
    sci_index = scifact.index()
    ours_train = arxiv_items(library, load_questions("train"))
    ours_dev = arxiv_items(library, load_questions("dev"))
    sci_train = sci.feature_items(sci.select_pairs(scifact, "train"), sci_index)
    sci_dev = sci.feature_items(sci.select_pairs(scifact, "dev"), sci_index)
    print(
        f"features={len(FEATURES)} ours train={len(ours_train)} dev={len(ours_dev)} "
        f"scifact train={len(sci_train)} dev={len(sci_dev)}"
    )
    choices = [
        {"repeat": r, "hidden": h, "l2": l2, "iters": it, "seeds": seeds}
        for r in (1, 2, 4)
        for h, l2, it, seeds in ((0, 0.1, 400, (0,)), (16, 0.01, 300, (0, 1, 2)))
    ]
    if args.quick:
        choices = choices[:2]
    best = None
    for choice in choices:
        fit = {k: v for k, v in choice.items() if k != "repeat"}
        train = sci.Groups.of(ours_train * choice["repeat"] + sci_train)
        model = sci.fit_model(train, **fit)
        o1, o2 = sci.group_hits(sci.Groups.of(ours_dev), model) / len(ours_dev)
        s1, s2 = sci.group_hits(sci.Groups.of(sci_dev), model) / len(sci_dev)
        print(
            f"  {choice}: ours dev top1={o1:.3f} top2={o2:.3f} | scifact dev "
            f"top1={s1:.3f} top2={s2:.3f}"
        )
        key = o1 + 0.5 * o2 + 0.5 * (s1 + 0.5 * s2)
        if best is None or key > best[0]:
            best = (key, choice, model)
    assert best is not None
    _, choice, model = best
    print(f"chosen {choice}")
    MODEL_PATH.write_text(json.dumps(model.to_dict()) + "\n", encoding="utf-8")
    print(f"wrote {MODEL_PATH.relative_to(REPO)}")


def gate_rows(library: Library, texts: Sequence[str]) -> np.ndarray:
    """The answer gate's features for each question, exactly as ``Library.ask`` computes them."""
    from retrieval.answer import compose as composer
    from retrieval.answer.semantic import embedder

    model = embedder()
    assert model is not None, "wordllama is needed to fit the gate"
    tok = library.tokenizer
    params = composer.DEFAULT_COMPOSE
    rows = []
    for text in texts:
        found = library.candidates(text)
        query = query_weights(text, found.index, tok)
        head = found.papers[: params.analysed_candidates]
        analyses = composer.analyse_candidates(head, query, tok, params)
        rows.append(
            composer.gate_features(text, analyses, query, tok, params, model, found.similarity)
        )
    return np.asarray(rows, dtype=np.float64)


def cmd_fit_gate(args: argparse.Namespace) -> None:
    """Logistic answer gate: fitted on our train split (plus SciFact train claims, which must be
    answered too); threshold chosen on train + dev for >= 96% of on-topic questions answered."""
    from bench import bench_compose as sci
    from retrieval.answer.compose import GATE_FEATURES, GATE_PATH, AnswerGate

    library = arxiv_library(args.db)
    scifact = sci.scifact_library()
    train = load_questions("train")
    dev = load_questions("dev")
    x_train = gate_rows(library, [q.text for q in train])
    y_train = np.array([q.paper_id is not None for q in train])
    claims = [c["claim"] for c in sci.load_claims("train")]
    x_sci = gate_rows(scifact, claims)
    x = np.vstack([x_train, x_sci])
    y = np.concatenate([y_train, np.ones(len(x_sci), dtype=bool)])
    weight = np.concatenate([np.ones(len(x_train)), np.full(len(x_sci), 0.3)])
    # Off-topic questions are few: weigh the classes equally.
    weight[~y] *= weight[y].sum() / weight[~y].sum()
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    for _ in range(4000):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        grad = z.T @ ((p - y) * weight) / weight.sum() + 0.01 * np.r_[w[:-1], 0.0]
        w -= 0.5 * grad
    weights = w[:-1] / sd
    bias = float(w[-1] - (mu / sd) @ w[:-1])
    x_dev = gate_rows(library, [q.text for q in dev])
    y_dev = np.array([q.paper_id is not None for q in dev])
    pooled_scores = np.concatenate([x_train, x_dev]) @ weights + bias
    pooled_on = np.concatenate([y_train, y_dev])
    on_scores = np.sort(pooled_scores[pooled_on])
    threshold = float(on_scores[int(0.04 * len(on_scores))] - 1e-6)
    for name, xs, ys in (("train", x_train, y_train), ("dev", x_dev, y_dev)):
        s = xs @ weights + bias
        print(
            f"  {name}: on-topic answered={np.mean(s[ys] > threshold):.3f} "
            f"off-topic declined={np.mean(s[~ys] <= threshold):.3f}"
        )
    s_sci = x_sci @ weights + bias
    print(f"  scifact train claims answered={np.mean(s_sci > threshold):.3f}")
    print("  weights:", dict(zip(GATE_FEATURES, np.round(weights, 3), strict=True)))
    gate = AnswerGate(tuple(float(v) for v in weights), bias, threshold)
    GATE_PATH.write_text(json.dumps(gate.to_dict()) + "\n", encoding="utf-8")
    print(f"wrote {GATE_PATH.relative_to(REPO)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    commands = (("e2e", cmd_e2e), ("gold", cmd_gold), ("fit", cmd_fit), ("fit-gate", cmd_fit_gate))
    for name, func in commands:
        cmd = sub.add_parser(name)
        cmd.add_argument("--quick", action="store_true", help="fit: try the first choices only")
        cmd.add_argument("--split", default="dev", help="train, dev, test, train+dev or all")
        cmd.add_argument("--db", type=Path, default=None, help="store of the 100k corpus")
        cmd.set_defaults(func=func)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
