"""JSON Lines loaders (Kaggle snapshot, BEIR corpus, the project's export) and their failures."""

from __future__ import annotations

import io
import json
import tracemalloc
from datetime import date
from pathlib import Path

import pytest

from retrieval.loaders import (
    MAX_LINE_BYTES,
    MAX_REPORTED_SKIPS,
    LoaderError,
    bundled_papers,
    open_source,
    write_jsonl,
)
from retrieval.papers import Paper
from tests.paths import FIXTURES, REPO, SCIFACT

KAGGLE = FIXTURES / "kaggle_arxiv_snapshot" / "arxiv-metadata-oai-snapshot.first10.jsonl"
SCIFACT_CORPUS = SCIFACT / "beir" / "corpus.jsonl"
BEIR_SAMPLE = REPO / "tests" / "data" / "loaders" / "beir_sample.jsonl"


def paper_line(**overrides: object) -> str:
    record = {
        "id": "2405.21046",
        "title": "A title",
        "abstract": "An abstract.",
        "authors": ["Ada Lovelace"],
        "published": "2024-05-31",
        "url": None,
        "source": "paperbot",
        "metadata": {},
    }
    record.update(overrides)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_text(newline.join(lines) + newline, encoding="utf-8")
    return path


def load_all(path: Path):
    source = open_source(path)
    return list(source), source


# --- Kaggle arXiv snapshot ---------------------------------------------------------------------


def test_kaggle_fixture_loads_every_line() -> None:
    papers, source = load_all(KAGGLE)
    assert source.format == "kaggle-arxiv"
    assert [paper.id for paper in papers] == [f"0704.{n:04d}" for n in range(1, 11)]
    assert source.report.loaded == 10
    assert source.report.skipped == 0
    assert {paper.source for paper in papers} == {"kaggle-arxiv"}


def test_kaggle_fields_are_normalised() -> None:
    papers, _ = load_all(KAGGLE)
    first = papers[0]
    assert first.title == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert first.abstract.startswith("A fully differential calculation in perturbative quantum")
    assert first.abstract.endswith("can be obtained with judicious selection of events.")
    assert "\n" not in first.abstract and "  " not in first.abstract
    assert first.authors == ("C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan")
    assert first.published == date(2007, 4, 2)
    assert first.url == "https://arxiv.org/abs/0704.0001"
    assert first.metadata == {
        "categories": ["hep-ph"],
        "doi": "10.1103/PhysRevD.76.013009",
        "journal_ref": "Phys.Rev.D76:013009,2007",
        "comments": "37 pages, 15 figures; published version",
        "version": 2,
    }
    by_id = {paper.id: paper for paper in papers}
    assert by_id["0704.0002"].metadata["categories"] == ["math.CO", "cs.CG"]
    assert "doi" not in by_id["0704.0002"].metadata  # null fields are left out
    assert by_id["0704.0002"].published == date(2007, 3, 31)
    assert by_id["0704.0003"].metadata["version"] == 3
    assert "Neal J. Evans II" in by_id["0704.0009"].authors


def test_kaggle_malformed_lines_are_skipped_with_line_numbers(tmp_path: Path) -> None:
    lines = KAGGLE.read_text(encoding="utf-8").splitlines()
    good = json.loads(lines[0])
    no_abstract = {k: v for k, v in good.items() if k != "abstract"}
    blank_abstract = {**good, "abstract": "  \n  "}
    bad_id = {**good, "id": "not-an-id"}
    bad_dates = {**good, "versions": [{"version": "v1", "created": "yesterday"}]}
    path = write_lines(
        tmp_path / "snapshot.json",
        [
            lines[0],
            json.dumps(no_abstract),
            '{"id": "0704.0002", "title": ',
            json.dumps(blank_abstract),
            json.dumps(bad_id),
            "",
            json.dumps(bad_dates),
            lines[1],
        ],
    )
    papers, source = load_all(path)
    assert [paper.id for paper in papers] == ["0704.0001", "0704.0001", "0704.0002"]
    assert papers[1].published is None  # an unreadable date is not a reason to drop a paper
    assert [line for line, _ in source.report.skipped_lines] == [2, 3, 4, 5]
    reasons = [reason for _, reason in source.report.skipped_lines]
    assert "abstract" in reasons[0] and "missing" in reasons[0]
    assert reasons[1].startswith("invalid JSON")
    assert reasons[2] == "empty abstract"
    assert "arXiv id" in reasons[3]
    assert source.report.loaded == 3
    assert source.report.skipped == 4


def test_kaggle_streams_a_huge_line_without_holding_it(tmp_path: Path) -> None:
    lines = KAGGLE.read_text(encoding="utf-8").splitlines()
    huge = json.dumps({**json.loads(lines[0]), "abstract": "x" * (5 * 1024 * 1024)})
    path = write_lines(tmp_path / "big.jsonl", [huge, lines[1], huge, lines[2]])
    source = open_source(path)
    assert source.format == "kaggle-arxiv"  # sniffed past the overlong first line
    tracemalloc.start()
    try:
        papers = list(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [paper.id for paper in papers] == ["0704.0002", "0704.0003"]
    assert source.report.skipped_lines == [
        (1, "line longer than 1 MB"),
        (3, "line longer than 1 MB"),
    ]
    assert peak < 3 * 1024 * 1024  # well under the 5 MB line: it was never read whole
    assert MAX_LINE_BYTES == 1024 * 1024


# --- BEIR ---------------------------------------------------------------------------------------


def test_beir_sample_keeps_ids_and_text_exactly() -> None:
    papers, source = load_all(BEIR_SAMPLE)
    assert source.format == "beir"
    assert [paper.id for paper in papers] == ["007", "2405.21046v2", "doc three"]
    assert papers[0].title == ""
    assert papers[2].abstract == "Text with   doubled spaces stays verbatim."
    assert papers[2].metadata == {"url": "https://example.org/3"}
    assert {paper.source for paper in papers} == {"beir"}
    assert all(paper.url is None for paper in papers)


def test_scifact_corpus_loads_completely() -> None:
    raw = SCIFACT_CORPUS.read_text(encoding="utf-8").splitlines()
    papers, source = load_all(SCIFACT_CORPUS)
    assert source.format == "beir"
    assert source.report.loaded == len(raw) == len(papers)
    first = json.loads(raw[0])
    assert (papers[0].id, papers[0].title, papers[0].abstract) == (
        first["_id"],
        first["title"],
        first["text"],
    )


def test_beir_malformed_lines(tmp_path: Path) -> None:
    raw = SCIFACT_CORPUS.read_text(encoding="utf-8").splitlines()[:3]
    path = write_lines(
        tmp_path / "corpus.jsonl",
        [
            raw[0],
            '{"_id": "9", "title": "no text"}',
            '{"_id": "10", "title": "blank", "text": "   "}',
            '{"title": "no id", "text": "some text"}',
            '["not", "an", "object"]',
            paper_line(),  # another format's record is malformed here
            raw[1],
        ],
    )
    papers, source = load_all(path)
    assert [paper.id for paper in papers] == [json.loads(raw[0])["_id"], json.loads(raw[1])["_id"]]
    assert source.report.skipped_lines == [
        (2, "missing field 'text'"),
        (3, "empty abstract"),
        (4, "missing field '_id'"),
        (5, "not a JSON object (a list)"),
        (6, "missing field '_id'"),
    ]


# --- the project's export format ----------------------------------------------------------------


def test_export_round_trips_exactly(tmp_path: Path) -> None:
    beir = list(open_source(BEIR_SAMPLE))
    kaggle = list(open_source(KAGGLE))
    odd = Paper(
        id="odd-1",
        title="Line\u2028separator and \u00e9, \U0001f600",
        abstract='Quotes " and \\ backslashes,\nnewlines\tand tabs\u2029.',
        authors=("Ünï Cödé",),
        published=date(1999, 12, 31),
        url="https://example.org/?a=1&b=2",
        source="manual",
        metadata={"nested": {"list": [1, 2.5, None, True]}, "empty": {}},
    )
    papers = [*bundled_papers(), *kaggle, *beir, odd]
    out = io.StringIO()
    assert write_jsonl(papers, out) == len(papers)
    text = out.getvalue()
    assert len(text.splitlines()) == len(papers)  # one record per line, even for U+2028
    path = tmp_path / "export.jsonl"
    path.write_text(text, encoding="utf-8")
    loaded, source = load_all(path)
    assert source.format == "paperbot-jsonl"
    assert loaded == papers
    assert source.report.skipped == 0


def test_export_of_nothing_writes_nothing() -> None:
    out = io.StringIO()
    assert write_jsonl([], out) == 0
    assert out.getvalue() == ""


def test_native_lines_keep_their_source_and_reject_bad_records(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "mine.jsonl",
        [
            paper_line(source="kaggle-arxiv"),
            "not json at all",
            paper_line(abstract=""),
            paper_line(source=...),
            paper_line(extra=1),
            paper_line(published="not a date"),
            "",
            "   ",
            paper_line(id="other"),
        ],
        newline="\r\n",
    )
    papers, source = load_all(path)
    assert [(paper.id, paper.source) for paper in papers] == [
        ("2405.21046", "kaggle-arxiv"),
        ("other", "paperbot"),
    ]
    assert papers[0].published == date(2024, 5, 31)
    assert papers[0].authors == ("Ada Lovelace",)
    lines = [line for line, _ in source.report.skipped_lines]
    assert lines == [2, 3, 4, 5, 6]
    reasons = dict(source.report.skipped_lines)
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "abstract: abstract is empty"
    assert reasons[4] == "missing field 'source'"
    assert "extra" in reasons[5]
    assert reasons[6].startswith("published")


def test_bom_and_crlf_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + KAGGLE.read_bytes().replace(b"\n", b"\r\n"))
    papers, source = load_all(path)
    assert papers == list(open_source(KAGGLE))
    assert source.report.skipped == 0


def test_report_keeps_first_skips_but_counts_all(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [paper_line()] + ["{oops"] * 30)
    papers, source = load_all(path)
    assert len(papers) == 1
    assert source.report.skipped == 30
    assert len(source.report.skipped_lines) == MAX_REPORTED_SKIPS
    assert source.report.skipped_lines[0][0] == 2
    assert source.report.skipped_lines[-1][0] == MAX_REPORTED_SKIPS + 1
    assert "1 loaded, 30 skipped" in source.report.summary()


def test_iterating_twice_restarts_the_report() -> None:
    source = open_source(KAGGLE)
    first = list(source)
    second = list(source)
    assert first == second
    assert source.report.loaded == 10


def test_iteration_is_lazy() -> None:
    source = open_source(KAGGLE)
    iterator = iter(source)
    assert next(iterator).id == "0704.0001"
    assert source.report.loaded == 1


# --- files with nothing usable ------------------------------------------------------------------


def test_recognised_file_with_nothing_valid_raises_after_iteration(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [paper_line(abstract=" ")] * 3)
    source = open_source(path)
    assert source.format == "paperbot-jsonl"
    with pytest.raises(LoaderError) as info:
        list(source)
    message = str(info.value)
    assert "no valid papers" in message and "\n" not in message
    assert source.report.skipped == 3
    assert source.report.loaded == 0


def test_only_invalid_json_is_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", ["{bad", "{worse", "{"])
    with pytest.raises(LoaderError, match="no valid JSON object"):
        open_source(path)


def test_unrecognised_records_are_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", ['{"name": "a", "value": 1}'] * 2)
    with pytest.raises(LoaderError, match=r"unrecognised JSON Lines records \(keys: name, value\)"):
        open_source(path)


def test_a_huge_line_that_is_all_there_is(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(paper_line(abstract="y" * (2 * MAX_LINE_BYTES)) + "\n", encoding="utf-8")
    with pytest.raises(LoaderError):
        list(open_source(path))
