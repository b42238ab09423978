"""Format sniffing: by content, never by extension; unusable files get a clear one-line error."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.loaders import LoaderError, bundled_papers, open_source, write_jsonl
from tests.paths import FIXTURES, REPO, SHARED

SEED = SHARED / "seed" / "000_1f749f3cde4784c1.txt"
KAGGLE = FIXTURES / "kaggle_arxiv_snapshot" / "arxiv-metadata-oai-snapshot.first10.jsonl"
BEIR_SAMPLE = REPO / "tests" / "data" / "loaders" / "beir_sample.jsonl"


def export_file(path: Path) -> Path:
    out = io.StringIO()
    write_jsonl(bundled_papers()[:3], out)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("original", "name", "expected"),
    [
        (SEED, "page.jsonl", "hf-page"),
        (SEED, "page", "hf-page"),
        (KAGGLE, "arxiv.txt", "kaggle-arxiv"),
        (KAGGLE, "arxiv.json", "kaggle-arxiv"),
        (BEIR_SAMPLE, "corpus.csv", "beir"),
        (BEIR_SAMPLE, "corpus.txt", "beir"),
    ],
)
def test_format_comes_from_content(
    tmp_path: Path, original: Path, name: str, expected: str
) -> None:
    path = tmp_path / name
    shutil.copyfile(original, path)
    source = open_source(path)
    assert source.format == expected
    assert list(source) == list(open_source(original))


def test_export_is_sniffed_under_any_name(tmp_path: Path) -> None:
    path = export_file(tmp_path / "papers.txt")
    source = open_source(str(path))  # a str path is accepted too
    assert source.format == "paperbot-jsonl"
    assert list(source) == bundled_papers()[:3]


def test_format_from_first_recognisable_record(tmp_path: Path) -> None:
    kaggle_line = KAGGLE.read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / "x.jsonl"
    path.write_text("{broken\n" + '{"unrelated": 1}\n' + kaggle_line + "\n", encoding="utf-8")
    source = open_source(path)
    assert source.format == "kaggle-arxiv"
    papers = list(source)
    assert [paper.id for paper in papers] == ["0704.0001"]
    assert [line for line, _ in source.report.skipped_lines] == [1, 2]


def assert_one_line_error(path: Path, *fragments: str) -> None:
    with pytest.raises(LoaderError) as info:
        open_source(path)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert_one_line_error(path, "empty.jsonl", "empty")


def test_blank_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(b"\r\n\n   \n\t\n")
    assert_one_line_error(path, "empty")


def test_bom_only(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf\n")
    assert_one_line_error(path, "empty")


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "papers.jsonl"
    path.write_bytes(os.urandom(4096) + b"\x00" * 16)
    assert_one_line_error(path, "binary")


def test_binary_without_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes(range(0x80, 0x100)) * 64)
    assert_one_line_error(path, "binary")


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
@pytest.mark.parametrize(("original", "expected"), [(KAGGLE, "kaggle-arxiv"), (SEED, "hf-page")])
def test_compressed_files_are_read_directly(
    tmp_path: Path, compress: Callable[[bytes], bytes], original: Path, expected: str
) -> None:
    plain = list(open_source(original))
    path = tmp_path / "papers.jsonl.gz"
    path.write_bytes(compress(original.read_bytes()))
    source = open_source(path)
    assert source.format == expected
    assert [p.id for p in source] == [p.id for p in plain]
    assert source.report.loaded == len(plain)


def test_kaggle_zip_is_read_directly(tmp_path: Path) -> None:
    path = tmp_path / "arxiv.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(KAGGLE, "arxiv-metadata-oai-snapshot.json")
    source = open_source(path)
    assert source.format == "kaggle-arxiv"
    assert len(list(source)) == len(list(open_source(KAGGLE)))


def test_zip_with_several_files_names_them(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.jsonl", KAGGLE.read_bytes())
        archive.writestr("b.jsonl", KAGGLE.read_bytes())
    assert_one_line_error(path, "a.jsonl", "extract")


def test_truncated_gzip_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(KAGGLE.read_bytes() * 50)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoaderError) as caught:
        list(open_source(path))
    assert "\n" not in str(caught.value)
    assert "cannot read" in str(caught.value) or "truncated" in str(caught.value)


def test_zstd_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "arxiv.jsonl.zst"
    path.write_bytes(b"(\xb5/\xfd" + os.urandom(64))
    assert_one_line_error(path, "zstd", "extract")


def test_utf16_text(tmp_path: Path) -> None:
    path = tmp_path / "arxiv.jsonl"
    path.write_bytes(KAGGLE.read_text(encoding="utf-8").encode("utf-16"))
    assert_one_line_error(path, "UTF-16")


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "papers.json"
    path.write_text('[\n  {"_id": "1", "title": "", "text": "t"}\n]\n', encoding="utf-8")
    assert_one_line_error(path, "JSON array")


def test_html_page(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_text("<!DOCTYPE html>\n<html><body>Papers</body></html>\n", encoding="utf-8")
    assert_one_line_error(path, "HTML")


def test_unknown_text(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("id,title,abstract\n1,A title,An abstract\n", encoding="utf-8")
    assert_one_line_error(path, "unrecognised format")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path / "nope.jsonl", "no such file")
    assert_one_line_error(tmp_path, "directory")


def test_file_removed_after_opening(tmp_path: Path) -> None:
    path = export_file(tmp_path / "gone.jsonl")
    source = open_source(path)
    path.unlink()
    with pytest.raises(LoaderError, match="cannot read"):
        list(source)
