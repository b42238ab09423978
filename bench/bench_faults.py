"""Fault injection: concurrent ingests and readers, killed and interrupted at random moments.

Each round copies a base store (``--base-papers`` papers in ``default``, large enough that an
ingest into ``default`` re-indexes with worker processes, and 500 in ``other``), then runs at
once:

* ``--ingests`` ``paperbot ingest`` processes, each from its own generated JSONL file of
  ``--papers`` papers: all but the last into ``default`` (the second one also re-sends 200 of the
  first one's papers with new text: updates), the last into ``other``;
* ``--readers`` reader loops, each running ``paperbot search`` / ``ask`` / ``stats`` one after
  another against either collection until the ingests are done;
* faults: each ingest gets, at a random moment, Ctrl-C (SIGINT to its process group, as a
  terminal sends it), ``kill -9`` (its main process only: its index workers must die with it),
  or nothing; a few reader runs get one too.

Then it checks: ``PRAGMA integrity_check``; every paper of every ingest that reported success
(exit 0, or a Ctrl-C line saying its papers are saved) is in its collection (papers lost); every
ingest wrote all of its own papers or none (partial writes); tracebacks on any stderr; how long
each SIGINT'd process took to exit (over 2 s counts as a hang); reader runs that were not
signalled exited 0 with nothing on stderr but the "answering from the previous index" note;
worker processes left alive after their process died (orphans); and a search and a stats after
the round succeed. Every command is the real ``python -m cli`` in its own process.

    python -m bench.bench_faults                     # 20 rounds
    python -m bench.bench_faults --rounds 5 --base-papers 5000

Results go to stdout and bench/out/bench_faults.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
HANG_SECONDS = 2.0
ROUND_TIMEOUT = 300.0  # a process still running this long after its round started is hung
NOTE = "paperbot: note: the index of "
SYLLABLES = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "an", "or", "ix")]


# -- data -----------------------------------------------------------------------------------------
def _vocabulary(rng: random.Random) -> list[str]:
    return ["".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(20_000)]


def write_papers(path: Path, ids: list[str], rng: random.Random, vocab: list[str]) -> None:
    """BEIR lines (``_id``, ``title``, ``text``) of made-up words, one per id."""
    with path.open("w", encoding="utf-8") as fh:
        for pid in ids:
            title = " ".join(rng.choices(vocab, k=rng.randint(5, 10))).capitalize()
            text = " ".join(rng.choices(vocab, k=rng.randint(80, 160))) + "."
            fh.write(json.dumps({"_id": pid, "title": title, "text": text}) + "\n")


# -- processes ------------------------------------------------------------------------------------
def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env["PYTHONPATH"] = str(REPO)
    env["PAPERBOT_DATA_DIR"] = str(home / "data")
    return env


@dataclass
class Run:
    """One paperbot process: what it was, what was done to it, how it ended."""

    kind: str  # "ingest" or "reader"
    argv: list[str]
    proc: subprocess.Popen[str]
    started: float
    collection: str = "default"
    ids: list[str] = field(default_factory=list)
    unique: list[str] = field(default_factory=list)  # ids no other ingest of the round sends
    fault: str | None = None  # "sigint" or "kill9", once delivered
    signalled_at: float | None = None
    ended: float | None = None
    out: str = ""
    err: str = ""
    collector: threading.Thread | None = None

    @property
    def rc(self) -> int | None:
        return self.proc.returncode


def start(kind: str, argv: list[str], home: Path, **extra: Any) -> Run:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", *argv],
        cwd=home,
        env=_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, for a terminal-like Ctrl-C
    )
    run = Run(kind, argv, proc, time.monotonic(), **extra)

    def collect() -> None:
        run.out, run.err = proc.communicate()
        run.ended = time.monotonic()

    run.collector = threading.Thread(target=collect, daemon=True)
    run.collector.start()
    return run


def wait(run: Run, timeout: float) -> None:
    assert run.collector is not None
    run.collector.join(timeout)


def inject(run: Run, fault: str) -> bool:
    """Deliver ``fault`` if the process is still running; False if it had already ended."""
    if run.proc.poll() is not None:
        return False
    try:
        if fault == "sigint":
            os.killpg(run.proc.pid, signal.SIGINT)
        else:
            os.kill(run.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    run.fault, run.signalled_at = fault, time.monotonic()
    return True


def group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    alive = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.info["pid"]) == pgid and proc.info["status"] != "zombie":
                alive.append(proc.info["pid"])
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return alive


# -- one round ------------------------------------------------------------------------------------
@dataclass
class Totals:
    rounds: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    missed: int = 0  # faults drawn for a process that had already finished
    tracebacks: int = 0
    papers_checked: int = 0
    papers_lost: int = 0
    partial_writes: int = 0
    integrity_failures: int = 0
    sigint_exits: list[float] = field(default_factory=list)
    sigint_codes: Counter[int] = field(default_factory=Counter)
    hangs: int = 0  # SIGINT'd processes that took over HANG_SECONDS, or never ended
    ingest_codes: Counter[str] = field(default_factory=Counter)
    reader_runs: int = 0
    reader_unclean: int = 0
    reader_notes: int = 0
    reader_seconds: list[float] = field(default_factory=list)
    orphans: int = 0
    after_round_failures: int = 0
    problems: list[str] = field(default_factory=list)


def _stderr_lines(run: Run) -> list[str]:
    return [line for line in run.err.splitlines() if line.strip()]


def one_round(
    number: int, base: Path, work: Path, args: argparse.Namespace, totals: Totals
) -> None:
    rng = random.Random(f"{args.seed}-{number}")
    vocab = _vocabulary(rng)
    home = work / f"round-{number}"
    home.mkdir()
    db = home / "store.db"
    shutil.copy2(base, db)
    shutil.copytree(Path(str(base) + ".index"), Path(str(db) + ".index"))

    ingests: list[Run] = []
    first_ids: list[str] = []
    for i in range(args.ingests):
        collection = "other" if i == args.ingests - 1 and args.ingests > 1 else "default"
        unique = [f"r{number}-i{i}-{j}" for j in range(args.papers)]
        ids = unique + (first_ids[:200] if i == 1 else [])
        if i == 0:
            first_ids = unique
        path = home / f"ingest-{i}.jsonl"
        write_papers(path, ids, rng, vocab)
        argv = ["ingest", str(path), "--db", str(db), "--collection", collection]
        ingests.append(start("ingest", argv, home, collection=collection, ids=ids, unique=unique))
    if args.ingests > 1:  # the first ingest's re-sent papers are not its own alone any more
        ingests[0].unique = ingests[0].unique[200:]

    plans = []
    for run in ingests:
        fault = rng.choices(["sigint", "kill9", None], weights=[4, 3, 3])[0]
        plans.append((run, fault, rng.uniform(0.3, args.fault_window)))

    def fire(run: Run, fault: str, delay: float) -> None:
        time.sleep(delay)
        if inject(run, fault):
            totals.faults[f"{fault} ingest"] += 1
        else:
            totals.missed += 1

    timers = [threading.Thread(target=fire, args=plan, daemon=True) for plan in plans if plan[1]]
    for timer in timers:
        timer.start()

    readers: list[Run] = []
    readers_lock = threading.Lock()
    titles = [line for line in (home / "ingest-0.jsonl").read_text().splitlines()[:50]]

    def reader_loop(slot: int) -> None:
        r = random.Random(f"{args.seed}-{number}-{slot}")
        while any(run.proc.poll() is None for run in ingests) or r.random() < 0.5:
            what = r.choice(["search", "ask", "stats"])
            collection = r.choice(["default", "default", "other"])
            query = json.loads(r.choice(titles))["title"] if r.random() < 0.5 else "kazor vexi"
            argv = [what, "--db", str(db), "--collection", collection]
            argv += [] if what == "stats" else ["--json", query]
            run = start("reader", argv, home, collection=collection)
            with readers_lock:
                readers.append(run)
            draw = r.random()
            if draw < args.reader_faults:
                time.sleep(r.uniform(0.05, 1.0))
                fault = "sigint" if draw < args.reader_faults * 0.75 else "kill9"
                if inject(run, fault):
                    totals.faults[f"{fault} reader"] += 1
                else:
                    totals.missed += 1
            wait(run, ROUND_TIMEOUT)
            if run.ended is None:
                return

    loops = [
        threading.Thread(target=reader_loop, args=(slot,), daemon=True)
        for slot in range(args.readers)
    ]
    for loop in loops:
        loop.start()

    deadline = time.monotonic() + ROUND_TIMEOUT
    for run in ingests:
        wait(run, max(0.0, deadline - time.monotonic()))
    for thread in (*timers, *loops):
        thread.join(max(0.0, deadline - time.monotonic()))

    everyone = [*ingests, *readers]
    for run in everyone:
        if run.ended is None:  # hung: counted, then cleared away
            totals.problems.append(f"round {number}: {' '.join(run.argv[:2])} never ended")
            if run.fault == "sigint":
                totals.hangs += 1
            with contextlib.suppress(OSError):
                os.killpg(run.proc.pid, signal.SIGKILL)
            wait(run, 30)

    # Workers of a kill -9'd process must die with it (give them a moment).
    for run in everyone:
        if run.fault == "kill9":
            end = time.monotonic() + 10
            while group_alive(run.proc.pid) and time.monotonic() < end:
                time.sleep(0.1)
            left = group_alive(run.proc.pid)
            if left:
                totals.orphans += len(left)
                totals.problems.append(f"round {number}: orphans {left} of {run.argv[:2]}")
                for pid in left:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)

    _check_round(number, db, home, ingests, readers, totals)
    totals.rounds += 1
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


def _check_round(
    number: int, db: Path, home: Path, ingests: list[Run], readers: list[Run], totals: Totals
) -> None:
    for run in (*ingests, *readers):
        if "Traceback" in run.err:
            totals.tracebacks += 1
            totals.problems.append(f"round {number}: traceback from {run.argv[:2]}: {run.err}")
        if run.fault == "sigint" and run.ended is not None and run.signalled_at is not None:
            took = run.ended - run.signalled_at
            totals.sigint_exits.append(took)
            totals.sigint_codes[run.rc if run.rc is not None else -1] += 1
            if took > HANG_SECONDS:
                totals.hangs += 1
                totals.problems.append(
                    f"round {number}: {run.argv[:2]} took {took:.2f} s to exit after SIGINT"
                )
            lines = [line for line in _stderr_lines(run) if not line.startswith(NOTE)]
            if run.rc == 130 and (len(lines) != 1 or "interrupted" not in lines[0]):
                totals.problems.append(f"round {number}: SIGINT said {lines!r}")

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        if conn.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            totals.integrity_failures += 1
            totals.problems.append(f"round {number}: integrity_check failed")
        for run in ingests:
            outcomes = {None: "hung", 0: "ok", 130: "interrupted", -9: "killed"}
            totals.ingest_codes[outcomes.get(run.rc, f"exit {run.rc}")] += 1
            present = _present(conn, run.collection, run.ids)
            unique_present = sum(1 for pid in run.unique if pid in present)
            if unique_present not in (0, len(run.unique)):
                totals.partial_writes += 1
                totals.problems.append(
                    f"round {number}: {run.argv[1]} wrote {unique_present} of {len(run.unique)}"
                )
            kept = run.rc == 0 or (run.rc == 130 and "are saved in" in run.err)
            if kept:
                totals.papers_checked += len(run.ids)
                lost = len(run.ids) - len(present)
                if lost:
                    totals.papers_lost += lost
                    totals.problems.append(f"round {number}: {run.argv[1]} lost {lost} papers")

    for run in readers:
        if run.fault is not None:
            continue
        totals.reader_runs += 1
        if run.ended is not None:
            totals.reader_seconds.append(run.ended - run.started)
        lines = _stderr_lines(run)
        notes = [line for line in lines if line.startswith(NOTE)]
        totals.reader_notes += len(notes)
        if run.rc != 0 or len(notes) != len(lines):
            totals.reader_unclean += 1
            totals.problems.append(f"round {number}: reader {run.argv[:1]} rc {run.rc}: {lines}")

    # The store and its indexes stay usable: a search and stats after the round.
    for argv in (["search", "--json", "kazor vexi"], ["stats"]):
        run = start("reader", [*argv, "--db", str(db)], home)
        wait(run, ROUND_TIMEOUT)
        if run.rc != 0 or "Traceback" in run.err:
            totals.after_round_failures += 1
            totals.problems.append(f"round {number}: after the round, {argv[0]}: {run.err}")


def _present(conn: sqlite3.Connection, collection: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start_ in range(0, len(ids), 500):
        chunk = ids[start_ : start_ + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            row[0]
            for row in conn.execute(
                "SELECT p.id FROM papers p JOIN collection_papers c ON c.pk = p.pk"
                f" WHERE c.collection = ? AND p.id IN ({marks})",
                [collection, *chunk],
            )
        )
    return found


# -- main -----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--base-papers", type=int, default=42_000)
    parser.add_argument("--papers", type=int, default=3000, help="papers per ingest")
    parser.add_argument("--ingests", type=int, default=3, help="concurrent ingests per round")
    parser.add_argument("--readers", type=int, default=2, help="concurrent reader loops")
    parser.add_argument("--fault-window", type=float, default=10.0, help="latest fault, s")
    parser.add_argument("--reader-faults", type=float, default=0.15, help="share of reader runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the round directories")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="paperbot-faults-"))
    started = time.monotonic()
    try:
        base = work / "base.db"
        rng = random.Random(f"{args.seed}-base")
        write_papers(
            work / "base.jsonl",
            [f"base-{i}" for i in range(args.base_papers)],
            rng,
            _vocabulary(rng),
        )
        write_papers(
            work / "other.jsonl", [f"other-{i}" for i in range(500)], rng, _vocabulary(rng)
        )
        for name, collection in (("base.jsonl", "default"), ("other.jsonl", "other")):
            argv = ["ingest", str(work / name), "--db", str(base), "--collection", collection]
            subprocess.run(
                [sys.executable, "-m", "cli", *argv],
                cwd=work,
                env=_env(work),
                check=True,
                capture_output=True,
            )
        totals = Totals()
        for number in range(args.rounds):
            one_round(number, base, work, args, totals)
            print(
                f"round {number + 1}/{args.rounds}: faults {sum(totals.faults.values())}, "
                f"tracebacks {totals.tracebacks}, papers lost {totals.papers_lost}, "
                f"longest SIGINT exit {max(totals.sigint_exits, default=0.0):.2f} s",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(totals, args, time.monotonic() - started)


def report(totals: Totals, args: argparse.Namespace, seconds: float) -> None:
    longest = max(totals.sigint_exits, default=0.0)
    reader_times = sorted(totals.reader_seconds)
    summary = {
        "rounds": totals.rounds,
        "faults": dict(totals.faults),
        "faults_total": sum(totals.faults.values()),
        "faults_missed_process_already_done": totals.missed,
        "tracebacks": totals.tracebacks,
        "papers_checked": totals.papers_checked,
        "papers_lost": totals.papers_lost,
        "partial_writes": totals.partial_writes,
        "integrity_failures": totals.integrity_failures,
        "longest_exit_after_sigint_s": round(longest, 3),
        "sigint_exits_over_2s_or_hung": totals.hangs,
        "sigint_exit_codes": dict(totals.sigint_codes),
        "ingest_outcomes": dict(totals.ingest_codes),
        "reader_runs_unsignalled": totals.reader_runs,
        "reader_unclean_exits": totals.reader_unclean,
        "reader_previous_index_notes": totals.reader_notes,
        "reader_longest_s": round(reader_times[-1], 2) if reader_times else None,
        "reader_median_s": round(reader_times[len(reader_times) // 2], 2) if reader_times else None,
        "orphaned_workers": totals.orphans,
        "after_round_failures": totals.after_round_failures,
        "seconds": round(seconds, 1),
        "args": vars(args),
        "problems": totals.problems[:50],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_faults.json").write_text(json.dumps(summary, indent=1) + "\n")
    faults = ", ".join(f"{kind} {count}" for kind, count in sorted(totals.faults.items()))
    print(f"\nrounds run: {totals.rounds} ({seconds:.0f} s)")
    print(
        f"faults injected: {sum(totals.faults.values())} ({faults}); {totals.missed} drawn "
        "for a process that had already finished"
    )
    print(f"tracebacks: {totals.tracebacks}")
    print(
        f"papers lost: {totals.papers_lost} (of {totals.papers_checked:,} from ingests that "
        f"reported success or saved papers); partial writes: {totals.partial_writes}; "
        f"integrity_check failures: {totals.integrity_failures}"
    )
    print(
        f"longest hang after SIGINT: {longest:.2f} s ({len(totals.sigint_exits)} SIGINTs, "
        f"{totals.hangs} over {HANG_SECONDS:.0f} s or hung; exit codes "
        f"{dict(totals.sigint_codes)})"
    )
    print(f"ingests: {dict(totals.ingest_codes)}")
    median = summary["reader_median_s"]
    print(
        f"readers: {totals.reader_runs} unsignalled runs, {totals.reader_unclean} unclean "
        f"exits, {totals.reader_notes} answered from the previous index; median {median} s, "
        f"longest {summary['reader_longest_s']} s"
    )
    print(
        f"orphaned workers: {totals.orphans}; failures after a round: {totals.after_round_failures}"
    )
    for problem in totals.problems[:20]:
        print("  problem:", problem[:300])


if __name__ == "__main__":
    main()
