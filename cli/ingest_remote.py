"""``paperbot ingest hf-daily|hf-paper|arxiv|oai``: papers from Hugging Face and arXiv.

The lead's ``cli/main.py`` routes ``paperbot ingest <source> ...`` here, either by calling
:func:`add_remote_subparsers` on its ``ingest`` sub-parsers (then ``args.remote_source`` is set
and :func:`run` does the work), or by handing the remaining argv to :func:`main`.

Contract with the user: a progress line on stderr when it is a terminal, one summary line on
stdout, and on failure one ``error: ...`` line naming the request, a non-zero exit code and no
traceback. Nothing is written unless the whole fetch succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import httpx
from pydantic import ValidationError

from config.settings import Settings, get_settings
from retrieval.ingest.errors import CheckpointError, IngestError
from retrieval.ingest.http import RetryPolicy
from retrieval.ingest.pipeline import (
    Fetched,
    Timer,
    fetch_arxiv_ids,
    fetch_arxiv_query,
    fetch_hf_daily,
    fetch_hf_papers,
    harvest_oai,
    make_client,
    oai_spool,
    write_papers,
)

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

SOURCES = ("hf-daily", "hf-paper", "arxiv", "oai")


# --- argument parsing ---------------------------------------------------------------------------
def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-06-12") from None


def _oai_day(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2024-01-25")
    _day(value)
    return value


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, help="paper store file (default: from settings)")
    parser.add_argument("--collection", help="collection to add the papers to (default: settings)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log retries and skipped records"
    )


def add_remote_subparsers(subparsers: Any) -> None:
    """Add ``hf-daily``, ``hf-paper``, ``arxiv`` and ``oai`` to an ``ingest`` sub-parser set."""
    p = subparsers.add_parser(
        "hf-daily",
        help="Hugging Face daily papers (today, one date, or a date range)",
        description="Fetch Hugging Face daily papers; with no date, today's list.",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--date", type=_day, metavar="D", help="one day, YYYY-MM-DD")
    when.add_argument("--from", dest="from_date", type=_day, metavar="D", help="first day")
    p.add_argument("--to", dest="to_date", type=_day, metavar="D", help="last day (default today)")
    p.add_argument("--trending", action="store_true", help="sort=trending")
    _common(p)
    p.set_defaults(remote_source="hf-daily")

    p = subparsers.add_parser(
        "hf-paper",
        help="papers by arXiv id or URL via Hugging Face",
        description="Fetch papers from /api/papers/{id}; ids, arXiv URLs or HF paper URLs.",
    )
    p.add_argument("ids", nargs="+", metavar="ID")
    _common(p)
    p.set_defaults(remote_source="hf-paper")

    p = subparsers.add_parser(
        "arxiv",
        help="the arXiv API: a search query or a list of ids",
        description="Fetch from the arXiv API (one request every 3 s, as arXiv asks).",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--query", metavar="Q", help="arXiv search_query, e.g. 'cat:cs.CL AND all:rag'"
    )
    what.add_argument("--ids", metavar="ID,...", help="comma-separated arXiv ids")
    p.add_argument("--max", dest="max_results", type=_positive, default=100, metavar="N")
    p.add_argument(
        "--sort",
        choices=("relevance", "lastUpdatedDate", "submittedDate"),
        help="result order for --query (descending)",
    )
    p.add_argument(
        "--allow-missing", action="store_true", help="with --ids: skip ids arXiv does not know"
    )
    _common(p)
    p.set_defaults(remote_source="arxiv")

    p = subparsers.add_parser(
        "oai",
        help="bulk harvest from arXiv OAI-PMH (resumable with --checkpoint)",
        description="OAI-PMH ListRecords. With --checkpoint FILE an interrupted harvest resumes.",
    )
    p.add_argument(
        "--set", dest="set_spec", metavar="SET", required=True, help="OAI set, e.g. cs or physics"
    )
    p.add_argument("--from", dest="from_date", type=_oai_day, metavar="D")
    p.add_argument("--until", dest="until_date", type=_oai_day, metavar="D")
    p.add_argument("--prefix", choices=("oai_dc", "arXivRaw"), default="oai_dc")
    p.add_argument("--checkpoint", type=Path, metavar="FILE", help="spool file to resume from")
    _common(p)
    p.set_defaults(remote_source="oai")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperbot ingest", description="Ingest papers from Hugging Face or arXiv."
    )
    subparsers = parser.add_subparsers(dest="remote_source", metavar="SOURCE", required=True)
    add_remote_subparsers(subparsers)
    return parser


# --- progress -----------------------------------------------------------------------------------
class Progress:
    """A single rewritten status line on a terminal; silent when stderr is not a TTY.

    Same look as :mod:`cli.progress` (carriage return, erase to end of line), but fed with
    messages ("2026-06-12: 30 papers", "page 3: 3000 of ~58011 records") since a remote ingest
    has phases rather than one counter.
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.label = label
        self._shown = False

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        self.stream.write(f"\r{self.label}: {message}"[:120] + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def stored(self, count: int) -> None:
        self(f"writing {count} papers")

    def done(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


# --- running ------------------------------------------------------------------------------------
def _open_store(path: Path, *, create: bool) -> Any:
    from retrieval.store import PaperStore

    return PaperStore(path, create=create)


def _summary(
    label: str,
    fetched: int,
    extras: list[str],
    result: Any,
    collection: str,
    http: Any,
    seconds: float,
) -> str:
    head = f"{label}: {fetched} papers fetched"
    if extras:
        head += f" ({', '.join(extras)})"
    retries = f", {http.retries} retries" if http.retries else ""
    return (
        f"{head}; {http.requests} requests{retries}, {seconds:.1f} s; "
        f"collection {collection!r}: {result.added} added, {result.updated} updated, "
        f"{result.unchanged} unchanged"
    )


def _extras(fetched: Fetched) -> list[str]:
    extras = []
    if fetched.skipped:
        extras.append(f"{len(fetched.skipped)} skipped")
    if fetched.missing:
        extras.append(f"{len(fetched.missing)} unknown ids")
    return extras + fetched.notes


async def _fetch(args: argparse.Namespace, settings: Settings, http: Any, progress: Progress):
    source = args.remote_source
    if source == "hf-daily":
        if args.to_date is not None and args.from_date is None:
            raise IngestError("--to needs --from")
        return await fetch_hf_daily(
            http,
            settings,
            day=args.date,
            start=args.from_date,
            end=args.to_date if args.from_date else None,
            trending=args.trending,
            progress=progress,
        )
    if source == "hf-paper":
        return await fetch_hf_papers(http, settings, args.ids, progress=progress)
    if source == "arxiv":
        if args.ids is not None:
            ids = [i for i in re.split(r"[,\s]+", args.ids) if i]
            if not ids:
                raise IngestError("--ids is empty")
            return await fetch_arxiv_ids(
                http, settings, ids, allow_missing=args.allow_missing, progress=progress
            )
        return await fetch_arxiv_query(
            http,
            settings,
            args.query,
            max_results=args.max_results,
            sort_by=args.sort,
            progress=progress,
        )
    raise IngestError(f"unknown source {source!r}")


def run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one parsed ``paperbot ingest <source>`` command; returns the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    progress = Progress(args.remote_source, err)
    db = Path(args.db) if getattr(args, "db", None) else settings.store_path
    collection = getattr(args, "collection", None) or settings.collection
    try:
        # An existing store is opened (and its schema checked) before any request; a new one is
        # only created once the fetch has succeeded, so a failed first run leaves no file behind.
        store = _open_store(db, create=False) if db.exists() else None
        timer = Timer()
        if args.remote_source == "oai":
            line = _run_oai(args, settings, store, db, collection, progress, retry, transport)
        else:
            fetched, http = asyncio.run(
                _fetch_with_client(args, settings, progress, retry, transport)
            )
            if store is None:
                store = _open_store(db, create=True)
            result = write_papers(store, fetched.papers, collection, progress=progress.stored)
            line = _summary(
                fetched.label,
                len(fetched.papers),
                _extras(fetched),
                result,
                collection,
                http,
                timer.seconds,
            )
        progress.done()
        print(line, file=out)
        return EXIT_OK
    except KeyboardInterrupt as exc:
        progress.done()
        print(f"interrupted: nothing was written{f'; {exc}' if str(exc) else ''}", file=err)
        return EXIT_INTERRUPTED
    except IngestError as exc:
        progress.done()
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    except Exception as exc:  # the store or something unforeseen: still one line
        progress.done()
        log.debug("ingest failed", exc_info=True)
        print(f"error: {type(exc).__name__}: {exc}", file=err)
        return EXIT_FAILED


async def _fetch_with_client(
    args: argparse.Namespace,
    settings: Settings,
    progress: Progress,
    retry: RetryPolicy | None,
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[Fetched, Any]:
    async with make_client(settings, retry=retry, transport=transport) as http:
        fetched = await _fetch(args, settings, http, progress)
        return fetched, http


def _run_oai(
    args: argparse.Namespace,
    settings: Settings,
    store: Any,
    db: Path,
    collection: str,
    progress: Progress,
    retry: RetryPolicy | None,
    transport: httpx.AsyncBaseTransport | None,
) -> str:
    """Harvest to the spool, then one upsert from it. Returns the summary line."""
    timer = Timer()
    checkpoint: Path | None = args.checkpoint

    spool = oai_spool(
        settings,
        set_spec=args.set_spec,
        from_date=args.from_date,
        until_date=args.until_date,
        prefix=args.prefix,
        checkpoint=checkpoint,
    )

    async def harvest() -> tuple[Any, Any]:
        async with make_client(settings, retry=retry, transport=transport) as http:
            state = await harvest_oai(http, settings, spool, progress=progress)
            return state, http

    note = f"progress kept in {checkpoint}; run the same command to resume"
    try:
        try:
            state, http = asyncio.run(harvest())
        except KeyboardInterrupt:
            raise KeyboardInterrupt(note if checkpoint else "") from None
        except CheckpointError:
            raise
        except IngestError as exc:
            if checkpoint is None:
                raise
            raise IngestError(f"{exc.reason} ({note})", request=exc.request) from None
        if store is None:
            store = _open_store(db, create=True)
        result = write_papers(store, spool.iter_papers(), collection, progress=progress.stored)
        extras = [f"{state.skipped} skipped"] if state.skipped else []
        if state.deleted:
            extras.append(f"{state.deleted} deleted upstream")
        extras.append(f"{state.pages} pages")
        label = f"oai {args.set_spec} {args.from_date or '*'}..{args.until_date or '*'}"
        line = _summary(label, state.records, extras, result, collection, http, timer.seconds)
        spool.path.unlink(missing_ok=True)  # done: a re-run starts a fresh harvest
        return line
    finally:
        if checkpoint is None:
            spool.path.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """``paperbot ingest <source> ...`` as its own program (``cli.main`` hands argv here)."""
    args = build_parser().parse_args(argv)
    if settings is None:
        try:
            settings = get_settings()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
            print(f"error: invalid setting {where}: {first.get('msg')}", file=sys.stderr)
            return EXIT_USAGE
    if not logging.getLogger().handlers:  # cli.main configures logging itself
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
    return run(args, settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
