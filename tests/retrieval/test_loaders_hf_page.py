"""The Hugging Face page loader and the bundled seed corpus, on the real seed and variants of it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from retrieval.loaders import LoaderError, bundled_papers, open_source
from retrieval.papers import title_slug
from tests.paths import REPO, SHARED

SEED = SHARED / "seed" / "000_1f749f3cde4784c1.txt"
BUNDLED_PAGE = REPO / "retrieval" / "data" / "seed_hf_papers_page.txt"
HEADER = [
    "new",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "byAK and the research community",
    "Mar 14",
]
KNOWN = {
    "2405.21046": "Exploratory Preference Optimization",
    "2310.10505": "ReMax",
    "2406.16678": "Segment Any Text",
    "2406.08464": "Magpie",
    "2502.13595": "MMTEB",
}


def seed_pairs() -> list[tuple[str, str]]:
    """The seed's (title, abstract) pairs, read independently of the loader."""
    lines = SEED.read_text(encoding="utf-8").split("\n")
    content = [line for line in lines if line.strip()]
    assert content[:5] == HEADER
    body = content[5:]
    return list(zip(body[0::2], body[1::2], strict=True))


def build_page(pairs: list[tuple[str, str]], *, header: list[str] = HEADER, sep: str = "\n") -> str:
    parts = [*header, *(x for pair in pairs for x in pair)]
    return (sep + sep).join(parts) + sep


def load(path: Path) -> tuple[list, object]:
    source = open_source(path)
    papers = list(source)
    return papers, source


def titles_and_abstracts(papers) -> list[tuple[str, str]]:
    return [(paper.title, paper.abstract) for paper in papers]


def wrap(title: str) -> tuple[str, str]:
    words = title.split(" ")
    middle = len(words) // 2
    return " ".join(words[:middle]), " ".join(words[middle:])


# --- bundled corpus --------------------------------------------------------------------------


def test_bundled_copy_is_the_shared_seed() -> None:
    assert BUNDLED_PAGE.read_bytes() == SEED.read_bytes()


def test_bundled_papers_are_the_50_seed_papers_verbatim() -> None:
    papers = bundled_papers()
    assert len(papers) == 50
    assert titles_and_abstracts(papers) == seed_pairs()
    assert len({paper.id for paper in papers}) == 50
    assert {paper.source for paper in papers} == {"hf-page"}
    assert all(paper.authors == () and paper.published is None for paper in papers)


def test_bundled_papers_apply_known_arxiv_ids() -> None:
    papers = bundled_papers()
    by_id = {paper.id: paper for paper in papers}
    for arxiv_id, title_start in KNOWN.items():
        paper = by_id[arxiv_id]
        assert paper.title.startswith(title_start)
        assert paper.url == f"https://arxiv.org/abs/{arxiv_id}"
        assert paper.arxiv_id == arxiv_id
    others = [paper for paper in papers if paper.id not in KNOWN]
    assert len(others) == 45
    for paper in others:
        assert paper.id == title_slug(paper.title)
        assert paper.url is None
        assert paper.arxiv_id is None


def test_known_ids_file_lists_exact_seed_titles() -> None:
    data = json.loads((REPO / "retrieval" / "data" / "seed_known_ids.json").read_text("utf-8"))
    titles = {title for title, _ in seed_pairs()}
    assert set(data["ids"].values()) == set(KNOWN)
    assert set(data["ids"]) <= titles


def test_bundled_papers_returns_a_fresh_list() -> None:
    first = bundled_papers()
    first.clear()
    assert len(bundled_papers()) == 50


def test_seed_file_loads_like_the_bundled_corpus() -> None:
    papers, source = load(SEED)
    assert source.format == "hf-page"
    assert papers == bundled_papers()
    assert source.report.loaded == 50
    assert source.report.skipped == 0
    assert source.report.skipped_lines == []


# --- messy variants of the page ---------------------------------------------------------------


def test_crlf_page(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(SEED.read_bytes().replace(b"\n", b"\r\n"))
    papers, source = load(path)
    assert papers == bundled_papers()
    assert source.report.skipped == 0


def test_bom_page(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(b"\xef\xbb\xbf" + SEED.read_bytes())
    papers, _ = load(path)
    assert papers == bundled_papers()


def test_stray_blank_lines_and_whitespace(tmp_path: Path) -> None:
    pairs = seed_pairs()
    chunks = ["\n\n\n", *HEADER]
    for i, (title, abstract) in enumerate(pairs):
        chunks += [f"  {title}\t" if i % 2 else title, "\n" * (i % 4), abstract + "   "]
    path = tmp_path / "page.txt"
    path.write_text("\n\n".join(chunks) + "\n\n\n\n", encoding="utf-8")
    papers, source = load(path)
    assert titles_and_abstracts(papers) == pairs
    assert [paper.id for paper in papers] == [paper.id for paper in bundled_papers()]
    assert source.report.skipped == 0


def test_wrapped_titles_keep_titles_and_ids(tmp_path: Path) -> None:
    pairs = seed_pairs()
    lines = [*HEADER]
    for title, abstract in pairs:
        first, second = wrap(title)
        lines.append(f"{first}\n{second}")
        lines.append(abstract)
    path = tmp_path / "page.txt"
    path.write_text("\n\n".join(lines), encoding="utf-8")
    papers, source = load(path)
    assert papers == bundled_papers()
    assert source.report.skipped == 0


def test_title_broken_by_a_stray_blank_line(tmp_path: Path) -> None:
    pairs = seed_pairs()
    lines = [*HEADER]
    for title, abstract in pairs:
        lines.extend([*wrap(title), abstract])
    path = tmp_path / "page.txt"
    path.write_text("\r\n\r\n".join(lines), encoding="utf-8")
    papers, _ = load(path)
    assert papers == bundled_papers()


def test_title_without_blank_line_before_abstract(tmp_path: Path) -> None:
    pairs = seed_pairs()
    lines = [*HEADER, *(f"{title}\n{abstract}" for title, abstract in pairs)]
    path = tmp_path / "page.txt"
    path.write_text("\n\n".join(lines), encoding="utf-8")
    papers, _ = load(path)
    assert papers == bundled_papers()


def test_page_without_header_and_with_a_dated_header(tmp_path: Path) -> None:
    pairs = seed_pairs()[:3]
    bare = tmp_path / "bare.txt"
    bare.write_text(build_page(pairs, header=[]), encoding="utf-8")
    dated = tmp_path / "dated.txt"
    dated.write_text(build_page(pairs, header=["Mar 14, 2025", "Subscribe"]), encoding="utf-8")
    for path in (bare, dated):
        papers, _ = load(path)
        assert titles_and_abstracts(papers) == pairs


def test_unpaired_blocks_are_skipped_with_line_numbers(tmp_path: Path) -> None:
    pairs = seed_pairs()[:2]
    orphan_abstract = pairs[1][1]
    text = build_page(pairs, header=[]) + "\nA dangling title with nothing after it\n"
    text = orphan_abstract + "\n\n" + text
    path = tmp_path / "page.txt"
    path.write_text(text, encoding="utf-8")
    papers, source = load(path)
    assert titles_and_abstracts(papers) == pairs
    assert source.report.loaded == 2
    assert source.report.skipped_lines == [
        (1, "text without a title"),
        (11, "title without an abstract"),
    ]


def test_abstract_in_two_paragraphs_and_short_abstracts(tmp_path: Path) -> None:
    text = (
        "Paper One: A Title\n\n"
        + "First paragraph of a long abstract. " * 10
        + "\n\n"
        + "Second paragraph of the same abstract, also long enough to be prose. " * 5
        + "\n\nPaper Two\n\nA short abstract.\n\n"
        + "Paper Three\n\nAn abstract with no full stop\n\n"
        + "Paper Four\n\n"
        + "Closing abstract sentence, long enough. " * 10
    )
    path = tmp_path / "page.txt"
    path.write_text(text, encoding="utf-8")
    papers, source = load(path)
    assert [paper.title for paper in papers] == [
        "Paper One: A Title",
        "Paper Two",
        "Paper Three",
        "Paper Four",
    ]
    assert papers[0].abstract.count("\n\n") == 1
    assert papers[0].abstract.startswith("First paragraph")
    assert papers[0].abstract.endswith("prose.")
    assert papers[1].abstract == "A short abstract."
    assert papers[2].abstract == "An abstract with no full stop"
    assert source.report.skipped == 0


def test_known_id_applies_to_a_reformatted_title(tmp_path: Path) -> None:
    title, abstract = seed_pairs()[0]
    first, second = wrap(title)
    path = tmp_path / "page.txt"
    page = "\r\n\r\n".join(HEADER) + f"\r\n\r\n{first}\r\n  {second}\r\n\r\n{abstract}\r\n"
    path.write_text(page, encoding="utf-8")
    papers, _ = load(path)
    assert [paper.id for paper in papers] == ["2405.21046"]
    assert papers[0].title == title


def test_page_with_only_header_lines_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_text("\n\n".join(HEADER) + "\n", encoding="utf-8")
    with pytest.raises(LoaderError) as info:
        open_source(path)
    assert "\n" not in str(info.value)


def test_lone_title_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_text("Lonely Title\n", encoding="utf-8")
    with pytest.raises(LoaderError):
        list(open_source(path))


def test_lost_blank_lines_between_abstract_and_next_title(tmp_path: Path) -> None:
    pairs = seed_pairs()
    text = "\n".join([*HEADER, *(line for pair in pairs for line in pair)])
    path = tmp_path / "page.txt"
    path.write_text(text, encoding="utf-8")
    papers, source = load(path)
    assert papers == bundled_papers()
    assert source.report.skipped == 0


@pytest.mark.parametrize("seed", range(20))
def test_random_mix_of_variants(tmp_path: Path, seed: int) -> None:
    """Every variant at once, chosen per paper by a seeded generator (reproducible)."""
    rng = random.Random(seed)
    out: list[str] = []
    for line in HEADER:
        out += [line, "\n" * rng.randint(1, 3)]
    for title, abstract in seed_pairs():
        first, second = wrap(title)
        style = rng.randrange(4)
        if style == 0:
            out.append(title)
        elif style == 1:
            out.append(f"{first}\n{second}")
        elif style == 2:
            out.append(f"{first}\n" + "\n" * rng.randint(1, 2) + second)
        else:
            out.append(f"{first} \t\n  {second}")
        out.append("\n" * rng.randint(0, 3) + "\n")
        out += [abstract, "\n" * rng.randint(1, 4)]
    data = "".join(out).encode("utf-8")
    if rng.random() < 0.5:
        data = data.replace(b"\n", b"\r\n")
    if rng.random() < 0.3:
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / "page.txt"
    path.write_bytes(data)
    papers, source = load(path)
    assert papers == bundled_papers()
    assert source.report.skipped == 0
