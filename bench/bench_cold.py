"""Wall time of a cold ``paperbot ask`` on the bundled corpus (a new process each time).

Two cases: the very first run (creates the store from the bundled corpus and builds the index)
and later runs (the store and its saved index exist; this is the figure the target is about).

    python -m bench.bench_cold
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "how does XPO make DPO explore?"


def _command() -> list[str]:
    script = Path(sys.executable).with_name("paperbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def _run(env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([*_command(), "ask", QUESTION], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or "Exploratory Preference Optimization" not in proc.stdout:
        raise SystemExit(f"paperbot ask failed: {proc.stderr.strip()}")
    return elapsed


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="paperbot-cold-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env["PAPERBOT_DATA_DIR"] = str(data)
    try:
        first = _run(env)
        later = [_run(env) for _ in range(7)]
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"first run (creates store + index): {first:.3f} s")
    print(
        f"cold ask, store exists: median {statistics.median(later):.3f} s, "
        f"max {max(later):.3f} s over {len(later)} runs  (target <= 1.5 s)"
    )


if __name__ == "__main__":
    main()
