"""The digest's state and selection over a real store, with the day and time passed in."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from typing import Any

import pytest

from retrieval.digest import MAX_COUNT, MAX_FAILURES, Digests, clamp_count, parse_time
from retrieval.papers import Paper
from tests.retrieval.store_backends import AnyStore, StoreFactory, sqlite_only

D = date.fromisoformat
GUILD, CHANNEL, OTHER, ADMIN = 10, 20, 21, 30


def at(day: str, hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime.fromisoformat(day).replace(hour=int(hours), minute=int(minutes), tzinfo=UTC)


def listed(paper_id: str, day: str | None, upvotes: int | None) -> Paper:
    meta: dict[str, Any] = {}
    if day is not None:
        meta["hf_daily_date"] = day
    if upvotes is not None:
        meta["upvotes"] = upvotes
    return Paper(
        id=paper_id,
        title=f"Paper {paper_id}",
        abstract=f"We propose method {paper_id}. It works.",
        source="huggingface",
        metadata=meta,
    )


def day_list(day: str, prefix: str, upvotes: list[int]) -> list[Paper]:
    return [listed(f"{prefix}.{n:05d}", day, votes) for n, votes in enumerate(upvotes)]


@pytest.fixture
def store(any_store_factory: StoreFactory) -> AnyStore:
    """The paper store of each backend (SQLite file, PostgreSQL database)."""
    return any_store_factory()


@pytest.fixture
def digests(store: AnyStore) -> Digests:
    return Digests(store, "default")


def run(digests: Digests, now: datetime) -> dict[int, list[str]]:
    """One scheduler tick without Discord: every due digest is selected, claimed and posted."""
    out: dict[int, list[str]] = {}
    for digest in digests.due(now):
        selection = digests.select(digest, now.date())
        if selection is None:
            digests.skipped(digest, now.date())
            continue
        claim = digests.claim(digest, selection, now.date())
        assert claim is not None
        digests.posted(claim, 1000 + digest.channel_id)
        out[digest.channel_id] = [item.paper.id for item in selection.papers]
    return out


def test_times_and_counts() -> None:
    assert parse_time("8:00") == "08:00" and parse_time(" 23:59 ") == "23:59"
    assert parse_time("7h30") == "07:30"
    for bad in ("24:00", "8", "08:60", "noon", "", "8:5"):
        assert parse_time(bad) is None, bad
    assert clamp_count(0) == 1 and clamp_count(99) == MAX_COUNT


def test_top_n_by_upvotes_once_a_day_and_nothing_new_is_skipped(
    store: AnyStore, digests: Digests
) -> None:
    store.upsert(day_list("2026-06-11", "2601", [5, 1]), "default")
    store.upsert(day_list("2026-06-12", "2602", [3, 40, 7, 40, 0]), "default")
    store.upsert([listed("2603.00001", None, 99)], "default")  # not on any daily list
    store.upsert(day_list("2026-06-12", "2609", [500]), "guild-1")  # another collection
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="8:00", count=3, set_by=ADMIN,
        now=at("2026-06-12", "07:00"),
    )  # fmt: skip
    assert digests.due(at("2026-06-12", "07:59")) == []
    assert [d.channel_id for d in digests.due(at("2026-06-12", "08:00"))] == [CHANNEL]
    # Most upvoted first; ties by list order.
    assert run(digests, at("2026-06-12", "08:00")) == {
        CHANNEL: ["2602.00001", "2602.00003", "2602.00002"]
    }
    selection_day = digests.get(CHANNEL)
    assert selection_day is not None and selection_day.last_day == D("2026-06-12")
    assert run(digests, at("2026-06-12", "23:59")) == {}  # once a day
    # The next day has no new list: skipped (not yesterday's leftovers), and not retried.
    assert digests.due(at("2026-06-13", "08:00"))
    assert run(digests, at("2026-06-13", "08:00")) == {}
    assert digests.due(at("2026-06-13", "09:00")) == []
    # A list dated after "today" (a clock behind the store) is not posted early.
    store.upsert(day_list("2026-06-15", "2605", [1]), "default")
    assert run(digests, at("2026-06-14", "08:00")) == {}
    assert run(digests, at("2026-06-15", "08:00")) == {CHANNEL: ["2605.00000"]}
    assert [(p[0], p[1]) for p in digests.posts(CHANNEL)] == [
        ("2602.00001", D("2026-06-12")), ("2602.00002", D("2026-06-12")),
        ("2602.00003", D("2026-06-12")), ("2605.00000", D("2026-06-15")),
    ]  # fmt: skip


def test_downtime_posts_once_the_latest_day(store: AnyStore, digests: Digests) -> None:
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="08:00", count=2, set_by=ADMIN,
        now=at("2026-06-09", "12:00"),
    )  # fmt: skip
    for n, day in enumerate(("2026-06-10", "2026-06-11", "2026-06-12")):
        store.upsert(day_list(day, f"261{n}", [1, 2]), "default")
    # Down from the 9th to the 12th at 09:30: one run, with the 12th's list.
    assert run(digests, at("2026-06-12", "09:30")) == {CHANNEL: ["2612.00001", "2612.00000"]}
    assert run(digests, at("2026-06-12", "09:31")) == {}
    # The skipped days are not posted later either: they are older than the day last posted.
    assert run(digests, at("2026-06-13", "08:00")) == {}


def test_a_new_digest_starts_at_the_next_time_and_changing_it_keeps_its_state(
    store: AnyStore, digests: Digests
) -> None:
    store.upsert(day_list("2026-06-12", "2602", [1, 2, 3]), "default")
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="08:00", count=1, set_by=ADMIN,
        now=at("2026-06-12", "10:00"),
    )  # fmt: skip
    assert digests.due(at("2026-06-12", "10:00")) == []  # 08:00 today has passed: tomorrow
    assert run(digests, at("2026-06-13", "08:00")) == {CHANNEL: ["2602.00002"]}
    # Moved to 20:00 the same day: not a second digest today.
    changed = digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="20:00", count=2, set_by=ADMIN,
        now=at("2026-06-13", "09:00"),
    )  # fmt: skip
    assert (changed.at, changed.count, changed.last_run) == ("20:00", 2, D("2026-06-13"))
    assert run(digests, at("2026-06-13", "20:00")) == {}
    assert [d.channel_id for d in digests.of_guild(GUILD)] == [CHANNEL]
    assert digests.stop(CHANNEL) and not digests.stop(CHANNEL)
    assert digests.of_guild(GUILD) == [] and digests.due(at("2026-06-14", "23:00")) == []
    # Stopped and set again the same day, with a time still ahead: not a second digest today.
    store.upsert(day_list("2026-06-13", "2603", [1]), "default")
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="22:00", count=5, set_by=ADMIN,
        now=at("2026-06-13", "21:00"),
    )  # fmt: skip
    assert run(digests, at("2026-06-13", "22:00")) == {}
    assert digests.stop(CHANNEL)
    # Set again: the paper it had is not posted again.
    store.upsert(day_list("2026-06-14", "2604", [9]), "default")
    store.upsert([listed("2602.00002", "2026-06-14", 50)], "default")  # listed again
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="08:00", count=5, set_by=ADMIN,
        now=at("2026-06-14", "07:00"),
    )  # fmt: skip
    assert run(digests, at("2026-06-14", "08:00")) == {CHANNEL: ["2604.00000"]}


def test_channels_are_independent_and_state_survives_a_restart(
    store: AnyStore, digests: Digests, any_store_factory: StoreFactory
) -> None:
    store.upsert(day_list("2026-06-12", "2602", [4, 8]), "default")
    for channel, when in ((CHANNEL, "08:00"), (OTHER, "09:00")):
        digests.set(
            guild_id=GUILD, channel_id=channel, at=when, count=1, set_by=ADMIN,
            now=at("2026-06-11", "12:00"),
        )  # fmt: skip
    assert run(digests, at("2026-06-12", "08:30")) == {CHANNEL: ["2602.00001"]}
    store.close()
    again = Digests(any_store_factory(), "default")  # the same store, opened again
    assert run(again, at("2026-06-12", "08:45")) == {}
    assert run(again, at("2026-06-12", "09:00")) == {OTHER: ["2602.00001"]}
    assert run(again, at("2026-06-12", "10:00")) == {}


def test_claims_are_exclusive_and_failed_sends_are_released(
    store: AnyStore, digests: Digests
) -> None:
    store.upsert(day_list("2026-06-12", "2602", [1, 2]), "default")
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="08:00", count=1, set_by=ADMIN,
        now=at("2026-06-11", "12:00"),
    )  # fmt: skip
    now = at("2026-06-12", "08:00")
    (digest,) = digests.due(now)
    selection = digests.select(digest, now.date())
    assert selection is not None and selection.total == 2
    claim = digests.claim(digest, selection, now.date())
    assert claim is not None
    assert digests.claim(digest, selection, now.date()) is None  # a second tick or process
    # A rate limit: released, retried by a later tick, at most MAX_FAILURES times a day.
    for attempt in range(1, MAX_FAILURES + 1):
        assert digests.release(claim, retry=True) is (attempt < MAX_FAILURES)
        if attempt < MAX_FAILURES:
            (digest,) = digests.due(now)
            claim = digests.claim(digest, selection, now.date())
            assert claim is not None
    assert digests.due(now) == [] and digests.posts(CHANNEL) == []
    # Tomorrow it tries again, and the paper was never recorded as posted.
    assert run(digests, at("2026-06-13", "08:00")) == {CHANNEL: ["2602.00001"]}


def test_a_forbidden_channel_is_not_retried_today(store: AnyStore, digests: Digests) -> None:
    store.upsert(day_list("2026-06-12", "2602", [1]), "default")
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="08:00", count=1, set_by=ADMIN,
        now=at("2026-06-11", "12:00"),
    )  # fmt: skip
    now = at("2026-06-12", "08:00")
    (digest,) = digests.due(now)
    selection = digests.select(digest, now.date())
    assert selection is not None
    claim = digests.claim(digest, selection, now.date())
    assert claim is not None and digests.release(claim, retry=False) is False
    assert digests.due(at("2026-06-12", "09:00")) == []
    assert run(digests, at("2026-06-13", "08:00")) == {CHANNEL: ["2602.00000"]}
    digests.disable(CHANNEL, "off: the channel was deleted")
    off = digests.get(CHANNEL)
    assert off is not None and not off.on and digests.due(at("2026-06-14", "08:00")) == []


def test_day_index_follows_the_change_log(store: AnyStore, digests: Digests) -> None:
    store.upsert(day_list("2026-06-12", "2602", [1, 2]), "default")
    assert digests.sync_days() == 2 and digests.sync_days() == 0
    # Upvotes change during the day, and a paper is added to the list later, by another writer.
    store.upsert([listed("2602.00000", "2026-06-12", 30), listed("2602.00009", "2026-06-12", 5)])
    assert digests.sync_days() == 2  # only the changed papers are re-read
    assert digests.day_papers(D("2026-06-12")) == [
        ("2602.00000", 30), ("2602.00009", 5), ("2602.00001", 2),
    ]  # fmt: skip
    # A store whose log cannot tell (here: the sync marker lost) is read whole.
    with store.transaction() as conn:
        conn.execute("DELETE FROM digest_synced")
    assert digests.sync_days() == 3
    assert digests.day_papers(D("2026-06-12"))[0] == ("2602.00000", 30)


def test_a_read_only_store_reads_as_empty(any_store_factory: StoreFactory) -> None:
    writer = any_store_factory()
    writer.upsert(day_list("2026-06-12", "2602", [1]), "default")
    writer.close()
    store = any_store_factory(create=False, readonly=True)  # no digest tables were ever made
    digests = Digests(store, "default")
    assert not digests.writable and digests.sync_days() == 0
    assert digests.due(at("2026-06-12", "08:00")) == [] and digests.of_guild(GUILD) == []
    assert digests.get(CHANNEL) is None and digests.posts(CHANNEL) == []


@sqlite_only
def test_tables_are_plain_sqlite(store: AnyStore, digests: Digests) -> None:
    """The state is in the store's file, readable by anything that reads SQLite."""
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="08:00", count=3, set_by=ADMIN,
        now=at("2026-06-11", "12:00"),
    )  # fmt: skip
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT channel_id, at, count FROM digests").fetchall() == [
            (CHANNEL, "08:00", 3)
        ]


async def test_a_day_fetched_from_hugging_face_is_recorded_as_that_day() -> None:
    from tests.paths import require_shared

    require_shared()
    from retrieval.ingest.hf import HuggingFacePapers
    from tests.retrieval.ingest.conftest import fast_client
    from tests.retrieval.ingest.server import HF_DAILY, FixtureServer, rewrite_daily

    with FixtureServer() as server:
        # The recorded list says 2026-06-12 in every item; served as the 8th's list here.
        server.daily["2026-06-08"] = rewrite_daily(HF_DAILY.read_bytes(), "2601")
        async with fast_client() as http:
            hf = HuggingFacePapers(http, server.url)
            eighth = await hf.daily(D("2026-06-08"))
            today = await hf.daily()
    assert {p.metadata["hf_daily_date"] for p in eighth.papers} == {"2026-06-08"}
    assert {p.metadata["hf_daily_date"] for p in today.papers} == {"2026-06-12"}
    assert all(isinstance(p.metadata["upvotes"], int) for p in eighth.papers)


def test_two_processes_claiming_at_once_post_once(
    store: AnyStore, digests: Digests, any_store_factory: StoreFactory
) -> None:
    """Each worker opens the store itself (its own connections, as another process would)."""
    from concurrent.futures import ThreadPoolExecutor

    store.upsert(day_list("2026-06-12", "2602", [3, 1]), "default")
    digests.set(
        guild_id=GUILD, channel_id=CHANNEL, at="08:00", count=1, set_by=ADMIN,
        now=at("2026-06-11", "12:00"),
    )  # fmt: skip
    now = at("2026-06-12", "08:00")
    workers = [Digests(any_store_factory(), "default") for _ in range(6)]
    plans = []
    for worker in workers:  # every worker sees the digest due and selects the same paper
        (digest,) = worker.due(now)
        selection = worker.select(digest, now.date())
        assert selection is not None
        plans.append((worker, digest, selection))
    with ThreadPoolExecutor(len(plans)) as pool:
        claims = list(pool.map(lambda p: p[0].claim(p[1], p[2], now.date()), plans))
    assert sum(c is not None for c in claims) == 1
    assert [paper for paper, _, _ in digests.posts(CHANNEL)] == ["2602.00000"]
