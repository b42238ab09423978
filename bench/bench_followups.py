"""Are follow-up questions answered from the right paper?

Two-turn conversations written as users write them (``bench/data/followups.jsonl``): a first
question, then a follow-up ("how does the second one compare?", "what dataset did they use?",
"how many sentence pairs does Samanantar have?"), with the paper that should answer the follow-up
labelled. Each conversation asks the first question, then the follow-up against the papers that
answer showed (``Library.ask_followup``), on the bundled corpus (the store ``Library.open``
creates). A conversation counts as right when the labelled paper is the first paper of the
follow-up's answer *and* a quote from it is shown. The set is split: ``dev`` (tuned on) and
``test`` (reported once).

    python -m bench.bench_followups [--split dev|test|all]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from config import Settings
from retrieval.search import Library

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "followups.jsonl"
OUT = ROOT / "out" / "bench_followups.json"


def load(split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if split == "all" or r["split"] == split]


def run(library: Library, row: dict[str, Any]) -> dict[str, Any]:
    first = library.ask(row["first"])
    shown = [p.id for p in first.papers]
    started = time.perf_counter()
    result = library.ask_followup(row["followup"], shown, previous_question=row["first"])
    seconds = time.perf_counter() - started
    answer = result.answer
    lead = answer.papers[0] if answer.papers else None
    right = bool(answer.answered and lead is not None and lead.id == row["expect"] and lead.quotes)
    return {
        "id": row["id"],
        "kind": row["kind"],
        "right": right,
        "source": result.source,
        "expected": row["expect"],
        "expected_shown_at": shown.index(row["expect"]) + 1 if row["expect"] in shown else None,
        "got": lead.id if lead else None,
        "answered": answer.answered,
        "seconds": round(seconds, 4),
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = Counter(r["kind"] for r in results)
    right_by_kind = Counter(r["kind"] for r in results if r["right"])
    n = len(results)
    return {
        "conversations": n,
        "right": sum(r["right"] for r in results),
        "accuracy": round(sum(r["right"] for r in results) / n, 4) if n else 0.0,
        "by_kind": {k: f"{right_by_kind[k]}/{kinds[k]}" for k in sorted(kinds)},
        "from_previous": sum(r["source"] == "previous" for r in results),
        "from_collection": sum(r["source"] == "collection" for r in results),
        "median_followup_seconds": sorted(r["seconds"] for r in results)[n // 2] if n else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all")
    args = parser.parse_args()
    splits = ("dev", "test") if args.split == "all" else (args.split,)
    report: dict[str, Any] = {"corpus": "bundled (50 papers)", "data": str(DATA.name)}
    with tempfile.TemporaryDirectory() as tmp:
        library = Library.open(Settings(_env_file=None, db_path=Path(tmp) / "s.db"))  # type: ignore[call-arg]
        library.warm()
        for split in splits:
            results = [run(library, row) for row in load(split)]
            summary = summarise(results)
            report[split] = {"summary": summary, "results": results}
            print(
                f"{split}: {summary['right']}/{summary['conversations']} answered from the right "
                f"paper ({summary['accuracy']:.0%}); by kind {summary['by_kind']}; "
                f"{summary['from_previous']} from the previous papers, "
                f"{summary['from_collection']} from the collection"
            )
            for r in results:
                if not r["right"]:
                    print(f"  wrong {r['id']} ({r['kind']}): got {r['got']}, want {r['expected']}")
    if args.split == "all":
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()
