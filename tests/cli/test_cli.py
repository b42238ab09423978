"""The ``paperbot`` command end to end, as a subprocess, the way a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import FIXTURES, REPO


def run(
    args: list[str],
    tmp_path: Path,
    stdin: str | None = None,
    settings: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``paperbot ARGS`` in ``tmp_path``; ``settings`` are extra ``PAPERBOT_*`` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env["PAPERBOT_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(REPO)
    env.update(settings or {})
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=tmp_path,  # no stray .env from the developer's checkout
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def user_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paperbot: "), proc.stderr
    return lines[0]


def test_search_on_the_bundled_corpus(tmp_path: Path) -> None:
    out = ok(run(["search", "which paper segments text without punctuation?"], tmp_path))
    assert out.splitlines()[0].startswith(" 1. Segment Any Text")
    assert (tmp_path / "data" / "paperbot.db").exists()


def test_search_json_shape(tmp_path: Path) -> None:
    out = ok(run(["search", "--json", "--top-k", "3", "XPO exploration DPO"], tmp_path))
    payload = json.loads(out)
    assert payload["query"] == "XPO exploration DPO"
    assert len(payload["results"]) == 3
    first = payload["results"][0]
    assert set(first) == {"id", "title", "score"} and first["id"] == "2405.21046"
    assert isinstance(first["score"], float)


def test_search_batch_one_json_line_per_query(tmp_path: Path) -> None:
    queries = "speech synthesis\n\nthe of and\nmultilingual embedding benchmark\n"
    out = ok(run(["search", "--batch", "--top-k", "2"], tmp_path, stdin=queries))
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["query"] for x in lines] == [  # a blank line in, an empty result out
        "speech synthesis",
        "",
        "the of and",
        "multilingual embedding benchmark",
    ]
    assert lines[1]["results"] == lines[2]["results"] == []
    assert all(len(x["results"]) == 2 for x in (lines[0], lines[3]))
    assert lines[3]["results"][0]["id"] == "2502.13595"


def test_ask_json_quotes_are_verbatim(tmp_path: Path) -> None:
    payload = json.loads(ok(run(["ask", "--json", "how does XPO make DPO explore?"], tmp_path)))
    assert payload["question"] == "how does XPO make DPO explore?"
    assert payload["answered"] is True
    top = payload["papers"][0]
    assert top["id"] == "2405.21046" and top["url"]
    bundled = {
        json.loads(line)["id"]: json.loads(line)
        for line in ok(run(["export"], tmp_path)).splitlines()
    }
    abstract = bundled[top["id"]]["abstract"]
    assert top["quotes"]
    for quote in top["quotes"]:
        assert abstract[quote["start"] : quote["end"]] == quote["text"]


def test_ask_batch(tmp_path: Path) -> None:
    questions = "how does XPO make DPO explore?\nwhat is the capital of Peru?\n"
    out = ok(run(["ask", "--batch", "--json"], tmp_path, stdin=questions))
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["question"] for a in answers] == questions.split("\n")[:2]
    assert answers[0]["answered"] is True


def test_ask_plain_text(tmp_path: Path) -> None:
    out = ok(run(["ask", "which paper segments text without punctuation?"], tmp_path))
    assert "Segment Any Text" in out
    assert "\x1b[" not in out  # no colour codes in a pipe


def test_ingest_beir_file_with_bad_lines(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    good = [
        {"_id": f"d{i}", "title": f"Doc {i}", "text": f"Quasar spectra number {i}."}
        for i in range(5)
    ]
    lines = (
        [json.dumps(d) for d in good[:2]]
        + ["{not json"]
        + [json.dumps(d) for d in good[2:]]
        + [json.dumps({"_id": "d9", "title": "x", "text": ""})]
    )
    corpus.write_text("\n".join(lines) + "\n")
    db = tmp_path / "mine.db"
    out = ok(run(["ingest", str(corpus), "--db", str(db), "--collection", "astro"], tmp_path))
    assert "5 added" in out and "2 skipped" in out
    assert "line 3" in out and "line 7" in out
    hits = json.loads(
        ok(
            run(
                ["search", "--json", "quasar spectra", "--db", str(db), "--collection", "astro"],
                tmp_path,
            )
        )
    )
    assert len(hits["results"]) == 5
    again = ok(run(["ingest", str(corpus), "--db", str(db), "--collection", "astro"], tmp_path))
    assert "0 added" in again and "5 unchanged" in again


def test_ingest_kaggle_and_export_round_trip(tmp_path: Path) -> None:
    kaggle = FIXTURES / "kaggle_arxiv_snapshot" / "arxiv-metadata-oai-snapshot.first10.jsonl"
    db = tmp_path / "k.db"
    assert "10 added" in ok(run(["ingest", str(kaggle), "--db", str(db)], tmp_path))
    exported = tmp_path / "export.jsonl"
    ok(run(["export", "--db", str(db), "--out", str(exported)], tmp_path))
    db2 = tmp_path / "k2.db"
    assert "10 added" in ok(run(["ingest", str(exported), "--db", str(db2)], tmp_path))
    a = ok(run(["export", "--db", str(db)], tmp_path))
    b = ok(run(["export", "--db", str(db2)], tmp_path))
    assert a == b and len(a.splitlines()) == 10
    assert json.loads(a.splitlines()[0])["id"] == "0704.0001"


def test_stats(tmp_path: Path) -> None:
    payload = json.loads(ok(run(["stats", "--json"], tmp_path)))
    assert payload["collections"][0]["collection"] == "default"
    assert payload["collections"][0]["papers"] == 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search"], "give a query"),
        (["search", "?!"], "nothing searchable"),
        (["ask"], "ask a question"),
        (["search", "x", "--db", "/nonexistent/dir/none.db"], "no paper store"),
        (["ingest", "/nonexistent/file.jsonl"], "no such file"),
        (["ingest", "file", "/nonexistent/file.jsonl"], "no such file"),
        (["ingest", "file"], "required: path"),
        (["ingest", "arxiv", "--ids", "1", "--max", "0"], "must be at least 1"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_user_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    assert message in user_error(run(args, tmp_path))


def test_malformed_and_empty_files_are_user_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "empty" in user_error(run(["ingest", str(empty)], tmp_path)).lower()
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"nope": 1}\n{"also": 2}\n')
    user_error(run(["ingest", str(junk)], tmp_path))
    folder = tmp_path / "folder"
    folder.mkdir()
    assert "directory" in user_error(run(["ingest", str(folder)], tmp_path))


def test_bad_setting_is_a_user_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PAPERBOT_BM25_K1=-3\n")
    assert "bm25_k1" in user_error(run(["search", "alignment"], tmp_path))


def test_not_a_store_is_a_user_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("definitely not sqlite " * 200)
    assert "not a paperbot store" in user_error(run(["search", "x", "--db", str(bogus)], tmp_path))


def test_top_k_default_comes_from_settings(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PAPERBOT_TOP_K=4\n")
    payload = json.loads(ok(run(["search", "--json", "language model alignment"], tmp_path)))
    assert len(payload["results"]) == 4


@pytest.mark.parametrize("command", [["run"], ["sync"], ["sync", "--guild", "123"]])
def test_bot_commands_without_a_token_are_one_line_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    proc = run(command, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "PAPERBOT_DISCORD_TOKEN" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_ingest_gzip_and_kaggle_zip_directly(tmp_path: Path) -> None:
    """``paperbot ingest papers.jsonl.gz`` and the Kaggle snapshot's .zip, without extracting."""
    import gzip
    import zipfile

    kaggle = FIXTURES / "kaggle_arxiv_snapshot" / "arxiv-metadata-oai-snapshot.first10.jsonl"
    packed = tmp_path / "papers.jsonl.gz"
    packed.write_bytes(gzip.compress(kaggle.read_bytes()))
    db = tmp_path / "gz.db"
    assert "10 added" in ok(run(["ingest", str(packed), "--db", str(db)], tmp_path))
    archive = tmp_path / "arxiv.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.write(kaggle, "arxiv-metadata-oai-snapshot.json")
    assert "10 unchanged" in ok(run(["ingest", str(archive), "--db", str(db)], tmp_path))
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(packed.read_bytes()[:40])
    line = user_error(run(["ingest", str(broken), "--db", str(db)], tmp_path))
    assert "broken.jsonl.gz" in line
