"""Followed topics: saving, listing, removing, and what is due (new, matching, once per place)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retrieval.follows import (
    AlreadyFollowed,
    EmptyTopic,
    Follows,
    TooManyFollows,
    normalised_bm25,
)
from retrieval.papers import Paper
from retrieval.search import Library
from tests.retrieval.store_backends import AnyStore, StoreFactory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FILLER = [
    ("Graph neural networks for molecules", "We propose a graph network for molecular property."),
    ("Speech recognition at scale", "We train a speech recognizer on many hours of audio."),
    ("Robot grasping with tactile sensing", "We study robot grasping of unknown objects."),
    ("Image segmentation with transformers", "We introduce a segmentation model for images."),
    ("Compilers for tensor programs", "We present a compiler that optimizes tensor programs."),
    (
        "Federated learning under privacy",
        "We analyse federated learning with differential privacy.",
    ),
]


def paper(pid: str, title: str, abstract: str) -> Paper:
    return Paper(id=pid, title=title, abstract=abstract, source="test")


def rag(pid: str, extra: str = "") -> Paper:
    return paper(
        pid,
        f"Retrieval augmented generation {extra}".strip(),
        "Large language models hallucinate. We propose a retrieval augmented generation method "
        f"that retrieves passages before generation. {extra}",
    )


def make_library(store: AnyStore) -> Library:
    store.upsert([paper(f"2401.{i:05d}", t, a) for i, (t, a) in enumerate(FILLER)], "default")
    return Library(store, semantic=False, persist=False)


@pytest.fixture
def lib(any_store_factory: StoreFactory) -> Library:
    """A library over the store of each backend (SQLite file, PostgreSQL database)."""
    return make_library(any_store_factory())


def follows(lib: Library, **kw: object) -> Follows:
    return Follows(lib, min_score=0.3, **kw)  # type: ignore[arg-type]


def test_follow_list_unfollow_and_autocomplete(lib: Library) -> None:
    f = follows(lib)
    a = f.follow(
        owner_id=1, topic="  Retrieval  augmented generation", guild_id=9, channel_id=99, now=T0
    )
    b = f.follow(owner_id=1, topic="robot grasping", guild_id=None, channel_id=None, now=T0)
    f.follow(owner_id=2, topic="speech recognition", guild_id=9, channel_id=None, now=T0)
    assert a.topic == "Retrieval augmented generation" and a.place == "channel:99"
    assert b.by_dm and b.place == "user:1"
    assert [x.topic for x in f.of_user(1)] == ["Retrieval augmented generation", "robot grasping"]
    assert {x.owner_id for x in f.of_guild(9)} == {1, 2}
    assert [x.id for x in f.topics(1, "ROB")] == [b.id]
    assert [x.id for x in f.topics(1, "gener")] == [a.id]
    assert f.topics(2, "robot") == []  # only one's own topics
    assert f.find_own(1, str(a.id)) == a and f.find_own(1, "robot  GRASPING") == b
    assert f.find_own(2, str(a.id)) is None
    assert f.unfollow(2, a.id) is None  # not theirs
    assert f.unfollow(1, a.id) == a and f.get(a.id) is None


def test_refusals(lib: Library) -> None:
    f = follows(lib, max_per_user=2, max_per_guild=1)
    with pytest.raises(EmptyTopic):
        f.follow(owner_id=1, topic=" the of ", guild_id=None, channel_id=None, now=T0)
    f.follow(owner_id=1, topic="robot grasping", guild_id=5, channel_id=50, now=T0)
    with pytest.raises(AlreadyFollowed):
        f.follow(owner_id=1, topic="Robot Grasping", guild_id=5, channel_id=50, now=T0)
    with pytest.raises(TooManyFollows):  # the server's channel follows are capped
        f.follow(owner_id=2, topic="speech", guild_id=5, channel_id=51, now=T0)
    f.follow(owner_id=1, topic="robot grasping", guild_id=None, channel_id=None, now=T0)
    with pytest.raises(TooManyFollows):  # and so are a user's
        f.follow(owner_id=1, topic="speech", guild_id=None, channel_id=None, now=T0)


def test_only_new_matching_papers_best_first_once_per_day_and_never_twice(lib: Library) -> None:
    f = follows(lib, per_message=2)
    lib.add_papers([rag("2401.00100")])  # before the follow: never announced
    fol = f.follow(
        owner_id=1, topic="retrieval augmented generation", guild_id=None, channel_id=None, now=T0
    )
    assert [d.matches for d in f.due(T0)] == [[]]
    lib.add_papers(
        [
            rag("2402.00001"),
            rag("2402.00002", "retrieval retrieval generation"),
            rag("2402.00003", "augmented"),
            paper("2402.00004", "Better robot grasping", "We propose robot grasping."),
        ]
    )
    (due,) = f.due(T0 + timedelta(hours=1))
    assert due.follow.id == fol.id and due.examined == 4
    ids = [m.paper.id for m in due.matches]
    assert len(ids) == 2 and due.more == 1 and "2402.00004" not in ids
    scores = [m.score for m in due.matches]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    for m in due.matches:  # the gist is a verbatim sentence of the abstract
        assert m.paper.abstract[m.gist.start : m.gist.end] == m.gist.text
    f.delivered(due, T0 + timedelta(hours=1))
    # Same day: even a new matching paper waits for tomorrow.
    lib.add_papers([rag("2402.00005", "waiting")])
    assert f.due(T0 + timedelta(hours=2)) == []
    tomorrow = T0 + timedelta(days=1)
    (due,) = f.due(tomorrow)
    assert [m.paper.id for m in due.matches] == ["2402.00005"]
    f.delivered(due, tomorrow)
    # Re-ingesting the same papers (an update) never announces them again to that place.
    lib.add_papers([rag("2402.00005", "waiting v2"), rag("2402.00001", "v2")])
    (due,) = f.due(T0 + timedelta(days=2))
    assert "2402.00005" not in [m.paper.id for m in due.matches]


def test_no_match_moves_the_cursor_without_using_the_day(lib: Library) -> None:
    f = follows(lib)
    f.follow(
        owner_id=1, topic="retrieval augmented generation", guild_id=None, channel_id=None, now=T0
    )
    lib.add_papers([paper("2402.00009", "Sorting networks", "We propose sorting networks.")])
    (due,) = f.due(T0)
    assert due.matches == [] and due.examined == 1
    f.examined(due)
    lib.add_papers([rag("2402.00010")])
    (due,) = f.due(T0)
    assert due.examined == 1 and [m.paper.id for m in due.matches] == ["2402.00010"]


def test_postponed_papers_are_kept_for_the_next_day(lib: Library) -> None:
    f = follows(lib)
    f.follow(
        owner_id=1, topic="retrieval augmented generation", guild_id=None, channel_id=None, now=T0
    )
    lib.add_papers([rag("2402.00011")])
    (due,) = f.due(T0)
    f.postpone(due, T0)
    assert f.due(T0 + timedelta(hours=3)) == []
    (due,) = f.due(T0 + timedelta(days=1))
    assert [m.paper.id for m in due.matches] == ["2402.00011"]


def test_a_claim_released_after_a_failed_send_announces_nothing(lib: Library) -> None:
    f = follows(lib)
    f.follow(
        owner_id=1, topic="retrieval augmented generation", guild_id=None, channel_id=None, now=T0
    )
    lib.add_papers([rag("2402.00012")])
    (due,) = f.due(T0)
    assert f.delivered(due, T0) == 1  # claimed before sending
    f.release(due, T0)  # the send failed
    f.postpone(due, T0)
    assert f.due(T0 + timedelta(hours=3)) == []
    (due,) = f.due(T0 + timedelta(days=1))
    assert [m.paper.id for m in due.matches] == ["2402.00012"]  # not counted as announced
    assert f.delivered(due, T0 + timedelta(days=1)) == 1


def test_guild_follows_see_their_server_papers_only(lib: Library) -> None:
    f = follows(lib)
    here = f.follow(
        owner_id=1, topic="retrieval augmented generation", guild_id=7, channel_id=70, now=T0
    )
    dm = f.follow(
        owner_id=1, topic="retrieval augmented generation", guild_id=None, channel_id=None, now=T0
    )
    other = f.follow(
        owner_id=2, topic="retrieval augmented generation", guild_id=8, channel_id=80, now=T0
    )
    lib.add_papers([rag("2402.00020")], "guild-7")
    got = {d.follow.id: [m.paper.id for m in d.matches] for d in f.due(T0)}
    assert got == {here.id: ["2402.00020"], dm.id: [], other.id: []}


def test_one_place_gets_a_paper_once_even_from_two_follows(lib: Library) -> None:
    f = follows(lib)
    f.follow(owner_id=1, topic="retrieval augmented generation", guild_id=7, channel_id=70, now=T0)
    f.follow(owner_id=2, topic="retrieval generation", guild_id=7, channel_id=70, now=T0)
    lib.add_papers([rag("2402.00030")])
    dues = f.due(T0)
    assert sum(len(d.matches) for d in dues) == 1


def test_papers_written_by_another_process_are_seen(any_store_factory: StoreFactory) -> None:
    lib = make_library(any_store_factory())
    f = follows(lib)
    f.follow(
        owner_id=1, topic="retrieval augmented generation", guild_id=None, channel_id=None, now=T0
    )
    before = f.stamp()
    other = Library(any_store_factory(), semantic=False, persist=False)  # the same store
    other.add_papers([rag("2402.00040")])
    assert f.stamp() != before
    (due,) = f.due(T0)
    assert [m.paper.id for m in due.matches] == ["2402.00040"]


def test_without_a_change_log_new_memberships_are_read_by_time(lib: Library) -> None:
    f = follows(lib)
    f.follow(
        owner_id=1,
        topic="retrieval augmented generation",
        guild_id=None,
        channel_id=None,
        now=datetime.now(UTC),
    )
    lib.add_papers([rag("2402.00050")])
    with lib.store.transaction() as conn:  # as after a change too large to list
        conn.execute("DELETE FROM collection_changes")
    (due,) = f.due(datetime.now(UTC))
    assert [m.paper.id for m in due.matches] == ["2402.00050"]


def test_disabled_follows_are_not_due(lib: Library) -> None:
    f = follows(lib)
    fol = f.follow(owner_id=1, topic="robot grasping", guild_id=3, channel_id=30, now=T0)
    assert f.disable_channel(30, "channel deleted") == 1
    assert f.get(fol.id).disabled == "channel deleted"  # type: ignore[union-attr]
    lib.add_papers([paper("2402.00060", "Robot grasping", "We propose robot grasping.")])
    assert f.due(T0) == []


def test_normalised_score_needs_every_word_and_stays_within_0_and_1(lib: Library) -> None:
    index = lib.index()
    rows = [(1, "Robot grasping", "We propose robot grasping of objects.")]
    assert 0 < normalised_bm25(lib, index, "robot grasping", rows)[1] <= 1
    assert normalised_bm25(lib, index, "robot grasping objects", rows)[1] > 0
    # A word the paper does not use: no match, unless partial matches are allowed.
    partial = "robot grasping of unknown objects with tactile"
    assert normalised_bm25(lib, index, partial, rows)[1] == 0.0
    loose = normalised_bm25(lib, index, partial, rows, require_all=False, together=False)[1]
    assert 0 < loose < normalised_bm25(lib, index, "robot grasping", rows)[1]
    assert normalised_bm25(lib, index, "speech", rows)[1] == 0.0


def test_every_word_must_be_said_in_one_sentence_or_the_title(lib: Library) -> None:
    index = lib.index()
    scattered = [(1, "A study", "We write code for robots. A benchmark of chairs follows.")]
    one_sentence = [(2, "A study", "We build a benchmark for code generation. It is hard.")]
    in_title = [(3, "Code generation benchmarks", "We build one. Code matters; so do benchmarks.")]
    topic = "code generation benchmarks"
    assert normalised_bm25(lib, index, "code benchmark", scattered)[1] == 0.0
    assert normalised_bm25(lib, index, "code benchmark", scattered, together=False)[1] > 0
    assert normalised_bm25(lib, index, topic, one_sentence)[2] > 0
    assert normalised_bm25(lib, index, topic, in_title)[3] > 0


def test_read_only_store_follows_nothing(any_store_factory: StoreFactory) -> None:
    make_library(any_store_factory()).store.close()
    ro = Library(any_store_factory(readonly=True), semantic=False, persist=False)
    f = follows(ro)
    assert f.of_user(1) == [] and f.due(T0) == [] and f.topics(1, "") == []


def test_discord_sized_ids_and_null_places_match_on_each_backend(lib: Library) -> None:
    f = follows(lib)
    guild, channel, owner = 1_180_000_000_000_000_001, 1_180_000_000_000_000_002, 2**62
    made = f.follow(owner_id=owner, topic="robot grasping", guild_id=guild, channel_id=channel,
                    now=T0)  # fmt: skip
    dm = f.follow(owner_id=owner, topic="robot grasping", guild_id=guild, channel_id=None, now=T0)
    assert (made.guild_id, made.channel_id, made.owner_id) == (guild, channel, owner)
    assert dm.channel_id is None and dm.id != made.id
    # the same topic again, in the same channel or by DM from the same server: refused
    for channel_id in (channel, None):
        with pytest.raises(AlreadyFollowed):
            f.follow(owner_id=owner, topic="Robot  grasping", guild_id=guild,
                     channel_id=channel_id, now=T0)  # fmt: skip
    assert [x.id for x in f.of_guild(guild)] == sorted([made.id, dm.id])
    assert f.unfollow(owner, dm.id) == dm and f.of_user(owner) == [made]
