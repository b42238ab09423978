"""Changes reach the index as a delta, not a full build: after an ingest, in another process's
reader, and in the bot's background refresh; past ``merge_at`` changes, a full build merges."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval.index import serving
from retrieval.index.persist import read_manifest
from retrieval.papers import Paper
from retrieval.search import Library
from retrieval.store import PaperStore
from tests.paths import SCIFACT


def _papers(start: int, stop: int) -> list[Paper]:
    out = []
    with (SCIFACT / "beir" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= stop:
                break
            if i >= start:
                doc = json.loads(line)
                out.append(
                    Paper(
                        id=f"sf-{doc['_id']}",
                        title=doc["title"],
                        abstract=doc["text"],
                        source="test",
                    )
                )
    return out


def _library(db: Path, **kw) -> Library:
    return Library(PaperStore(db), semantic=False, sparse_threshold=0, **kw)


def _saved_build(db: Path) -> str:
    root = db.with_name(db.name + ".index") / "default"
    found = read_manifest(root)
    assert found is not None
    return found[0].name


NEW = Paper(
    id="new-zr3ti",
    title="Cryogenic strain hardening of Zr3Ti lattices",
    abstract="We measure strain hardening of Zr3Ti lattices at cryogenic temperatures.",
    source="test",
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "papers.db"
    library = _library(path)
    library.add_papers(_papers(0, 3000))
    library.store.close()
    return path


def test_ingest_serves_a_delta_and_keeps_the_saved_build(db: Path) -> None:
    library = _library(db)
    library.indexes.background = False
    before = library.index()
    saved = _saved_build(db)
    updated = _papers(5, 6)[0].model_copy(update={"abstract": "Zr3Ti was never mentioned here."})
    library.add_papers([NEW, updated])
    live = library.index()
    assert live.delta is not None and live.delta.changed == 2
    assert live.meta.generation == library.store.generation("default")
    assert live.paper_count == before.paper_count + 1
    assert _saved_build(db) == saved  # no full build happened
    hits = library.search("Zr3Ti cryogenic strain", k=3)
    assert hits[0].id == "new-zr3ti"
    assert {h.id for h in hits[:2]} == {"new-zr3ti", updated.id}
    assert library.info().paper_count == 3001

    # Another process (here: another library on the same files) loads the saved build and
    # indexes the same changes beside it, with the same results.
    other = _library(db)
    other.indexes.background = False
    assert other.index().delta is not None
    terms = other.tokenizer.query_terms("Zr3Ti cryogenic strain hardening lattice")
    assert other.index().search(terms, 10) == live.search(terms, 10)


def test_past_merge_at_a_full_build_merges(db: Path) -> None:
    library = _library(db, merge_at=50)
    library.indexes.background = False
    library.index()
    saved = _saved_build(db)
    library.add_papers(_papers(3000, 3030))
    assert library.index().delta is not None
    assert _saved_build(db) == saved
    library.add_papers(_papers(3030, 3080))  # 80 changes since the build: past merge_at
    index = library.index()
    assert index.delta is None and index.n_docs == 3080
    assert _saved_build(db) != saved


def test_bot_refresh_swaps_in_a_delta_while_serving(db: Path) -> None:
    bot = _library(db)  # background refresh, as the bot runs it
    first = bot.index()
    writer = _library(db)
    writer.indexes.background = False
    writer.add_papers([NEW])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # Answered at once from the served index; the refresh happens in a thread.
        hits = bot.search("Zr3Ti cryogenic", k=1)
        if hits and hits[0].id == "new-zr3ti":
            break
        time.sleep(0.05)
    index = bot.index()
    assert index is not first and index.delta is not None
    assert index.main is first


def test_a_store_without_a_change_log_rebuilds(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving, "GENERATION_TTL", 0.0)  # read the generation at every query
    library = _library(db)
    library.indexes.background = False
    library.index()
    writer = _library(db)
    writer.indexes.background = False
    writer.add_papers([NEW])
    # As if an older paperbot had written the change: no log of it.
    writer.store._conn().execute("DELETE FROM collection_changes")
    index = library.index()
    assert index.delta is None and index.n_docs == 3001
    assert np.asarray(index.doc_pks).shape == (3001,)


def test_merge_runs_in_a_child_process_while_the_delta_answers(
    db: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(serving, "MERGE_IN_CHILD_MIN", 0)  # large collections only, normally
    bot = _library(db)
    bot.index()
    saved = _saved_build(db)
    bot.add_papers([NEW])
    live = bot.index()
    assert live.delta is not None
    terms = bot.tokenizer.query_terms("Zr3Ti cryogenic strain hardening")
    expected = live.search(terms, 10)
    caplog.set_level("INFO", logger="retrieval.index.serving")
    bot.indexes.merge("default")
    deadline = time.monotonic() + 120
    while bot.index().delta is not None and time.monotonic() < deadline:
        assert bot.search("Zr3Ti cryogenic", k=1)[0].id == "new-zr3ti"  # answered meanwhile
        time.sleep(0.05)
    merged = bot.index()
    assert merged.delta is None and merged.n_docs == 3001
    assert _saved_build(db) != saved
    assert any("merged collection 'default'" in r.getMessage() for r in caplog.records)
    # One index of both scores under its own statistics now: the same papers come first.
    assert [p for p, _ in merged.search(terms, 3)] == [p for p, _ in expected[:3]]
