"""Model-written answers over our question set: what survives the checks, how often the answer
falls back to the extractive one, what the model adds to the latency, and whether letting the
model choose the quotes changes the "answering sentence quoted" rate.

    python -m bench.bench_llm                                  # against the loopback stand-in
    python -m bench.bench_llm --base-url http://127.0.0.1:8080/v1 --model qwen2.5-0.5b-instruct

Without ``--base-url`` the endpoint is the loopback stand-in of the tests
(``tests/llm_standin``) answering "good": it cites the prompt's sentences that share most words
with the question. Its quality figures then measure the plumbing (prompt ids, parsing, verbatim
offsets, quotes replaced) and a crude word-overlap selector, not a language model. A second pass
cycles the stand-in through its failure behaviours to measure the fallback and the time budget.

Metrics, on the dev split's on-topic questions (``bench/data/arxiv_questions``, the 100k arXiv CS
store of :mod:`bench.bench_answers`; "quoted" is that module's ``quoted_answer``):

- ``quoted_extractive``: the gold sentence is among the composer's quotes of the gold paper;
- ``quoted_with_model``: the same on the answer as shown with the model (cited sentences replace
  a cited paper's quotes; uncited papers keep the composer's), falling back to the extractive
  answer where the model failed;
- ``cited_by_model``: the gold sentence is among the model's citations (the model alone);
- ``dropped_share``: model sentences removed for lacking a valid citation, over all it wrote;
- ``fallback_rate``: answered questions where no written answer survived (or the call failed);
- ``added_ms``: the writer's time on top of ``Library.ask`` (p50/p95).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_answers import (  # noqa: E402
    OUT,
    Question,
    arxiv_library,
    hits_gold,
    load_questions,
    quoted_answer,
    rate,
)
from retrieval.answer.compose import Answer  # noqa: E402
from retrieval.llm.model import WrittenAnswer  # noqa: E402
from retrieval.llm.writer import AnswerWriter, with_written  # noqa: E402
from retrieval.search import Library  # noqa: E402

FAULTS = (
    "plain",
    "bad_ids",
    "no_citations",
    "malformed",
    "slow",
    "hang",
    "rate_limited",
    "error",
    "error_once",
    "inject",
)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {
        "p50": statistics.median(values),
        "p95": float(np.percentile(values, 95)),
        "max": max(values),
    }


def cited_gold(written: WrittenAnswer | None, question: Question) -> bool:
    if written is None:
        return False
    spans = [(c.start, c.end) for c in written.citations if c.paper_id == question.paper_id]
    return hits_gold(spans, question.gold)


@contextlib.contextmanager
def endpoint(args: argparse.Namespace) -> Iterator[tuple[str, str, Any]]:
    """(base URL, model, the stand-in or None) for the run."""
    if args.base_url:
        yield args.base_url, args.model or "default", None
        return
    from tests.llm_standin import LLMStandIn

    with LLMStandIn(chunk_delay=0.5).threaded() as server:
        yield server.base_url, server.model, server


def run_quality(
    library: Library, writer: AnswerWriter, questions: Sequence[Question]
) -> dict[str, Any]:
    rows: dict[str, list[bool]] = {
        "answered": [],
        "quoted_extractive": [],
        "quoted_with_model": [],
        "cited_by_model": [],
    }
    ask_ms: list[float] = []
    added_ms: list[float] = []
    written_n = dropped = invalid = fallbacks = answered = unanswerable = off_topic_written = 0
    examples: list[dict[str, Any]] = []
    for question in questions:
        started = time.perf_counter()
        answer = library.ask(question.text)
        ask_ms.append((time.perf_counter() - started) * 1000)
        written = None
        shown: Answer = answer
        if answer.answered:
            answered += 1
            started = time.perf_counter()
            written = writer.write(answer)
            added_ms.append((time.perf_counter() - started) * 1000)
            if written is None or not written.sentences or written.unanswerable:
                fallbacks += 1  # the extractive answer is shown
                unanswerable += written is not None and written.unanswerable
            else:
                shown = with_written(answer, written)
                written_n += len(written.sentences) + written.dropped
                dropped += written.dropped
                invalid += written.invalid_citations
                if question.paper_id is None:
                    off_topic_written += 1
                if len(examples) < 5:
                    examples.append(
                        {
                            "question": question.text,
                            "written": [
                                {"text": s.text, "cites": [c.label for c in s.citations]}
                                for s in (shown.written.sentences if shown.written else ())
                            ],
                        }
                    )
        if question.paper_id is None:
            continue
        rows["answered"].append(answer.answered)
        rows["quoted_extractive"].append(quoted_answer(answer, question))
        rows["quoted_with_model"].append(quoted_answer(shown, question))
        rows["cited_by_model"].append(cited_gold(written, question))
    return {
        "on_topic": {k: rate(v) for k, v in rows.items()} | {"n": len(rows["answered"])},
        "answered": answered,
        "fallbacks": fallbacks,
        "fallback_rate": fallbacks / answered if answered else float("nan"),
        "model_sentences": written_n,
        "dropped": dropped,
        "dropped_share": dropped / written_n if written_n else float("nan"),
        "invalid_citations": invalid,
        "unanswerable_flags": unanswerable,
        "off_topic_answered_and_written": off_topic_written,
        "ask_ms": percentiles(ask_ms),
        "added_ms": percentiles(added_ms),
        "examples": examples,
    }


def run_faults(
    library: Library, writer: AnswerWriter, server: Any, questions: Sequence[Question], n: int
) -> dict[str, Any]:
    """Each failure behaviour on the first ``n`` answered questions: fallback rate, dropped
    share and the writer's time (never past the budget)."""
    answers = []
    for question in questions:
        answer = library.ask(question.text)
        if answer.answered:
            answers.append(answer)
        if len(answers) >= n:
            break
    out: dict[str, Any] = {}
    for behaviour in FAULTS:
        server.behaviour = behaviour
        times: list[float] = []
        fallbacks = sentences = dropped = 0
        for answer in answers:
            server._failures = 0  # rate_limited / error_once: fail once per answer
            started = time.perf_counter()
            written = writer.write(answer)
            times.append((time.perf_counter() - started) * 1000)
            if written is None:
                fallbacks += 1
            else:
                sentences += len(written.sentences) + written.dropped
                dropped += written.dropped
        out[behaviour] = {
            "n": len(answers),
            "fallback_rate": fallbacks / len(answers) if answers else float("nan"),
            "dropped_share_of_surviving": dropped / sentences if sentences else None,
            "writer_ms": percentiles(times),
        }
    server.behaviour = "good"
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint; default: the stand-in")
    parser.add_argument("--model", help="the model name to send (with --base-url)")
    parser.add_argument("--timeout", type=float, default=8.0, help="llm_timeout, seconds")
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--fault-questions", type=int, default=10)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=OUT / "bench_llm.json")
    args = parser.parse_args(argv)

    library = arxiv_library(args.db)
    questions = load_questions(args.split)
    if args.limit:
        questions = questions[: args.limit]
    for question in load_questions("train")[:30]:  # warm the index and caches, as a running bot
        library.ask(question.text)
    with endpoint(args) as (base_url, model, server):
        writer = AnswerWriter(
            base_url=base_url,
            model=model,
            api_key=os.environ.get("PAPERBOT_LLM_API_KEY") or None,
            timeout=args.timeout,
            max_tokens=args.max_tokens,
        )
        quality = run_quality(library, writer, questions)
        faults = None
        if server is not None:
            fault_writer = AnswerWriter(base_url=base_url, model=model, timeout=2.0)
            faults = run_faults(library, fault_writer, server, questions, args.fault_questions)
        requests = Counter(r.status for r in server.chat_requests) if server else None
    report = {
        "split": args.split,
        "endpoint": "stand-in (good: word-overlap selector)" if server else base_url,
        "model": model,
        "timeout_s": args.timeout,
        "questions": len(questions),
        "quality": quality,
        "faults_timeout_2s": faults,
        "standin_statuses": dict(requests) if requests else None,
    }
    q = quality
    print(f"split={args.split} questions={len(questions)} endpoint={report['endpoint']}")
    print(
        "  on-topic n={n}: answered={answered:.3f} quoted extractive={quoted_extractive:.3f} "
        "with model={quoted_with_model:.3f} cited by model={cited_by_model:.3f}".format(
            **q["on_topic"]
        )
    )
    print(
        f"  written answers: fallback rate={q['fallback_rate']:.3f} ({q['fallbacks']}/"
        f"{q['answered']}), dropped share={q['dropped_share']:.3f} "
        f"({q['dropped']}/{q['model_sentences']}), invalid citations={q['invalid_citations']}"
    )
    print(
        f"  latency: ask p50={q['ask_ms']['p50']:.1f} ms p95={q['ask_ms']['p95']:.1f} ms; "
        f"added by the writer p50={q['added_ms']['p50']:.1f} ms "
        f"p95={q['added_ms']['p95']:.1f} ms"
    )
    for behaviour, row in (faults or {}).items():
        ms = row["writer_ms"]
        print(
            f"  fault {behaviour:13s} fallback={row['fallback_rate']:.2f} "
            f"writer p50={ms['p50']:.0f} ms p95={ms['p95']:.0f} ms max={ms['max']:.0f} ms"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
