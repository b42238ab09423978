"""``paperbot db upgrade`` and ``paperbot db copy``: the store's schema, and moving a store
between SQLite and PostgreSQL.

``upgrade`` applies what a newer paperbot would apply on its next write (SQLite: the schema
stamp; PostgreSQL: the pending migrations), so an operator can do it at a moment of their
choosing. ``copy --from A --to B`` moves a whole store: every collection with its papers (by id:
store keys are internal and renumbered) and its generation, then the bot's own tables (follows,
digests, conversations, votes, bot state...) row by row. Indexes are not copied: they are per
host and are rebuilt from the copy on first use. The target must be empty unless ``--force``
(then papers are merged into it by the usual upsert rules and its generations move on from its
own). Database passwords are only ever printed masked.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from cli.errors import ExitCode, UserError

if TYPE_CHECKING:
    from cli.context import Context
    from retrieval.stores import AnyStore

# The feature modules owning tables in the store (each a module-level ``DDL``): their tables
# are created in the target before rows are copied, whichever engine the source is.
FEATURE_MODULES = (
    "retrieval.botstate",
    "retrieval.conversations",
    "retrieval.digest",
    "retrieval.feedback",
    "retrieval.follows",
)
PAPER_TABLES = frozenset(
    {"meta", "papers", "collections", "collection_papers", "collection_changes"}
    | {"schema_migrations"}
)
_ROWS = 1000  # feature-table rows per insert batch


def _open(location: str, ctx: Context, args: argparse.Namespace, **options: Any) -> AnyStore:
    from retrieval.store import StoreError
    from retrieval.stores import open_location

    settings = ctx.settings_for(args)
    try:
        return open_location(location, data_dir=settings.data_dir, **options)
    except StoreError as exc:
        raise UserError(str(exc)) from None


def cmd_upgrade(args: argparse.Namespace, ctx: Context) -> int:
    from retrieval.store import StoreError
    from retrieval.stores import location, open_store

    settings = ctx.settings_for(args)
    try:
        store = open_store(settings, create=True)
        if store.readonly:
            raise UserError(f"{location(store)} is read-only: its schema cannot be upgraded")
        version = store.upgrade()
    except StoreError as exc:
        raise UserError(str(exc)) from None
    ctx.stdout.write(f"{location(store)}: schema version {version}\n")
    store.close()
    return ExitCode.OK


def _feature_tables(store: AnyStore) -> list[str]:
    from retrieval.store_pg import PgPaperStore

    reader = store.reader()
    if isinstance(store, PgPaperStore):
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    names = [row[0] for row in reader.execute(sql).fetchall()]
    return sorted(name for name in names if name not in PAPER_TABLES)


def _sqlite_ddl(store: AnyStore, table: str) -> str | None:
    """The ``CREATE TABLE`` of a table in an SQLite store (for tables no module declares)."""
    from retrieval.store import PaperStore

    if not isinstance(store, PaperStore):
        return None
    row = (
        store.reader()
        .execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        .fetchone()
    )
    if not row or not row[0]:
        return None
    return str(row[0]).replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1)


def _columns(store: AnyStore, table: str) -> list[str]:
    cursor = store.reader().execute(f'SELECT * FROM "{table}" LIMIT 0')
    return [d[0] for d in cursor.description or ()]


def _rows(store: AnyStore, table: str, columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = store.reader().execute(f'SELECT {names} FROM "{table}"')
    while chunk := cursor.fetchmany(_ROWS):
        yield [tuple(row) for row in chunk]


def _copy_feature_tables(source: AnyStore, target: AnyStore, say: Callable[[str], None]) -> None:
    from retrieval.store_pg import PgPaperStore

    for name in FEATURE_MODULES:
        ddl = getattr(importlib.import_module(name), "DDL", None)
        if isinstance(ddl, str):
            target.ensure_tables(ddl)
    for table in _feature_tables(source):
        if not target.has_table(table):
            ddl = _sqlite_ddl(source, table)
            if ddl is not None:
                try:
                    target.ensure_tables(ddl)
                except Exception as exc:
                    say(f"  table {table}: not copied (cannot create it: {exc})")
                    continue
        if not target.has_table(table):
            say(f"  table {table}: not copied (no definition for the target engine)")
            continue
        wanted = set(_columns(target, table))
        columns = [c for c in _columns(source, table) if c in wanted]
        if not columns:
            say(f"  table {table}: not copied (no common columns)")
            continue
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        copied = 0
        with target.transaction() as conn:
            for chunk in _rows(source, table, columns):
                conn.executemany(
                    f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({marks})', chunk
                )
                copied += len(chunk)
            if isinstance(target, PgPaperStore):
                _advance_identities(conn, table)
        say(f"  table {table}: {copied:,} rows")


def _advance_identities(conn: Any, table: str) -> None:
    """Rows inserted with explicit ids leave an identity column's sequence behind: move it past
    them, or the next insert by the bot would collide."""
    raw = conn.raw
    for (column,) in raw.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = %s AND is_identity = 'YES'",
        (table,),
    ).fetchall():
        raw.execute(
            "SELECT setval(pg_get_serial_sequence(%s, %s),"
            f' GREATEST((SELECT max("{column}") FROM "{table}"), 1))',
            (table, column),
        )


def cmd_copy(args: argparse.Namespace, ctx: Context) -> int:
    from retrieval.store import StoreError
    from retrieval.stores import location

    if args.source == args.target:
        raise UserError("--from and --to name the same store")
    source = _open(args.source, ctx, args, create=False, readonly=True)
    target = _open(args.target, ctx, args, create=True)
    if location(source) == location(target) or source.path == target.path:
        raise UserError("--from and --to name the same store")
    if target.readonly:
        raise UserError(f"{location(target)} is read-only")
    if target.collections() and not args.force:
        raise UserError(f"{location(target)} is not empty (use --force to merge the copy into it)")

    def say(line: str) -> None:
        ctx.stdout.write(line + "\n")

    say(f"copying {location(source)} -> {location(target)}")
    try:
        for coll in source.collections():
            result = target.upsert(source.iter_papers(coll.name), coll.name)
            if not args.force:  # an empty target takes the source's generations as they were
                with target.transaction() as conn:
                    conn.execute(
                        "UPDATE collections SET generation = ?, updated_at = ? WHERE name = ?",
                        (
                            coll.generation,
                            coll.updated_at.isoformat() if coll.updated_at else None,
                            coll.name,
                        ),
                    )
                    # The copy's own log names the wrong generation: an index of the target
                    # is built from scratch (indexes are per host anyway).
                    conn.execute(
                        "DELETE FROM collection_changes WHERE collection = ?", (coll.name,)
                    )
            say(
                f"  collection {coll.name}: {result.total:,} papers "
                f"({result.added:,} added, {result.updated:,} updated), "
                f"generation {target.generation(coll.name)}"
            )
        _copy_feature_tables(source, target, say)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    finally:
        source.close()
        target.close()
    return ExitCode.OK


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """``db`` and its ``upgrade`` and ``copy`` commands, under the main parser's sub-commands."""
    p = sub.add_parser("db", help="the paper store's schema; copy a store between engines")
    inner = p.add_subparsers(dest="db_command", metavar="COMMAND")
    u = inner.add_parser("upgrade", help="apply schema migrations now and print the version")
    common(u)
    u.set_defaults(func=cmd_upgrade)
    c = inner.add_parser("copy", help="copy a whole store (SQLite <-> PostgreSQL)")
    c.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="sqlite:///PATH, PATH or URL"
    )
    c.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="sqlite:///PATH, PATH or URL"
    )
    c.add_argument("--force", action="store_true", help="copy into a store that is not empty")
    c.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log to stderr"
    )
    c.set_defaults(func=cmd_copy)
