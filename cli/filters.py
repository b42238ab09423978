"""``--since``, ``--until`` and ``--category`` for ``paperbot search`` and ``paperbot ask``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.errors import UserError

if TYPE_CHECKING:
    from retrieval.filters import Filters
    from retrieval.search import Library, Where

FILTER_EPILOG = (
    "Dates: a year (2024), a month (2024-03) or a date (2024-03-15); both ends are inclusive "
    "(--until 2024 runs through Dec 31). A paper's date is its published date, else the month "
    "of its arXiv id; papers with no known date are left out by --since/--until."
)


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="WHEN", help="only papers from then on")
    parser.add_argument("--until", metavar="WHEN", help="only papers up to then")
    parser.add_argument(
        "--category",
        metavar="CAT",
        action="append",
        help="only papers in this arXiv category, e.g. cs.CL (repeat or comma-separate for any "
        "of several)",
    )
    parser.epilog = FILTER_EPILOG


def filters_from_args(args: argparse.Namespace, library: Library, where: Where) -> Filters | None:
    """The filters the options ask for (None without any), categories checked against those
    present in ``where``; a bad value is a usage error (one line, exit 2)."""
    from retrieval.filters import FilterError, make_filters

    since, until, categories = args.since, args.until, args.category
    if not (since or until or categories):
        return None
    try:
        known = [name for name, _ in library.categories(where)] if categories else None
        filters = make_filters(since, until, categories, known=known)
    except FilterError as exc:
        raise UserError(str(exc)) from None
    return None if filters.empty else filters
