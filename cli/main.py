"""``paperbot``: search, ask, ingest, inspect and export from a terminal; run and sync the bot.

User mistakes (a missing file, an empty question, a bad setting) are one line on stderr and exit
code 2, never a traceback. Only ``run`` and ``sync`` import the bot package, so the retrieval
commands stay fast to start and work without discord.py configured.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from cli.errors import UserError
from cli.progress import Progress

REMOTE_SOURCES = ("hf-daily", "hf-paper", "arxiv", "oai")


def _settings(args: argparse.Namespace):  # -> Settings (import kept lazy for start-up time)
    from config import Settings

    overrides: dict[str, object] = {}
    if getattr(args, "db", None):
        overrides["db_path"] = Path(args.db)
    if getattr(args, "collection", None):
        overrides["collection"] = args.collection
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise UserError(f"invalid setting {where}: {first.get('msg')}") from None


def _library(args: argparse.Namespace, *, must_exist: bool = True):  # -> Library
    """The library for a command. The configured store (``PAPERBOT_DB_PATH`` or the default) is
    created from the bundled corpus on first use; a store named with ``--db`` holds exactly what
    was ingested into it, and naming one that does not exist is a mistake worth reporting."""
    from retrieval.search import Library
    from retrieval.store import StoreError

    settings = _settings(args)
    named = bool(getattr(args, "db", None))  # --db on the command line, not the configured path
    if must_exist and named and not settings.store_path.exists():
        raise UserError(
            f"no paper store at {settings.store_path} (create one with: paperbot ingest FILE "
            f"--db {settings.store_path})"
        )
    try:
        return Library.open(settings, seed=not named)
    except StoreError as exc:
        raise UserError(str(exc)) from None


# -- search ---------------------------------------------------------------------------------------
def _search_json(query: str, hits) -> dict[str, object]:
    return {
        "query": query,
        "results": [{"id": h.id, "title": h.title, "score": round(h.score, 6)} for h in hits],
    }


def cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    from retrieval.search import EmptyQuery

    library = _library(args)
    collection = args.collection
    if args.top_k is None:
        args.top_k = _settings(args).top_k
    if args.batch:
        for line in sys.stdin:
            query = line.strip()
            if not query:
                continue
            try:
                hits = library.search(query, k=args.top_k, collection=collection)
            except EmptyQuery:
                hits = []
            out.write(json.dumps(_search_json(query, hits), ensure_ascii=False) + "\n")
        return 0
    query = " ".join(args.query or []).strip()
    if not query:
        raise UserError("give a query, e.g. paperbot search 'sentence segmentation'")
    try:
        hits = library.search(query, k=args.top_k, collection=collection)
    except EmptyQuery:
        raise UserError(f"nothing searchable in {query!r}: try a few topic words") from None
    if args.json:
        out.write(json.dumps(_search_json(query, hits), ensure_ascii=False) + "\n")
        return 0
    if not hits:
        out.write(f"No paper matches {query!r}.\n")
        return 0
    for rank, hit in enumerate(hits, 1):
        out.write(f"{rank:>2}. {hit.title}  [{hit.score:.2f}]\n    {hit.id}")
        out.write(f"  {hit.url}\n" if hit.url else "\n")
    return 0


# -- ask ------------------------------------------------------------------------------------------
def cmd_ask(args: argparse.Namespace, out: TextIO) -> int:
    from retrieval.compose import answer_to_json
    from retrieval.render.terminal import render_answer
    from retrieval.search import EmptyQuery

    library = _library(args)
    if args.batch:
        for line in sys.stdin:
            question = line.strip()
            if not question:
                continue
            try:
                payload = answer_to_json(library.ask(question, collection=args.collection))
            except EmptyQuery:
                payload = {"question": question, "answered": False, "papers": []}
            out.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return 0
    question = " ".join(args.question or []).strip()
    if not question:
        raise UserError("ask a question, e.g. paperbot ask 'how does XPO make DPO explore?'")
    try:
        answer = library.ask(question, collection=args.collection)
    except EmptyQuery:
        raise UserError(f"nothing searchable in {question!r}: try a few topic words") from None
    if args.json:
        out.write(json.dumps(answer_to_json(answer), ensure_ascii=False) + "\n")
    else:
        out.write(render_answer(answer, color=out.isatty()) + "\n")
    return 0


# -- ingest ---------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace, out: TextIO) -> int:
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
    library = _library(args, must_exist=False)
    collection = args.collection or library.default_collection
    bar = Progress(f"ingesting {path.name}")
    try:
        result = library.store.upsert(source, collection, progress=bar.update)
    except LoaderError as exc:
        raise UserError(f"{exc} (nothing was added)") from None
    finally:
        bar.close()
    report = source.report
    out.write(
        f"{path.name} ({report.format}) -> collection {collection!r}: {result.added:,} added, "
        f"{result.updated:,} updated, {result.unchanged:,} unchanged, {report.skipped:,} skipped\n"
    )
    if report.skipped_lines:
        shown = ", ".join(f"line {n} ({reason})" for n, reason in report.skipped_lines[:5])
        more = f" and {report.skipped - 5:,} more" if report.skipped > 5 else ""
        out.write(f"skipped: {shown}{more}\n")
    bar = Progress("indexing", total=library.store.count(collection))
    try:
        index = library.rebuild(collection, progress=bar.update)
    finally:
        bar.close()
    out.write(f"indexed {index.n_docs:,} papers ({index.engine.name} engine)\n")
    return 0


# -- stats / export -------------------------------------------------------------------------------
def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    library = _library(args)
    store = library.store
    rows = []
    for coll in store.collections():
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
    size = store.path.stat().st_size if store.path.exists() else 0
    if args.json:
        payload = {"store": str(store.path), "bytes": size, "collections": rows}
        out.write(json.dumps(payload) + "\n")
        return 0
    out.write(f"store: {store.path} ({size / 1e6:.1f} MB), paperbot {library.version}\n")
    for row in rows:
        out.write(
            f"  {row['collection']}: {row['papers']:,} papers, indexed {row['indexed_at']} "
            f"({row['engine']} engine)\n"
        )
    return 0


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    from retrieval.loaders import write_jsonl

    library = _library(args)
    collection = args.collection or library.default_collection
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            count = write_jsonl(library.store.iter_papers(collection), fh)
        sys.stderr.write(f"exported {count:,} papers from {collection!r} to {args.out}\n")
    else:
        write_jsonl(library.store.iter_papers(collection), out)
    return 0


# -- bot ------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    from bot import run_bot

    return run_bot(_settings(args))


def cmd_sync(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from bot import sync_commands

    # sync_commands reports what it synced (or one error line) and returns the exit code.
    return asyncio.run(sync_commands(_settings(args), args.guild))


# -- parser ---------------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", help="paper store (default: PAPERBOT_DB_PATH)")
    parser.add_argument("--collection", metavar="NAME", help="collection (default: default)")


def _top_k(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with quoted sentences")
    p.add_argument("question", nargs="*")
    p.add_argument("--json", action="store_true")
    p.add_argument("--batch", action="store_true", help="questions on stdin, JSON lines out")
    _common(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "ingest",
        help="add papers from a file (JSONL, BEIR, Kaggle arXiv, HF page; plain, gzip, bzip2, "
        "xz or a one-file zip) or a remote source",
        description="paperbot ingest PATH, or paperbot ingest {hf-daily,hf-paper,arxiv,oai} ...",
    )
    p.add_argument("path", help="file to load")
    _common(p)
    p.set_defaults(func=cmd_ingest)

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


def _remote_ingest(argv: list[str]) -> int:
    from cli import ingest_remote

    return ingest_remote.main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO if "-v" in args_list or "--verbose" in args_list else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if len(args_list) >= 2 and args_list[0] == "ingest" and args_list[1] in REMOTE_SOURCES:
            return _remote_ingest(args_list[1:])
        parser = build_parser()
        args = parser.parse_args(args_list)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args, sys.stdout))
    except UserError as exc:
        sys.stderr.write(f"paperbot: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("paperbot: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
