"""The README's first two commands, as a newcomer runs them on a fresh clone.

`make demo` is run for real in a fresh clone (it creates its own virtualenv and installs the
package). `make test` is what CI itself runs on a fresh clone, so here we only check that the
README names it and that `.ci/run` calls exactly it (running it from inside the suite would
recurse).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO


def _readme_commands() -> list[str]:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    commands = [line.strip().strip("`") for line in lines[:12] if line.strip().startswith("`make ")]
    return commands


def test_readme_starts_with_the_two_commands() -> None:
    assert _readme_commands()[:2] == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert commands[-1] == "make test"


def test_make_demo_on_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.fail("git and make are needed to check the README commands")
    if not (REPO / ".git").exists():
        pytest.fail("the README check needs the repository's git history")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "VIRTUAL_ENV"))}
    env["HOME"] = str(tmp_path / "home")  # nothing from the developer's own data dir
    env["PYTHON"] = sys.executable
    proc = subprocess.run(
        ["make", "demo", f"PYTHON={sys.executable}"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Exploratory Preference Optimization" in proc.stdout
    assert "Segment Any Text" in proc.stdout
    assert (clone / "data" / "demo.db").exists()
