"""One simulated week of daily refreshes: digests (and topic alerts, when that code is present)
posted exactly once each.

The week is Monday 2026-06-08 to Sunday 2026-06-14, walked one minute at a time by moving the
bot's injected clock (``bot.clock``) and calling the digest scheduler's tick, so nothing sleeps:

* every day at 06:00 another process (``python -m cli ingest file``) adds a slice of the
  arxiv-cs corpus (``shared/eval/arxiv-cs``) to the shared collection, as a harvester would;
* every day at 06:30 the bot's daily Hugging Face refresh (:class:`bot.daily.DailyRefresher`)
  fetches the day's list from a loopback server serving ``shared/fixtures/hf_daily_papers``.
  There is one recorded day (30 papers), so each weekday serves it with the ids moved to a
  prefix of that day (as ``tests/retrieval/ingest/server.rewrite_daily`` does), the day's date
  in ``submittedOnDailyAt`` and the upvotes rotated so each day has different leaders; Saturday
  and Sunday lists are empty; Thursday's list also carries Tuesday's most upvoted paper again
  (a re-featured paper: it must not be posted twice in a channel);
* the real bot (discord.py over real sockets to the Discord stand-in) has two digests, in two
  servers' channels: A at 08:00 (after the refresh: that day's list) and B at 06:00 (before it:
  the previous day's list), 5 papers each;
* Thursday 12:00 the bot restarts; Friday 07:30 it goes down until Saturday 09:00 (A's Friday
  digest is then posted once on Saturday, by the catch-up; the refresh catches up too).

Counted: digest messages per channel and simulated day, the Hugging Face day each one covered,
and every paper posted (from the store's record and from the messages themselves): each listed
day must be posted exactly once per channel and no paper twice. When ``/follow`` exists
(``bot.exts.follow``), each channel also follows a topic and an alert pass runs after each
ingest and refresh; alert messages and the papers in them are counted the same way.

    python -m bench.bench_week                 # 1000 arxiv-cs papers a day
    python -m bench.bench_week --per-day 200

Results go to stdout and bench/out/bench_week.json; the exit status is 1 if anything was posted
twice or a day was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gzip
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
SHARED = REPO.parent / "shared"
ARXIV_CS = SHARED / "eval" / "arxiv-cs" / "papers.jsonl.gz"

MONDAY = date(2026, 6, 8)
WEEK = [MONDAY + timedelta(days=n) for n in range(7)]
LISTED = WEEK[:5]  # Monday to Friday have a list; the weekend's are empty
PREFIXES = {day: f"99{n + 1:02d}" for n, day in enumerate(LISTED)}  # no real arXiv id is 99MM
DIGESTS = {"A": ("08:00", 5), "B": ("06:00", 5)}
TOPICS = {"A": "LLM agents that browse the web", "B": "diffusion models for image generation"}
ARXIV_AT, REFRESH_AT = "06:00", "06:30"
RESTART = datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
DOWN = (datetime(2026, 6, 12, 7, 30, tzinfo=UTC), datetime(2026, 6, 13, 9, 0, tzinfo=UTC))
_PAPER_ID = re.compile(r"(?:arxiv\.org/abs/|huggingface\.co/papers/)(\d{4}\.\d{4,5})")

_log = logging.getLogger("paperbot.bench.week")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def day_lists() -> tuple[dict[str, bytes], str]:
    """The recorded list as each weekday's list (see the module docstring), and the id of the
    paper listed twice."""
    from tests.retrieval.ingest.server import HF_DAILY

    recorded = json.loads(HF_DAILY.read_bytes())
    votes = [item["paper"]["upvotes"] for item in recorded]
    lists: dict[str, bytes] = {}
    tuesday_top: dict[str, Any] | None = None
    for n, day in enumerate(LISTED):
        items = json.loads(HF_DAILY.read_bytes())
        for k, item in enumerate(items):
            paper = item["paper"]
            paper["id"] = f"{PREFIXES[day]}.{paper['id'].split('.', 1)[1]}"
            paper["upvotes"] = votes[(k + 7 * n) % len(votes)]
            paper["submittedOnDailyAt"] = f"{day.isoformat()}T00:00:00.000Z"
        if day == LISTED[1]:
            tuesday_top = json.loads(json.dumps(max(items, key=lambda i: i["paper"]["upvotes"])))
        if day == LISTED[3] and tuesday_top is not None:
            again = json.loads(json.dumps(tuesday_top))
            again["paper"]["submittedOnDailyAt"] = f"{day.isoformat()}T00:00:00.000Z"
            items.append(again)
        lists[day.isoformat()] = json.dumps(items).encode()
    assert tuesday_top is not None
    return lists, str(tuesday_top["paper"]["id"])


def arxiv_slices(tmp: Path, per_day: int) -> list[Path]:
    """Seven consecutive slices of the arxiv-cs corpus, one file per day."""
    paths = [tmp / f"arxiv-{n}.jsonl" for n in range(len(WEEK))]
    handles = [p.open("w", encoding="utf-8") for p in paths]
    try:
        with gzip.open(ARXIV_CS, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if n >= per_day * len(WEEK):
                    break
                handles[n // per_day].write(line)
    finally:
        for h in handles:
            h.close()
    return paths


def ingest_elsewhere(db: Path, path: Path) -> float:
    """``paperbot ingest file`` in a process of its own (another writer of the same store)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cli", "ingest", "file", str(path), "--db", str(db)],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PAPERBOT_LOG_LEVEL": "WARNING"},
    )
    return time.perf_counter() - started


@dataclass
class Tally:
    """Messages and papers seen per channel label and simulated day."""

    digests: dict[str, dict[str, int]] = field(
        default_factory=lambda: collections.defaultdict(lambda: collections.defaultdict(int))
    )
    digest_days: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    digest_papers: dict[str, list[str]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    alerts: dict[str, dict[str, int]] = field(
        default_factory=lambda: collections.defaultdict(lambda: collections.defaultdict(int))
    )
    alert_papers: dict[str, list[str]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    seen: int = 0


def count_new(discord: Any, labels: dict[str, str], today: date, tally: Tally) -> None:
    messages = discord.channel_messages()
    for message in messages[tally.seen :]:
        label = labels.get(message["channel_id"])
        if label is None:
            continue
        text = json.dumps(message.get("embeds") or []) + (message.get("content") or "")
        ids = []
        for embed in message.get("embeds") or []:
            found = _PAPER_ID.search(embed.get("url") or "")
            if found:
                ids.append(found.group(1))
        if message["content"].startswith("**Hugging Face daily papers"):
            tally.digests[label][today.isoformat()] += 1
            day = re.search(r"\d{4}-\d{2}-\d{2}", message["content"])
            tally.digest_days[label].append(day.group(0) if day else "?")
            tally.digest_papers[label].extend(ids)
        else:
            tally.alerts[label][today.isoformat()] += 1
            tally.alert_papers[label].extend(sorted(set(_PAPER_ID.findall(text))))
    tally.seen = len(messages)


class Alerts:
    """Topic alerts in the same week, when ``/follow`` is there (another engineer's code)."""

    def __init__(self) -> None:
        self.available = False
        self.note = "not included: bot.exts.follow has no FollowCog with a delivery"
        self.passes = 0

    def attach(self, bot: Any, clock: Clock) -> bool:
        cog = bot.get_cog("FollowCog")
        delivery = getattr(cog, "delivery", None)
        if delivery is None or not hasattr(delivery, "run_once"):
            return False
        delivery.clock = clock  # the alerts read the same simulated time
        self.available = True
        self.note = "included"
        return True

    async def follow(self, discord: Any, where: dict[str, tuple[int, int]]) -> None:
        from tests.discord_standin.payloads import ChannelRef

        for label, (guild_id, channel_id) in where.items():
            ix = await discord.slash(
                "follow", guild_id=guild_id, topic=TOPICS[label], channel=ChannelRef(channel_id)
            )
            answer = await discord.wait_answer(ix, timeout=30)
            _log.info("follow %s: %s", label, json.dumps(answer)[:200])

    async def run(self, bot: Any) -> None:
        if not self.available:
            return
        cog = bot.get_cog("FollowCog")
        if cog is not None and getattr(cog, "delivery", None) is not None:
            await cog.delivery.run_once()
            self.passes += 1


async def simulate(tmp: Path, per_day: int) -> dict[str, Any]:
    from bot import create_bot
    from bot.daily import DailyRefresher
    from config.settings import Settings
    from retrieval.digest import Digests
    from retrieval.search import Library
    from tests.discord_standin import DiscordStandIn
    from tests.retrieval.ingest.server import FixtureServer

    slices = arxiv_slices(tmp, per_day)
    db = tmp / "x.db"
    clock = Clock(datetime(2026, 6, 8, 0, 0, tzinfo=UTC))
    tally = Tally()
    alerts = Alerts()
    ticks = 0
    outcomes: collections.Counter[str] = collections.Counter()
    ingest_s: list[float] = []
    refreshes: list[str] = []
    with FixtureServer() as upstream:
        upstream.daily_default = b"[]"
        upstream.daily, refeatured = day_lists()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            db_path=db,
            data_dir=tmp,
            hf_base_url=upstream.url,
            http_timeout=5.0,
            http_max_attempts=2,
            http_total_timeout=20.0,
            arxiv_min_interval=0.0,
            cooldown_rate=100,
        )
        library = Library.open(settings)  # the bundled seed corpus, as a fresh install
        async with DiscordStandIn() as discord:
            with discord.patch_discord():
                second = await discord.add_guild("second server")
                where = {
                    "A": (discord.guild_id, discord.channel_id),
                    "B": (second, discord.channel_of(second)),
                }
                labels = {str(c): label for label, (_, c) in where.items()}
                bot: Any = None
                task: asyncio.Task[None] | None = None

                async def start() -> Any:
                    nonlocal task
                    # A restart keeps the Library object: opening a second store object on the
                    # same file in one process is unsafe while another process writes it (its
                    # header check opens and closes the file, which drops every POSIX lock the
                    # process holds on it). A production restart is a new process; what the
                    # digest keeps across it is all in the store either way.
                    new = create_bot(
                        settings, library=library, clock=clock, guild_ready_timeout=0.05
                    )
                    task = asyncio.create_task(new.start(discord.token))
                    await asyncio.wait_for(new.wait_until_ready(), 60)
                    alerts.attach(new, clock)
                    return new

                async def stop(old: Any) -> None:
                    await old.close()
                    if task is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(task, 10)

                async def refresh(today: date) -> None:
                    refresher = DailyRefresher(settings, bot.require_library(), bot.state)
                    report = await refresher.run(today)
                    refreshes.append(f"{today}: {report.summary()}")
                    await alerts.run(bot)

                bot = await start()
                for label, (guild_id, channel_id) in where.items():
                    at, count = DIGESTS[label]
                    ix = await discord.slash(
                        "digest",
                        guild_id=guild_id,
                        channel=_channel_ref(channel_id),
                        time=at,
                        count=count,
                    )
                    answer = await discord.wait_answer(ix, timeout=30)
                    assert "Daily digest set up" in answer["content"], answer
                if alerts.available:
                    await alerts.follow(discord, where)
                start_s = time.perf_counter()
                for minute in range(len(WEEK) * 24 * 60):
                    now = datetime(2026, 6, 8, tzinfo=UTC) + timedelta(minutes=minute)
                    clock.now = now
                    hhmm = now.strftime("%H:%M")
                    if hhmm == ARXIV_AT:  # the other process runs whether the bot is up or not
                        ingest_s.append(ingest_elsewhere(db, slices[(now.date() - MONDAY).days]))
                        if bot is not None:
                            await alerts.run(bot)
                    if now == DOWN[0] and bot is not None:
                        await stop(bot)
                        bot = None
                    if now == RESTART and bot is not None:
                        await stop(bot)
                        bot = await start()
                    if now == DOWN[1]:
                        bot = await start()
                        await refresh(now.date())  # the refresh's own catch-up after downtime
                    if bot is None:
                        continue
                    if hhmm == REFRESH_AT:
                        await refresh(now.date())
                    cog = bot.get_cog("DigestCog")
                    for outcome in await cog.tick():
                        outcomes[outcome.status] += 1
                    ticks += 1
                    count_new(discord, labels, now.date(), tally)
                walk_s = time.perf_counter() - start_s
                digests = Digests(library.store, settings.collection)
                recorded = {
                    label: [p[0] for p in digests.posts(channel_id)]
                    for label, (_, channel_id) in where.items()
                }
                await stop(bot)
    result = report(tally, recorded, alerts, ticks, outcomes, ingest_s, refreshes, walk_s)
    result["refeatured_paper"] = {
        "id": refeatured,
        "listed_on": [LISTED[1].isoformat(), LISTED[3].isoformat()],
        "digests_posting_it": {
            label: tally.digest_papers[label].count(refeatured) for label in DIGESTS
        },
    }
    return result


def _channel_ref(channel_id: int) -> Any:
    from tests.discord_standin.payloads import ChannelRef

    return ChannelRef(channel_id)


def _twice(ids: list[str]) -> list[str]:
    return sorted(i for i, n in collections.Counter(ids).items() if n > 1)


def report(
    tally: Tally,
    recorded: dict[str, list[str]],
    alerts: Alerts,
    ticks: int,
    outcomes: collections.Counter[str],
    ingest_s: list[float],
    refreshes: list[str],
    walk_s: float,
) -> dict[str, Any]:
    listed = [d.isoformat() for d in LISTED]
    channels: dict[str, Any] = {}
    ok = True
    for label in DIGESTS:
        per_day = {d.isoformat(): tally.digests[label].get(d.isoformat(), 0) for d in WEEK}
        days = tally.digest_days[label]
        exactly_once = sorted(days) == listed and len(days) == len(set(days))
        twice = _twice(tally.digest_papers[label])
        consistent = sorted(tally.digest_papers[label]) == sorted(recorded[label])
        ok = ok and exactly_once and not twice and consistent
        channels[label] = {
            "time_utc": DIGESTS[label][0],
            "digest_messages_per_day": per_day,
            "hf_days_posted": days,
            "each_listed_day_exactly_once": exactly_once,
            "papers_posted": len(tally.digest_papers[label]),
            "papers_posted_twice": twice,
            "messages_match_store_record": consistent,
        }
        if alerts.available:
            a_twice = _twice(tally.alert_papers[label])
            ok = ok and not a_twice and max(tally.alerts[label].values(), default=0) <= 1
            channels[label]["alerts"] = {
                "topic": TOPICS[label],
                "alert_messages_per_day": {
                    d.isoformat(): tally.alerts[label].get(d.isoformat(), 0) for d in WEEK
                },
                "papers_alerted": len(tally.alert_papers[label]),
                "papers_alerted_twice": a_twice,
            }
    return {
        "week": f"{WEEK[0]}..{WEEK[-1]}",
        "listed_days": listed,
        "restart_at": RESTART.isoformat(),
        "down": [DOWN[0].isoformat(), DOWN[1].isoformat()],
        "channels": channels,
        "alerts": alerts.note,
        "alert_passes": alerts.passes,
        "ticks": ticks,
        # Ticks the bench made; the bot's own minute loop ticks too (same clock), so some
        # digests (e.g. right after a restart) are posted by it rather than by these.
        "bench_tick_outcomes": dict(outcomes),
        "refreshes": refreshes,
        "arxiv_ingest_s": [round(s, 2) for s in ingest_s],
        "walk_s": round(walk_s, 1),
        "all_exactly_once": ok,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-day", type=int, default=1000, help="arxiv-cs papers a day")
    args = parser.parse_args(argv)
    if not ARXIV_CS.exists():
        print(f"needs the shared data: {ARXIV_CS} is missing", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-week-") as tmp:
        result = asyncio.run(simulate(Path(tmp), args.per_day))
    result["per_day"] = args.per_day
    text = json.dumps(result, indent=2)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_week.json").write_text(text + "\n")
    return 0 if result["all_exactly_once"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
