"""``paperbot ingest <source>`` end to end: loopback server -> real SQLite store in tmp_path.

Each run goes through ``cli.main.main``, the same parser, dispatch and error handling a user
gets, with a context aimed at the loopback server. Every test asserts what the store holds
after the run: complete on success, byte-for-byte the same papers/generation on failure,
nothing twice on a re-run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cli.context import Context
from cli.errors import ExitCode
from cli.main import main
from cli.progress import Progress
from config.settings import Settings
from retrieval.papers import Paper
from retrieval.store import PaperStore
from tests.retrieval.ingest.conftest import FAST_RETRY
from tests.retrieval.ingest.server import (
    HF_DAILY,
    HF_PAPER,
    SYNTHETIC_ARXIV_ERROR_FEED,
    Fault,
    FixtureServer,
    rewrite_daily,
)


def ingest(
    settings: Settings, *argv: str, stderr: io.StringIO | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), stderr or io.StringIO()
    ctx = Context(stdout=out, stderr=err, settings=settings, retry=FAST_RETRY)
    code = main(["ingest", *argv], ctx)
    return code, out.getvalue(), err.getvalue()


def snapshot(db: Path) -> tuple[list[tuple[str, str, str]], list[tuple[str, int, int]]]:
    """Everything a failed ingest must not change: papers and collection generations."""
    store = PaperStore(db, create=False)
    try:
        papers = sorted(
            (p.id, p.abstract, json.dumps(p.metadata, sort_keys=True))
            for c in store.collections()
            for p in store.iter_papers(c.name)
        )
        gens = [(c.name, c.paper_count, c.generation) for c in store.collections()]
        return papers, gens
    finally:
        store.close()


def seed(db: Path) -> None:
    store = PaperStore(db)
    store.upsert(
        [
            Paper(
                id="2606.00467",
                title="An older title",
                abstract="An older abstract.",
                source="arxiv",
                metadata={"version": 1, "categories": ["cs.CL"]},
            )
        ],
        "default",
    )
    store.close()


def test_hf_daily_date_fills_the_store_and_rerun_adds_nothing(settings: Settings) -> None:
    code, out, err = ingest(settings, "hf-daily", "--date", "2026-06-12")
    assert (code, err) == (ExitCode.OK, "")
    fetched, indexed = out.splitlines()
    assert fetched.startswith("hf-daily 2026-06-12: 30 papers fetched; 1 requests, ")
    assert fetched.endswith("collection 'default': 30 added, 0 updated, 0 unchanged")
    assert indexed.startswith("indexed 30 papers (")
    store = PaperStore(settings.store_path, create=False)
    assert store.count("default") == 30
    paper = store.get("2606.12730")
    assert paper is not None and paper.metadata["upvotes"] == 5
    assert paper.abstract.startswith("Anticipating LLM behavioral tendencies")
    generation = store.generation("default")

    code, out, _ = ingest(settings, "hf-daily", "--date", "2026-06-12")
    assert code == ExitCode.OK
    assert "0 added, 0 updated, 30 unchanged\nindexed 30 papers" in out
    assert store.count("default") == 30 and store.generation("default") == generation


def test_collection_and_db_options(settings: Settings, tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "other.db"
    code, out, _ = ingest(
        settings, "hf-paper", "2608.09888", "--db", str(db), "--collection", "guild-42"
    )
    assert code == ExitCode.OK and "collection 'guild-42': 1 added" in out
    store = PaperStore(db, create=False)
    assert store.count("guild-42") == 1 and store.count("default") == 0
    assert not settings.store_path.exists()


def test_a_failed_range_leaves_the_store_exactly_as_it_was(
    settings: Settings, server: FixtureServer
) -> None:
    seed(settings.store_path)
    before = snapshot(settings.store_path)
    server.daily["2026-06-10"] = rewrite_daily(HF_DAILY.read_bytes(), "9110")
    # day 1 fine, day 2 answers 503 until the retries run out
    server.fault("/api/daily_papers", Fault.ok(), *[Fault.status_code(503)] * 10)
    code, out, err = ingest(settings, "hf-daily", "--from", "2026-06-10", "--to", "2026-06-12")
    assert code == ExitCode.FAILED and out == ""
    assert err == (
        f"paperbot: GET {server.url}/api/daily_papers?limit=100&date=2026-06-11: "
        "HTTP 503 Service Unavailable; gave up after 4 attempts in " + err.split(" in ", 1)[1]
    )
    assert err.count("\n") == 1 and "Traceback" not in err
    assert snapshot(settings.store_path) == before


def test_a_failed_first_run_creates_no_store(settings: Settings, server: FixtureServer) -> None:
    server.fault("/api/daily_papers", Fault.body(b'[{"paper": {"id": "2606.0', status=200))
    code, _, err = ingest(settings, "hf-daily", "--date", "2026-06-12")
    assert code == ExitCode.FAILED
    assert "malformed or truncated JSON" in err and "date=2026-06-12" in err
    assert not settings.store_path.exists()


@pytest.mark.parametrize(
    "fault",
    [
        Fault.truncate(),
        Fault.hang(3.0),
        Fault.status_code(429, retry_after="0"),
        Fault.status_code(503),
    ],
    ids=["truncated", "hang", "429", "503"],
)
def test_one_transient_fault_is_absorbed(
    settings: Settings, server: FixtureServer, fault: Fault
) -> None:
    server.fault("/api/daily_papers", fault)
    code, out, _ = ingest(settings, "hf-daily", "--date", "2026-06-12")
    assert code == ExitCode.OK
    assert "30 papers fetched; 2 requests, 1 retries" in out
    assert PaperStore(settings.store_path, create=False).count() == 30


def test_an_unknown_id_fails_the_whole_hf_paper_run(
    settings: Settings, server: FixtureServer
) -> None:
    seed(settings.store_path)
    before = snapshot(settings.store_path)
    code, out, err = ingest(settings, "hf-paper", "2608.09888", "2601.00002")
    assert code == ExitCode.FAILED and out == ""
    assert err == (
        f"paperbot: GET {server.url}/api/papers/2601.00002: "
        "Hugging Face has no paper 2601.00002 (HTTP 404)\n"
    )
    assert snapshot(settings.store_path) == before


def test_arxiv_ids_and_the_newest_version_wins(settings: Settings) -> None:
    store = PaperStore(settings.store_path)
    newer = Paper(
        id="1601.00001",
        title="Inelastic effects (v2)",
        abstract="The v2 abstract.",
        source="arxiv",
        metadata={"version": 2},
    )
    store.upsert([newer], "default")
    code, out, _ = ingest(settings, "arxiv", "--ids", "1601.00001v1")
    assert code == ExitCode.OK and "0 added, 0 updated, 1 unchanged" in out
    kept = store.get("1601.00001")
    assert kept is not None and kept.abstract == "The v2 abstract."  # v1 did not overwrite v2

    # Same version, different text (say a stale copy): the fresh fetch replaces it.
    stale = newer.model_copy(
        update={"abstract": "A stale v1 abstract.", "metadata": {"version": 1}}
    )
    other_db = settings.store_path.with_name("other.db")
    PaperStore(other_db).upsert([stale], "default")
    code, out, _ = ingest(settings, "arxiv", "--ids", "1601.00001", "--db", str(other_db))
    assert code == ExitCode.OK and "0 added, 1 updated, 0 unchanged" in out
    fresh = PaperStore(other_db, create=False).get("1601.00001")
    assert fresh is not None and fresh.abstract.startswith("We extend the Landauer")


def test_the_same_paper_from_hf_and_arxiv_is_one_paper(
    settings: Settings, server: FixtureServer
) -> None:
    hf = json.loads(HF_PAPER.read_bytes())
    hf["id"] = "1601.00001"
    server.papers["1601.00001"] = json.dumps(hf).encode()
    assert ingest(settings, "arxiv", "--ids", "1601.00001")[0] == ExitCode.OK
    code, out, _ = ingest(settings, "hf-paper", "https://huggingface.co/papers/1601.00001")
    assert code == ExitCode.OK and "0 added, 1 updated" in out
    store = PaperStore(settings.store_path, create=False)
    assert store.count() == 1
    paper = store.get("1601.00001")
    assert paper is not None
    # arXiv's facts and HF's signals side by side; the arXiv version survives the HF update
    assert paper.metadata["version"] == 1
    assert paper.metadata["categories"] == ["cond-mat.mes-hall"]
    assert paper.metadata["ai_summary"] == hf["ai_summary"]
    assert paper.abstract != hf["ai_summary"]


def test_unknown_arxiv_ids_fail_unless_allowed(settings: Settings, server: FixtureServer) -> None:
    code, out, err = ingest(settings, "arxiv", "--ids", "1601.00001,2601.99999")
    assert code == ExitCode.FAILED and out == ""
    assert err == f"paperbot: GET {server.url}/api/query: arXiv has no paper 2601.99999\n"
    assert not settings.store_path.exists()
    code, out, _ = ingest(settings, "arxiv", "--ids", "1601.00001,2601.99999", "--allow-missing")
    assert code == ExitCode.OK and "1 papers fetched (1 unknown ids)" in out


def test_arxiv_query(settings: Settings, server: FixtureServer) -> None:
    code, out, _ = ingest(
        settings, "arxiv", "--query", "all:transformer AND cat:cs.LG", "--max", "5"
    )
    assert code == ExitCode.OK
    assert "5 papers fetched (28946 match on arXiv)" in out
    assert server.seen[0].query["search_query"] == ["all:transformer AND cat:cs.LG"]
    assert PaperStore(settings.store_path, create=False).count() == 5


def test_arxiv_error_feed_is_one_line(settings: Settings, server: FixtureServer) -> None:
    server.fault("/api/query", Fault.body(SYNTHETIC_ARXIV_ERROR_FEED))  # synthetic feed
    code, _, err = ingest(settings, "arxiv", "--ids", "1234.12345")
    assert code == ExitCode.FAILED
    assert err.startswith(f"paperbot: GET {server.url}/api/query?id_list=1234.12345&start=0")
    assert err.endswith("arXiv API error: incorrect id format for 1234.12345v9\n")


def test_malformed_xml_is_one_line(settings: Settings, server: FixtureServer) -> None:
    server.fault("/api/query", Fault.body(b"<feed><entry>", content_type="application/atom+xml"))
    code, _, err = ingest(settings, "arxiv", "--query", "cat:cs.LG")
    assert code == ExitCode.FAILED and "truncated XML" in err and err.count("\n") == 1


def test_oai_harvest_with_checkpoint_resumes_and_cleans_up(
    settings: Settings, server: FixtureServer, tmp_path: Path
) -> None:
    seed(settings.store_path)
    before = snapshot(settings.store_path)
    checkpoint = tmp_path / "harvest.jsonl"
    argv = ["oai", "--set", "cs", "--from", "2024-01-25", "--until", "2024-01-27"]
    argv += ["--prefix", "arXivRaw", "--checkpoint", str(checkpoint)]
    server.oai_pages = 3
    server.fault("/oai", Fault.ok(), *[Fault.status_code(503)] * 10)
    code, out, err = ingest(settings, *argv)
    assert code == ExitCode.FAILED and out == ""
    assert f"progress kept in {checkpoint}; run the same command to resume" in err
    assert snapshot(settings.store_path) == before  # nothing written
    assert checkpoint.exists()

    server._faults.clear()
    server.seen.clear()
    code, out, err = ingest(settings, *argv)
    assert (code, err) == (ExitCode.OK, "")
    assert [s.query.get("resumptionToken") for s in server.seen] == [
        ["paperbot-test|2"],
        ["paperbot-test|3"],
    ]
    assert "18 papers fetched (3 pages)" in out and "18 added" in out
    assert not checkpoint.exists()
    store = PaperStore(settings.store_path, create=False)
    assert store.count() == 19
    assert store.get("0704.0716").metadata["version"] == 4  # type: ignore[union-attr]

    code, out, _ = ingest(settings, *argv)  # a fresh harvest of the same range
    assert code == ExitCode.OK and "0 added, 0 updated, 18 unchanged" in out
    assert store.count() == 19


def test_oai_without_checkpoint_leaves_no_spool(
    settings: Settings, server: FixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    server.fault("/oai", Fault.ok(), Fault.body(b"<OAI-PMH><ListRecords>"))
    code, _, err = ingest(settings, "oai", "--set", "cs")
    assert code == ExitCode.FAILED and "truncated XML" in err
    assert list((tmp_path / "tmp").iterdir()) == []
    code, out, _ = ingest(settings, "oai", "--set", "cs")
    assert code == ExitCode.OK and "10 added" in out
    assert list((tmp_path / "tmp").iterdir()) == []


def test_oai_errors_and_empty_harvests(settings: Settings) -> None:
    code, out, _ = ingest(settings, "oai", "--set", "moo", "--prefix", "arXivRaw")
    assert code == ExitCode.OK and "0 papers fetched" in out
    code, out, err = ingest(
        settings, "oai", "--set", "cs", "--checkpoint", str(settings.store_path)
    )
    assert code == ExitCode.USAGE and "is not a paperbot OAI checkpoint" in err


def test_a_bad_store_file_is_one_line_before_any_request(
    settings: Settings, server: FixtureServer
) -> None:
    settings.store_path.write_bytes(b"this is not sqlite" * 100)
    code, _, err = ingest(settings, "hf-daily")
    # the user named a file that is not a store: a usage error, as for `paperbot search --db`
    assert code == ExitCode.USAGE and err.count("\n") == 1
    assert err.startswith("paperbot: ") and "not a paperbot store" in err
    assert server.seen == []


def test_progress_only_on_a_terminal(settings: Settings) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    code, _, _ = ingest(settings, "hf-daily", "--date", "2026-06-12", stderr=tty)
    assert code == ExitCode.OK
    assert "\rhf-daily: 2026-06-12: 30 papers\x1b[K" in tty.getvalue()
    assert tty.getvalue().endswith("\r\x1b[K")  # the status line is wiped before the summary
    plain = io.StringIO()
    ingest(settings, "hf-daily", "--date", "2026-06-12", stderr=plain)
    assert plain.getvalue() == ""
    assert Progress("x", plain).enabled is False


@pytest.mark.parametrize(
    "argv",
    [
        ["hf-daily", "--date", "12/06/2026"],
        ["hf-daily", "--date", "2026-06-12", "--from", "2026-06-01"],
        ["arxiv"],
        ["arxiv", "--query", "x", "--max", "0"],
        ["oai", "--from", "2024-01-01"],
        ["oai", "--set", "cs", "--prefix", "arXiv"],
        ["file"],
    ],
)
def test_bad_usage_exits_2(settings: Settings, server: FixtureServer, argv: list[str]) -> None:
    code, out, err = ingest(settings, *argv)
    assert code == ExitCode.USAGE and out == ""
    assert err.startswith("paperbot: ") and err.count("\n") == 1, err
    assert "--help" in err  # where to look
    assert server.seen == [] and not settings.store_path.exists()


def test_to_without_from_is_refused(settings: Settings) -> None:
    code, _, err = ingest(settings, "hf-daily", "--to", "2026-06-12")
    assert code == ExitCode.USAGE and err == "paperbot: --to needs --from\n"
    code, _, err = ingest(settings, "arxiv", "--ids", " , ")
    assert code == ExitCode.USAGE and err == "paperbot: --ids is empty\n"
    assert not settings.store_path.exists()


def test_paperbot_main_reads_the_environment(
    server: FixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from cli.main import main
    from config.settings import get_settings

    monkeypatch.setenv("PAPERBOT_HF_BASE_URL", server.url)
    monkeypatch.setenv("PAPERBOT_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        code = main(["ingest", "hf-paper", "2608.09888", "--db", str(tmp_path / "p.db"), "-v"])
    finally:
        get_settings.cache_clear()
    assert code == ExitCode.OK
    assert "hf-paper (1 ids): 1 papers fetched" in capsys.readouterr().out
    assert PaperStore(tmp_path / "p.db", create=False).count() == 1
