"""``paperbot search`` and ``paperbot ask`` with ``--since``, ``--until`` and ``--category``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.papers import Paper
from retrieval.store import PaperStore
from tests.cli.test_cli import ok, run, user_error

PAPERS = [
    ("2401.00001", "Speech recognition for low resource languages", ["cs.CL", "eess.AS"]),
    ("2506.00002", "Speech recognition with diffusion decoders", ["cs.LG"]),
    ("2601.00003", "Speech recognition benchmarks for many languages", ["cs.CL"]),
    ("speech-notes", "Notes on speech recognition systems", ["cs.CL"]),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "papers.db"
    store = PaperStore(path)
    store.upsert(
        [
            Paper(
                id=pid,
                title=title,
                abstract=f"{title}. We study speech recognition.",
                source="test",
                metadata={"categories": cats},
            )
            for pid, title, cats in PAPERS
        ],
        "default",
    )
    store.close()
    return path


def _ids(out: str) -> list[str]:
    return [r["id"] for r in json.loads(out)["results"]]


def test_search_filters(db: Path, tmp_path: Path) -> None:
    base = ["search", "--json", "--db", str(db), "speech recognition"]
    assert len(_ids(ok(run(base, tmp_path)))) == 4
    assert sorted(_ids(ok(run([*base, "--since", "2025"], tmp_path)))) == [
        "2506.00002",
        "2601.00003",
    ]
    got = _ids(ok(run([*base, "--since", "2025", "--category", "CS.cl"], tmp_path)))
    assert got == ["2601.00003"]
    got = _ids(ok(run([*base, "--category", "cs.LG", "--category", "eess.as"], tmp_path)))
    assert sorted(got) == ["2401.00001", "2506.00002"]
    got = _ids(ok(run([*base, "--category", "cs.LG,eess.AS", "--until", "2024-01"], tmp_path)))
    assert got == ["2401.00001"]


def test_nothing_passes(db: Path, tmp_path: Path) -> None:
    out = ok(run(["search", "--db", str(db), "--since", "2026-02", "speech"], tmp_path))
    assert out == "No paper matches 'speech' among papers since 2026-02-01.\n"
    out = ok(run(["ask", "--db", str(db), "--until", "2020", "speech recognition?"], tmp_path))
    assert "No paper in this collection passes the filters" in out


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--since", "yesterday"], "since 'yesterday' is not a year (2024), a month (2024-03)"),
        (["--until", "2024-02-30"], "until '2024-02-30' is not a real date"),
        (["--since", "2026", "--until", "2025"], "since 2026-01-01 is after until 2025-12-31"),
        (["--category", "cs.XY"], "no paper has category 'cs.XY'"),
        (["--category", "I.2.7"], "category 'I.2.7' is not an arXiv category name"),
    ],
)
def test_bad_filters_are_one_line_exit_2(
    db: Path, tmp_path: Path, option: list[str], message: str
) -> None:
    line = user_error(run(["search", "--db", str(db), *option, "speech"], tmp_path))
    assert message in line


def test_ask_batch_filters(db: Path, tmp_path: Path) -> None:
    proc = run(
        ["ask", "--batch", "--db", str(db), "--category", "cs.LG"],
        tmp_path,
        stdin="what about speech recognition with diffusion decoders?\n",
    )
    payload = json.loads(ok(proc))
    assert {p["id"] for p in payload["papers"]} <= {"2506.00002"}


def test_help_says_undated_papers_are_left_out(tmp_path: Path) -> None:
    out = ok(run(["search", "--help"], tmp_path))
    assert "no known date are left out" in " ".join(out.split())
