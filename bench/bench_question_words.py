"""Does dropping topic-less question words (which, paper, ...) from questions help?

The retrieval issue allows it "only if it measures better". Measured three ways, each with and
without: SciFact *train* nDCG@10 (claims, few question words), the bundled dev questions (expected
paper ranked first, MRR@10), and the composer's answered / declined rates on the bundled sets.

    python -m bench.bench_question_words
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.scifact import default_params, scifact_run
from config import Settings
from retrieval.search import Library
from retrieval.stopwords import QUESTION_WORDS
from retrieval.tokenize import Tokenizer

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def main() -> None:
    params = default_params()
    dev, off = _jsonl("dev_questions.jsonl"), _jsonl("offtopic_questions.jsonl")
    for drop in (False, True):
        tok = Tokenizer(query_stopwords=QUESTION_WORDS if drop else ())
        scifact = scifact_run(tok, params, "train")["ndcg@10"]
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
