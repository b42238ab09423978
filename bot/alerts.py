"""Delivering topic alerts: what :meth:`retrieval.follows.Follows.due` finds, posted to Discord.

One pass (:meth:`AlertDelivery.run_once`) asks the store what each follow has to announce, then
posts one message per follow that has something: to its channel (a partial messageable: no
channel fetch, one request) or to its owner by direct message. A pass runs after the daily
refresh and after ``/add`` (the ``papers_stored`` event) and whenever the store's generations
change, polled every ``alert_poll_seconds`` (another process may have ingested).

A failure for one follow never stops the others: a deleted channel (404) disables its follows
rather than being retried forever; no permission (403), a closed DM, a 429 past discord.py's own
retries or a Discord error postpones that follow to the next day with its papers kept. Time comes
from an injected clock, so tests move the day instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord

from bot.render import Outgoing
from bot.render.limits import (
    EMBED_DESCRIPTION_MAX,
    EMBED_FOOTER_MAX,
    EMBED_TITLE_MAX,
    EMBEDS_TOTAL_MAX,
)
from bot.render.markup import fit_text, link_target, safe_url, title_link
from bot.render.message import ANSWER_COLOR
from retrieval.clock import Clock, utc_now

if TYPE_CHECKING:
    from retrieval.follows import Due, Follows, Match

_log = logging.getLogger("paperbot.bot.alerts")

TITLE_MAX = 200  # a paper title in an alert line
QUOTE_MAX = 600  # the gist sentence as rendered (escaped), at most



def _paper_block(n: int, match: Match) -> str:
    """``n. [title](page)`` then the gist quoted verbatim, linked to its highlight."""
    p = match.paper
    head = f"**{n}.** " + title_link(p.title, safe_url(p.link), 400, title_max=TITLE_MAX)
    # One line of block quote: line breaks inside the sentence become spaces (nothing else does).
    quote = fit_text(match.gist.text.replace("\r", " ").replace("\n", " "), QUOTE_MAX)
    link = safe_url(match.gist.link)
    tail = f" ([quote]({link_target(link)}))" if link and len(link) <= 1200 else ""
    return f"{head}\n> {quote}{tail}"


def _fitting(blocks: list[str], limit: int, sep: str) -> int:
    """How many of ``blocks``, whole and in order, fit in ``limit`` characters joined by ``sep``."""
    size = 0
    for n, block in enumerate(blocks):
        size += len(block) + (len(sep) if n else 0)
        if size > limit:
            return n
    return len(blocks)


def alert_message(due: Due) -> Outgoing:
    """One embed: the topic as title, the papers best first, "and N more" in the footer.
    Every part is escaped and fitted to Discord's limits; nothing in it can ping."""
    follow = due.follow
    title = fit_text(f"New papers on “{follow.topic}”", EMBED_TITLE_MAX)
    blocks = [_paper_block(n, m) for n, m in enumerate(due.matches, 1)]
    footer_max = 100  # "…and N more matching papers. Stop with /unfollow."
    budget = min(EMBED_DESCRIPTION_MAX, EMBEDS_TOTAL_MAX - len(title) - footer_max)
    kept = _fitting(blocks, budget, sep="\n\n")
    description = "\n\n".join(blocks[:kept])
    more = due.more + len(blocks) - kept
    footer = "Stop with /unfollow."
    if more > 0:
        footer = f"…and {more} more matching paper{'s' if more != 1 else ''}. " + footer
    footer = fit_text(footer, min(EMBED_FOOTER_MAX, footer_max), inert=False)
    embed: dict[str, Any] = {
        "title": title,
        "description": description,
        "color": ANSWER_COLOR,
        "footer": {"text": footer},
    }
    return Outgoing(embeds=(embed,))


@dataclass
class PassReport:
    """What one delivery pass did (for logs and tests)."""

    sent: list[int] = field(default_factory=list)  # follow ids posted
    empty: int = 0  # follows examined with nothing to announce
    postponed: list[int] = field(default_factory=list)
    disabled: list[int] = field(default_factory=list)


class AlertDelivery:
    """Delivery passes for one bot (see module)."""

    def __init__(self, bot: Any, follows: Follows, *, clock: Clock = utc_now) -> None:
        self.bot = bot
        self.follows = follows
        self.clock = clock
        self._lock = asyncio.Lock()
        self._stamp: tuple[int, ...] | None = None

    async def poll(self) -> PassReport | None:
        """A pass if any collection changed since the last one (one cheap store read)."""
        stamp = await self.bot.run_blocking(self.follows.stamp)
        if stamp == self._stamp:
            return None
        return await self.run_once()

    async def run_once(self) -> PassReport:
        async with self._lock:  # the poll, the refresh and /add never run two passes at once
            stamp = await self.bot.run_blocking(self.follows.stamp)
            now = self.clock()
            report = PassReport()
            dues = await self.bot.run_blocking(self.follows.due, now)
            for due in dues:
                try:
                    await self._deliver(due, now, report)
                except Exception:  # a store hiccup for one follow: the others still go out
                    _log.exception("alerts: follow %d failed", due.follow.id)
            self._stamp = stamp
            if report.sent or report.postponed or report.disabled:
                _log.info(
                    "alerts: %d sent, %d postponed, %d disabled",
                    len(report.sent),
                    len(report.postponed),
                    len(report.disabled),
                )
            return report

    async def _deliver(self, due: Due, now: datetime, report: PassReport) -> None:
        follow = due.follow
        if not due.matches:
            await self.bot.run_blocking(self.follows.examined, due)
            report.empty += 1
            return
        out = alert_message(due)
        # Recorded before sending, released if the send fails: a process killed between the
        # two (another then takes over the alerts) can never announce these papers twice.
        await self.bot.run_blocking(self.follows.delivered, due, now)
        try:
            await self._send(due, out)
        except discord.NotFound as exc:
            if follow.channel_id is not None:
                _log.warning(
                    "alerts: channel %s is gone (%s); its follows are disabled",
                    follow.channel_id,
                    exc.text or exc.status,
                )
                await self.bot.run_blocking(
                    self.follows.disable_channel, follow.channel_id, "channel not found"
                )
                report.disabled.append(follow.id)
            else:
                _log.warning("alerts: user %s not found (%s)", follow.owner_id, exc.status)
                await self.bot.run_blocking(self.follows.disable, follow.id, "user not found")
                report.disabled.append(follow.id)
            return
        except discord.HTTPException as exc:  # 403, DM closed, 429 past retries, 5xx
            _log.warning(
                "alerts: follow %d to %s not delivered (HTTP %s: %s); trying again tomorrow",
                follow.id,
                follow.place,
                exc.status,
                exc.text,
            )
            await self.bot.run_blocking(self.follows.release, due, now)
            await self.bot.run_blocking(self.follows.postpone, due, now)
            report.postponed.append(follow.id)
            return
        report.sent.append(follow.id)

    async def _send(self, due: Due, out: Outgoing) -> None:
        follow = due.follow
        channel: discord.abc.Messageable
        if follow.channel_id is not None:
            channel = self.bot.get_partial_messageable(follow.channel_id)
        else:
            channel = await self.bot.create_dm(discord.Object(id=follow.owner_id))
        await channel.send(**out.kwargs(), allowed_mentions=discord.AllowedMentions.none())
