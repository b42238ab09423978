"""The fetch half of ``paperbot ingest hf-daily|hf-paper|arxiv|oai``: every request the command
makes, before anything is written.

Fetching everything first is what makes a remote ingest all-or-nothing (see
:mod:`retrieval.ingest.pipeline`): Hugging Face and the arXiv API are collected in memory, an
OAI harvest is spooled to disk, and only then does :mod:`cli.ingest` write, in one transaction.
A failed or interrupted fetch therefore writes nothing; with ``--checkpoint`` the OAI spool is
the checkpoint and is kept, so running the same command again resumes the harvest.

Failures leave here as the CLI's own errors: a source that failed or answered garbage is an
:class:`~cli.errors.UpstreamError` (exit 1), a checkpoint that cannot be used a
:class:`~cli.errors.UserError` (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from cli.context import Context
from cli.errors import UpstreamError, UserError
from config import Settings
from retrieval.ingest.errors import CheckpointError, IngestError
from retrieval.ingest.pipeline import (
    Fetched,
    fetch_arxiv_ids,
    fetch_arxiv_query,
    fetch_hf_daily,
    fetch_hf_papers,
    harvest_oai,
    make_client,
    oai_spool,
)
from retrieval.papers import Paper, split_arxiv_id

T = TypeVar("T")


@dataclass
class Fetch:
    """What a remote ingest fetched, ready to be written, and what its summary reports."""

    label: str
    count: int  # papers (or OAI records) fetched
    extras: list[str]  # skipped, unknown ids, notes
    papers: Iterable[Paper]
    requests: int
    retries: int


def check(args: argparse.Namespace) -> None:
    """Usage mistakes argparse cannot express, refused before the store is opened or any
    request is made."""
    if args.source == "hf-daily" and args.to_date is not None and args.from_date is None:
        raise UserError("--to needs --from")
    if args.source == "hf-daily" and args.from_date is not None:
        last = args.to_date or date.today()
        if args.from_date > last:
            to = f"--to {last}" if args.to_date else f"today ({last})"
            raise UserError(f"--from {args.from_date} is after {to}")
    if args.source == "arxiv" and args.ids is not None and not _ids(args.ids):
        raise UserError("--ids is empty")
    if args.source in ("hf-paper", "arxiv"):
        ids = args.ids if args.source == "hf-paper" else _ids(args.ids or "")
        bad = [i for i in ids if split_arxiv_id(i) is None]
        if bad:
            shown = ", ".join(repr(i) for i in bad[:5]) + (" ..." if len(bad) > 5 else "")
            raise UserError(
                f"not an arXiv id or a Hugging Face/arXiv paper URL: {shown} "
                "(e.g. 2405.21046 or https://arxiv.org/abs/2405.21046)"
            )


def _ids(text: str) -> list[str]:
    return [i for i in re.split(r"[,\s]+", text) if i]


@contextmanager
def fetch(args: argparse.Namespace, settings: Settings, ctx: Context, note: Callable[[str], None]):
    """Fetch what ``args`` names; yields a :class:`Fetch` whose papers the caller writes inside
    the ``with`` block. An OAI spool is removed once the block completes (a re-run starts a
    fresh harvest), and also on failure unless it is the ``--checkpoint``."""
    if args.source == "oai":
        with _harvest(args, settings, ctx, note) as fetched:
            yield fetched
        return

    async def requests() -> tuple[Fetched, Any]:
        async with make_client(settings, retry=ctx.retry, transport=ctx.transport) as http:
            return await _papers(args, settings, http, note), http

    got, http = _run(requests)
    extras = [f"{len(got.skipped)} skipped"] if got.skipped else []
    if got.missing:
        extras.append(f"{len(got.missing)} unknown ids")
    yield Fetch(
        got.label, len(got.papers), extras + got.notes, got.papers, http.requests, http.retries
    )


async def _papers(
    args: argparse.Namespace, settings: Settings, http: Any, note: Callable[[str], None]
) -> Fetched:
    if args.source == "hf-daily":
        return await fetch_hf_daily(
            http,
            settings,
            day=args.date,
            start=args.from_date,
            end=args.to_date if args.from_date else None,
            trending=args.trending,
            progress=note,
        )
    if args.source == "hf-paper":
        return await fetch_hf_papers(http, settings, args.ids, progress=note)
    if args.ids is not None:  # arxiv
        return await fetch_arxiv_ids(
            http, settings, _ids(args.ids), allow_missing=args.allow_missing, progress=note
        )
    return await fetch_arxiv_query(
        http, settings, args.query, max_results=args.max_results, sort_by=args.sort, progress=note
    )


@contextmanager
def _harvest(
    args: argparse.Namespace, settings: Settings, ctx: Context, note: Callable[[str], None]
) -> Iterator[Fetch]:
    """OAI-PMH: every page into the spool, then the spool's papers for the one write."""
    checkpoint = args.checkpoint
    spool = oai_spool(
        settings,
        set_spec=args.set_spec,
        from_date=args.from_date,
        until_date=args.until_date,
        prefix=args.prefix,
        checkpoint=checkpoint,
    )

    async def pages() -> tuple[Any, Any]:
        async with make_client(settings, retry=ctx.retry, transport=ctx.transport) as http:
            return await harvest_oai(http, settings, spool, progress=note), http

    resume = f"progress kept in {checkpoint}; run the same command to resume" if checkpoint else ""
    try:
        state, http = _run(pages, resume=resume)
        extras = [f"{state.skipped} skipped"] if state.skipped else []
        if state.deleted:
            extras.append(f"{state.deleted} deleted upstream")
        extras.append(f"{state.pages} pages")
        label = f"oai {args.set_spec} {args.from_date or '*'}..{args.until_date or '*'}"
        yield Fetch(label, state.records, extras, spool.iter_papers(), http.requests, http.retries)
        spool.path.unlink(missing_ok=True)  # written: a re-run starts a fresh harvest
    finally:
        if checkpoint is None:
            spool.path.unlink(missing_ok=True)


def _run(requests: Callable[[], Coroutine[Any, Any, T]], *, resume: str = "") -> T:
    """Run the requests; their failures become the CLI's errors, each one line naming the
    request, with how to resume when there is a checkpoint."""
    try:
        return asyncio.run(requests())
    except KeyboardInterrupt:
        raise KeyboardInterrupt("; ".join(filter(None, ["nothing was written", resume]))) from None
    except CheckpointError as exc:
        raise UserError(str(exc)) from None
    except IngestError as exc:
        if not resume:
            raise UpstreamError(str(exc)) from None
        where = f"{exc.request}: " if exc.request else ""
        raise UpstreamError(f"{where}{exc.reason} ({resume})") from None
