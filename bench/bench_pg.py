"""Several bot processes on one PostgreSQL store (issue #14): what it costs and how fast it reacts.

Measures, on a throwaway PostgreSQL cluster started here (Unix socket only, stopped at the end):

a. ingest of the 100k arXiv CS corpus (``../shared/eval/arxiv-cs``) into PostgreSQL and into
   SQLite through ``Library.add_papers`` (what ``paperbot ingest`` runs: one write transaction,
   then the index build); the file is parsed once beforehand, so both time the store only;
b. the index build from each store alone (``Library.rebuild``);
c. ``/ask`` latency across two real bot processes (``paperbot run``, one shard each, through the
   loopback Discord stand-in) over the 100k PostgreSQL store, under ``--concurrent`` slash
   commands fired at once, half in a guild of each shard: acknowledgement and answer, p50/p99;
d. time from a write by another process (one new paper upserted into the shared collection) to
   the paper being answerable on a bot process (polled with ``/ask`` every 0.2 s), with
   LISTEN/NOTIFY and with polling only (the fallback);
e. fail-over of the leadership: kill -9 the process holding it, time until the other holds it,
   with ``PAPERBOT_LEADER_CHECK_SECONDS`` at its default (5 s) and at 0.5 s (on a small store:
   the corpus size plays no part).

Writes ``bench/out/bench_pg.json`` and prints a table. Run: ``.venv/bin/python -m bench.bench_pg``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr

REPO = Path(__file__).resolve().parents[1]
ARXIV = REPO.parent / "shared" / "eval" / "arxiv-cs" / "papers.jsonl.gz"
OUT = REPO / "bench" / "out" / "bench_pg.json"

# Questions as a user of a CS-papers server would type them (not tuned on the results; the
# bench reports latency, not answer quality).
QUESTIONS = [
    "how can large language models be jailbroken with adversarial images?",
    "what methods reduce hallucination in vision-language models?",
    "how do graph neural networks handle heterophily?",
    "is there a way to make diffusion models sample faster?",
    "what is retrieval augmented generation and when does it fail?",
    "how do you detect out-of-distribution inputs for a classifier?",
    "federated learning with non-iid clients, what works?",
    "how to compress transformers for edge devices",
    "which reinforcement learning methods work offline from logged data?",
    "how do LLM agents use tools?",
    "approaches for 3D reconstruction from a single image",
    "how robust are code generation models to prompt changes?",
    "what are mixture of experts models good for?",
    "how is differential privacy applied to deep learning training?",
    "can LLMs be used to grade or judge other models?",
    "how do people evaluate text-to-video generation?",
    "speculative decoding speedups for LLM inference",
    "methods for multi-agent path finding",
    "what causes catastrophic forgetting in continual learning?",
    "how to align language models with human preferences without RL?",
]

log = logging.getLogger("bench.pg")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def settings_for(data_dir: Path, url: str | None) -> Any:
    from config.settings import Settings

    values: dict[str, Any] = {"data_dir": data_dir, "semantic": False}
    if url:
        values["database_url"] = SecretStr(url)
    else:
        values["db_path"] = data_dir / "papers.db"
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def new_database(admin_url: str) -> str:
    import psycopg

    name = f"paperbot_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = admin_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


# ------------------------------------------------------------------------------ a, b
def ingest_and_build(papers: list[Any], data_dir: Path, url: str | None) -> dict[str, Any]:
    from retrieval.search import Library

    library = Library.open(settings_for(data_dir, url), seed=False)
    start = time.perf_counter()
    result = library.add_papers(papers)
    ingest_s = time.perf_counter() - start
    start = time.perf_counter()
    library.rebuild()
    build_s = time.perf_counter() - start
    count = library.count()
    library.store.close()
    return {
        "papers": count,
        "added": result.added,
        "ingest_s": round(ingest_s, 2),  # write + index build, as paperbot ingest does
        "rebuild_s": round(build_s, 2),  # index build alone, from the store
        "write_s_approx": round(ingest_s - build_s, 2),
    }


# ------------------------------------------------------------------------------ bots
class Bots:
    """Two bot processes (shards 0 and 1 of 2) and the stand-in with a guild on each shard."""

    def __init__(self, discord: Any, url: str, root: Path, seed_dir: Path | None) -> None:
        self.discord = discord
        self.url = url
        self.root = root
        self.seed_dir = seed_dir  # a data dir holding a built index to copy (saves a build)
        self.procs: dict[int, Any] = {}
        self.guild: dict[int, int] = {}
        self.runs = 0

    async def guilds(self) -> None:
        discord = self.discord
        discord.shard_count = 2
        on = {discord._shard_of(discord.guild_id): discord.guild_id}
        while len(on) < 2:
            gid = await discord.add_guild(f"server {len(discord.guilds)}")
            on.setdefault(discord._shard_of(gid), gid)
        self.guild = on

    async def start(self, shard: int, **env: str) -> Any:
        from tests.bot_process import BotProcess

        self.runs += 1
        data = self.root / f"run{self.runs}-p{shard}"
        if self.seed_dir is not None:
            shutil.copytree(self.seed_dir, data)
        full = {
            "PAPERBOT_DISCORD_TOKEN": self.discord.token,
            "PAPERBOT_DATABASE_URL": self.url,
            "PAPERBOT_SHARD_COUNT": "2",
            "PAPERBOT_SHARD_IDS": str(shard),
            "PAPERBOT_DATA_DIR": str(data),
            "PAPERBOT_SEMANTIC": "false",
            "PAPERBOT_COOLDOWN_RATE": "1000",
            **env,
        }
        proc = BotProcess(
            f"p{shard}-{self.runs}",
            api=self.discord.api_base,
            gateway=self.discord.gateway_url,
            env=full,
            log_dir=self.root,
        )
        self.procs[shard] = proc
        await proc.wait_ready(timeout=300)
        return proc

    async def start_both(self, **env: str) -> None:
        await self.start(0, **env)  # first: it takes the leadership
        await self.start(1, **env)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.procs.clear()

    async def ask(self, question: str, shard: int, timeout: float = 120) -> tuple[Any, str, float]:
        from bot.render.markup import unrender
        from tests.bot.test_e2e import all_text

        ix = await self.discord.slash("ask", question=question, guild_id=self.guild[shard])
        message = await self.discord.wait_answer(ix, timeout=timeout)
        answered = time.monotonic()
        return ix, " ".join(unrender(all_text(message)).split()), answered - ix.fired_at


async def concurrent_asks(bots: Bots, n: int) -> dict[str, Any]:
    jobs = [
        bots.ask(QUESTIONS[i % len(QUESTIONS)], i % 2, timeout=300) for i in range(n)
    ]  # fired together: each coroutine sends its INTERACTION_CREATE at once
    started = time.monotonic()
    results = await asyncio.gather(*jobs, return_exceptions=True)
    wall = time.monotonic() - started
    acks, answers, failed = [], [], 0
    for result in results:
        if isinstance(result, BaseException):
            failed += 1
            continue
        ix, _, latency = result
        if ix.ack_latency is not None:
            acks.append(ix.ack_latency)
        answers.append(latency)
    late = sum(1 for a in acks if a > 3.0)
    return {
        "interactions": n,
        "failed": failed,
        "acks_over_3s": late,
        "ack_p50_s": pct(acks, 0.5),
        "ack_p99_s": pct(acks, 0.99),
        "answer_p50_s": pct(answers, 0.5),
        "answer_p99_s": pct(answers, 0.99),
        "answer_max_s": max(answers) if answers else None,
        "wall_s": round(wall, 2),
        "callbacks_per_interaction": sorted(
            {len(ix.callbacks) for ix in bots.discord.interactions.values()}
        ),
    }


async def write_to_answer(bots: Bots, label: str, trials: int, shard: int) -> dict[str, Any]:
    from retrieval.papers import Paper
    from retrieval.store_pg import PgPaperStore

    times = []
    for trial in range(trials):
        word = f"zorbulate{label}{trial}"
        paper = Paper(
            id=f"bench-{label}-{trial}",
            title=f"{word.capitalize()} networks for streaming graph partitioning",
            abstract=(
                f"We present {word} networks, which partition a streaming graph into balanced "
                "parts with one pass over the edges and a constant memory budget."
            ),
            source="bench",
        )
        store = PgPaperStore(bots.url, path=bots.root / f"writer-{label}-{trial}.db")
        written = time.monotonic()
        await asyncio.to_thread(store.upsert, [paper], "default")
        store.close()
        while True:
            _, text, _ = await bots.ask(f"what are {word} networks?", shard)
            if word.capitalize() in text:
                times.append(time.monotonic() - written)
                break
            if time.monotonic() - written > 120:
                times.append(float("inf"))
                break
            await asyncio.sleep(0.2)
    return {
        "trials": trials,
        "seconds": [round(t, 2) for t in times],
        "median_s": round(statistics.median(times), 2),
    }


async def failover(bots: Bots, check: float, trials: int) -> dict[str, Any]:
    env = {"PAPERBOT_LEADER_CHECK_SECONDS": str(check)}
    await bots.start_both(**env)
    times = []
    for _ in range(trials):
        leader = next(s for s, p in bots.procs.items() if p.leading())
        other = 1 - leader
        follower = bots.procs[other]
        assert not follower.leading()
        bots.procs[leader].kill()
        killed = time.monotonic()
        while not follower.leading() and time.monotonic() - killed < 60:
            await asyncio.sleep(0.01)
        times.append(time.monotonic() - killed)
        await bots.start(leader, **env)  # back as a follower for the next trial
    bots.stop_all()
    return {
        "leader_check_seconds": check,
        "trials": trials,
        "seconds": [round(t, 2) for t in times],
        "median_s": round(statistics.median(times), 2),
        "max_s": round(max(times), 2),
    }


# ------------------------------------------------------------------------------ main
async def run(args: argparse.Namespace, admin_url: str, root: Path) -> dict[str, Any]:
    from retrieval.loaders import open_source
    from tests.discord_standin import DiscordStandIn

    report: dict[str, Any] = {"corpus": str(ARXIV.relative_to(REPO.parent))}
    start = time.perf_counter()
    papers = list(open_source(ARXIV))[: args.papers]
    report["parse_s"] = round(time.perf_counter() - start, 2)
    log.info("parsed %d papers in %.1fs", len(papers), report["parse_s"])

    big_url = new_database(admin_url)
    pg_dir = root / "pg-data"
    report["postgres"] = await asyncio.to_thread(ingest_and_build, papers, pg_dir, big_url)
    log.info("postgres: %s", report["postgres"])
    report["sqlite"] = await asyncio.to_thread(ingest_and_build, papers, root / "sq-data", None)
    log.info("sqlite: %s", report["sqlite"])
    del papers

    async with DiscordStandIn() as discord:
        bots = Bots(discord, big_url, root, pg_dir)
        await bots.guilds()
        try:
            await bots.start_both()
            await bots.ask(QUESTIONS[0], 0)  # first queries load what warm() left cold
            await bots.ask(QUESTIONS[0], 1)
            report["ask_concurrent"] = await concurrent_asks(bots, args.concurrent)
            log.info("ask: %s", report["ask_concurrent"])
            report["write_to_answer_notify"] = await write_to_answer(bots, "n", args.trials, 1)
            log.info("notify: %s", report["write_to_answer_notify"])
            bots.stop_all()
            await bots.start_both(PAPERBOT_TEST_NO_LISTEN="1")
            report["write_to_answer_polling"] = await write_to_answer(bots, "p", args.trials, 1)
            log.info("polling: %s", report["write_to_answer_polling"])
            bots.stop_all()
            small = Bots(discord, new_database(admin_url), root, None)
            small.guild = bots.guild
            await asyncio.to_thread(_seed_small, small.url, root / "small-seed")
            report["failover"] = [
                await failover(small, check, args.failover_trials) for check in (5.0, 0.5)
            ]
            log.info("failover: %s", report["failover"])
        finally:
            bots.stop_all()
    return report


def _seed_small(url: str, data_dir: Path) -> None:
    from retrieval.search import Library

    Library.open(settings_for(data_dir, url)).store.close()


def table(report: dict[str, Any]) -> str:
    rows = [("measure", "PostgreSQL", "SQLite")]
    pg, sq = report["postgres"], report["sqlite"]
    rows.append(("papers", f"{pg['papers']:,}", f"{sq['papers']:,}"))
    rows.append(("ingest (write + index), s", str(pg["ingest_s"]), str(sq["ingest_s"])))
    write = ("  of which write (approx), s", str(pg["write_s_approx"]), str(sq["write_s_approx"]))
    rows.append(write)
    rows.append(("index build from store, s", str(pg["rebuild_s"]), str(sq["rebuild_s"])))
    lines = [f"{a:<34} {b:>12} {c:>12}" for a, b, c in rows]
    ask = report.get("ask_concurrent")
    if ask:
        lines.append("")
        lines.append(
            f"/ask x{ask['interactions']} at once over 2 processes: ack p50 {ask['ack_p50_s']:.3f}s"
            f" p99 {ask['ack_p99_s']:.3f}s (over 3 s: {ask['acks_over_3s']}); answer p50"
            f" {ask['answer_p50_s']:.2f}s p99 {ask['answer_p99_s']:.2f}s; failed {ask['failed']}"
        )
    for key, label in (
        ("write_to_answer_notify", "write -> answerable on the other process, LISTEN/NOTIFY"),
        ("write_to_answer_polling", "write -> answerable on the other process, polling only"),
    ):
        if key in report:
            lines.append(f"{label}: median {report[key]['median_s']}s {report[key]['seconds']}")
    for item in report.get("failover", []):
        lines.append(
            f"leadership fail-over (check every {item['leader_check_seconds']}s): median"
            f" {item['median_s']}s, max {item['max_s']}s {item['seconds']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=None, help="first N papers (default all)")
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--trials", type=int, default=3, help="writes timed per mode")
    parser.add_argument("--failover-trials", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not ARXIV.exists():
        print(f"needs {ARXIV}", file=sys.stderr)
        return 2
    from tests.postgres import _start_cluster

    cluster = _start_cluster()
    if isinstance(cluster, str):
        print(f"no PostgreSQL: {cluster}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="paperbot-bench-pg-"))
    try:
        report = asyncio.run(run(args, cluster.admin_url, root))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    report["machine"] = {"cores": os.cpu_count()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(report))
    print(f"written to {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
