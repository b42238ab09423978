"""One SQL text for both store engines: the feature modules write SQLite-flavoured SQL, and on
PostgreSQL it is translated here before it reaches psycopg.

Why translate rather than write two copies of every statement: the follow, digest, conversation,
feedback and bot-state modules hold a few dozen statements each, and two hand-kept copies drift.
The SQLite text runs unchanged on SQLite (so SQLite behaviour cannot move); PostgreSQL gets:

- ``?`` placeholders as ``%s``, and a literal ``%`` as ``%%`` (psycopg parses the whole text for
  ``%`` when parameters are given, quoted or not);
- ``INSERT OR IGNORE INTO ...`` as ``INSERT INTO ... ON CONFLICT DO NOTHING``; ``INSERT OR
  REPLACE`` is refused: callers write ``ON CONFLICT (...) DO UPDATE``, which both engines accept
  and which names the key it replaces on;
- DDL types: ``INTEGER PRIMARY KEY`` (SQLite's rowid alias) as an identity column, ``INTEGER`` as
  ``BIGINT`` (Discord ids exceed 32 bits), ``REAL`` as ``DOUBLE PRECISION``, ``BLOB`` as ``BYTEA``,
  ``WITHOUT ROWID`` dropped;
- ``json_extract(col, '$.a.b')`` as ``(col::jsonb #>> '{a,b}')`` (text: compare with a cast),
  ``IFNULL`` as ``COALESCE``, ``a IS ?`` (NULL-safe equality) as ``a IS NOT DISTINCT FROM``.

Translations are cached per SQL text: the statements are constants, so the cache stays small.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol


class Dialect(StrEnum):
    sqlite = "sqlite"
    postgres = "postgres"


class SqlCursor(Protocol):
    """What the feature modules use of a cursor, on either engine."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """What the feature modules use of a connection: a ``sqlite3.Connection`` or a
    :class:`PortableConnection` (both accept the SQLite-flavoured text)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class FeatureStore(Protocol):
    """What a feature module needs of a store (SQLite ``PaperStore`` or PostgreSQL
    ``PgPaperStore``): its own tables, one write transaction at a time, and a reader."""

    @property
    def path(self) -> Path: ...

    @property
    def readonly(self) -> bool: ...

    def ensure_tables(self, ddl: str) -> bool: ...

    def has_table(self, name: str) -> bool: ...

    def transaction(self) -> AbstractContextManager[SqlConnection]: ...

    def reader(self) -> SqlConnection: ...


class UnsupportedSQL(ValueError):
    """A SQLite idiom with no faithful PostgreSQL translation; rewrite the statement."""


# Quoted strings and identifiers, and comments: kept out of every rewrite.
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)
_MASK = "\x00{}\x00"
_MASKED = re.compile(r"\x00(\d+)\x00")


def _mask(sql: str) -> tuple[str, list[str]]:
    """The SQL with each quoted string/identifier replaced by a marker, so rewrites never touch
    quoted text; the literals come back with :func:`_unmask`."""
    literals: list[str] = []

    def keep(m: re.Match[str]) -> str:
        literals.append(m.group(0))
        return _MASK.format(len(literals) - 1)

    return _LITERAL.sub(keep, sql), literals


def _unmask(sql: str, literals: list[str]) -> str:
    return _MASKED.sub(lambda m: literals[int(m.group(1))], sql)


def split_statements(sql: str) -> list[str]:
    """A script's statements (``;``-separated, semicolons inside quotes kept), without blanks."""
    masked, literals = _mask(sql)
    return [_unmask(part, literals).strip() for part in masked.split(";") if part.strip()]


_JSON_EXTRACT = re.compile(
    r"\bjson_extract\s*\(\s*([A-Za-z_][\w.]*)\s*,\s*\x00(\d+)\x00\s*\)", re.IGNORECASE
)
_JSON_PATH = re.compile(r"^\$((?:\.[A-Za-z_]\w*)+)$")
_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_OR_REPLACE = re.compile(r"\b(?:INSERT\s+OR\s+REPLACE|REPLACE)\s+INTO\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_ON_CONFLICT = re.compile(r"\bON\s+CONFLICT\b", re.IGNORECASE)
_IS_PARAM = re.compile(r"\bIS\s+(NOT\s+)?\?", re.IGNORECASE)
_IFNULL = re.compile(r"\bIFNULL\s*\(", re.IGNORECASE)
_DDL = re.compile(r"^\s*(?:CREATE|ALTER)\s+TABLE\b", re.IGNORECASE)
_WITHOUT_ROWID = re.compile(r"\)\s*WITHOUT\s+ROWID\b", re.IGNORECASE)
# A type word only where a column's type stands (after "(", "," or ADD [COLUMN] and a name), so
# a column called "blob" or "real" keeps its name.
_COLUMN = r"((?:[(,]|\bADD\s+(?:COLUMN\s+)?)\s*(?:\w+|\x00\d+\x00)\s+)"
_ROWID_ALIAS = re.compile(
    _COLUMN + r"INTEGER\s+PRIMARY\s+KEY\b(?:\s+AUTOINCREMENT\b)?", re.IGNORECASE
)
_CAST_TYPE = re.compile(r"\bAS\s+(INTEGER|REAL|BLOB)\b(?=\s*\))", re.IGNORECASE)
_TYPES = {
    "INTEGER": "BIGINT",
    "REAL": "DOUBLE PRECISION",
    "BLOB": "BYTEA",
}
_TYPE_WORD = re.compile(_COLUMN + r"(INTEGER|REAL|BLOB)\b", re.IGNORECASE)


def _json_path(literal: str) -> str:
    path = literal[1:-1].replace("''", "'")
    m = _JSON_PATH.match(path)
    if m is None:
        raise UnsupportedSQL(f"json_extract path {literal} is not a plain $.key path")
    keys = m.group(1)[1:].split(".")
    return f"'{keys[0]}'" if len(keys) == 1 else "'{" + ",".join(keys) + "}'"


def _translate_postgres(sql: str) -> str:
    masked, literals = _mask(sql)
    if _OR_REPLACE.search(masked):
        raise UnsupportedSQL(
            "INSERT OR REPLACE has no PostgreSQL form that keeps its meaning: "
            "write INSERT ... ON CONFLICT (key) DO UPDATE SET ..."
        )

    def json_extract(m: re.Match[str]) -> str:
        path_literal = literals[int(m.group(2))]
        path = _json_path(path_literal)
        op = "->>" if not path.startswith("'{") else "#>>"
        literals.append(path)
        return f"({m.group(1)}::jsonb {op} {_MASK.format(len(literals) - 1)})"

    masked = _JSON_EXTRACT.sub(json_extract, masked)
    masked = _IFNULL.sub("COALESCE(", masked)
    # SQLite's `a IS ?` (NULL-safe equality); PostgreSQL's IS takes only NULL/TRUE/FALSE.
    masked = _IS_PARAM.sub(
        lambda m: "IS DISTINCT FROM ?" if m.group(1) else "IS NOT DISTINCT FROM ?", masked
    )
    if _OR_IGNORE.search(masked):
        if _ON_CONFLICT.search(masked):
            raise UnsupportedSQL("INSERT OR IGNORE with its own ON CONFLICT clause")
        masked = _OR_IGNORE.sub("INSERT INTO", masked)
        body = masked.rstrip().rstrip(";").rstrip()
        last = _MASKED.search(body[-12:]) if body.endswith("\x00") else None
        if last is not None and literals[int(last.group(1))].startswith("--"):
            body += "\n"  # what is appended must not land inside a trailing line comment
        returning = _RETURNING.search(body)
        if returning:
            head, tail = body[: returning.start()].rstrip(), body[returning.start() :]
            masked = f"{head} ON CONFLICT DO NOTHING {tail}"
        else:
            masked = f"{body} ON CONFLICT DO NOTHING"
    if _DDL.match(masked):
        masked = _WITHOUT_ROWID.sub(")", masked)
        masked = _ROWID_ALIAS.sub(
            lambda m: m.group(1) + "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", masked
        )
        masked = _TYPE_WORD.sub(lambda m: m.group(1) + _TYPES[m.group(2).upper()], masked)
    else:
        masked = _CAST_TYPE.sub(lambda m: "AS " + _TYPES[m.group(1).upper()], masked)
    # Placeholders and percent signs last: psycopg reads `%` everywhere, quoted text included.
    masked = masked.replace("%", "%%").replace("?", "%s")
    literals = [lit.replace("%", "%%") for lit in literals]
    return _unmask(masked, literals)


@lru_cache(maxsize=2048)
def translate(sql: str, dialect: Dialect = Dialect.postgres) -> str:
    """``sql`` (SQLite-flavoured, one statement) as ``dialect`` runs it: unchanged for SQLite."""
    if dialect == Dialect.sqlite:
        return sql
    return _translate_postgres(sql)


def translate_script(sql: str, dialect: Dialect = Dialect.postgres) -> list[str]:
    """A DDL script's statements, each translated (psycopg runs one statement per execute
    when parameters are involved, and the feature modules' DDL is a script)."""
    return [translate(stmt, dialect) for stmt in split_statements(sql)]


def placeholders(n: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``n`` values (the SQLite spelling: translated later)."""
    if n < 1:
        raise ValueError("an IN list needs at least one value")
    return ", ".join("?" * n)


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_missing_table(exc: BaseException) -> bool:
    """True when ``exc`` says a table does not exist (a feature never written to yet, e.g. on a
    read-only store): SQLite's "no such table", PostgreSQL's undefined_table (42P01)."""
    if isinstance(exc, sqlite3.OperationalError):
        return "no such table" in str(exc)
    return _sqlstate(exc) == "42P01"


def is_unique_violation(exc: BaseException) -> bool:
    """True when ``exc`` is a unique/primary-key clash (SQLite IntegrityError UNIQUE,
    PostgreSQL unique_violation 23505)."""
    if isinstance(exc, sqlite3.IntegrityError):
        text = str(exc)
        return "UNIQUE constraint failed" in text or "PRIMARY KEY" in text
    return _sqlstate(exc) == "23505"


class PortableCursor:
    """A psycopg cursor that behaves like sqlite3's where the feature modules rely on it:
    fetching after a statement without a result gives nothing instead of raising, and
    ``executemany``'s ``rowcount`` is the total over all parameter sets."""

    def __init__(self, cursor: Any, rowcount: int | None = None) -> None:
        self._cursor = cursor
        self._rowcount = rowcount

    @property
    def rowcount(self) -> int:
        return int(self._rowcount if self._rowcount is not None else self._cursor.rowcount)

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> Any:
        if self._cursor.description is None:
            return None
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        if self._cursor.description is None:
            return []
        return list(self._cursor.fetchall())

    def fetchmany(self, size: int = 1) -> list[Any]:
        if self._cursor.description is None:
            return []
        return list(self._cursor.fetchmany(size))

    def __iter__(self) -> Iterator[Any]:
        if self._cursor.description is None:
            return iter(())
        return iter(self._cursor)

    def close(self) -> None:
        self._cursor.close()


class PortableConnection:
    """A psycopg connection that accepts the feature modules' SQLite-flavoured SQL.

    Rows come back as tuples (psycopg's default row factory), like the tuples the modules index
    on SQLite. Transactions are the owner's business (the store's ``transaction()`` opens and
    commits them); this wrapper only translates and executes.
    """

    def __init__(self, raw: Any, dialect: Dialect = Dialect.postgres) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> PortableCursor:
        cursor = self.raw.cursor()
        cursor.execute(translate(sql, self.dialect), tuple(params))
        return PortableCursor(cursor)

    def execute_native(self, sql: str, params: Sequence[Any] = (), /) -> PortableCursor:
        """Run SQL already written for this engine (``%s`` placeholders), untranslated: for
        the few queries with no SQLite spelling to translate from (e.g. JSONB set functions)."""
        cursor = self.raw.cursor()
        cursor.execute(sql, tuple(params))
        return PortableCursor(cursor)

    def stream_native(
        self, sql: str, params: Sequence[Any] = (), /, *, batch: int = 5000
    ) -> Iterator[Any]:
        """Rows of a native query through a server-side cursor, ``batch`` at a time: a scan
        of every paper of a collection never sits whole in this process's memory. Nothing else
        may run on this connection until the iteration ends."""
        cursor = self.raw.cursor(name=f"paperbot_{uuid.uuid4().hex}", withhold=True)
        cursor.itersize = batch
        try:
            cursor.execute(sql, tuple(params))
            yield from cursor
        finally:
            cursor.close()

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> PortableCursor:
        cursor = self.raw.cursor()
        # psycopg pipelines the parameter sets; its rowcount is the total, as sqlite3's is.
        cursor.executemany(translate(sql, self.dialect), [tuple(p) for p in params])
        return PortableCursor(cursor)

    def executescript(self, sql: str) -> None:
        """Run a ``;``-separated script (DDL), statement by statement, translated."""
        cursor = self.raw.cursor()
        for stmt in translate_script(sql, self.dialect):
            cursor.execute(stmt, ())  # parameters given: psycopg reads `%%` as `%`
