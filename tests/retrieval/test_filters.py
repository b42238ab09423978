"""Search filters: what users type, and filtered search being exactly the best k of the papers
that pass (checked against scoring every paper and filtering), on real arXiv CS abstracts, with
both engines, a delta index, and a server's own collection searched beside the shared one."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from retrieval.filters import (
    FilterError,
    Filters,
    id_month,
    make_filters,
    paper_day,
    parse_categories,
    parse_since,
    parse_until,
)
from retrieval.papers import Paper
from retrieval.search import Library, Scope
from retrieval.store import PaperStore
from tests.paths import SHARED
from tests.retrieval.store_backends import StoreFactory
from tests.retrieval.store_backends import query as sql_rows

ARXIV_CS = SHARED / "eval" / "arxiv-cs" / "papers.jsonl.gz"
N_MAIN = 6000

QUERIES = [
    "vision language model hallucination",
    "reinforcement learning from human feedback reward model",
    "graph neural network molecular property prediction",
    "diffusion models for image editing",
    "retrieval augmented generation question answering",
    "robot manipulation policy learning",
    "speech recognition low resource languages",
    "federated learning privacy",
    "large language model reasoning chain of thought",
    "adversarial attacks on neural networks",
    "3d scene reconstruction gaussian splatting",
    "code generation benchmark",
]
FILTERS = [
    Filters(since=date(2025, 1, 1)),
    Filters(categories=("cs.CL",)),
    Filters(since=date(2025, 6, 1), categories=("cs.LG",)),
    Filters(since=date(2024, 10, 1), until=date(2024, 10, 31)),
    Filters(until=date(2023, 12, 31), categories=("cs.CV", "cs.RO")),
]


# -- parsing --------------------------------------------------------------------------------------
def test_dates_as_users_type_them() -> None:
    assert parse_since("2024") == date(2024, 1, 1)
    assert parse_until("2024") == date(2024, 12, 31)
    assert parse_since("2024-03") == date(2024, 3, 1)
    assert parse_until("2024-02") == date(2024, 2, 29)
    assert parse_until("2023-12") == date(2023, 12, 31)
    assert parse_since(" 2024-03-15 ") == parse_until("2024-03-15") == date(2024, 3, 15)


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("last year", None, "is not a year (2024), a month (2024-03) or a date"),
        ("24", None, "is not a year"),
        ("2024-13", None, "is not a real month"),
        (None, "2023-02-30", "is not a real date"),
        ("2025", "2024", "since 2025-01-01 is after until 2024-12-31"),
    ],
)
def test_bad_dates_say_what_to_type(since: str | None, until: str | None, message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        make_filters(since, until)


def test_categories_case_insensitive_repeatable_and_comma_separated() -> None:
    assert parse_categories("cs.cl") == ("cs.CL",)
    assert parse_categories(["cs.cl, CS.LG", "stat.ml cs.CL"]) == ("cs.CL", "cs.LG", "stat.ML")
    assert parse_categories("physics.COMP-PH") == ("physics.comp-ph",)
    with pytest.raises(FilterError, match="not an arXiv category name"):
        parse_categories("I.2.7")
    known = ["cs.CL", "cs.LG", "cs.CV"]
    assert make_filters(categories="CS.cl", known=known).categories == ("cs.CL",)
    with pytest.raises(
        FilterError, match=r"no paper has category 'cs.CM'; did you mean cs.CV, cs.CL"
    ):
        make_filters(categories="cs.cm", known=known)
    assert make_filters().empty and make_filters(" ", "", []).empty


def test_a_papers_date() -> None:
    assert id_month("2503.11750") == date(2025, 3, 1)
    assert id_month("0704.0001") == date(2007, 4, 1)
    assert id_month("cs/0012011") == date(2000, 12, 1)
    assert id_month("hep-th/9901001") == date(1999, 1, 1)
    assert id_month("kx-0a1b2c") is None and id_month("sf-123") is None
    assert paper_day(date(2024, 5, 2), "2503.11750") == date(2024, 5, 2).toordinal()
    assert paper_day(None, "2503.11750") == date(2025, 3, 1).toordinal()
    assert paper_day(None, "my-paper") == -1


# -- exactness ------------------------------------------------------------------------------------
def _papers(start: int, stop: int) -> list[Paper]:
    out = []
    with gzip.open(ARXIV_CS, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= stop:
                break
            if i >= start:
                doc = json.loads(line)
                out.append(
                    Paper(
                        id=doc["id"],
                        title=doc["title"],
                        abstract=doc["abstract"],
                        source="test",
                        metadata=doc.get("metadata") or {},
                    )
                )
    return out


def _passes(paper: Paper, filters: Filters) -> bool:
    """The rule, written out independently of retrieval.filters."""
    match = re.match(r"^(\d\d)(\d\d)\.\d{4,5}$", paper.id)
    day = paper.published or (date(2000 + int(match[1]), int(match[2]), 1) if match else None)
    if filters.since and (day is None or day < filters.since):
        return False
    if filters.until and (day is None or day > filters.until):
        return False
    cats = {c.casefold() for c in paper.metadata.get("categories") or []}
    return not filters.categories or any(c.casefold() in cats for c in filters.categories)


def _brute(library: Library, name: str, terms: list[str], filters: Filters, k: int, base=None):
    """Every paper scored, the failing ones dropped, the best k: ``[(pk, score)]``."""
    index = library.index(name) if base is None else library.indexes.extra(name, base)
    assert index is not None
    scores = np.asarray(index.score_all(terms), dtype=np.float64)
    pks = np.asarray(index.doc_pks)
    papers = library.store.papers_by_pks([int(pk) for pk in pks])
    ok = [
        pos
        for pos in range(len(pks))
        if scores[pos] > 0 and int(pks[pos]) in papers and _passes(papers[int(pks[pos])], filters)
    ]
    ok.sort(key=lambda pos: (-scores[pos], pos))
    return [(int(pks[pos]), float(scores[pos])) for pos in ok[:k]]


def _same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert len(got) == len(want)
    for (gpk, gs), (wpk, ws) in zip(got, want, strict=True):
        assert abs(gs - ws) <= 2e-6 * max(1.0, abs(ws))
        # Papers scoring the same to float precision may come in either order.
        assert gpk == wpk or any(abs(s - gs) <= 2e-6 * max(1.0, gs) for pk, s in want if pk == gpk)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("filters") / "papers.db"
    store = PaperStore(path)
    store.upsert(_papers(0, N_MAIN), "default")
    store.close()
    return path


@pytest.mark.parametrize("engine", ["sparse", "okapi"])
def test_filtered_search_is_the_best_k_that_pass(db: Path, engine: str) -> None:
    library = Library(PaperStore(db), semantic=False, engine=engine, persist=False)
    assert library.index().engine.name == engine
    shown = 0
    for query in QUERIES:
        terms = library.query_terms(query)
        for filters in FILTERS:
            _, got = library._ranked(terms, 10, ("default",), filters=filters)
            want = _brute(library, "default", terms, filters, 10)
            _same(got, want)
            hits = library.search(query, k=10, filters=filters)
            assert [h.id for h in hits] == [
                p.id for p in library.store.get_by_pks([pk for pk, _ in got])
            ]
            shown += len(hits)
    assert shown > 100  # the filters let real results through
    # A filter no paper passes returns nothing rather than unfiltered results.
    assert library.search("language model", filters=Filters(until=date(1990, 1, 1))) == []


def test_a_delta_index_is_filtered_over_main_and_delta(tmp_path: Path) -> None:
    path = tmp_path / "papers.db"
    library = Library(PaperStore(path), semantic=False, sparse_threshold=0)
    library.add_papers(_papers(0, 5000))
    library.index()
    updated = [
        p.model_copy(update={"abstract": p.abstract + " Also about robot manipulation."})
        for p in _papers(100, 160)
    ]
    library.add_papers([*updated, *_papers(5000, 5400)])
    index = library.index()
    assert index.delta is not None and index.delta.masked == 60
    for query in QUERIES:
        terms = library.query_terms(query)
        for filters in FILTERS:
            _, got = library._ranked(terms, 10, ("default",), filters=filters)
            _same(got, _brute(library, "default", terms, filters, 10))


def test_a_delta_reads_only_its_own_papers_facets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from retrieval import filters as filters_module

    library = Library(PaperStore(tmp_path / "papers.db"), semantic=False, sparse_threshold=0)
    library.add_papers(_papers(0, 800))
    for filters in FILTERS:  # the main index's facets, read once
        filters_module.alive_mask(library.store, library.index(), filters)
    library.add_papers(
        [
            *[p.model_copy(update={"metadata": {"categories": ["cs.RO"]}}) for p in _papers(0, 5)],
            *_papers(800, 900),
        ]
    )
    index = library.index()
    assert index.delta is not None
    scans: list[object] = []
    real = filters_module._facet_rows

    def counting(conn: object, collection: str, pks: object = None) -> object:
        scans.append(pks)
        return real(conn, collection, pks)  # type: ignore[arg-type]

    monkeypatch.setattr(filters_module, "_facet_rows", counting)
    n_main = len(index.main_pks)
    main_alive = index.delta.alive if index.delta.alive is not None else np.ones(n_main, bool)
    live = np.concatenate([main_alive, np.ones(len(index.delta.pks), dtype=bool)])
    robotics = Filters(categories=("cs.RO",))
    for filters in [*FILTERS, robotics]:
        got = filters_module.alive_mask(library.store, index, filters)
        want = filters_module.read_facets(library.store, index).mask(filters)
        # The same wherever a position is live (a main copy of an updated paper is masked).
        assert got is not None and np.array_equal(got & live, want & live)
    got = filters_module.alive_mask(library.store, index, robotics)
    assert got is not None
    updated = {p.id for p in _papers(0, 5)}
    ids_at = [row[0] for row in library.store.titles_by_pks([int(pk) for pk in index.delta.pks])]
    passing = {pid for pid, ok in zip(ids_at, got[n_main:], strict=True) if ok}
    assert updated <= passing  # the delta's new categories are what filters see
    # One lookup of the delta's papers for the live index; the full scans are the reference's.
    delta_reads = [pks for pks in scans if pks is not None]
    assert len(delta_reads) == 1 and len(delta_reads[0]) == len(index.delta.pks)  # type: ignore[arg-type]


def test_a_servers_own_papers_are_filtered_too(any_store_factory: StoreFactory) -> None:
    library = Library(any_store_factory(), semantic=False, sparse_threshold=0)
    library.add_papers(_papers(0, 5000))
    library.add_papers(_papers(5000, 5300), "guild-1")
    names = ("default", "guild-1")
    for query in QUERIES:
        terms = library.query_terms(query)
        for filters in FILTERS:
            base, got = library._ranked(terms, 10, names, filters=filters)
            merged = dict(_brute(library, "default", terms, filters, 10))
            for pk, score in _brute(library, "guild-1", terms, filters, 10, base=base):
                merged[pk] = max(score, merged.get(pk, float("-inf")))
            want = sorted(merged.items(), key=lambda item: (-item[1], item[0]))[:10]
            _same(got, want)


# -- the façade -----------------------------------------------------------------------------------
@pytest.fixture
def small(any_store_factory: StoreFactory) -> Library:
    """Three papers in the store of each backend (SQLite file, PostgreSQL database)."""
    library = Library(any_store_factory(), semantic=False)
    library.add_papers(
        [
            Paper(
                id="2401.00001",
                title="Speech recognition for low resource languages",
                abstract="We train speech recognition models for low resource languages.",
                source="test",
                metadata={"categories": ["cs.CL", "eess.AS"]},
            ),
            Paper(
                id="2506.00002",
                title="Speech recognition with diffusion decoders",
                abstract="Speech recognition improves with diffusion decoders.",
                source="test",
                metadata={"categories": ["cs.LG", "I.2.7"]},
            ),
            Paper(
                id="speech-notes",
                title="Notes on speech recognition",
                abstract="Undated notes about speech recognition systems.",
                source="test",
                metadata={"categories": ["cs.CL"]},
            ),
        ]
    )
    return library


def test_undated_papers_are_left_out_by_a_date_filter_only(small: Library) -> None:
    ids = {h.id for h in small.search("speech recognition")}
    assert ids == {"2401.00001", "2506.00002", "speech-notes"}
    assert {
        h.id for h in small.search("speech recognition", filters=Filters(categories=("CS.cl",)))
    } == {
        "2401.00001",
        "speech-notes",
    }
    assert [h.id for h in small.search("speech", filters=Filters(until=date(2030, 1, 1)))] != []
    assert "speech-notes" not in {
        h.id for h in small.search("speech", filters=Filters(until=date(2030, 1, 1)))
    }
    assert [h.id for h in small.search("speech", filters=Filters(since=date(2025, 1, 1)))] == [
        "2506.00002"
    ]


def test_categories_present_most_common_first(small: Library) -> None:
    assert small.categories() == [("cs.CL", 2), ("cs.LG", 1), ("eess.AS", 1)]
    small.add_papers(
        [
            Paper(
                id="2507.00003",
                title="Language models",
                abstract="A language model.",
                source="test",
                metadata={"categories": ["cs.LG"]},
            )
        ]
    )
    assert small.categories()[:2] == [("cs.CL", 2), ("cs.LG", 2)]
    assert small.categories(Scope(("default", "guild-9"))) == small.categories()


def test_an_answer_says_when_the_filter_leaves_no_paper(small: Library) -> None:
    answer = small.ask("speech recognition?", filters=Filters(categories=("cs.RO",)))
    assert not answer.answered and answer.reason == "filtered-out"
    assert small.passing(Filters(categories=("cs.RO",))) == 0
    assert small.passing(Filters(categories=("cs.CL",))) == 2
    kept = small.ask("speech recognition?", filters=Filters(categories=("cs.CL",)))
    assert kept.reason != "filtered-out"
    assert all(p.id in {"2401.00001", "speech-notes"} for p in kept.papers)


def test_facets_and_counts_read_the_same_on_each_backend(any_store_factory: StoreFactory) -> None:
    """Categories as the loaders store them (a list), as an older loader did (one string), odd
    values (numbers, nothing), and dates from ``published`` or the arXiv id."""
    from retrieval.filters import CategoryCounts, _category_rows, _facet_rows, paper_day

    store = any_store_factory()
    store.upsert(
        [
            Paper(id="2401.00001", title="A", abstract="A.", source="test",
                  metadata={"categories": ["cs.CL", "eess.AS"]}),
            Paper(id="2402.00002", title="B", abstract="B.", source="test",
                  metadata={"categories": "cs.LG  stat.ML"}),
            Paper(id="c", title="C", abstract="C.", source="test", published=date(2020, 5, 6),
                  metadata={"categories": ["cs.CL", 7, None, ""]}),
            Paper(id="d", title="D", abstract="D.", source="test", metadata={"other": 1}),
        ],
        "default",
    )  # fmt: skip
    pks = {str(pid): int(pk) for pid, pk in sql_rows(store, "SELECT id, pk FROM papers")}
    assert sorted(_category_rows(store.reader(), "default")) == sorted(
        [
            (pks["2401.00001"], "cs.CL"), (pks["2401.00001"], "eess.AS"),
            (pks["2402.00002"], "cs.LG"), (pks["2402.00002"], "stat.ML"),
            (pks["c"], "cs.CL"),
        ]
    )  # fmt: skip
    facets = {pk: (day, sorted(cats)) for pk, day, cats in _facet_rows(store.reader(), "default")}
    assert facets[pks["2401.00001"]] == (date(2024, 1, 1).toordinal(), ["cs.CL", "eess.AS"])
    assert facets[pks["2402.00002"]] == (date(2024, 2, 1).toordinal(), ["cs.LG", "stat.ML"])
    assert facets[pks["c"]] == (date(2020, 5, 6).toordinal(), ["cs.CL"])
    assert facets[pks["d"]] == (paper_day(None, "d"), [])
    assert CategoryCounts(store).counts("default") == Counter(
        {"cs.CL": 2, "eess.AS": 1, "cs.LG": 1, "stat.ML": 1}
    )
    assert CategoryCounts(store).counts("nothing-here") == Counter()


def test_a_full_build_of_a_filtered_collection_gets_its_facets_at_once(tmp_path: Path) -> None:
    from retrieval import filters as filters_module

    library = Library(
        PaperStore(tmp_path / "papers.db"), semantic=False, sparse_threshold=0, merge_at=10
    )
    library.add_papers(_papers(0, 300))
    unfiltered = library.index()
    assert unfiltered not in filters_module._cache  # nobody filtered: nothing read
    library.add_papers(_papers(300, 400))  # past merge_at: a full build
    assert library.index() not in filters_module._cache
    library.search("neural networks", filters=FILTERS[1])  # now somebody filters
    library.add_papers(_papers(400, 500))
    rebuilt = library.index()
    assert rebuilt.delta is None and rebuilt in filters_module._cache  # read with the build
