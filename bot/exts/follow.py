"""``/follow``, ``/following``, ``/unfollow``: standing topic queries, and their delivery loop.

``/follow topic`` in a server posts alerts in this channel (or the ``channel`` given), which needs
the same right as ``/add`` (Manage Server or an ``add_roles`` role): a channel's alerts are
everyone's. With ``dm: True``, or in a direct message, alerts go to the user by DM and need no
right. ``/unfollow`` suggests the user's own topics as they type, from one indexed read of the
follows table (Discord gives autocomplete no time to defer, and a user has few follows).

The cog also runs :class:`bot.alerts.AlertDelivery`: a pass after each ``papers_stored`` event
(the daily refresh, ``/add``) and a poll of the store's generations every
``alert_poll_seconds`` for papers another process ingested. Commands register even when the bot
has no Library (``paperbot sync``); they then answer that alerts are unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.alerts import AlertDelivery
from bot.client import PaperBotMixin
from bot.exts.add import allowed_roles, may_manage_papers
from bot.messages import defer, send_followup, send_response
from bot.render import notice
from bot.render.limits import CHOICE_NAME_MAX, CHOICES_MAX, CONTENT_MAX
from bot.render.markup import fit_text, join_within
from retrieval.clock import utc_now

if TYPE_CHECKING:
    from retrieval.follows import Follow, Follows

_log = logging.getLogger("paperbot.bot.follow")

UNAVAILABLE = "Topic alerts are not available on this bot right now."
READ_ONLY = "Topic alerts need a writable paper store, and this bot's store is read-only."
NOT_YOURS = "You don't follow a topic like that. Pick one of the suggestions."


def channel_refusal(setting: str) -> str:
    """Why a channel follow was refused, and the way that needs no right."""
    roles = sorted(part.strip() for part in setting.split(",") if part.strip())
    named = f" or one of these roles: {', '.join(roles)}" if allowed_roles(setting) else ""
    return discord.utils.escape_mentions(
        f"Posting alerts in a channel needs the Manage Server permission{named}. "
        "Use `dm: True` to get them by direct message instead."
    )


def where_text(follow: Follow) -> str:
    if follow.disabled:
        return f"stopped: {follow.disabled}"
    return f"<#{follow.channel_id}>" if follow.channel_id is not None else "by direct message"


def follow_line(follow: Follow) -> str:
    topic = fit_text(follow.topic, 200)
    return f"• **{topic}** — {where_text(follow)} (min score {follow.min_score:.2f})"


class FollowCog(commands.Cog):
    def __init__(self, bot: PaperBotMixin) -> None:
        self.bot = bot
        self.follows: Follows | None = None
        self.delivery: AlertDelivery | None = None
        self._poller: asyncio.Task[None] | None = None
        library = bot.library
        # A store to keep follows in, and writable (a stand-in Library without one: no alerts).
        if library is not None and getattr(library, "store", None) and not library.read_only:
            from retrieval.follows import Follows

            s = bot.settings
            self.follows = Follows(
                library,
                min_score=s.alert_min_score,
                max_per_user=s.alert_max_follows_user,
                max_per_guild=s.alert_max_follows_guild,
                per_message=s.alert_papers_per_message,
            )
            # Through a lambda: the bot's clock is read at each call (tests move it).
            self.delivery = AlertDelivery(bot, self.follows, clock=lambda: bot.clock())

    async def cog_load(self) -> None:
        if self.delivery is not None:
            self._poller = asyncio.create_task(self._poll_forever())

    async def cog_unload(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller

    async def _poll_forever(self) -> None:
        await self.bot.wait_until_ready()  # type: ignore[attr-defined]
        assert self.delivery is not None
        while True:
            # Sleep first: the first pass comes one interval after start (papers stored while
            # the bot was down are found then), never racing the start-up itself.
            await asyncio.sleep(self.bot.settings.alert_poll_seconds)
            if not self.bot.leading():  # another process sharing the store sends the alerts
                continue
            try:
                await self.delivery.poll()
            except Exception:  # logged; the next poll tries again
                _log.exception("alerts: poll failed")

    @commands.Cog.listener("on_papers_stored")
    async def _papers_stored(self) -> None:
        if self.delivery is None or not self.bot.leading():
            return  # the leading process's next poll finds these papers
        try:
            await self.delivery.run_once()
        except Exception:
            _log.exception("alerts: pass after new papers failed")

    @commands.Cog.listener("on_guild_channel_delete")
    async def _channel_deleted(self, channel: discord.abc.GuildChannel) -> None:
        if self.follows is not None:
            await self.bot.run_blocking(self.follows.disable_channel, channel.id, "channel deleted")

    # -- commands ---------------------------------------------------------------------------------
    async def _unavailable(self, interaction: discord.Interaction) -> bool:
        if self.follows is None:
            text = READ_ONLY if self.bot.library is not None else UNAVAILABLE
            await send_response(interaction, notice(text), ephemeral=True)
            return True
        return False

    @app_commands.command(name="follow", description="Get new papers on a topic as they arrive.")
    @app_commands.describe(
        topic='What to follow, as you would search it, e.g. "retrieval augmented generation"',
        channel="Post alerts in this channel (needs Manage Server or an /add role); "
        "leave empty to get them by direct message",
        min_score="How closely papers must match, 0 to 1 (default: the bot's calibrated value)",
    )
    async def follow(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, 200],
        channel: discord.TextChannel | None = None,
        min_score: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        if await self._unavailable(interaction):
            return
        assert self.follows is not None
        guild_id = interaction.guild_id
        # A follow is the user's own, by DM, unless a channel is named: posting in a channel
        # speaks for the server, so it takes the right to manage its papers.
        by_dm = channel is None or guild_id is None
        channel_id: int | None = None
        if not by_dm:
            assert channel is not None
            if not may_manage_papers(interaction, self.bot.settings.add_roles):
                text = channel_refusal(self.bot.settings.add_roles)
                await send_response(interaction, notice(text), ephemeral=True)
                return
            channel_id = channel.id
        await defer(interaction, ephemeral=by_dm)
        from retrieval.follows import AlreadyFollowed, FollowError

        try:
            made = await self.bot.run_blocking(
                self.follows.follow,
                owner_id=interaction.user.id,
                topic=topic,
                guild_id=guild_id,
                channel_id=channel_id,
                now=self._now(),
                min_score=min_score,
            )
        except AlreadyFollowed as exc:
            known = exc.follow
            line = f"**{fit_text(known.topic, 200)}** is already followed {where_text(known)}."
            await send_followup(interaction, notice(line), ephemeral=True)
            return
        except FollowError as exc:
            await send_followup(interaction, notice(str(exc)), ephemeral=True)
            return
        where = where_text(made)
        line = (
            f"Following **{fit_text(made.topic, 200)}**: new matching papers will be posted "
            f"{'here' if made.channel_id == interaction.channel_id else where}, at most one "
            "message a day. Stop with /unfollow."
        )
        if made.by_dm:
            line = (
                f"Following **{fit_text(made.topic, 200)}**: I'll send new matching papers to you "
                "by direct message, at most one message a day. Stop with /unfollow."
            )
        line += " A paper matches when it uses every word of the topic, so keep it short."
        await send_followup(interaction, notice(line), ephemeral=by_dm)

    @app_commands.command(name="following", description="List the topics you follow.")
    async def following(self, interaction: discord.Interaction) -> None:
        if await self._unavailable(interaction):
            return
        assert self.follows is not None
        await defer(interaction, ephemeral=True)  # the store read may queue behind index work
        mine = await self.bot.run_blocking(self.follows.of_user, interaction.user.id)
        lines = [follow_line(f) for f in mine]
        if interaction.guild_id is not None:
            here = await self.bot.run_blocking(self.follows.of_guild, interaction.guild_id)
            others = [f for f in here if f.owner_id != interaction.user.id and f.channel_id]
            if others:
                lines.append("\nFollowed in this server's channels by others:")
                lines.extend(follow_line(f) for f in others)
        if not mine:
            lines.insert(0, "You don't follow any topic yet. Try `/follow topic: robot grasping`.")
        else:
            lines.insert(0, "Topics you follow:")
        await send_followup(
            interaction, notice(join_within(lines, CONTENT_MAX - 200)), ephemeral=True
        )

    @app_commands.command(name="unfollow", description="Stop following a topic.")
    @app_commands.describe(topic="One of your followed topics")
    async def unfollow(
        self, interaction: discord.Interaction, topic: app_commands.Range[str, 1, 200]
    ) -> None:
        if await self._unavailable(interaction):
            return
        assert self.follows is not None
        user = interaction.user.id
        await defer(interaction, ephemeral=True)  # the store work may queue behind index work
        found = await self.bot.run_blocking(self.follows.find_own, user, topic)
        removed = None
        if found is not None:
            removed = await self.bot.run_blocking(self.follows.unfollow, user, found.id)
        if removed is None:
            await send_followup(interaction, notice(NOT_YOURS), ephemeral=True)
            return
        line = f"Stopped following **{fit_text(removed.topic, 200)}** ({where_text(removed)})."
        await send_followup(interaction, notice(line), ephemeral=True)

    @unfollow.autocomplete("topic")
    async def _unfollow_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if self.follows is None:
            return []
        found = self.follows.topics(interaction.user.id, current[:200], limit=CHOICES_MAX)
        return [app_commands.Choice(name=self._choice_name(f), value=str(f.id)) for f in found]

    @staticmethod
    def _choice_name(follow: Follow) -> str:
        where = "DM" if follow.by_dm else "channel"
        suffix = f" · {where}"
        topic = " ".join(follow.topic.split())
        return topic[: CHOICE_NAME_MAX - len(suffix)] + suffix

    def _now(self) -> datetime:
        return self.delivery.clock() if self.delivery is not None else utc_now()


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, PaperBotMixin)
    await bot.add_cog(FollowCog(bot))
