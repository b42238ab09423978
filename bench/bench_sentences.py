"""Sentence segmentation quality and speed on SciFact's gold sentence lists.

SciFact (``original/corpus.jsonl``) stores each abstract as the list of its sentences. Joining
the stripped sentences with one space gives a text whose gold boundaries are known exactly; the
segmenter re-splits it and we score the predicted boundaries (offsets where a sentence starts,
other than 0) against the gold ones: precision, recall, F1, plus the share of abstracts split
exactly right and the time per abstract.

    python bench/bench_sentences.py                     # ours
    python bench/bench_sentences.py --segmenter pysbd   # needs `pip install pysbd`
    python bench/bench_sentences.py --segmenter blingfire --errors 20

Note the gold has its own artefacts (the original splitter broke "1.4 +/- 0.2" after "+/-" ~250
times, and cut a few URLs); we do not imitate them, so F1 = 1.0 is not reachable.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


SCIFACT = REPO.parent / "shared" / "eval" / "scifact" / "original" / "corpus.jsonl"

Segmenter = Callable[[str], list[tuple[int, int]]]


def gold_documents(path: Path) -> Iterator[tuple[str, set[int]]]:
    """(joined text, gold boundary offsets) for every abstract with at least one sentence."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            sentences = [s.strip() for s in doc["abstract"] if s.strip()]
            if not sentences:
                continue
            boundaries: set[int] = set()
            offset = 0
            for i, sentence in enumerate(sentences):
                if i:
                    boundaries.add(offset)
                offset += len(sentence) + 1
            yield " ".join(sentences), boundaries


def spans_from_strings(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Map a library's sentence strings back to offsets (libraries may strip or normalise)."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        found = text.find(piece, cursor)
        if found < 0:  # the library altered the text: align on the first 20 characters
            found = text.find(piece[:20], cursor)
            if found < 0:
                continue
        spans.append((found, found + len(piece)))
        cursor = found + len(piece)
    return spans


def make_segmenter(name: str) -> Segmenter:
    if name == "ours":
        # Bypass the cache so timing measures the work, not dictionary look-ups.
        from retrieval.answer.sentences import _split

        return _split
    if name == "naive":
        pattern = re.compile(r"(?<=[.!?])\s+")

        def naive(text: str) -> list[tuple[int, int]]:
            return spans_from_strings(text, pattern.split(text))

        return naive
    if name == "pysbd":
        import pysbd

        seg = pysbd.Segmenter(language="en", clean=False)
        return lambda text: spans_from_strings(text, seg.segment(text))
    if name == "blingfire":
        import blingfire

        return lambda text: spans_from_strings(text, blingfire.text_to_sentences(text).split("\n"))
    raise SystemExit(f"unknown segmenter {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segmenter", default="ours", help="ours | naive | pysbd | blingfire")
    parser.add_argument("--corpus", type=Path, default=SCIFACT)
    parser.add_argument("--limit", type=int, default=0, help="only the first N abstracts")
    parser.add_argument("--errors", type=int, default=0, help="print N random error contexts")
    args = parser.parse_args()

    segment = make_segmenter(args.segmenter)
    tp = fp = fn = exact = docs = 0
    elapsed = 0.0
    chars = 0
    errors: list[str] = []
    for text, gold in gold_documents(args.corpus):
        if args.limit and docs >= args.limit:
            break
        docs += 1
        chars += len(text)
        began = time.perf_counter()
        spans = segment(text)
        elapsed += time.perf_counter() - began
        predicted = {start for start, _ in spans[1:]}
        tp += len(predicted & gold)
        fp += len(predicted - gold)
        fn += len(gold - predicted)
        exact += predicted == gold
        for kind, offsets in (("FP", predicted - gold), ("FN", gold - predicted)):
            for offset in offsets:
                errors.append(
                    f"{kind}: …{text[max(0, offset - 60) : offset]}‖{text[offset : offset + 40]}…"
                )
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"segmenter={args.segmenter} abstracts={docs} gold_boundaries={tp + fn}")
    print(f"boundary precision={precision:.4f} recall={recall:.4f} F1={f1:.4f}")
    print(f"abstracts split exactly={exact / docs:.4f}")
    print(
        f"time per abstract={elapsed / docs * 1e6:.0f} us "
        f"(mean {chars / docs:.0f} chars; {chars / elapsed / 1e6:.2f} MB/s)"
    )
    if args.errors:
        random.seed(0)
        for line in random.sample(errors, min(args.errors, len(errors))):
            print(line)


if __name__ == "__main__":
    main()
