"""Hostile or odd input met where a user meets it, the CLI run as a subprocess on real files:
stored text that would drive the terminal, invisible characters inside words, files that are
not paper files, and usage mistakes that must be exit 2 with one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.test_cli import ok, run, user_error
from tests.paths import REPO

# What no line printed to a terminal may hold: C0 controls but newline and tab, DEL, C1, and
# the bidi embeddings, overrides and isolates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
EVIL_TITLE = "\x1b]0;pwned\x07\x1b[2JQuasar \x9b31mspectra\x07 and \u202eredshift\u202c surveys"
EVIL_ABSTRACT = (
    "We measure quasar spectra at high redshift.\x1b[8m Hidden text follows.\x1b[0m "
    "The \u2066survey\u2069 covers \x07 ten thousand quasars\r with new spectra."
)


def assert_safe(text: str) -> None:
    found = UNSAFE.search(text)
    assert found is None, f"{found.group()!r} printed at {found.start()}: {text[:300]!r}"


@pytest.fixture()
def evil_db(tmp_path: Path) -> Path:
    """A store holding a paper whose title and abstract are full of terminal controls."""
    corpus = tmp_path / "corpus.jsonl"
    papers = [
        {"_id": "evil\x1b[5m1", "title": EVIL_TITLE, "text": EVIL_ABSTRACT},
        {"_id": "plain", "title": "Galaxy rotation curves", "text": "Dark matter halos rotate."},
    ]
    corpus.write_text("".join(json.dumps(p) + "\n" for p in papers), encoding="utf-8")
    db = tmp_path / "evil\x1b]0;db\x07.db"  # a store path is printed too (stats)
    ok(run(["ingest", str(corpus), "--db", str(db)], tmp_path))
    return db


def test_stored_controls_never_reach_the_terminal(tmp_path: Path, evil_db: Path) -> None:
    db = ["--db", str(evil_db)]
    text = ok(run(["search", "quasar spectra redshift", *db], tmp_path))
    assert_safe(text)
    assert "Quasar spectra and redshift surveys" in " ".join(text.split())
    answer = ok(run(["ask", "how are quasar spectra measured at high redshift?", *db], tmp_path))
    assert_safe(answer)
    assert "We measure quasar spectra at high redshift." in answer
    stats = ok(run(["stats", *db], tmp_path))
    assert_safe(stats)
    assert "default: 2 papers" in stats
    # JSON stays exact (a parser gets the stored text back) and safe to print.
    for argv in (["search", "--json", "quasar"], ["ask", "--json", "quasar spectra"]):
        out = ok(run([*argv, *db], tmp_path))
        assert_safe(out)
        payload = json.loads(out)
        first = (payload.get("results") or payload.get("papers"))[0]
        assert first["title"] == EVIL_TITLE and first["id"] == "evil\x1b[5m1"
    batch = ok(run(["search", "--batch", *db], tmp_path, stdin="quasar\n"))
    assert_safe(batch)
    assert json.loads(batch)["results"][0]["title"] == EVIL_TITLE
    stats_json = ok(run(["stats", "--json", *db], tmp_path))
    assert_safe(stats_json)
    assert json.loads(stats_json)["store"] == str(evil_db)
    # an error line quoting a file name
    proc = run(["ingest", str(tmp_path / "\x1b[2Jmissing\u202e.jsonl")], tmp_path)
    assert_safe(user_error(proc))


def test_quotes_stay_exact_substrings_of_the_stored_abstract(tmp_path: Path, evil_db: Path) -> None:
    """Sanitising happens when printing, not in the store: offsets still index the abstract."""
    db = ["--db", str(evil_db)]
    payload = json.loads(ok(run(["ask", "--json", "quasar spectra", *db], tmp_path)))
    exported = [json.loads(line) for line in ok(run(["export", *db], tmp_path)).splitlines()]
    abstract = next(p["abstract"] for p in exported if p["id"] == "evil\x1b[5m1")
    assert abstract == EVIL_ABSTRACT
    quotes = payload["papers"][0]["quotes"]
    assert quotes
    for quote in quotes:
        assert abstract[quote["start"] : quote["end"]] == quote["text"]


# -- format characters inside words ----------------------------------------------------------------
@pytest.mark.parametrize("query", ["X\u200bPO", "X\u00adPO", "X\u2060PO", "\ufeffXPO"])
def test_format_characters_in_a_query_are_ignored(tmp_path: Path, query: str) -> None:
    payload = json.loads(ok(run(["search", "--json", "--top-k", "3", query], tmp_path)))
    assert payload["query"] == query
    assert [hit["id"] for hit in payload["results"]][:1] == ["2405.21046"]


def test_format_characters_in_a_paper_are_ignored(tmp_path: Path) -> None:
    """A soft hyphen or a zero-width space inside a stored word: the word is found, and the
    quotes and highlights still point into the abstract as stored."""
    abstract = (
        "We grow quasi\u00adcrystals from a melt. The Zyl\u200bbot\u200bron method cools the "
        "melt slowly, so the quasi\u00adcrystals form without defects."
    )
    corpus = tmp_path / "corpus.jsonl"
    papers = [
        {"_id": "qc", "title": "Growing quasi\u00adcrystals", "text": abstract},
        {"_id": "other", "title": "Metallic glasses", "text": "Glasses form when melts cool."},
    ]
    corpus.write_text("".join(json.dumps(p) + "\n" for p in papers), encoding="utf-8")
    db = ["--db", str(tmp_path / "qc.db")]
    ok(run(["ingest", str(corpus), *db], tmp_path))
    for query in ("quasicrystals", "Zylbotron method"):
        hits = json.loads(ok(run(["search", "--json", query, *db], tmp_path)))["results"]
        assert [hit["id"] for hit in hits] == ["qc"], query
    answer = json.loads(ok(run(["ask", "--json", "what is the zylbotron method?", *db], tmp_path)))
    quotes = answer["papers"][0]["quotes"]
    assert any("Zyl\u200bbot\u200bron" in quote["text"] for quote in quotes)
    for quote in quotes:
        assert abstract[quote["start"] : quote["end"]] == quote["text"]


# -- files that are not paper files --------------------------------------------------------------
KNOWN_FORMATS = ("JSON Lines", "paperbot export", "BEIR", "Kaggle", "Hugging Face Papers")


@pytest.mark.parametrize("name", ["README.md", "prose.txt", "notes.txt"])
def test_prose_is_not_taken_for_a_listing_page(tmp_path: Path, name: str) -> None:
    if name == "README.md":
        path = REPO / "README.md"
    elif name == "prose.txt":  # hard-wrapped prose under short headings
        path = tmp_path / name
        paragraph = (
            "This chapter describes the cooling of a melt in some detail, and how the\n"
            "structure of the solid that forms depends on the rate at which heat leaves.\n"
        ) * 4
        path.write_text(
            "".join(f"Section {n}\n\n{paragraph}\n" for n in range(1, 8)), encoding="utf-8"
        )
    else:  # short headings over several unwrapped paragraphs each
        path = tmp_path / name
        paragraph = "Meeting notes about the cooling schedule and who owns which furnace. " * 6
        path.write_text(
            "".join(f"Week {n}\n\n{paragraph}\n\n{paragraph}\n\n" for n in range(6)),
            encoding="utf-8",
        )
    db = tmp_path / "p.db"
    line = user_error(run(["ingest", str(path), "--db", str(db)], tmp_path))
    assert "unrecognised format" in line
    assert all(fmt in line for fmt in KNOWN_FORMATS), line
    assert not db.exists()


def test_a_listing_page_without_its_header_is_still_one(tmp_path: Path) -> None:
    seed = (REPO / "retrieval" / "data" / "seed_hf_papers_page.txt").read_text("utf-8")
    body = seed.split("Mar 14\n", 1)[1]
    page = tmp_path / "page.txt"
    page.write_text(body, encoding="utf-8")
    out = ok(run(["ingest", str(page), "--db", str(tmp_path / "p.db")], tmp_path))
    assert out.startswith("page.txt (hf-page) -> collection 'default': 50 added")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (  # a listing page saved as Latin-1 would be ingested with its accents garbled
            "latin1.txt",
            (
                "Subscribe\n\nMar 14\n\nNaïve Bayes for Resume Parsing\n\n"
                + "We parse resumes with a simple Bayes model and report its accuracy. " * 5
                + "\n\nCafé: Caching for Elastic Inference\n\n"
                + "The cache keeps intermediate results so that inference is cheap. " * 5
                + "\n"
            ).encode("latin-1"),
        ),
        ("latin1.jsonl", '{"_id": "1", "title": "Café", "text": "Été"}\n'.encode("latin-1")),
    ],
)
def test_a_latin1_file_is_not_utf8(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    line = user_error(run(["ingest", str(path), "--db", str(tmp_path / "p.db")], tmp_path))
    assert "not UTF-8" in line and "JSON Lines?" not in line


# -- usage mistakes are exit 2, one line -----------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "settings", "message"),
    [
        (["ingest", "hf-daily", "--from", "2026-06-10", "--to", "2026-06-01"], {}, "is after"),
        (["ingest", "hf-daily", "--from", "2999-01-01"], {}, "is after today"),
        (["ingest", "hf-paper", "not-an-id"], {}, "not an arXiv id"),
        (["ingest", "hf-paper", "2405.21046", "nope"], {}, "'nope'"),
        (["ingest", "arxiv", "--ids", "2405.21046,nope"], {}, "'nope'"),
        (["search", "xpo", "--collection", ""], {}, "invalid setting collection"),
        (["search", "xpo"], {"PAPERBOT_COLLECTION": ""}, "invalid setting collection"),
        (["search", "xpo", "--collection", "  "], {}, "invalid setting collection"),
        (["search", "xpo", "--db", ""], {}, "--db is empty"),
        (["stats"], {"PAPERBOT_DB_PATH": ""}, "invalid setting db_path"),
        (["search", "xpo"], {"PAPERBOT_LOG_LEVEL": "LOUD"}, "invalid setting log_level"),
        (["search", "xpo"], {"PAPERBOT_BM25_K1": "nan"}, "bm25_k1: Input should be a finite"),
        (["search", "xpo"], {"PAPERBOT_BM25_B": "-inf"}, "bm25_b: Input should be a finite"),
        (["search", "xpo"], {"PAPERBOT_HTTP_TIMEOUT": "inf"}, "http_timeout: Input should be a"),
    ],
)
def test_usage_mistakes_exit_2(
    tmp_path: Path, argv: list[str], settings: dict[str, str], message: str
) -> None:
    env = {"PAPERBOT_HF_BASE_URL": "http://127.0.0.1:9", "PAPERBOT_HTTP_MAX_ATTEMPTS": "1"}
    line = user_error(run(argv, tmp_path, settings=env | settings))
    assert message in line, line


def test_empty_collection_is_refused_alike_from_option_and_setting(tmp_path: Path) -> None:
    by_option = user_error(run(["search", "xpo", "--collection", ""], tmp_path))
    by_setting = user_error(run(["search", "xpo"], tmp_path, settings={"PAPERBOT_COLLECTION": ""}))
    assert by_option == by_setting


def test_nosuch_collection_names_the_known_ones(tmp_path: Path) -> None:
    corpus = tmp_path / "astro.jsonl"
    corpus.write_text(
        json.dumps({"_id": "a", "title": "Quasars", "text": "Quasar spectra."}) + "\n", "utf-8"
    )
    ok(run(["stats"], tmp_path))  # the configured store, created with the bundled corpus
    ok(run(["ingest", str(corpus), "--collection", "astro"], tmp_path))
    for command in (["search", "quasar"], ["ask", "what do quasar spectra show?"]):
        line = user_error(run([*command, "--collection", "astr"], tmp_path))
        assert line.startswith("paperbot: no collection 'astr' in "), line
        assert line.endswith("(known: 'astro', 'default')"), line
    assert "Quasars" in ok(run(["search", "quasar", "--collection", "astro"], tmp_path))


def test_a_long_question_is_not_echoed_in_full(tmp_path: Path) -> None:
    question = ("how does XPO make DPO explore " * 4000)[:100_000]
    out = ok(run(["ask", question], tmp_path))
    echo = out.splitlines()[0]
    assert echo.startswith("Q: how does XPO") and echo.endswith("…") and len(echo) <= 210
    assert len(out) < 5000
    line = user_error(run(["search", "?" * 100_000], tmp_path))
    assert "nothing searchable" in line and len(line) < 300
    miss = ok(run(["search", "zqxj " * 20_000], tmp_path))
    assert miss.startswith("No paper matches") and len(miss) < 300


def test_batch_output_lines_match_input_lines(tmp_path: Path) -> None:
    queries = "speech synthesis\n\n   \nmultilingual embedding benchmark\n"
    out = ok(run(["search", "--batch", "--top-k", "1"], tmp_path, stdin=queries)).splitlines()
    assert [json.loads(line)["query"] for line in out] == [
        "speech synthesis",
        "",
        "",
        "multilingual embedding benchmark",
    ]
    assert [len(json.loads(line)["results"]) for line in out] == [1, 0, 0, 1]
    asked = ok(run(["ask", "--batch", "--json"], tmp_path, stdin="\nhow does XPO explore?\n"))
    answers = [json.loads(line) for line in asked.splitlines()]
    assert [a["question"] for a in answers] == ["", "how does XPO explore?"]
    assert answers[0] == {"question": "", "answered": False, "papers": []}
