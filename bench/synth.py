"""Large synthetic corpora for the speed benchmarks, made by resampling SciFact sentences.

Real vocabulary and sentence lengths, any size: each synthetic abstract is 5-11 sentences drawn
at random from the 5,183 SciFact abstracts, with a real SciFact title. Deterministic per seed, and
written through the real store so the benchmark measures what production runs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from bench.scifact import SCIFACT
from retrieval.papers import Paper
from retrieval.store import PaperStore


def _pools() -> tuple[list[str], list[str]]:
    titles: list[str] = []
    sentences: list[str] = []
    with (SCIFACT / "original" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            titles.append(doc["title"].strip())
            sentences.extend(s.strip() for s in doc["abstract"] if s.strip())
    return titles, sentences


def synthetic_papers(n: int, seed: int = 13) -> Iterator[Paper]:
    titles, sentences = _pools()
    rng = random.Random(seed)
    for i in range(n):
        abstract = " ".join(rng.choices(sentences, k=rng.randint(5, 11)))
        yield Paper.model_construct(
            id=f"synth-{i:07d}",
            title=rng.choice(titles),
            abstract=abstract,
            authors=(),
            published=None,
            url=None,
            source="synthetic",
            metadata={},
        )


def ensure_store(path: Path, n: int, collection: str = "default") -> PaperStore:
    """A store at ``path`` holding exactly ``n`` synthetic papers (reused when already there)."""
    store = PaperStore(path)
    have = store.count(collection)
    if have != n:
        if have:
            store.close()
            path.unlink()
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            store = PaperStore(path)
        store.upsert(synthetic_papers(n), collection)
    return store
