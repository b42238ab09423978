"""Search filters (date range, arXiv categories), applied inside the retriever.

A filter becomes a boolean mask over an index's document positions, handed to the engine's top-k
(:meth:`retrieval.index.BM25Index.search`), so a filtered search returns exactly the best ``k``
papers that pass, however few of the unfiltered best do; dropping results after the top k would
return fewer (often none) for a narrow filter.

The masks come from per-index facets: each position's day (``Paper.published``, else the month
in its arXiv id) and its categories (``metadata["categories"]``), read from the store once per
index the first time a filtered query reaches it, in the thread that asks (a worker thread in
the bot), and dropped with the index (the cache holds indexes weakly).

A paper with no known date (no ``published`` and no arXiv id) never passes a date filter: it
cannot be shown to be inside the range.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from retrieval.sqlcompat import Dialect, PortableConnection, SqlConnection

if TYPE_CHECKING:
    from retrieval.index.bm25 import BM25Index
    from retrieval.stores import Store

UNKNOWN_DAY = -1
DATE_FORMATS = "a year (2024), a month (2024-03) or a date (2024-03-15)"

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
# arXiv category names: cs.CL, math.AG, hep-th, physics.comp-ph, cond-mat.stat-mech, q-bio.NC.
_CATEGORY = re.compile(r"^[a-z]{2}[a-z-]*(?:\.[a-z][a-z-]*)?$")
_NEW_ID = re.compile(r"^(\d{2})(\d{2})\.\d{4,5}")
_OLD_ID = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z]{2})?/(\d{2})(\d{2})\d{3}")


class FilterError(ValueError):
    """A filter the user typed that cannot be applied; the message says what to type."""


@dataclass(frozen=True, slots=True)
class Filters:
    """Which papers a search may return: published from ``since`` through ``until`` (both
    inclusive; None is open) and in any of ``categories`` (empty: any). A date bound excludes
    papers whose date is unknown."""

    since: date | None = None
    until: date | None = None
    categories: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.since is None and self.until is None and not self.categories

    @property
    def dated(self) -> bool:
        return self.since is not None or self.until is not None

    def describe(self) -> str:
        """Short human text, e.g. ``since 2025-01-01, until 2025-03-31, in cs.CL or cs.LG``."""
        parts = []
        if self.since is not None:
            parts.append(f"since {self.since.isoformat()}")
        if self.until is not None:
            parts.append(f"until {self.until.isoformat()}")
        if self.categories:
            parts.append("in " + " or ".join(self.categories))
        return ", ".join(parts)


# -- parsing what users type ----------------------------------------------------------------------
def _date_parts(text: str, what: str) -> tuple[int, int | None, int | None]:
    value = text.strip()
    for pattern in (_DAY, _MONTH, _YEAR):
        match = pattern.match(value)
        if match:
            groups = [int(g) for g in match.groups()]
            year = groups[0]
            month = groups[1] if len(groups) > 1 else None
            day = groups[2] if len(groups) > 2 else None
            break
    else:
        raise FilterError(f"{what} {value!r} is not {DATE_FORMATS}")
    if not 1 <= year <= 9999 or (month is not None and not 1 <= month <= 12):
        raise FilterError(f"{what} {value!r} is not a real month")
    if day is not None:
        try:
            date(year, month or 1, day)
        except ValueError:
            raise FilterError(f"{what} {value!r} is not a real date") from None
    return year, month, day


def parse_since(text: str) -> date:
    """The first day of what ``text`` names: ``2024`` -> 2024-01-01, ``2024-03`` -> 2024-03-01."""
    year, month, day = _date_parts(text, "since")
    return date(year, month or 1, day or 1)


def parse_until(text: str) -> date:
    """The last day of what ``text`` names: ``2024`` -> 2024-12-31, ``2024-02`` -> 2024-02-29."""
    year, month, day = _date_parts(text, "until")
    if day is not None:
        return date(year, month or 1, day)
    if month is None:
        return date(year, 12, 31)
    if month == 12:
        return date(year, 12, 31)
    return date.fromordinal(date(year, month + 1, 1).toordinal() - 1)


def is_category(name: str) -> bool:
    """Whether ``name`` is shaped like an arXiv category (any case)."""
    return _CATEGORY.match(name.casefold()) is not None


def canonical_category(name: str) -> str:
    """``cs.cl`` -> ``cs.CL`` (a two-letter subject class is upper case, as arXiv writes it;
    longer ones such as ``physics.comp-ph`` are lower case)."""
    folded = name.strip().casefold()
    if "." in folded:
        archive, subject = folded.split(".", 1)
        return f"{archive}.{subject.upper() if len(subject) == 2 else subject}"
    return folded


def parse_categories(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Category names from one or more comma- or space-separated values, each checked to look
    like an arXiv category, written as arXiv writes them, each once."""
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else list(values)
    out: dict[str, None] = {}
    for item in items:
        for part in re.split(r"[,\s]+", item.strip()):
            if not part:
                continue
            if not is_category(part):
                raise FilterError(
                    f"category {part!r} is not an arXiv category name (e.g. cs.CL, stat.ML)"
                )
            out[canonical_category(part)] = None
    return tuple(out)


def make_filters(
    since: str | None = None,
    until: str | None = None,
    categories: str | Iterable[str] | None = None,
    *,
    known: Iterable[str] | None = None,
) -> Filters:
    """Filters from what a user typed (each part optional; blank is absent). ``known``: the
    categories present, when the caller has them; a category not among them is refused, and
    matched ones are spelled as stored. Raises :class:`FilterError`."""
    lo = parse_since(since) if since and since.strip() else None
    hi = parse_until(until) if until and until.strip() else None
    if lo is not None and hi is not None and lo > hi:
        raise FilterError(f"since {lo.isoformat()} is after until {hi.isoformat()}")
    cats = parse_categories(categories)
    if known is not None and cats:
        cats = _match_known(cats, list(known))
    return Filters(since=lo, until=hi, categories=cats)


def _match_known(cats: Sequence[str], known: list[str]) -> tuple[str, ...]:
    by_fold = {name.casefold(): name for name in known}
    out: dict[str, None] = {}
    for cat in cats:
        stored = by_fold.get(cat.casefold())
        if stored is None:
            close = difflib.get_close_matches(cat.casefold(), list(by_fold), n=3, cutoff=0.6)
            hint = (
                f"; did you mean {', '.join(by_fold[c] for c in close)}?"
                if close
                else " in this collection"
            )
            raise FilterError(f"no paper has category {cat!r}{hint}")
        out[stored] = None
    return tuple(out)


# -- a paper's date -------------------------------------------------------------------------------
def id_month(paper_id: str) -> date | None:
    """The first day of the month in an arXiv id: ``2503.11750`` -> 2025-03-01, ``cs/0012011``
    -> 2000-12-01; None for any other id."""
    match = _NEW_ID.match(paper_id) or _OLD_ID.match(paper_id)
    if match is None:
        return None
    yy, mm = int(match.group(1)), int(match.group(2))
    if not 1 <= mm <= 12:
        return None
    # Old-style ids began in 1991; new-style ids in 2007 (0704), so 2000 + yy for those.
    year = 1900 + yy if "/" in paper_id and yy >= 91 else 2000 + yy
    return date(year, mm, 1)


def paper_day(published: date | str | None, paper_id: str) -> int:
    """A paper's date as a day number (``date.toordinal``), or :data:`UNKNOWN_DAY`."""
    if isinstance(published, str):
        try:
            published = date.fromisoformat(published[:10])
        except ValueError:
            published = None
    if published is not None:
        return published.toordinal()
    month = id_month(paper_id)
    return month.toordinal() if month is not None else UNKNOWN_DAY


def _category_list(value: object) -> list[str]:
    """``metadata["categories"]``: a list as the loaders store it (a space-separated string
    from an older loader is accepted too)."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


# -- per-index facets -----------------------------------------------------------------------------
class Facets:
    """Each position of one index: its day and its categories, for building masks."""

    def __init__(
        self,
        days: NDArray[np.int32],
        row_of: NDArray[np.int32],
        category_rows: dict[str, NDArray[np.int32]],
        n_rows: int,
    ) -> None:
        self.days = days  # by position: day number or UNKNOWN_DAY
        self.row_of = row_of  # by position: row in the facet table, -1 when not stored
        self.category_rows = category_rows  # folded category -> rows holding it
        self.n_rows = n_rows

    @property
    def n_docs(self) -> int:
        return int(self.days.shape[0])

    def mask(self, filters: Filters) -> NDArray[np.bool_]:
        """True at the positions whose paper passes ``filters``."""
        alive = np.ones(self.n_docs, dtype=np.bool_)
        if filters.dated:
            lo = filters.since.toordinal() if filters.since is not None else 0
            hi = filters.until.toordinal() if filters.until is not None else date.max.toordinal()
            alive &= (self.days >= lo) & (self.days <= hi)
        if filters.categories:
            rows = np.zeros(self.n_rows + 1, dtype=np.bool_)  # the last row: "not stored"
            for cat in filters.categories:
                found = self.category_rows.get(cat.casefold())
                if found is not None:
                    rows[found] = True
            alive &= rows[self.row_of]  # -1 reads the "not stored" row
        return alive


_FACET_ROWS = (
    "SELECT p.pk, p.id, p.published, json_extract(p.metadata, '$.categories')"
    " FROM collection_papers c JOIN papers p ON p.pk = c.pk WHERE c.collection = ?"
)
_FACET_ROWS_RAW = (
    "SELECT p.pk, p.id, p.published, p.metadata"
    " FROM collection_papers c JOIN papers p ON p.pk = c.pk WHERE c.collection = ?"
)
_CATEGORY_ROWS = (
    "SELECT c.pk, j.value FROM collection_papers c JOIN papers p ON p.pk = c.pk,"
    " json_each(p.metadata, '$.categories') j WHERE c.collection = ?"
)
_CATEGORY_COUNTS = (
    "SELECT j.value, COUNT(*) FROM collection_papers c JOIN papers p ON p.pk = c.pk,"
    " json_each(p.metadata, '$.categories') j WHERE c.collection = ? GROUP BY j.value"
)
# PostgreSQL (JSONB metadata, never malformed): the same rows as json_each gives on SQLite, a
# list's string elements or a lone string, each split on spaces in Python as on SQLite.
_PG_CATEGORY_LIST = (
    "CASE jsonb_typeof(p.metadata::jsonb -> 'categories')"
    " WHEN 'array' THEN p.metadata::jsonb -> 'categories'"
    " WHEN 'string' THEN jsonb_build_array(p.metadata::jsonb -> 'categories')"
    " ELSE '[]'::jsonb END"
)
_PG_CATEGORY_JOIN = (
    " FROM collection_papers c JOIN papers p ON p.pk = c.pk"
    f" CROSS JOIN LATERAL jsonb_array_elements({_PG_CATEGORY_LIST}) j"
    " WHERE c.collection = %s AND jsonb_typeof(j.value) = 'string'"
)
_PG_CATEGORY_ROWS = "SELECT c.pk, j.value #>> '{}'" + _PG_CATEGORY_JOIN
_PG_CATEGORY_COUNTS = "SELECT j.value #>> '{}', COUNT(*)" + _PG_CATEGORY_JOIN + " GROUP BY 1"
_PG_FACET_ROWS = (
    "SELECT p.pk, p.id, p.published, p.metadata::jsonb -> 'categories'"
    " FROM collection_papers c JOIN papers p ON p.pk = c.pk WHERE c.collection = %s"
)


def _native(conn: SqlConnection) -> PortableConnection | None:
    """The PostgreSQL connection behind ``conn``, for the JSON queries written for it (SQLite's
    ``json_each`` has no one-to-one translation); None on SQLite."""
    if isinstance(conn, PortableConnection) and conn.dialect == Dialect.postgres:
        return conn
    return None


def _category_rows(conn: SqlConnection, collection: str) -> Iterable[tuple[int, str]]:
    """``(pk, category)`` of a collection; a categories value stored as one string is split."""
    pg = _native(conn)
    if pg is not None:
        return [
            (int(pk), cat)
            for pk, value in pg.execute_native(_PG_CATEGORY_ROWS, (collection,))
            for cat in value.split()
        ]
    try:
        rows = conn.execute(_CATEGORY_ROWS, (collection,)).fetchall()
    except sqlite3.OperationalError:  # malformed JSON somewhere: parse row by row instead
        rows = []
        for pk, meta in conn.execute(
            "SELECT c.pk, p.metadata FROM collection_papers c JOIN papers p ON p.pk = c.pk"
            " WHERE c.collection = ?",
            (collection,),
        ):
            try:
                value = json.loads(meta).get("categories")
            except (ValueError, AttributeError):
                continue
            rows.extend((pk, cat) for cat in _category_list(value))
        return rows
    out: list[tuple[int, str]] = []
    for pk, value in rows:
        if isinstance(value, str):
            out.extend((pk, cat) for cat in value.split())
    return out


_PKS_BATCH = 500


def _facet_rows(
    conn: SqlConnection, collection: str, pks: Sequence[int] | None = None
) -> list[tuple[int, int, list[str]]]:
    """``(pk, day, categories)`` of a collection's papers, in one scan of its rows; of those
    of ``pks`` only when given (a delta's papers: a few hundred lookups, not a scan)."""
    if pks is not None:
        unique = sorted({int(pk) for pk in pks})
        out: list[tuple[int, int, list[str]]] = []
        for start in range(0, len(unique), _PKS_BATCH):
            out.extend(_facet_rows_of(conn, collection, unique[start : start + _PKS_BATCH]))
        return out
    return _facet_rows_of(conn, collection, None)


def _row_day(published: date | str | None, pid: str, months: dict[str, int]) -> int:
    """:func:`paper_day`, with the day of each new-style arXiv id's month worked out once per
    scan (most papers are dated by their id: ``months`` maps ``"2503"`` to its first day)."""
    if published is None and pid[4:5] == ".":
        day = months.get(pid[:4])
        if day is None:
            day = months[pid[:4]] = paper_day(None, pid)
        return day
    return paper_day(published, pid)


def _facet_rows_of(
    conn: SqlConnection, collection: str, pks: list[int] | None
) -> list[tuple[int, int, list[str]]]:
    out: list[tuple[int, int, list[str]]] = []
    months: dict[str, int] = {}  # see _row_day
    pg = _native(conn)
    if pg is not None:
        sql, args = _PG_FACET_ROWS, (collection,)
        if pks is not None:
            sql, args = sql + " AND c.pk = ANY(%s)", (collection, pks)  # type: ignore[assignment]
        for pk, pid, published, value in pg.stream_native(sql, args):
            day = _row_day(published, pid, months)
            out.append((int(pk), day, _category_list(value)))
        return out
    where = ""
    params: list[object] = [collection]
    if pks is not None:
        where = f" AND c.pk IN ({','.join('?' * len(pks))})"
        params.extend(pks)
    try:
        for pk, pid, published, value in conn.execute(_FACET_ROWS + where, params):
            if value is None:
                cats: list[str] = []
            elif value.startswith("["):
                cats = _category_list(json.loads(value))
            else:  # json_extract gives a JSON string value as plain text
                cats = value.split()
            day = _row_day(published, pid, months)
            out.append((pk, day, cats))
    except sqlite3.OperationalError:  # malformed JSON somewhere: parse row by row instead
        out = []
        for pk, pid, published, meta in conn.execute(_FACET_ROWS_RAW + where, params):
            try:
                value = json.loads(meta).get("categories")
            except (ValueError, AttributeError):
                value = None
            out.append((pk, paper_day(published, pid), _category_list(value)))
    return out


def read_facets(store: Store, index: BM25Index) -> Facets:
    """The facets of ``index``'s positions (main and delta), from its collection's papers."""
    rows = _facet_rows(store.reader(), index.meta.collection)
    return _facets_of(rows, np.asarray(index.doc_pks, dtype=np.int64))


def _facets_of(rows: list[tuple[int, int, list[str]]], pks: NDArray[np.int64]) -> Facets:
    """Facets of the positions holding ``pks``, from ``(pk, day, categories)`` rows."""
    rows.sort(key=lambda row: row[0])
    n_rows = len(rows)
    row_pks = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n_rows)
    row_days = np.fromiter((r[1] for r in rows), dtype=np.int32, count=n_rows)
    by_cat: dict[str, list[int]] = {}
    for row, (_, _, cats) in enumerate(rows):
        for cat in cats:
            by_cat.setdefault(cat.casefold(), []).append(row)
    category_rows = {cat: np.unique(np.asarray(at, dtype=np.int32)) for cat, at in by_cat.items()}
    at = np.searchsorted(row_pks, pks)
    found = at < n_rows
    found[found] = row_pks[at[found]] == pks[found]
    row_of = np.where(found, at, -1).astype(np.int32)
    days = np.full(pks.shape[0], UNKNOWN_DAY, dtype=np.int32)
    days[found] = row_days[at[found]]
    return Facets(days, row_of, category_rows, n_rows)


def joined(main: Facets, delta: Facets) -> Facets:
    """Facets of a main index's positions followed by its delta's (rows renumbered after the
    main's), as :class:`~retrieval.index.delta.JoinedPks` orders the positions."""
    shift = main.n_rows
    row_of = np.concatenate(
        [main.row_of, np.where(delta.row_of >= 0, delta.row_of + shift, -1).astype(np.int32)]
    )
    category_rows = dict(main.category_rows)
    for cat, rows in delta.category_rows.items():
        extra = (rows + shift).astype(np.int32)
        mine = category_rows.get(cat)
        category_rows[cat] = extra if mine is None else np.concatenate([mine, extra])
    return Facets(
        np.concatenate([main.days, delta.days]), row_of, category_rows, main.n_rows + delta.n_rows
    )


def _read(store: Store, index: BM25Index) -> Facets:
    """An index with a delta reuses its main index's facets (kept as long as that build is
    served, across every delta refresh) and reads only the delta's papers: the refresh after
    each ingest costs a lookup of the changed papers, not a scan of the collection."""
    if index.delta is None:
        return read_facets(store, index)
    main = facets(store, index.main)
    delta_pks = np.asarray(index.delta.pks, dtype=np.int64)
    rows = _facet_rows(store.reader(), index.meta.collection, delta_pks.tolist())
    return joined(main, _facets_of(rows, delta_pks))


_cache: weakref.WeakKeyDictionary[BM25Index, Facets] = weakref.WeakKeyDictionary()
# (store, collection) whose facets were ever read in this process: warmed after their builds.
_filtered: set[tuple[str, str]] = set()
_cache_lock = threading.Lock()
_building: dict[int, threading.Lock] = {}


def facets(store: Store, index: BM25Index) -> Facets:
    """The facets of ``index``, read once per index (a new index generation reads again; a
    second thread asking meanwhile waits for the first rather than reading twice)."""
    with _cache_lock:
        _filtered.add((str(store.path), index.meta.collection))
        found = _cache.get(index)
        if found is not None:
            return found
        lock = _building.setdefault(id(index), threading.Lock())
    with lock:
        with _cache_lock:
            found = _cache.get(index)
        if found is None:
            found = _read(store, index)
            with _cache_lock:
                _cache[index] = found
    with _cache_lock:
        _building.pop(id(index), None)
    return found


def warm_after_build(store: Store, index: BM25Index) -> bool:
    """Read a new full build's facets now if its collection has been filtered before (its
    earlier build has facets), so the first filtered query after a merge does not pay for the
    scan; a collection nobody filters costs nothing. True when it read them."""
    with _cache_lock:
        filtered = (str(store.path), index.meta.collection) in _filtered
    if filtered:
        facets(store, index)
    return filtered


def alive_mask(store: Store, index: BM25Index, filters: Filters | None) -> NDArray[np.bool_] | None:
    """The positions of ``index`` that ``filters`` let through; None when there is no filter."""
    if filters is None or filters.empty:
        return None
    return facets(store, index).mask(filters)


# -- categories present, for autocomplete ---------------------------------------------------------
class CategoryCounts:
    """Papers per category of each collection, kept per collection generation (a category list
    is a few hundred pairs per collection)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._counts: dict[str, tuple[int, Counter[str]]] = {}
        self._lock = threading.Lock()

    def counts(self, collection: str) -> Counter[str]:
        generation = self.store.generation(collection)
        with self._lock:
            cached = self._counts.get(collection)
        if cached is not None and cached[0] == generation:
            return cached[1]
        counts: Counter[str] = Counter()
        conn = self.store.reader()
        pg = _native(conn)
        try:
            rows = (
                pg.execute_native(_PG_CATEGORY_COUNTS, (collection,))
                if pg is not None
                else conn.execute(_CATEGORY_COUNTS, (collection,))
            )
            for value, n in rows:
                if isinstance(value, str):
                    for cat in value.split():
                        counts[cat] += int(n)
        except sqlite3.OperationalError:
            counts = Counter(cat for _, cat in _category_rows(conn, collection))
        with self._lock:
            self._counts[collection] = (generation, counts)
        return counts

    def merged(self, collections: Sequence[str]) -> list[tuple[str, int]]:
        """``(category, papers)`` over ``collections``, most common first (then by name)."""
        total: Counter[str] = Counter()
        for name in collections:
            total.update(self.counts(name))
        # Some sources put ACM or MSC classes ("I.2.7", "68T07") beside the arXiv categories.
        named = ((cat, n) for cat, n in total.items() if is_category(cat))
        return sorted(named, key=lambda item: (-item[1], item[0]))
