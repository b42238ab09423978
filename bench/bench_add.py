"""Time from ``/add`` to the paper being answerable, on a 100k-paper shared collection.

Two numbers, both over several different papers (the recorded Hugging Face daily list, served
one by one at ``/api/papers/{id}`` by the loopback fixture server):

* **Library level**: ``Library.add_papers([paper], "guild-…")`` then the first scoped search
  ``("default", "guild-…")`` that must return it (the guild's small index is built lazily here).
* **Bot level**: the real bot (in this process) over real sockets to the Discord stand-in and to
  the fixture server: fire ``/add``, wait for the paper card, fire ``/ask`` with the paper's
  title in the same guild, stop the clock when that answer quotes the paper. Also reported: the
  ``/add`` acknowledgement and card times, and a plain ``/ask`` on the same collection for scale.

The 100k store is ``bench/out/synthetic-100000.db`` (made by ``bench.synth.ensure_store`` when
missing). It is copied to a temporary directory first so the guild collections made here never
touch it, and its index is loaded (or rebuilt if stale) before any timing.

    python -m bench.bench_add                 # 100k papers, 10 adds
    python -m bench.bench_add --papers 10000 --adds 20

Results go to stdout and bench/out/bench_add.json. The stand-in, the fixture server and the bot
share this process and its two CPUs, so the bot-level numbers include their work too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"


def _papers(n: int) -> list[Any]:
    from retrieval.ingest.hf import parse_hf_item
    from tests.retrieval.ingest.server import HF_DAILY, HF_PAPER

    items = json.loads(HF_DAILY.read_bytes())
    papers = [parse_hf_item(item) for item in items]
    papers.append(parse_hf_item(json.loads(HF_PAPER.read_bytes())))
    return papers[:n]


def _copy_store(source: Path, dest_dir: Path) -> Path:
    dest = dest_dir / source.name
    shutil.copy2(source, dest)
    index = Path(str(source) + ".index")
    if index.exists():
        shutil.copytree(index, Path(str(dest) + ".index"))
    return dest


def _settings(db: Path, server_url: str) -> Any:
    from config.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        db_path=db,
        data_dir=db.parent,
        hf_base_url=server_url,
        arxiv_api_url=f"{server_url}/api/query",
        arxiv_oai_url=f"{server_url}/oai",
        arxiv_min_interval=0.0,  # same loopback host as "Hugging Face": no 3 s spacing here
        cooldown_rate=1000,
        cooldown_seconds=1.0,
    )


def library_level(library: Any, papers: list[Any]) -> list[float]:
    """Add-then-search per paper; ids moved to ``29xx.`` so each is new to the store."""
    from retrieval.search import Scope

    times = []
    for n, original in enumerate(papers):
        paper = original.model_copy(update={"id": "29" + original.id[2:]})
        guild = f"guild-bench-lib-{n}"
        start = time.perf_counter()
        library.add_papers([paper], guild)
        hits = library.search(paper.title, k=10, collection=Scope(("default", guild)))
        took = time.perf_counter() - start
        assert paper.id in [h.id for h in hits], f"{paper.id} not found after add"
        times.append(took)
    return times


async def bot_level(library: Any, settings: Any, papers: list[Any]) -> dict[str, list[float]]:
    from bot import create_bot
    from tests.discord_standin import DiscordStandIn

    out: dict[str, list[float]] = {"ack": [], "card": [], "answerable": [], "ask_only": []}
    async with DiscordStandIn() as discord:
        with discord.patch_discord():
            bot = create_bot(settings, library=library, guild_ready_timeout=0.05)
            task = asyncio.create_task(bot.start(discord.token))
            try:
                await asyncio.wait_for(bot.wait_until_ready(), 30)
                # Warm-up: one question (index and titles already in memory: this is the
                # steady state an /add meets in production).
                warm = await discord.slash("ask", question="gene expression in cancer cells")
                await discord.wait_answer(warm, timeout=60)
                for n, paper in enumerate(papers):
                    guild = await discord.add_guild(f"bench {n}")
                    ask_only = await discord.slash(
                        "ask", question=f"{paper.title}?", guild_id=guild
                    )
                    await discord.wait_answer(ask_only, timeout=60)
                    out["ask_only"].append(time.monotonic() - ask_only.fired_at)

                    ix = await discord.slash(
                        "add", paper=f"https://arxiv.org/abs/{paper.id}", guild_id=guild
                    )
                    card = await discord.wait_answer(ix, timeout=60)
                    assert "Added to this server's collection" in card["content"], card
                    out["ack"].append(ix.ack_latency or 0.0)
                    out["card"].append(time.monotonic() - ix.fired_at)
                    ask = await discord.slash("ask", question=f"{paper.title}?", guild_id=guild)
                    answer = await discord.wait_answer(ask, timeout=60)
                    text = json.dumps(answer)
                    assert f"arxiv.org/abs/{paper.id}" in text, f"{paper.id} not in the answer"
                    out["answerable"].append(time.monotonic() - ix.fired_at)
            finally:
                await bot.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 5)
    return out


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000, help="shared collection size")
    parser.add_argument("--adds", type=int, default=10, help="papers added (max 31)")
    args = parser.parse_args(argv)

    from bench.synth import ensure_store
    from retrieval.search import Library
    from tests.retrieval.ingest.server import FixtureServer

    source = OUT / f"synthetic-{args.papers}.db"
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_store(source, args.papers).close()
    papers = _papers(args.adds)
    with tempfile.TemporaryDirectory(prefix="bench-add-") as tmp, FixtureServer() as server:
        server.serve_daily_papers()
        db = _copy_store(source, Path(tmp))
        settings = _settings(db, server.url)
        started = time.perf_counter()
        library = Library.open(settings, seed=False)
        library.warm()
        warm_s = time.perf_counter() - started
        # The bot first, while the store does not have these papers yet: each /add downloads
        # its paper. The library level then adds renamed copies to guilds of its own.
        bot_times = asyncio.run(bot_level(library, settings, papers))
        fetched = len(server.requests_to("/api/papers/"))
        assert fetched == len(papers), f"{fetched} downloads for {len(papers)} adds"
        lib_times = library_level(library, papers)
    result = {
        "shared_papers": args.papers,
        "adds": len(papers),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "open_and_warm_s": round(warm_s, 2),
        "library_add_then_scoped_search": _stats(lib_times),
        "bot_add_ack": _stats(bot_times["ack"]),
        "bot_add_card": _stats(bot_times["card"]),
        "bot_add_to_answerable": _stats(bot_times["answerable"]),
        "bot_ask_only": _stats(bot_times["ask_only"]),
    }
    text = json.dumps(result, indent=2)
    print(text)
    (OUT / "bench_add.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
