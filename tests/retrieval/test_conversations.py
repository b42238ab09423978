"""Conversations: stored answers, per-place turns that expire, references and follow-up answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import Settings
from retrieval.conversations import Conversations, resolve_references
from retrieval.search import Library
from retrieval.tokenize import default_tokenizer
from tests.retrieval.store_backends import AnyStore, StoreFactory

PAPERS = [
    ("2310.10505", "ReMax: A Simple, Effective, and Efficient Reinforcement Learning Method"),
    ("2406.08464", "Magpie: Alignment Data Synthesis from Scratch by Prompting Aligned LLMs"),
    ("speech", "SimpleSpeech 2: Towards Simple and Efficient Text-to-Speech"),
]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    root = tmp_path_factory.mktemp("conv")
    settings = Settings(_env_file=None, db_path=root / "x.db", data_dir=root)  # type: ignore[call-arg]
    return Library.open(settings)


@pytest.fixture
def store(any_store_factory: StoreFactory) -> AnyStore:
    """Where the answers and conversations are kept, on each backend (the answers themselves
    come from ``library``)."""
    return any_store_factory()


def refs(question: str) -> tuple[str, ...]:
    return resolve_references(question, PAPERS, default_tokenizer().terms).ids


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how does the second one compare?", ("2406.08464",)),
        ("what did the 2nd paper find?", ("2406.08464",)),
        ("and the last one?", ("speech",)),
        ("tell me about paper 3", ("speech",)),
        ("#2 please", ("2406.08464",)),
        ("is the first result open source?", ("2310.10505",)),
        ("what about the ReMax one", ("2310.10505",)),
        ("does magpie need a seed dataset?", ("2406.08464",)),
        ("the speech paper: is it zero-shot?", ("speech",)),
        ("compare both", tuple(pid for pid, _ in PAPERS)),
        ("what dataset did they use?", ()),
        ("which came first?", ()),
    ],
)
def test_references(question: str, expected: tuple[str, ...]) -> None:
    assert refs(question) == expected


def test_reference_words_are_not_searched() -> None:
    found = resolve_references("how does the second one compare?", PAPERS, str.split)
    assert "second" not in found.question and "compare" in found.question
    assert resolve_references("what dataset did they use?", PAPERS, str.split).pronoun


def test_turns_are_bounded_and_expire(library: Library, store: AnyStore) -> None:
    clock = FakeClock()
    conv = Conversations(store, clock=clock, ttl=3600, turns=2)
    answer = library.ask("reinforcement learning for aligning language models")
    ids = [conv.record(answer, 7, ("default",)) for _ in range(3)]
    assert all(ids)
    for aid in ids:
        assert aid is not None
        conv.add_turn(7, aid)
        clock.advance(minutes=10)
    turns = conv.conversation(7)
    assert [t.answer_id for t in turns] == ids[1:]  # only the last two
    assert turns[-1].paper_ids == tuple(p.id for p in answer.papers)
    assert turns[-1].quotes[answer.papers[0].id] == [
        (q.start, q.end) for q in answer.papers[0].quotes
    ]
    clock.advance(minutes=49)
    assert conv.conversation(7)  # 59 minutes after the last turn
    clock.advance(minutes=2)
    assert conv.conversation(7) == []  # an hour after: gone
    assert ids[0] is not None and conv.get(ids[0]) is not None  # answers stay for buttons


def test_answers_by_message_and_retention(library: Library, store: AnyStore) -> None:
    clock = FakeClock()
    conv = Conversations(store, clock=clock, retention_days=1, max_answers=3)
    answer = library.ask("text to speech")
    first = conv.record(answer, 1, ("default",))
    assert first is not None
    conv.attach_message(first, 555)
    conv.attach_thread(first, 777)
    record = conv.by_message(555)
    assert record is not None and record.answer_id == first and record.thread_id == 777
    for _ in range(3):
        conv.record(answer, 1, ("default",))
    assert conv.get(first) is None  # beyond max_answers: the oldest went
    clock.advance(days=2)
    conv.record(answer, 1, ("default",))
    count = store.reader().execute("SELECT COUNT(*) FROM bot_answers").fetchone()[0]
    assert count == 1  # past retention: pruned on the next write


def test_read_only_store_reads_empty(tmp_path: Path, library: Library) -> None:
    from retrieval.store import PaperStore

    store = PaperStore(tmp_path / "empty.db")
    conv = Conversations(store)
    assert conv.conversation(1) == [] and conv.get("x") is None and conv.by_message(1) is None


def test_missing_tables_read_empty_and_read_only_records_nothing(
    library: Library, any_store_factory: StoreFactory
) -> None:
    any_store_factory()  # the paper schema only
    conv = Conversations(any_store_factory(readonly=True))
    assert conv.conversation(1) == [] and conv.get("x") is None and conv.by_message(1) is None
    assert conv.record(library.ask("text to speech"), 1, ("default",)) is None
    conv.add_turn(1, "x")  # nothing to write to: a no-op, not an error
    assert conv.conversation(1) == []


def test_large_discord_ids_round_trip(library: Library, store: AnyStore) -> None:
    conv = Conversations(store, clock=FakeClock())
    place, message, thread = 1_180_000_000_000_000_001, 1_180_000_000_000_000_002, 2**62
    aid = conv.record(library.ask("text to speech"), place, ("default", "guild-1"))
    assert aid is not None
    conv.attach_message(aid, message)
    conv.attach_thread(aid, thread)
    conv.add_turn(place, aid)
    record = conv.by_message(message)
    assert record is not None
    assert (record.place, record.message_id, record.thread_id) == (place, message, thread)
    assert record.scope == ("default", "guild-1")
    assert [t.answer_id for t in conv.conversation(place)] == [aid]
    conv.end(place)
    assert conv.conversation(place) == []


def test_followup_names_a_previous_paper(library: Library) -> None:
    first = library.ask("preference optimization for RLHF alignment of language models")
    shown = [p.id for p in first.papers]
    assert len(shown) >= 2
    result = library.ask_followup(
        "how does the second one compare?", shown, previous_question=first.question
    )
    assert result.source == "previous"
    assert result.answer.answered and result.answer.papers[0].id == shown[1]
    assert result.answer.papers[0].quotes
    assert result.answer.question == "how does the second one compare?"


def test_followup_pronoun_uses_previous_papers(library: Library) -> None:
    first = library.ask("Magpie alignment data synthesis")
    shown = [p.id for p in first.papers]
    result = library.ask_followup("how many instructions did they generate?", shown)
    assert result.source == "previous"
    assert result.answer.papers[0].id == "2406.08464"


def test_followup_falls_back_to_the_collection(library: Library) -> None:
    first = library.ask("text to speech synthesis")
    shown = [p.id for p in first.papers]
    result = library.ask_followup(
        "what about passage ranking benchmarks in Chinese?", shown, previous_question=""
    )
    assert result.source == "collection"
    assert result.answer.papers and result.answer.papers[0].id not in shown


@pytest.mark.parametrize(
    ("question", "seeks"),
    [
        ("is there one that avoids phoneme alignment?", True),
        ("any other papers on long context?", True),
        ("what about text-video retrieval?", True),
        ("anything on idioms?", True),
        ("is there a dataset they used?", False),
        ("what about their memory use?", False),
        ("how does the second one compare?", False),
        ("what dataset did they use?", False),
    ],
)
def test_asking_for_another_paper_is_told_from_asking_about_the_shown_ones(
    question: str, seeks: bool
) -> None:
    from retrieval.conversations import seeks_another

    assert seeks_another(question) is seeks
