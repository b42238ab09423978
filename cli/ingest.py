"""``paperbot ingest file|hf-daily|hf-paper|arxiv|oai``: papers into a collection, answerable at
once.

Every source ends the same way: one :meth:`Library.add_papers` (stored metadata merged in, one
transaction, the collection re-indexed), the same progress line, and a summary on stdout (what
was read or fetched and the added / updated / unchanged counts, then the index). A file or a
remote source that fails writes nothing. ``paperbot ingest PATH`` is kept as a shorthand for
``ingest file PATH`` because the README and users' scripts use it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.context import Context
from cli.errors import ExitCode, UserError
from cli.progress import Progress

if TYPE_CHECKING:
    from retrieval.papers import Paper
    from retrieval.search import Library
    from retrieval.store import UpsertResult

REMOTE_SOURCES = ("hf-daily", "hf-paper", "arxiv", "oai")
SOURCES = ("file", *REMOTE_SOURCES)
_VALUED = ("--db", "--collection")  # options of every source that take a value


def expand_shorthand(argv: Sequence[str]) -> list[str]:
    """``paperbot ingest [--db X] PATH ...`` -> ``paperbot ingest file [--db X] PATH ...``: a
    first word after ``ingest`` (past ``--db`` / ``--collection`` and their values) that is not
    a source is a path. A file named like a source is ingested with ``ingest file NAME``."""
    args = list(argv)
    command = next((i for i, word in enumerate(args) if not word.startswith("-")), None)
    if command is None or args[command] != "ingest":
        return args
    first = command + 1
    while first < len(args) and args[first].startswith("-"):
        first += 2 if args[first] in _VALUED else 1
    if first >= len(args) or args[first] in SOURCES:
        return args
    return [*args[: command + 1], "file", *args[command + 1 :]]


# -- parsers --------------------------------------------------------------------------------------
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


def add_parsers(commands: Any, common: Any) -> None:
    """``ingest`` and its sources, under the top-level ``commands``; ``common(parser)`` adds the
    options every command has (``--db``, ``--collection``, ``-v``)."""
    ingest = commands.add_parser(
        "ingest",
        help="add papers from a file, Hugging Face or arXiv",
        description="Add papers to a collection and re-index it. `paperbot ingest PATH` is "
        "short for `paperbot ingest file PATH`.",
    )
    sources = ingest.add_subparsers(dest="source", metavar="SOURCE", required=True)

    p = sources.add_parser(
        "file",
        help="a file: paperbot JSONL, BEIR, Kaggle arXiv or a HF page text; plain, gzip, "
        "bzip2, xz or a one-file zip (`paperbot ingest PATH` for short)",
        description="Add the papers of a file; a file with nothing valid in it is an error.",
    )
    p.add_argument("path", help="file to load")
    common(p)
    p.set_defaults(func=cmd_file)

    p = sources.add_parser(
        "hf-daily",
        help="Hugging Face daily papers (today, one date, or a date range)",
        description="Fetch Hugging Face daily papers; with no date, today's list.",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--date", type=_day, metavar="D", help="one day, YYYY-MM-DD")
    when.add_argument("--from", dest="from_date", type=_day, metavar="D", help="first day")
    p.add_argument("--to", dest="to_date", type=_day, metavar="D", help="last day (default today)")
    p.add_argument("--trending", action="store_true", help="sort=trending")
    common(p)
    p.set_defaults(func=cmd_remote)

    p = sources.add_parser(
        "hf-paper",
        help="papers by arXiv id or URL via Hugging Face",
        description="Fetch papers from /api/papers/{id}; ids, arXiv URLs or HF paper URLs.",
    )
    p.add_argument("ids", nargs="+", metavar="ID")
    common(p)
    p.set_defaults(func=cmd_remote)

    p = sources.add_parser(
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
    common(p)
    p.set_defaults(func=cmd_remote)

    p = sources.add_parser(
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
    common(p)
    p.set_defaults(func=cmd_remote)


# -- commands -------------------------------------------------------------------------------------
def cmd_file(args: argparse.Namespace, ctx: Context) -> int:
    from retrieval.loaders import LoaderError, open_source

    path = Path(args.path)
    if not path.exists():
        raise UserError(f"no such file: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file (JSONL or a Hugging Face page text)")
    try:
        source = open_source(path)
    except LoaderError as exc:
        raise UserError(str(exc)) from None
    library = ctx.library(args, must_exist=False)
    collection = library.default_collection
    try:
        result = _add(ctx, library, source, collection, path.name)
    except LoaderError as exc:
        raise UserError(f"{exc} (nothing was added)") from None
    report = source.report
    ctx.stdout.write(
        f"{path.name} ({report.format}) -> collection {collection!r}: {_counts(result)}, "
        f"{report.skipped:,} skipped\n"
    )
    if report.skipped_lines:
        shown = ", ".join(f"line {n} ({reason})" for n, reason in report.skipped_lines[:5])
        more = f" and {report.skipped - 5:,} more" if report.skipped > 5 else ""
        ctx.stdout.write(f"skipped: {shown}{more}\n")
    ctx.stdout.write(_indexed(library, collection))
    return ExitCode.OK


def cmd_remote(args: argparse.Namespace, ctx: Context) -> int:
    """Fetch everything, then write. An existing store is opened (and checked) before any
    request; a new one is created, without the bundled corpus, only once the fetch succeeded,
    so a failed first run leaves no file behind."""
    from cli import remote
    from retrieval.ingest.pipeline import Timer

    settings = ctx.settings_for(args)
    remote.check(args)
    from retrieval.stores import database_url

    exists = database_url(settings) is not None or settings.store_path.exists()
    library = ctx.library(args, must_exist=False, seed=False) if exists else None
    timer = Timer()
    fetching = Progress(args.source, ctx.stderr)
    try:
        with remote.fetch(args, settings, ctx, fetching.note) as fetched:
            fetching.close()
            library = library or ctx.library(args, must_exist=False, seed=False)
            collection = library.default_collection
            result = _add(ctx, library, fetched.papers, collection, args.source)
    finally:
        fetching.close()
    head = f"{fetched.label}: {fetched.count} papers fetched"
    if fetched.extras:
        head += f" ({', '.join(fetched.extras)})"
    retries = f", {fetched.retries} retries" if fetched.retries else ""
    ctx.stdout.write(
        f"{head}; {fetched.requests} requests{retries}, {timer.seconds:.1f} s; "
        f"collection {collection!r}: {_counts(result)}\n"
    )
    ctx.stdout.write(_indexed(library, collection))
    return ExitCode.OK


# -- writing --------------------------------------------------------------------------------------
def _add(
    ctx: Context, library: Library, papers: Iterable[Paper], collection: str, label: str
) -> UpsertResult:
    """The one write of every ingest, with the shared progress line for both of its phases."""
    writing = Progress(f"ingesting {label}", ctx.stderr)
    indexing = Progress("indexing", ctx.stderr)

    def indexed(done: int) -> None:
        if indexing.total is None:  # the collection's size is known once the write is done
            writing.close()
            indexing.total = library.count(collection)
        indexing.update(done)

    try:
        return library.add_papers(
            papers, collection, progress=writing.update, index_progress=indexed
        )
    finally:
        writing.close()
        indexing.close()


def _counts(result: UpsertResult) -> str:
    return f"{result.added:,} added, {result.updated:,} updated, {result.unchanged:,} unchanged"


def _indexed(library: Library, collection: str) -> str:
    """The collection's index as queries now see it (rebuilt by the write if anything changed,
    else the saved one)."""
    index = library.index(collection)
    how = f"{index.engine.name} engine"
    if index.delta is not None:
        # Changes since the last full build are searched from a small index beside it.
        how += f"; {index.delta.postings.n_docs:,} of them in a delta index"
    return f"indexed {index.paper_count:,} papers ({how})\n"
