"""``paperbot``: the one parser tree and its dispatch, plus the query, inspect and bot commands.

Every command is ``func(args, ctx) -> exit code`` and fails by raising (see :mod:`cli.errors`);
:func:`main` alone turns an error into the one ``paperbot: <message>`` line and its exit code,
so a search, a file ingest and an arXiv harvest fail alike. Only ``run`` and ``sync`` import the
bot package, and only a remote ingest imports httpx, so the retrieval commands stay fast to
start and work without discord.py configured.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from cli import db as db_cli
from cli import feedback as feedback_cli
from cli import ingest, take_over_ctrl_c
from cli.context import Context
from cli.errors import ExitCode, UpstreamError, UserError, error_line
from cli.filters import add_filter_options, filters_from_args

if TYPE_CHECKING:
    from retrieval.search import Library

log = logging.getLogger("paperbot")


# -- search ---------------------------------------------------------------------------------------
def _known_collection(library: Library, name: str) -> str:
    """``name`` if the store has that collection; else a usage error naming the ones it has
    (searching a misspelt collection would otherwise look like a search that found nothing)."""
    if library.has_collection(name):
        return name
    known = ", ".join(repr(c.name) for c in library.collections()) or "none"
    from retrieval.stores import location

    raise UserError(f"no collection {name!r} in {location(library.store)} (known: {known})")


def _reader(args: argparse.Namespace, ctx: Context) -> Library:
    """The library for a command that reads: an index that another process is rebuilding is not
    waited for; the previous one answers, and stderr says so once per collection."""
    from retrieval.index.serving import Behind

    library = ctx.library(args)

    def behind(note: Behind) -> None:
        lag = f"{note.papers_behind:,} papers behind" if note.papers_behind else "papers changed"
        ctx.stderr.write(
            error_line(
                f"note: the index of {note.collection!r} is being rebuilt by another process; "
                f"answering from the previous one ({lag})"
            )
        )

    library.indexes.on_behind = behind
    library.indexes.background = False  # a command exits soon: no build left running behind it
    return library


def _search_json(query: str, hits) -> dict[str, object]:
    return {
        "query": query,
        "results": [{"id": h.id, "title": h.title, "score": round(h.score, 6)} for h in hits],
    }


def cmd_search(args: argparse.Namespace, ctx: Context) -> int:
    from retrieval.sanitize import clean_line, echo, json_dumps
    from retrieval.search import EmptyQuery

    out = ctx.stdout
    library = _reader(args, ctx)
    collection = _known_collection(library, library.default_collection)
    filters = filters_from_args(args, library, collection)
    if args.top_k is None:
        args.top_k = ctx.settings_for(args).top_k
    if args.batch:  # one line out per line in, a blank line included (its results are empty)
        for line in ctx.stdin:
            query = line.strip()
            try:
                hits = (
                    library.search(query, k=args.top_k, collection=collection, filters=filters)
                    if query
                    else []
                )
            except EmptyQuery:
                hits = []
            out.write(json_dumps(_search_json(query, hits)) + "\n")
        return 0
    query = " ".join(args.query or []).strip()
    if not query:
        raise UserError("give a query, e.g. paperbot search 'sentence segmentation'")
    try:
        hits = library.search(query, k=args.top_k, collection=collection, filters=filters)
    except EmptyQuery:
        raise UserError(f"nothing searchable in {echo(query)!r}: try a few topic words") from None
    if args.json:
        out.write(json_dumps(_search_json(query, hits)) + "\n")
        return 0
    if not hits:
        among = f" among papers {filters.describe()}" if filters else ""
        out.write(f"No paper matches {echo(query)!r}{among}.\n")
        return 0
    for rank, hit in enumerate(hits, 1):
        out.write(
            f"{rank:>2}. {clean_line(hit.title)}  [{hit.score:.2f}]\n    {clean_line(hit.id)}"
        )
        out.write(f"  {clean_line(hit.url)}\n" if hit.url else "\n")
    return 0


# -- ask ------------------------------------------------------------------------------------------
def cmd_ask(args: argparse.Namespace, ctx: Context) -> int:
    from cli.llm import with_model_answer
    from cli.render import render_answer
    from retrieval.answer.compose import answer_to_json
    from retrieval.llm.writer import written_to_json
    from retrieval.sanitize import echo, json_dumps
    from retrieval.search import EmptyQuery

    out = ctx.stdout
    library = _reader(args, ctx)
    collection = _known_collection(library, library.default_collection)
    filters = filters_from_args(args, library, collection)
    if args.batch:  # one line out per line in, a blank line included (answered: false)
        for line in ctx.stdin:
            question = line.strip()
            payload = {"question": question, "answered": False, "papers": []}
            try:
                if question:
                    answer = library.ask(question, collection=collection, filters=filters)
                    payload = answer_to_json(answer)
            except EmptyQuery:
                pass
            out.write(json_dumps(payload) + "\n")
        return 0
    question = " ".join(args.question or []).strip()
    if not question:
        raise UserError("ask a question, e.g. paperbot ask 'how does XPO make DPO explore?'")
    try:
        answer = library.ask(question, collection=collection, filters=filters)
    except EmptyQuery:
        raise UserError(
            f"nothing searchable in {echo(question)!r}: try a few topic words"
        ) from None
    answer = with_model_answer(answer, args, ctx)
    if args.json:
        payload = answer_to_json(answer)
        if answer.written is not None:
            payload["written"] = written_to_json(answer)
        out.write(json_dumps(payload) + "\n")
    else:
        out.write(render_answer(answer, color=out.isatty()) + "\n")
    return 0


# -- stats / export -------------------------------------------------------------------------------
def cmd_stats(args: argparse.Namespace, ctx: Context) -> int:
    from retrieval.sanitize import clean_line

    out = ctx.stdout
    library = _reader(args, ctx)
    rows = []
    for coll in library.collections():
        info = library.info(coll.name)
        rows.append(
            {
                "collection": coll.name,
                "papers": coll.paper_count,
                "generation": coll.generation,
                "updated_at": coll.updated_at.isoformat() if coll.updated_at else None,
                "indexed_at": info.indexed_at.isoformat() if info.indexed_at else None,
                "engine": library.index(coll.name).engine.name,
            }
        )
    from retrieval.stores import location

    path, size = location(library.store), library.store_size()
    if args.json:
        payload = {"store": str(path), "bytes": size, "collections": rows}
        out.write(json.dumps(payload) + "\n")
        return ExitCode.OK
    out.write(f"store: {clean_line(str(path))} ({size / 1e6:.1f} MB), paperbot {library.version}\n")
    for row in rows:
        name = clean_line(str(row["collection"]))
        out.write(
            f"  {name}: {row['papers']:,} papers, indexed {row['indexed_at']} "
            f"({row['engine']} engine)\n"
        )
    return ExitCode.OK


def cmd_export(args: argparse.Namespace, ctx: Context) -> int:
    from cli.export import export_target, write_whole
    from retrieval.loaders import write_jsonl

    # --out is checked before the store is opened: never the store, never an SQLite file.
    target = export_target(args.out, ctx.settings_for(args).store_path) if args.out else None
    library = ctx.library(args)
    collection = _known_collection(library, library.default_collection)
    if target is not None:
        count = write_whole(target, lambda fh: write_jsonl(library.papers(collection), fh))
        ctx.stderr.write(f"exported {count:,} papers from {collection!r} to {args.out}\n")
    else:
        write_jsonl(library.papers(collection), ctx.stdout)
    return ExitCode.OK


# -- bot ------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    from bot import run_bot

    return run_bot(ctx.settings_for(args))


def cmd_sync(args: argparse.Namespace, ctx: Context) -> int:
    import asyncio

    from bot import sync_commands

    # sync_commands reports what it synced (or one error line) and returns the exit code.
    return asyncio.run(sync_commands(ctx.settings_for(args), args.guild))


# -- parser ---------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing its usage and exiting, so a usage mistake is
    the same one line and exit code as every other error (sub-parsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see {self.prog} --help)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", help="paper store (default: PAPERBOT_DB_PATH)")
    parser.add_argument("--collection", metavar="NAME", help="collection (default: default)")
    # Also accepted after the command; SUPPRESS keeps a sub-parser from resetting it to False.
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log to stderr"
    )


def _top_k(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="paperbot",
        description="Answers questions about research papers with verbatim quotes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("search", help="rank papers for a query")
    p.add_argument("query", nargs="*", help="the query (omit with --batch)")
    p.add_argument("--top-k", type=_top_k, default=None, help="results (default: PAPERBOT_TOP_K)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--batch", action="store_true", help="queries on stdin, JSON lines out")
    add_filter_options(p)
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with quoted sentences")
    p.add_argument("question", nargs="*")
    p.add_argument("--json", action="store_true")
    p.add_argument("--batch", action="store_true", help="questions on stdin, JSON lines out")
    p.add_argument(
        "--no-llm", action="store_true", help="no model-written answer, even when configured"
    )
    add_filter_options(p)
    _common(p)
    p.set_defaults(func=cmd_ask)

    ingest.add_parsers(sub, _common)
    feedback_cli.add_parsers(sub, _common)
    db_cli.add_parsers(sub, _common)

    p = sub.add_parser("stats", help="collections, paper counts and index dates")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("export", help="write a collection as JSON lines (paperbot's format)")
    p.add_argument("--out", metavar="FILE", help="file to write (default: stdout)")
    _common(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("run", help="run the Discord bot (needs PAPERBOT_DISCORD_TOKEN)")
    _common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sync", help="register the slash commands with Discord")
    p.add_argument("--guild", type=int, metavar="ID", help="sync to one guild (instant)")
    _common(p)
    p.set_defaults(func=cmd_sync)
    return parser


# -- dispatch -------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    """Run one command; the only place an error becomes a ``paperbot: <message>`` line on
    stderr and an :class:`ExitCode`. ``ctx`` defaults to this process's streams and settings
    from the environment."""
    take_over_ctrl_c()
    ctx = ctx or Context()
    try:
        parser = build_parser()
        args = parser.parse_args(ingest.expand_shorthand(sys.argv[1:] if argv is None else argv))
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        if not getattr(args, "func", None):
            parser.print_help(ctx.stderr)
            return ExitCode.USAGE
        return int(args.func(args, ctx))
    except (UserError, UpstreamError) as exc:
        ctx.stderr.write(error_line(str(exc)))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        ctx.stderr.write(error_line(": ".join(filter(None, ["interrupted", str(exc)]))))
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # a bug or a broken disk: still one line; -v shows the traceback
        log.info("%s failed", " ".join(sys.argv[1:] if argv is None else argv), exc_info=True)
        ctx.stderr.write(error_line(f"{type(exc).__name__}: {exc}"))
        return ExitCode.FAILED


if __name__ == "__main__":
    raise SystemExit(main())
