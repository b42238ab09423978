"""``paperbot ingest`` as one command: files and remote sources, run as a subprocess the way a
user runs them, against real SQLite files and (for the remote sources) the loopback server
replaying recorded Hugging Face and arXiv answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.errors import ExitCode
from retrieval.index import index_root
from retrieval.index.persist import read_manifest
from retrieval.store import PaperStore
from tests.cli.test_cli import ok, run, user_error
from tests.paths import FIXTURES, REPO
from tests.retrieval.ingest.server import Fault, FixtureServer

KAGGLE = FIXTURES / "kaggle_arxiv_snapshot" / "arxiv-metadata-oai-snapshot.first10.jsonl"


def aimed_at(server: FixtureServer) -> dict[str, str]:
    """Settings that send every remote source to the loopback server."""
    return {
        "PAPERBOT_HF_BASE_URL": server.url,
        "PAPERBOT_ARXIV_API_URL": f"{server.url}/api/query",
        "PAPERBOT_ARXIV_OAI_URL": f"{server.url}/oai",
        "PAPERBOT_ARXIV_MIN_INTERVAL": "0",
    }


def saved_generation(db: Path, collection: str = "default") -> int | None:
    found = read_manifest(index_root(db, collection))
    return None if found is None else found[1]["generation"]


def test_ingest_file_and_its_shorthand_are_the_same_command(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    first = ok(run(["ingest", "file", str(KAGGLE), "--db", str(db), "--collection", "c"], tmp_path))
    assert first.splitlines() == [
        f"{KAGGLE.name} (kaggle-arxiv) -> collection 'c': 10 added, 0 updated, 0 unchanged, "
        "0 skipped",
        "indexed 10 papers (okapi engine)",
    ]
    again = ok(run(["ingest", str(KAGGLE), "--db", str(db), "--collection", "c"], tmp_path))
    assert again == first.replace("10 added", "0 added").replace("0 unchanged", "10 unchanged")
    # options may come before the path too; without --collection, the default collection
    assert "collection 'default': 10 added" in ok(
        run(["ingest", "--db", str(db), "-v", str(KAGGLE)], tmp_path)
    )
    store = PaperStore(db, create=False)
    assert store.count("c") == 10 and store.count("default") == 10
    assert saved_generation(db, "c") == store.generation("c")


def test_help_documents_the_sources_and_the_shorthand(tmp_path: Path) -> None:
    out = ok(run(["ingest", "--help"], tmp_path))
    assert "`paperbot ingest PATH` is short for `paperbot ingest file PATH`" in " ".join(
        out.split()
    )
    for source in ("file", "hf-daily", "hf-paper", "arxiv", "oai"):
        assert f"\n    {source} " in out


def test_a_word_that_is_not_a_source_is_a_path(tmp_path: Path) -> None:
    assert user_error(run(["ingest", "arxvi"], tmp_path)) == "paperbot: no such file: arxvi"


def test_a_remote_ingest_is_answerable_at_once(tmp_path: Path) -> None:
    """The papers are searchable right after the ingest, from the index it saved: the saved
    index is at the store's generation, and searching does not rebuild it."""
    db = tmp_path / "p.db"
    with FixtureServer() as server:
        env = aimed_at(server)
        assert "10 added" in ok(run(["ingest", str(KAGGLE), "--db", str(db)], tmp_path, None, env))
        out = ok(
            run(
                ["ingest", "hf-daily", "--date", "2026-06-12", "--db", str(db)], tmp_path, None, env
            )
        )
    fetched, indexed = out.splitlines()
    assert fetched.endswith("collection 'default': 30 added, 0 updated, 0 unchanged")
    assert indexed == "indexed 40 papers (okapi engine)"
    store = PaperStore(db, create=False)
    assert saved_generation(db) == store.generation("default") == 2
    current = (index_root(db, "default") / "CURRENT").read_text()

    paper = store.get("2606.12730")
    assert paper is not None
    hits = json.loads(ok(run(["search", "--json", paper.title, "--db", str(db)], tmp_path)))
    assert hits["results"][0]["id"] == "2606.12730"
    assert (index_root(db, "default") / "CURRENT").read_text() == current  # nothing rebuilt


def test_a_bad_setting_is_the_same_line_for_file_and_remote_ingests(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PAPERBOT_BM25_K1=-3\n")
    lines = {
        user_error(run(argv, tmp_path))
        for argv in (
            ["ingest", str(KAGGLE)],
            ["ingest", "file", str(KAGGLE)],
            ["ingest", "hf-daily", "--date", "2026-06-12"],
            ["ingest", "oai", "--set", "cs"],
        )
    }
    assert lines == {"paperbot: invalid setting bm25_k1: Input should be greater than 0"}
    (tmp_path / ".env").unlink()
    long = "c" * 101  # an option is a setting too
    lines = {
        user_error(run(argv, tmp_path))
        for argv in (
            ["ingest", str(KAGGLE), "--collection", long],
            ["ingest", "hf-paper", "2608.09888", "--collection", long],
        )
    }
    assert len(lines) == 1 and lines.pop().startswith("paperbot: invalid setting collection: ")
    assert not (tmp_path / "data").exists()  # refused before any store was opened


def test_exit_codes(tmp_path: Path) -> None:
    """0 done, 1 the upstream failed, 2 the command needs fixing; one ``paperbot:`` line."""
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "USAGE": 2,
        "INTERRUPTED": 130,
    }
    db = tmp_path / "p.db"
    with FixtureServer() as server:
        env = aimed_at(server)
        done = run(["ingest", "hf-paper", "2608.09888", "--db", str(db)], tmp_path, None, env)
        assert done.returncode == ExitCode.OK and done.stderr == ""
        upstream = run(["ingest", "hf-paper", "2601.00002", "--db", str(db)], tmp_path, None, env)
        usage = run(["ingest", "hf-daily", "--date", "tomorrow"], tmp_path, None, env)
    assert upstream.returncode == ExitCode.FAILED, upstream.stderr
    assert upstream.stderr == (
        f"paperbot: GET {server.url}/api/papers/2601.00002: "
        "Hugging Face has no paper 2601.00002 (HTTP 404)\n"
    )
    assert usage.returncode == ExitCode.USAGE
    assert usage.stderr.startswith("paperbot: argument --date: 'tomorrow' is not a date")
    assert usage.stderr.count("\n") == 1
    assert PaperStore(db, create=False).count() == 1  # the failed run changed nothing


def test_ctrl_c_during_a_fetch_writes_nothing_and_exits_130(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env |= {"PAPERBOT_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)}
    with FixtureServer() as server:
        env |= aimed_at(server)
        server.fault("/api/papers", Fault.hang(30))
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "ingest", "hf-paper", "2608.09888"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not server.seen and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert server.seen, "the request never arrived"
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert (out, err) == ("", "paperbot: interrupted: nothing was written\n")
    assert not (tmp_path / "data" / "paperbot.db").exists()


@pytest.mark.parametrize("argv", [["ingest"], ["ingest", "hf-daily", "--to", "2026-06-12"]])
def test_usage_errors_name_no_traceback(tmp_path: Path, argv: list[str]) -> None:
    assert user_error(run(argv, tmp_path)).startswith("paperbot: ")
