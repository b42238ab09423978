"""``/digest``: each day, the day's most upvoted Hugging Face papers posted in a channel.

One command, because that is how a server admin meets it in the command picker: ``/digest
channel time [count]`` sets (or changes) a channel's digest, ``/digest time:off`` stops it, and
``/digest`` alone lists the server's digests. Setting and stopping need Manage Server or one of
the ``add_roles`` roles (as ``/add``), and are confirmed in the channel so the other moderators see
it; the list is private. A separate ``/digest_stop`` would be one more name to find for an option
that belongs with the time ("when: 08:00, or off").

The schedule: a ``discord.ext.tasks`` loop ticks each minute and reads the time from
``bot.clock`` (tests move that clock and call :meth:`DigestCog.tick` directly; nothing sleeps).
A digest is due once its time of day has come and it has not run today, so after downtime
across several due times it runs once, with the latest day. What was posted where lives in the
store (:mod:`retrieval.digest`), so a restart never posts anything twice. Each channel is sent
to on its own: a channel the bot may not post in (403) is logged and skipped until tomorrow, a
deleted one (404) has its digest switched off, a rate limit or server error is retried on a
later tick (a few times a day at most), and none of it stops the other channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot import errors
from bot.client import PaperBotMixin
from bot.exts.add import allowed_roles, may_manage_papers
from bot.messages import defer, send_followup, send_response
from bot.render import notice
from bot.render.digest import DigestItem, digest_message, digest_status

if TYPE_CHECKING:
    from bot.render.message import Outgoing
    from retrieval.digest import Claim, Digest, Digests, Selection

_log = logging.getLogger("paperbot.bot.digest")

GUILD_ONLY = "Digests are posted in server channels: use this in a server."
NO_LIBRARY = "The paper library isn't available right now, so digests can't be set up."
READ_ONLY = "The paper store is read-only here, so I can't keep a digest's schedule."
NOT_ALLOWED = "Setting up a daily digest needs the Manage Server permission{roles}."
BAD_TIME = "`{value}` isn't a time of day. Please give it as HH:MM in UTC, e.g. `08:00`, or `off`."
OFF_WORDS = frozenset({"off", "stop", "none", "no", "disable"})
NEEDED = ("view_channel", "send_messages", "embed_links")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one tick did for one channel (for logs, tests and the week bench)."""

    channel_id: int
    status: str  # "posted", "nothing new", "forbidden", "deleted", "retry", "failed", "raced"
    day: date | None = None
    paper_ids: tuple[str, ...] = ()
    message_id: int | None = None


def _items(selection: Selection) -> list[DigestItem]:
    from retrieval.answer.gist import gist
    from retrieval.answer.links import hf_url_for, page_url_for

    items = []
    for entry in selection.papers:
        paper = entry.paper
        found = gist(paper)
        items.append(
            DigestItem(
                title=paper.title,
                upvotes=entry.upvotes,
                sentence=found.text,
                trimmed=found.trimmed,
                link=found.link,
                page=page_url_for(paper),
                hf_page=hf_url_for(paper),
            )
        )
    return items


def prepare(digests: Digests, digest: Digest, today: date) -> tuple[Selection, Outgoing] | None:
    """The selection and its message (store and CPU work: run off the event loop)."""
    selection = digests.select(digest, today)
    if selection is None:
        return None
    return selection, digest_message(selection.day, _items(selection), selection.total)


def next_run(at: str, now: datetime, last_run: date | None) -> datetime:
    hours, minutes = (int(part) for part in at.split(":"))
    when = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if when <= now or (last_run is not None and last_run >= now.date()):
        when += timedelta(days=1)
    return when


def describe(digest: Digest, now: datetime) -> str:
    where = f"<#{digest.channel_id}>"
    if not digest.on:
        return f"{where}: {digest.status}"
    upcoming = int(next_run(digest.at, now, digest.last_run).timestamp())
    last = f"; last: {digest.last_day.isoformat()}" if digest.last_day else ""
    return (
        f"{where}: top {digest.count} at {digest.at} UTC (<t:{upcoming}:t> your time), "
        f"next <t:{upcoming}:R>{last}"
    )


class DigestCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot
        self.digests: Digests | None = None
        self.loop = tasks.loop(minutes=1)(self._scheduled)
        self.loop.before_loop(self._before)
        self._ticking = asyncio.Lock()

    async def cog_load(self) -> None:
        store = getattr(self.bot.library, "store", None)
        if store is None:
            return  # sync-only (no Library) or a stand-in without a store: nothing scheduled
        from retrieval.digest import Digests

        try:
            self.digests = await self.bot.run_blocking(Digests, store, self.bot.settings.collection)
        except Exception:  # never a reason for the bot not to start: /digest says unavailable
            _log.exception("digests unavailable: their tables could not be opened")
            return
        if self.digests.writable:
            self.loop.start()

    async def cog_unload(self) -> None:
        self.loop.cancel()

    async def _before(self) -> None:
        await self.bot.wait_until_ready()  # type: ignore[attr-defined]

    async def _scheduled(self) -> None:
        if not self.bot.leading():  # another process sharing the store posts the digests
            return
        try:
            await self.tick()
        except Exception:  # the store failed: logged, and the next minute tries again
            _log.exception("digest tick failed")

    # -- the schedule -------------------------------------------------------------------------
    async def tick(self) -> list[Outcome]:
        """Post every digest due at ``bot.clock()``; one channel's failure skips only it."""
        digests = self.digests
        if digests is None or not digests.writable:
            return []
        async with self._ticking:
            now = self.bot.clock()
            due = await self.bot.run_blocking(digests.due, now)
            outcomes = []
            for digest in due:
                try:
                    outcomes.append(await self._run(digests, digest, now.date()))
                except Exception:
                    _log.exception("digest for channel %s failed", digest.channel_id)
                    outcomes.append(Outcome(digest.channel_id, "failed"))
            return outcomes

    async def _run(self, digests: Digests, digest: Digest, today: date) -> Outcome:
        prepared = await self.bot.run_blocking(prepare, digests, digest, today)
        if prepared is None:
            await self.bot.run_blocking(digests.skipped, digest, today)
            _log.info("digest for channel %s: nothing new on %s", digest.channel_id, today)
            return Outcome(digest.channel_id, "nothing new")
        selection, out = prepared
        claim = await self.bot.run_blocking(digests.claim, digest, selection, today)
        if claim is None:
            return Outcome(digest.channel_id, "raced")  # another tick or process posted it
        return await self._send(digests, digest, claim, out)

    async def _send(self, digests: Digests, digest: Digest, claim: Claim, out: Outgoing) -> Outcome:
        from retrieval.digest import DELETED

        channel_id = digest.channel_id
        ids = tuple(item.paper.id for item in claim.selection.papers)
        channel = self.bot.get_channel(channel_id)  # type: ignore[attr-defined]
        if not isinstance(channel, discord.abc.Messageable):
            # Not in the cache (a guild still loading, or a channel deleted while we were
            # away): send anyway, Discord's answer says which.
            channel = self.bot.get_partial_messageable(  # type: ignore[attr-defined]
                channel_id, guild_id=digest.guild_id
            )
        try:
            message = await channel.send(**out.kwargs())
        except discord.NotFound:
            await self.bot.run_blocking(digests.release, claim, retry=False)
            await self.bot.run_blocking(digests.disable, channel_id, DELETED)
            _log.warning("digest channel %s no longer exists; digest switched off", channel_id)
            return Outcome(channel_id, "deleted")
        except discord.Forbidden as exc:
            await self.bot.run_blocking(digests.release, claim, retry=False)
            _log.warning(
                "digest channel %s (guild %s): not allowed to post (%s); skipped today",
                channel_id,
                digest.guild_id,
                exc.text or exc.status,
            )
            return Outcome(channel_id, "forbidden")
        except (discord.HTTPException, discord.RateLimited, OSError, TimeoutError) as exc:
            again = await self.bot.run_blocking(digests.release, claim, retry=True)
            _log.warning(
                "digest channel %s: sending failed (%r); %s",
                channel_id,
                exc,
                "retrying on a later tick" if again else "giving up until tomorrow",
            )
            return Outcome(channel_id, "retry" if again else "failed")
        await self.bot.run_blocking(digests.posted, claim, message.id)
        _log.info(
            "digest posted in channel %s: %s, %d papers", channel_id, claim.selection.day, len(ids)
        )
        return Outcome(channel_id, "posted", claim.selection.day, ids, message.id)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        from retrieval.digest import DELETED

        digests = self.digests
        if digests is None or not digests.writable:
            return
        with contextlib.suppress(Exception):
            if await self.bot.run_blocking(digests.get, channel.id) is not None:
                await self.bot.run_blocking(digests.disable, channel.id, DELETED)
                _log.info("channel %s deleted: its digest is switched off", channel.id)

    # -- the command --------------------------------------------------------------------------
    def _refusal(self) -> str:
        setting = self.bot.settings.add_roles
        names = sorted(part.strip() for part in setting.split(",") if part.strip())
        roles = f" or one of these roles: {', '.join(names)}" if allowed_roles(setting) else ""
        return NOT_ALLOWED.format(roles=discord.utils.escape_mentions(roles))

    @app_commands.command(
        name="digest",
        description="Post the day's most upvoted Hugging Face papers in a channel, every day.",
    )
    @app_commands.describe(
        channel="Where to post it (default: this channel)",
        time="When, as HH:MM in UTC (e.g. 08:00); 'off' stops it. Leave out to list digests.",
        count="How many papers (1-10)",
    )
    @app_commands.guild_only()
    async def digest(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        time: app_commands.Range[str, 1, 20] | None = None,
        count: app_commands.Range[int, 1, 10] | None = None,
    ) -> None:
        from retrieval.digest import parse_time

        guild_id = interaction.guild_id
        if guild_id is None:
            await send_response(interaction, notice(GUILD_ONLY), ephemeral=True)
            return
        digests = self.digests
        if digests is None:
            await send_response(interaction, notice(NO_LIBRARY), ephemeral=True)
            return
        if time is None and count is None:
            await self._list(interaction, digests, guild_id, channel)
            return
        if not may_manage_papers(interaction, self.bot.settings.add_roles):
            await send_response(interaction, notice(self._refusal()), ephemeral=True)
            return
        if not digests.writable:
            await send_response(interaction, notice(READ_ONLY), ephemeral=True)
            return
        target_id = channel.id if channel is not None else interaction.channel_id
        assert target_id is not None
        if time is not None and time.strip().casefold() in OFF_WORDS:
            await defer(interaction)
            stopped = await self.bot.run_blocking(digests.stop, target_id)
            line = (
                f"The daily digest in <#{target_id}> is stopped."
                if stopped
                else f"There was no daily digest in <#{target_id}>."
            )
            await send_followup(interaction, notice(line))
            return
        at = parse_time(time) if time is not None else None
        if time is not None and at is None:
            value = discord.utils.escape_markdown(time)
            await send_response(interaction, notice(BAD_TIME.format(value=value)), ephemeral=True)
            return
        problem = self._cannot_post(channel, interaction)
        if problem:
            await send_response(interaction, notice(problem), ephemeral=True)
            return
        # Acknowledge before any store work: it queues on the index thread, which may be busy.
        await defer(interaction)
        existing = await self.bot.run_blocking(digests.get, target_id)
        if existing is not None and not existing.on:
            existing = None  # stopped or switched off: set up afresh (its history is kept)
        at = at or (existing.at if existing is not None else None)
        if at is None:  # only a count, and no digest here to change
            await errors.send_ephemeral(interaction, "Please give a time too, e.g. `08:00`.")
            return
        chosen = count or (existing.count if existing else self.bot.settings.digest_count)
        saved = await self.bot.run_blocking(
            lambda: digests.set(
                guild_id=guild_id,
                channel_id=target_id,
                at=at,
                count=chosen,
                set_by=interaction.user.id,
                now=self.bot.clock(),
            )
        )
        verb = "changed" if existing is not None else "set up"
        upcoming = int(next_run(saved.at, self.bot.clock(), saved.last_run).timestamp())
        line = (
            f"Daily digest {verb} in <#{target_id}>: the {saved.count} most upvoted Hugging Face "
            f"papers of the day at {saved.at} UTC (<t:{upcoming}:t> your time), next "
            f"<t:{upcoming}:R>. Stop it with `/digest time:off`."
        )
        await send_followup(interaction, notice(line))

    def _cannot_post(
        self, channel: discord.TextChannel | None, interaction: discord.Interaction
    ) -> str | None:
        """Why the bot could not post in the channel, judged from its cached permissions
        (None when they look fine or cannot be known: the post itself will tell)."""
        target = channel if channel is not None else interaction.channel
        if not isinstance(target, discord.TextChannel) or target.guild.me is None:
            return None
        perms = target.permissions_for(target.guild.me)
        missing = [name for name in NEEDED if not getattr(perms, name)]
        if not missing:
            return None
        names = ", ".join(name.replace("_", " ").title() for name in missing)
        return f"I can't post in <#{target.id}>: I need {names} there."

    async def _list(
        self,
        interaction: discord.Interaction,
        digests: Digests,
        guild_id: int,
        channel: discord.TextChannel | None,
    ) -> None:
        await defer(interaction, ephemeral=True)
        found = await self.bot.run_blocking(digests.of_guild, guild_id)
        if channel is not None:
            found = [d for d in found if d.channel_id == channel.id]
        now = self.bot.clock()
        empty = (
            "No daily digest here yet. Set one with `/digest channel time`, e.g. "
            "`/digest channel:#papers time:08:00`."
        )
        lines = [describe(d, now) for d in found]
        await send_followup(interaction, digest_status(lines, empty=empty), ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(DigestCog(bot))
