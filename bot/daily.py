"""The daily Hugging Face refresh: each day's list into the shared collection, missed days too.

What one run does, for ``today`` (a UTC date, passed in so tests can move the clock):

* the days to fetch run from the day after the last *final* day (``done_through`` in the bot's
  state) to today, at most ``daily_refresh_backfill_days`` of them; the first run ever fetches
  today only;
* a day with an empty list (weekends, or a list not published yet) is skipped, not an error;
* everything is fetched before anything is written, then written in one transaction with
  :meth:`Library.add_papers` (re-running adds nothing twice: papers are upserted by id);
* afterwards every day before today counts as final (``done_through = today - 1``); today is
  fetched again by the next run, because Hugging Face keeps adding to a day's list while it
  lasts;
* a failure (upstream down past the retries) writes nothing and does not advance the state: the
  next run fetches the same days again.

Never blocks questions: the fetch is async on the event loop, and the write and the shared
index's rebuild run in a thread of their own while queries keep using the previous index, which
is swapped for the new one whole when it is ready (see :meth:`retrieval.search.Library.index`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.state import BotState
    from config.settings import Settings
    from retrieval.ingest.http import PoliteClient
    from retrieval.papers import Paper
    from retrieval.search import Library

_log = logging.getLogger("paperbot.bot.daily")


@dataclass
class RefreshReport:
    days: list[date] = field(default_factory=list)  # fetched
    empty: list[date] = field(default_factory=list)  # fetched, nothing listed
    fetched: int = 0
    added: int = 0
    updated: int = 0
    error: str | None = None
    done_through: date | None = None

    def summary(self) -> str:
        if self.error:
            return f"failed ({self.error})"
        span = (
            (f"{self.days[0]}..{self.days[-1]}" if len(self.days) > 1 else f"{self.days[0]}")
            if self.days
            else "nothing to fetch"
        )
        empty = f", {len(self.empty)} empty days" if self.empty else ""
        return f"{span}: {self.fetched} papers, {self.added} new{empty}"


def days_to_fetch(done_through: date | None, today: date, backfill: int) -> list[date]:
    """The days one run fetches (see the module docstring), oldest first."""
    earliest = today - timedelta(days=max(1, backfill) - 1)
    first = today if done_through is None else done_through + timedelta(days=1)
    first = min(max(first, earliest), today)  # never beyond the window; today at least
    return [first + timedelta(days=n) for n in range((today - first).days + 1)]


class DailyRefresher:
    """One refresh run per :meth:`run`; :class:`bot.exts.daily.DailyCog` schedules it."""

    def __init__(
        self,
        settings: Settings,
        library: Library,
        state: BotState,
        *,
        client: Callable[[], PoliteClient] | None = None,
    ) -> None:
        self.settings = settings
        self.library = library
        self.state = state
        self._client = client  # a fresh client per run by default (a run is once a day)
        self._running = asyncio.Lock()

    @property
    def collection(self) -> str:
        return self.settings.collection

    def _write(self, papers: list[Paper]) -> Any:
        return self.library.add_papers(papers, self.collection)

    async def _fetch(self, http: PoliteClient, days: list[date], report: RefreshReport) -> list:
        from retrieval.ingest.common import dedupe_newest
        from retrieval.ingest.hf import HuggingFacePapers

        hf = HuggingFacePapers(http, self.settings.hf_base_url)
        papers: list[Paper] = []
        for day in days:
            batch = await hf.daily(day)
            report.days.append(day)
            if not batch.papers:
                report.empty.append(day)
                _log.info("daily refresh: %s has no papers; skipped", day)
                continue
            papers.extend(batch.papers)
        return dedupe_newest(papers)

    async def run(self, today: date) -> RefreshReport:
        """Fetch and store the days due by ``today`` (UTC). Never raises for upstream trouble."""
        from retrieval.ingest.errors import IngestError
        from retrieval.ingest.pipeline import make_client

        async with self._running:  # a manual run and the schedule never overlap
            last = self.state.daily_done_through()
            days = days_to_fetch(last, today, self.settings.daily_refresh_backfill_days)
            if last is not None and days[0] > last + timedelta(days=1):
                _log.warning(
                    "daily refresh: %s..%s are older than the %d-day backfill window; not fetched",
                    last + timedelta(days=1),
                    days[0] - timedelta(days=1),
                    self.settings.daily_refresh_backfill_days,
                )
            report = RefreshReport()
            try:
                if self._client is not None:
                    papers = await self._fetch(self._client(), days, report)
                else:
                    async with make_client(self.settings) as http:
                        papers = await self._fetch(http, days, report)
            except IngestError as exc:
                report.error = str(exc)
                _log.warning("daily refresh failed, nothing written: %s", exc)
                self.state.record_daily(None, report.summary())
                return report
            report.fetched = len(papers)
            if papers:
                # A thread of its own, not the index thread: rebuilding the shared index takes
                # seconds on a large collection and questions must not queue behind it.
                result = await asyncio.to_thread(self._write, papers)
                report.added, report.updated = result.added, result.updated
            final = today - timedelta(days=1)
            report.done_through = max(final, last) if last is not None else final
            self.state.record_daily(report.done_through, report.summary())
            _log.info("daily refresh: %s", report.summary())
            return report
