"""The façade over a real store: the bundled corpus, paging, autocomplete, live additions."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings
from retrieval.papers import Paper
from retrieval.search import EmptyQuery, Library


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return Library.open(Settings(db_path=tmp_path / "store.db"))


def test_fresh_store_starts_with_the_bundled_corpus(library: Library) -> None:
    assert library.info().paper_count == 50
    assert library.store.path.exists()


@pytest.mark.parametrize(
    ("query", "expected_id"),
    [
        ("which paper segments text without punctuation?", "2406.16678"),
        ("how does XPO make DPO explore?", "2405.21046"),
        ("ReMax reinforcement learning for aligning LLMs", "2310.10505"),
        (
            "self-synthesize instruction data by prompting an aligned model with only the template",
            "2406.08464",
        ),
        ("massive multilingual text embedding benchmark", "2502.13595"),
    ],
)
def test_known_papers_rank_first(library: Library, query: str, expected_id: str) -> None:
    hits = library.search(query, k=5)
    assert hits[0].id == expected_id
    assert hits[0].url == f"https://arxiv.org/abs/{expected_id}"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_paging_is_consistent(library: Library) -> None:
    first = library.search("language model alignment", k=10)
    page2 = library.search("language model alignment", k=5, offset=5)
    assert [h.id for h in page2] == [h.id for h in first[5:10]]


@pytest.mark.parametrize("query", ["", "   ", "?!", "the of and"])
def test_empty_queries_raise(library: Library, query: str) -> None:
    with pytest.raises(EmptyQuery):
        library.search(query)


def test_question_words_alone_still_search(library: Library) -> None:
    assert library.query_terms("which paper?") == ["paper"]


def test_huge_query_is_bounded(library: Library) -> None:
    hits = library.search("alignment " * 5000, k=3)
    assert len(hits) == 3


def test_suggest_prefers_prefix_matches(library: Library) -> None:
    got = library.suggest("segment any")
    assert got[0] == (
        "2406.16678",
        "Segment Any Text: A Universal Approach for Robust, Efficient and Adaptable Sentence "
        "Segmentation",
    )
    assert library.suggest("2405.21046")[0][0] == "2405.21046"
    assert len(library.suggest("", limit=25)) == 25
    assert all("align" in t.casefold() for _, t in library.suggest("align"))
    assert library.suggest("zzzz-nothing") == []


def test_similar_excludes_the_paper_itself(library: Library) -> None:
    hits = library.similar("2405.21046", k=5)
    assert len(hits) == 5 and all(h.id != "2405.21046" for h in hits)
    assert library.similar("no-such-paper") == []


def test_added_papers_are_searchable_at_once(library: Library) -> None:
    new = Paper(
        id="2501.00001", title="Quokka routing", abstract="Quokkas route packets.", source="test"
    )
    result = library.add_papers([new])
    assert result.added == 1
    assert library.search("quokka", k=1)[0].id == "2501.00001"
    assert library.info().paper_count == 51


def test_index_is_saved_and_reused(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "store.db")
    first = Library.open(settings)
    built_at = first.info().indexed_at
    second = Library.open(settings)
    assert second.info().indexed_at == built_at  # loaded, not rebuilt
    second.add_papers([Paper(id="x1", title="New", abstract="Brand new words.", source="t")])
    third = Library.open(settings)
    assert third.info().indexed_at != built_at
    assert third.search("brand new words", k=1)[0].id == "x1"


def test_sparse_and_okapi_serve_the_same_answers(tmp_path: Path) -> None:
    okapi = Library.open(Settings(db_path=tmp_path / "a.db", engine="okapi"))
    sparse = Library.open(Settings(db_path=tmp_path / "b.db", engine="sparse"))
    assert okapi.index().engine.name == "okapi" and sparse.index().engine.name == "sparse"
    for query in ("text segmentation", "reward model preference", "speech synthesis zero-shot"):
        assert [h.id for h in okapi.search(query)] == [h.id for h in sparse.search(query)]


def test_guild_collection_is_searched_beside_the_shared_one(library: Library) -> None:
    own = Paper(
        id="g-1",
        title="Wombat burrow acoustics",
        abstract="We record wombat burrows. Acoustics reveal tunnel shape.",
        source="t",
    )
    library.add_papers([own], "guild-42")
    scope = library.scope(42)
    assert scope.collections == ("default", "guild-42") and scope.own == "guild-42"
    assert library.visible("g-1", scope) and not library.visible("g-1", library.scope(7))
    assert not library.visible("g-1") and library.holders("g-1") == {"guild-42"}
    assert library.search("wombat burrow acoustics", k=1, collection=scope)[0].id == "g-1"
    # the shared collection alone does not see it, and another guild does not either
    assert all(h.id != "g-1" for h in library.search("wombat burrow acoustics", k=50))
    assert all(
        h.id != "g-1" for h in library.search("wombat burrow", k=50, collection=library.scope(7))
    )
    # shared papers still rank as before inside the scope, on the same score scale
    shared = library.search("text segmentation punctuation", k=3)
    scoped = library.search("text segmentation punctuation", k=3, collection=scope)
    assert [(h.id, round(h.score, 4)) for h in scoped] == [
        (h.id, round(h.score, 4)) for h in shared
    ]
    assert library.info(scope).paper_count == 51
    assert library.suggest("wombat", collection=scope)[0][0] == "g-1"
    answer = library.ask("what do wombat burrow acoustics reveal?", collection=scope)
    assert answer.answered and answer.papers[0].id == "g-1"


def test_outside_changes_are_indexed_aside_without_blocking(tmp_path: Path) -> None:
    import time

    from retrieval.store import PaperStore

    settings = Settings(db_path=tmp_path / "store.db")
    library = Library.open(settings)
    old = library.index()  # the served index
    assert all(h.id != "q-1" for h in library.search("quokka gaits", k=5))
    # another process (say `paperbot ingest`) writes to the same store file
    PaperStore(settings.store_path).upsert(
        [Paper(id="q-1", title="Quokka gaits", abstract="Quokkas hop.", source="t")]
    )
    time.sleep(1.1)  # past the generation check interval
    served = library.index()
    assert served is old  # still answering from the old index while the new one builds
    deadline = time.monotonic() + 30
    while library.index() is old and time.monotonic() < deadline:
        time.sleep(0.05)
    assert library.index() is not old
    assert library.search("quokka gaits", k=1)[0].id == "q-1"
