"""Burst load on the bot: N ``/ask`` interactions fired at once through the loopback Discord.

The bot runs in its own process (so its memory and event-loop lag are its own), connected over
real sockets to the stand-in in this process, on the real Library over the bundled corpus. This
process fires the interactions and times, on one clock, when each was sent and when the bot's
acknowledgement (the defer) and answer arrived. The bot process runs a 5 ms ticker and reports the
worst gap between ticks: how long its event loop was ever blocked.

    python -m bench.bench_bot                # 50 at once, 3 bursts
    python -m bench.bench_bot --burst 50 --rounds 5
    python -m bench.bench_bot --index-workers 6 --index-niceness 0
        # the old behaviour: index work over 6 threads (asyncio's default pool size on 2 CPUs)
        # at the loop's own priority
    python -m bench.bench_bot --steps              # print the slowest single loop steps (stderr)
    BENCH_LOOP_DEBUG=1 python -m bench.bench_bot   # asyncio debug mode: steps > 20 ms (slow)

The loop lag is wall-clock: on a machine where other processes keep the CPUs busy, the kernel's
scheduling shows up in it too, so check the load average (reported) before comparing runs.

Results go to stdout and bench/out/bench_bot.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
TICK = 0.005


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _questions() -> list[str]:
    path = REPO / "tests" / "data" / "dev_questions.jsonl"
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------------- bot process
def _record_slow_steps(steps: list[tuple[float, str]], threshold: float = 0.003) -> None:
    """Time every callback the event loop runs; keep those over ``threshold`` seconds.

    Lighter than asyncio's debug mode (which slows everything down and so inflates what it
    measures); names the task or transport whose step held the loop.
    """
    import asyncio.events

    original = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        start = time.perf_counter()
        original(handle)
        took = time.perf_counter() - start
        if took > threshold:
            owner = getattr(handle._callback, "__self__", handle._callback)  # type: ignore[attr-defined]
            steps.append((took, repr(owner)[:140]))

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]


async def _child(
    api_base: str,
    gateway: str,
    token: str,
    db: str,
    index_workers: str,
    index_niceness: str,
    steps_flag: str,
) -> None:
    import discord.gateway
    import discord.http
    import psutil
    import yarl

    from bot import create_bot
    from config.settings import Settings

    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    settings = Settings(_env_file=None, db_path=Path(db), cooldown_rate=1000)  # type: ignore[call-arg]
    options: dict[str, Any] = {"guild_ready_timeout": 0.05}
    if int(index_workers) > 0:
        options["index_workers"] = int(index_workers)
    if int(index_niceness) >= 0:
        options["index_niceness"] = int(index_niceness)
    bot = create_bot(settings, **options)
    bot.library.warm()  # type: ignore[union-attr]

    lags: list[float] = []
    slow: list[float] = []  # durations of single loop steps over 20 ms (asyncio debug mode)
    if os.environ.get("BENCH_LOOP_DEBUG"):
        import logging
        import re

        class _Slow(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                match = re.search(r"took ([0-9.]+) seconds", record.getMessage())
                if match:
                    slow.append(float(match.group(1)))

        logging.getLogger("asyncio").addHandler(_Slow())
        asyncio.get_running_loop().set_debug(True)
        asyncio.get_running_loop().slow_callback_duration = 0.02

    steps: list[tuple[float, str]] = []
    if steps_flag == "1":
        _record_slow_steps(steps)

    # CPU time the loop thread itself used during each gap: a gap much longer than it means the
    # thread was not running code but waiting (for the GIL or for a CPU the kernel gave away).
    # The same for the index threads: if they ran through the gap, the loop was waiting for the
    # GIL; if neither ran, the kernel had given both CPUs to other processes.
    # And how often the kernel took the CPU away from the loop thread in each gap (involuntary
    # context switches): pre-emption by other processes rather than anything the bot does.
    busy: list[float] = []
    index_busy: list[float] = []
    preempted: list[int] = []

    def nivcsw() -> int:
        try:
            return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw  # type: ignore[attr-defined]
        except (AttributeError, OSError):  # RUSAGE_THREAD is Linux-only
            return 0

    def index_cpu() -> float:
        total = 0.0
        for thread in threading.enumerate():
            if thread.name.startswith("paperbot-index") and thread.ident is not None:
                with contextlib.suppress(OSError, AttributeError):  # ended, or not Linux/BSD
                    total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        return total

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        last, last_cpu, last_index, last_sw = loop.time(), time.thread_time(), index_cpu(), nivcsw()
        while True:
            await asyncio.sleep(TICK)
            now, cpu, index, sw = loop.time(), time.thread_time(), index_cpu(), nivcsw()
            lags.append(now - last - TICK)
            busy.append(cpu - last_cpu)
            index_busy.append(index - last_index)
            preempted.append(sw - last_sw)
            last, last_cpu, last_index, last_sw = now, cpu, index, sw

    runner = asyncio.create_task(bot.start(token))
    while not bot.is_ready():
        if runner.done():
            runner.result()
        await asyncio.sleep(0.02)
    tick_task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    print("READY", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the parent says when to report
    tick_task.cancel()
    for took, owner in sorted(steps, reverse=True)[:15]:
        print(f"slow step {took * 1000:6.1f} ms  {owner}", file=sys.stderr)
    rss = psutil.Process().memory_info().rss
    print(
        json.dumps(
            {
                "rss_mb": rss / 2**20,
                "loop_lag_max_ms": max(lags) * 1000 if lags else 0.0,
                "loop_lag_p99_ms": _pct(lags, 0.99) * 1000 if lags else 0.0,
                "worst_gap_loop_cpu_ms": busy[lags.index(max(lags))] * 1000 if lags else 0.0,
                "worst_gap_index_cpu_ms": index_busy[lags.index(max(lags))] * 1000 if lags else 0.0,
                "worst_gap_loop_preempted": preempted[lags.index(max(lags))] if lags else 0,
                "ticks": len(lags),
                "slow_steps_over_20ms": len(slow),
                "longest_step_ms": max(slow) * 1000 if slow else None,
            }
        ),
        flush=True,
    )
    await bot.close()
    runner.cancel()


# ----------------------------------------------------------------------------------- driver
async def _drive(
    burst: int, rounds: int, index_workers: int, index_niceness: int, steps: bool
) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from tests.discord_standin import DiscordStandIn

    questions = _questions()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        async with DiscordStandIn() as standin:
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.bench_bot",
                "--child",
                standin.api_base,
                standin.gateway_url,
                standin.token,
                db,
                str(index_workers),
                str(index_niceness),
                "1" if steps else "0",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=str(REPO),
            )
            assert proc.stdout is not None and proc.stdin is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line.strip() == b"READY", line
            acks: list[float] = []
            answers: list[float] = []
            answered = 0
            fired = 0
            for r in range(rounds):
                batch = [questions[(r * burst + i) % len(questions)] for i in range(burst)]
                interactions = await asyncio.gather(
                    *(
                        standin.slash("ask", user="alice" if i % 2 else "bob", question=q)
                        for i, q in enumerate(batch)
                    )
                )
                fired += len(interactions)
                results = await asyncio.gather(
                    *(standin.wait_answer(ix, timeout=30) for ix in interactions),
                    return_exceptions=True,
                )
                for ix, res in zip(interactions, results, strict=True):
                    if ix.ack_latency is not None and ix.callbacks[0].status == 200:
                        acks.append(ix.ack_latency)
                    if not isinstance(res, BaseException):
                        answered += 1
                        done = max(f.at for f in ix.followups) if ix.followups else ix.acked_at
                        answers.append(done - ix.fired_at)
                await asyncio.sleep(0.2)
            proc.stdin.write(b"report\n")
            await proc.stdin.drain()
            report = json.loads((await asyncio.wait_for(proc.stdout.readline(), 30)).decode())
            await asyncio.wait_for(proc.wait(), 30)
    return {
        "burst": burst,
        "rounds": rounds,
        "fired": fired,
        "acknowledged_in_3s": len(acks),
        "answered": answered,
        "ack_p50_ms": statistics.median(acks) * 1000,
        "ack_p99_ms": _pct(acks, 0.99) * 1000,
        "ack_max_ms": max(acks) * 1000,
        "answer_p50_ms": statistics.median(answers) * 1000,
        "answer_p99_ms": _pct(answers, 0.99) * 1000,
        **report,
        "index_workers": index_workers or "default",
        "index_niceness": index_niceness if index_niceness >= 0 else "default",
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(_child(*sys.argv[2:9]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--index-workers", type=int, default=0, help="threads for index work (0: the bot's default)"
    )
    parser.add_argument(
        "--index-niceness",
        type=int,
        default=-1,
        help="lower CPU priority of the index threads (-1: the bot's default, 0: none)",
    )
    parser.add_argument("--steps", action="store_true", help="print the slowest loop steps")
    args = parser.parse_args()
    result = asyncio.run(
        _drive(args.burst, args.rounds, args.index_workers, args.index_niceness, args.steps)
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_bot.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
