"""Papers per second ingested from the loopback fixtures server (HF daily range and OAI harvest).

The whole CLI path is timed: HTTP over real loopback sockets, JSON/XML parsing, Paper
validation, the OAI spool file, one SQLite upsert into a fresh store, and the re-index that
makes the papers answerable at once (``paperbot ingest`` writes through ``Library.add_papers``).
Network latency and the upstream's politeness limits are *not* in these numbers (the spacing for
arXiv is set to 0 here; against the real arXiv, OAI throughput is bounded by one request every
3 s, i.e. about 1000 records / 3 s per page plus transfer time).

Synthetic volume is made from the recorded responses: each HF day is the recorded 30-paper list
with its ids moved to a distinct ``YYMM`` prefix; each OAI page is the recorded 5-record oai_dc
page cloned to ``--oai-page-size`` records with distinct ids.

    python -m bench.bench_ingest --days 60 --oai-pages 20 --oai-page-size 1000
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from cli.context import Context
from cli.main import main as paperbot
from config.settings import Settings
from retrieval.ingest.http import RetryPolicy
from retrieval.store import PaperStore
from tests.retrieval.ingest.server import HF_DAILY, OAI_DC, FixtureServer, rewrite_daily

OUT = Path(__file__).resolve().parent / "out"


def _big_oai_template(records: int) -> bytes:
    """The recorded oai_dc page with its 5 records cloned to ``records`` distinct ids."""
    text = OAI_DC.read_text()
    head, rest = text.split("<record>", 1)
    body, tail = ("<record>" + rest).rsplit("</record>", 1)
    originals = body.split("</record>")
    originals = [r + "</record>" for r in originals if r.strip()]
    clones = []
    for n in range(records):
        record = originals[n % len(originals)]
        suffix = f"{n:05d}"
        clones.append(
            re.sub(
                r"(oai:arXiv\.org:|arxiv\.org/abs/)\d{4}\.\d{4,5}",
                lambda m, s=suffix: f"{m.group(1)}2401.{s}",
                record,
            )
        )
    return (head + "".join(clones) + tail).encode()


def _ingest(settings: Settings, argv: list[str]) -> tuple[float, str]:
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(stdout=out, stderr=err, settings=settings, retry=RetryPolicy())
    start = time.perf_counter()
    code = paperbot(["ingest", *argv], ctx)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"ingest failed: {err.getvalue().strip()}")
    return seconds, out.getvalue().strip()


def bench_hf(days: int, repeats: int) -> dict[str, object]:
    runs = []
    with FixtureServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.daily_default = b"[]"
        from datetime import date, timedelta

        first = date(2026, 1, 1)
        for n in range(days):
            day = first + timedelta(days=n)
            server.daily[day.isoformat()] = rewrite_daily(HF_DAILY.read_bytes(), f"{9000 + n}")
        last = first + timedelta(days=days - 1)
        for r in range(repeats):
            settings = _settings(server, Path(tmp) / f"hf-{r}.db")
            argv = ["hf-daily", "--from", first.isoformat(), "--to", last.isoformat()]
            seconds, line = _ingest(settings, argv)
            papers = PaperStore(settings.store_path, create=False).count()
            runs.append({"seconds": seconds, "papers": papers, "summary": line})
    return _report("hf-daily", runs, requests=days)


def bench_oai(pages: int, page_size: int, repeats: int) -> dict[str, object]:
    runs = []
    with FixtureServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.oai_pages = pages
        server.oai_templates["oai_dc"] = _big_oai_template(page_size)
        for r in range(repeats):
            settings = _settings(server, Path(tmp) / f"oai-{r}.db")
            argv = ["oai", "--set", "cs", "--from", "2024-01-25", "--until", "2024-01-26"]
            seconds, line = _ingest(settings, argv)
            papers = PaperStore(settings.store_path, create=False).count()
            runs.append({"seconds": seconds, "papers": papers, "summary": line})
    return _report("oai oai_dc", runs, requests=pages)


def _settings(server: FixtureServer, db: Path) -> Settings:
    return Settings(
        db_path=db,
        hf_base_url=server.url,
        arxiv_api_url=f"{server.url}/api/query",
        arxiv_oai_url=f"{server.url}/oai",
        arxiv_min_interval=0.0,
        http_timeout=30.0,
    )


def _report(name: str, runs: list[dict[str, object]], *, requests: int) -> dict[str, object]:
    rates = [float(r["papers"]) / float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
    return {
        "source": name,
        "papers": runs[0]["papers"],
        "requests": requests,
        "seconds": [round(float(r["seconds"]), 3) for r in runs],  # type: ignore[arg-type]
        "papers_per_second_median": round(statistics.median(rates), 1),
        "summary": runs[-1]["summary"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60, help="HF days (30 papers each)")
    parser.add_argument("--oai-pages", type=int, default=20)
    parser.add_argument("--oai-page-size", type=int, default=1000, help="records per OAI page")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = [
        bench_hf(args.days, args.repeats),
        bench_oai(args.oai_pages, args.oai_page_size, args.repeats),
    ]
    for result in results:
        print(
            f"{result['source']:<12} {result['papers']:>7} papers  {result['requests']:>4} requests"
            f"  {result['papers_per_second_median']:>9.1f} papers/s  (runs: {result['seconds']} s)"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_ingest.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
