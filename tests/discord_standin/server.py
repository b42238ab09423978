"""A loopback Discord: the gateway websocket and the REST routes discord.py uses, in aiohttp.

Why a stand-in rather than mocks: the bot's real failure modes live in the wire protocol (the 3 s
acknowledgement window, the heartbeat, RESUME after a dropped socket, 429 retries, payloads that
must not ping anyone). Running the unmodified discord.py client over real sockets against this
server exercises all of them; tests then assert on what actually went over the wire.

Point discord.py at it by patching ``discord.http.Route.BASE`` to :attr:`DiscordStandIn.api_base`
and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` to :attr:`DiscordStandIn.gateway_url`
(see :meth:`DiscordStandIn.patch_discord`). Frames are plain-text JSON (no zlib); REST replies
carry ``Content-Type: application/json`` exactly, which discord.py requires to parse a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from . import payloads as P

_log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"

# Gateway opcodes (Discord API v10).
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_RESUME = 6
OP_RECONNECT = 7
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

# Interaction types and callback types.
IX_PING, IX_COMMAND, IX_COMPONENT, IX_AUTOCOMPLETE, IX_MODAL = 1, 2, 3, 4, 5
CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE, CB_AUTOCOMPLETE = 4, 5, 6, 7, 8
CB_MODAL = 9
FLAG_HAS_THREAD = 1 << 5

FLAG_EPHEMERAL = 1 << 6
MESSAGE_CONTENT_INTENT = 1 << 15
FLAG_LOADING = 1 << 7


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON reply with ``Content-Type: application/json`` *exactly* (no charset suffix)."""
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    body = b"" if data is None else json.dumps(data).encode()
    return web.Response(body=body, status=status, headers=all_headers)


@dataclass
class RecordedRequest:
    """One REST request as the stand-in saw it (the Authorization header is never kept)."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any  # parsed JSON, raw text, or None
    at: float  # time.monotonic() on arrival
    authorized: bool  # carried "Bot <the expected token>"
    status: int = 0  # what the stand-in answered
    injected: bool = False  # answered by an injected fault
    user_agent: str = ""  # tells apart the clients (processes) when several share the stand-in


RECORD = web.RequestKey("record", RecordedRequest)


@dataclass
class Fault:
    """An injected failure: the next ``count`` requests matching method+path get ``status``."""

    method: str
    pattern: re.Pattern[str]
    status: int
    count: int
    retry_after: float = 0.05
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and method == self.method and bool(self.pattern.fullmatch(path))


@dataclass
class GatewayFrame:
    """A frame the client sent on the gateway (heartbeats included)."""

    op: int
    d: Any
    at: float
    session_id: str | None


@dataclass
class Session:
    """A gateway session: survives a dropped socket so the client can RESUME it."""

    session_id: str
    shard: tuple[int, int]
    seq: int = 0
    sent: list[tuple[int, str, Any]] = field(default_factory=list)  # (seq, event, data)
    ws: web.WebSocketResponse | None = None
    resumes: int = 0


@dataclass
class Interaction:
    """Everything the bot did in answer to one interaction the stand-in fired."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    fired_at: float
    callbacks: list[RecordedRequest] = field(default_factory=list)
    followups: list[RecordedRequest] = field(default_factory=list)
    edits: list[RecordedRequest] = field(default_factory=list)  # PATCHes through the token
    original_id: int | None = None  # the message the callback created, deferred, or updates
    modal: dict[str, Any] | None = None  # the modal the bot opened in answer (callback type 9)

    @property
    def acked_at(self) -> float | None:
        return self.callbacks[0].at if self.callbacks else None

    @property
    def ack_latency(self) -> float | None:
        """Seconds between firing and the bot's first callback (the 3 s window Discord enforces)."""
        return None if self.acked_at is None else self.acked_at - self.fired_at


class DiscordStandIn:
    """The loopback Discord server. Use as ``async with DiscordStandIn() as discord: ...``."""

    def __init__(
        self, *, token: str = "standin-token", heartbeat_interval_ms: int = 41_250
    ) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.application_id = P.snowflake()
        self.bot_user = P.user(self.application_id, "paperbot", bot=True)
        self.owner = P.user(P.snowflake(), "owner")
        self.guild_id = P.snowflake()
        self.channel_id = P.snowflake()
        # Every guild the bot is in: id -> (name, its one text channel). The first is the default
        # target of slash/post_message; more come from add_guild().
        self.guilds: dict[int, tuple[str, int]] = {
            self.guild_id: ("stand-in guild", self.channel_id)
        }
        self.roles: dict[int, list[dict[str, Any]]] = {self.guild_id: []}  # guild -> extra roles
        self._member_extra: dict[str, dict[str, Any]] = {}  # user id -> permissions / roles
        self.reactions: list[tuple[int, int, str]] = []  # (channel, message, emoji) the bot added
        self.intents = 0  # what the last IDENTIFY asked for
        self.users: dict[str, dict[str, Any]] = {}
        self._dm_channels: dict[str, int] = {}
        self.requests: list[RecordedRequest] = []
        self.frames: list[GatewayFrame] = []
        self.sessions: dict[str, Session] = {}
        self.interactions: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.threads: dict[int, dict[str, Any]] = {}  # thread id -> channel object (type 11)
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # guild id or None -> commands
        self.faults: list[Fault] = []
        self.shard_count = 1
        self.ack_deadline = 3.0  # seconds Discord waits for an interaction's first response
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.add_user("alice")
        self.add_user("bob")

    # ----------------------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> DiscordStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for session in self.sessions.values():
            if session.ws is not None and not session.ws.closed:
                with contextlib.suppress(Exception):
                    await session.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway at this server while in the block."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # ----------------------------------------------------------------------------- test API
    def add_user(
        self,
        name: str,
        *,
        bot: bool = False,
        permissions: int | None = None,
        roles: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        """A user; ``permissions`` (a bit set, default all) and ``roles`` (role ids) apply to
        their member objects in every guild, as interactions and messages carry them."""
        payload = P.user(P.snowflake(), name, bot=bot)
        self.users[name] = payload
        extra: dict[str, Any] = {"roles": [str(r) for r in roles]}
        if permissions is not None:
            extra["permissions"] = str(permissions)
        self._member_extra[payload["id"]] = extra
        return payload

    def add_role(self, name: str, *, guild_id: int | None = None) -> int:
        """A role in a guild (sent in GUILD_CREATE: add roles before the bot connects)."""
        gid = guild_id or self.guild_id
        role_id = P.snowflake()
        self.roles.setdefault(gid, []).append(P.role(role_id, name))
        return role_id

    async def add_guild(self, name: str = "second guild") -> int:
        """Another guild with one text channel; announced at once if the bot is connected."""
        guild_id, channel_id = P.snowflake(), P.snowflake()
        self.guilds[guild_id] = (name, channel_id)
        self.roles[guild_id] = []
        live = [s for s in self.sessions.values() if s.ws is not None]
        if live and self._shard_of(guild_id) == live[-1].shard[0]:
            await self.dispatch("GUILD_CREATE", self._guild_payload(guild_id), shard_id=0)
        return guild_id

    def channel_of(self, guild_id: int | None) -> int:
        return self.guilds[guild_id or self.guild_id][1]

    def _guild_payload(self, guild_id: int) -> dict[str, Any]:
        name, channel_id = self.guilds[guild_id]
        members = [P.member(self.bot_user)] + [self._member_of(u) for u in self.users.values()]
        payload = P.guild(guild_id, name, [P.text_channel(channel_id, guild_id)], members)
        payload["roles"].extend(self.roles.get(guild_id, []))
        payload["threads"] = [t for t in self.threads.values() if t["guild_id"] == str(guild_id)]
        return payload

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        count: int = 1,
        *,
        retry_after: float = 0.05,
    ) -> Fault:
        """Answer the next ``count`` ``method`` requests whose path fully matches with ``status``.

        A 429 carries a ``Via`` header and a JSON ``retry_after`` like Discord's (discord.py only
        retries a 429 that has both); other statuses carry a JSON error body.
        """
        fault = Fault(method.upper(), re.compile(path_regex), status, count, retry_after)
        self.faults.append(fault)
        return fault

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on each change); return its value."""
        result: Any = None

        def check() -> bool:
            nonlocal result
            result = predicate()
            return bool(result)

        async with asyncio.timeout(timeout), self._changed:
            while not check():
                # Woken by every request/frame; the short poll also catches changes made outside
                # the stand-in (log records, bot state) that the caller's predicate may look at.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)
        return result

    async def wait_ready(self, timeout: float = 5.0) -> Session:
        return await self.wait_for(
            lambda: next((s for s in self.sessions.values() if s.ws is not None), None), timeout
        )

    def session(self, shard_id: int = 0) -> Session:
        live = [s for s in self.sessions.values() if s.shard[0] == shard_id]
        return live[-1]

    async def dispatch(self, event: str, data: Any, *, shard_id: int = 0) -> int:
        """Send a DISPATCH to the shard's session; if its socket is down, keep it for RESUME."""
        session = self.session(shard_id)
        session.seq += 1
        session.sent.append((session.seq, event, data))
        if session.ws is not None and not session.ws.closed:
            await session.ws.send_str(
                json.dumps({"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data})
            )
        return session.seq

    async def drop_gateway(self, shard_id: int = 0, *, code: int | None = None) -> None:
        """Cut the shard's gateway socket: abort the TCP connection, or close with ``code``."""
        session = self.session(shard_id)
        ws = session.ws
        session.ws = None
        if ws is None:
            return
        if code is not None:
            await ws.close(code=code)
            return
        transport = ws._req.transport if ws._req is not None else None  # type: ignore[union-attr]
        if transport is not None:
            transport.abort()

    def _shard_of(self, guild_id: int) -> int:
        return (guild_id >> 22) % self.shard_count

    def _member_of(self, user_payload: dict[str, Any]) -> dict[str, Any]:
        return {**P.member(user_payload), **self._member_extra.get(user_payload["id"], {})}

    async def fire(
        self,
        itype: int,
        data: dict[str, Any],
        *,
        user: str | dict[str, Any] = "alice",
        message: dict[str, Any] | None = None,
        guild: bool = True,
        guild_id: int | None = None,
        channel_id: int | None = None,
    ) -> Interaction:
        """Send an INTERACTION_CREATE as Discord would and start tracking the bot's answers.

        ``guild_id`` picks the guild (default: the first); ``guild=False`` makes it a DM;
        ``channel_id`` a thread of the guild or a DM channel instead of the guild's channel."""
        author = self.users[user] if isinstance(user, str) else user
        gid = guild_id or self.guild_id
        channel = self._channel_payload(channel_id, gid, author)
        channel_id = int(channel["id"])
        ix_id = P.snowflake()
        token = "ix-" + secrets.token_urlsafe(24)
        payload: dict[str, Any] = {
            "id": str(ix_id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "channel_id": str(channel_id),
            "channel": channel,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "app_permissions": P.ALL_PERMISSIONS,
            "attachment_size_limit": 10 * 1024 * 1024,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(gid)},
            "context": 0,
        }
        if guild:
            payload["guild_id"] = str(gid)
            payload["guild_locale"] = "en-US"
            payload["member"] = self._member_of(author)
        else:
            payload["user"] = author
            payload["context"] = 1
        if message is not None:
            payload["message"] = message
        ix = Interaction(ix_id, token, itype, payload, time.monotonic())
        self.interactions[ix_id] = ix
        self._by_token[token] = ix
        # Discord sends DMs to shard 0; a guild's events to the shard that owns the guild.
        shard_id = self._shard_of(gid) if guild else 0
        await self.dispatch("INTERACTION_CREATE", payload, shard_id=shard_id)
        return ix

    async def slash(
        self,
        name: str,
        user: str | dict[str, Any] = "alice",
        *,
        guild_id: int | None = None,
        dm: bool = False,
        **options: Any,
    ) -> Interaction:
        """Invoke ``/name`` with ``options`` (strings, ints, bools, channels as
        :class:`payloads.ChannelRef`), in ``guild_id`` (default the first guild) or, with ``dm``,
        in a direct message."""
        data: dict[str, Any] = {
            "id": str(self._command_id(name)),
            "name": name,
            "type": 1,
            "options": [
                {"name": k, "type": P.option_type(v), "value": v} for k, v in options.items()
            ],
        }
        channels = {  # a channel option's object travels in data.resolved, as Discord sends it
            str(int(v)): {
                **P.text_channel(int(v), guild_id or self.guild_id),
                "permissions": P.ALL_PERMISSIONS,
            }
            for v in options.values()
            if isinstance(v, P.ChannelRef)
        }
        if channels:
            for option in data["options"]:
                if isinstance(option["value"], P.ChannelRef):
                    option["value"] = str(int(option["value"]))
            data["resolved"] = {"channels": channels}
        return await self.fire(IX_COMMAND, data, user=user, guild=not dm, guild_id=guild_id)

    async def autocomplete(
        self,
        name: str,
        focused: str,
        user: str = "alice",
        *,
        guild_id: int | None = None,
        **options: Any,
    ) -> Interaction:
        """Type into option ``focused`` of ``/name`` (its current text is ``options[focused]``)."""
        data = {
            "id": str(self._command_id(name)),
            "name": name,
            "type": 1,
            "options": [
                {
                    "name": k,
                    "type": P.option_type(v),
                    "value": v,
                    **({"focused": True} if k == focused else {}),
                }
                for k, v in options.items()
            ],
        }
        return await self.fire(IX_AUTOCOMPLETE, data, user=user, guild_id=guild_id)

    async def click(
        self, message: dict[str, Any], custom_id: str, user: str = "alice"
    ) -> Interaction:
        """Press the button ``custom_id`` on ``message`` (a message payload the bot created)."""
        current = self.messages.get(int(message["id"]), message)
        data = {"custom_id": custom_id, "component_type": 2}
        gid = int(current["guild_id"]) if current.get("guild_id") else None
        where = int(current["channel_id"])
        if where in self.threads:
            return await self.fire(
                IX_COMPONENT, data, user=user, message=current, guild_id=gid, channel_id=where
            )
        if gid is None and where in self._dm_channels.values():
            return await self.fire(
                IX_COMPONENT, data, user=user, message=current, guild=False, channel_id=where
            )
        return await self.fire(IX_COMPONENT, data, user=user, message=current, guild_id=gid)

    async def submit_modal(
        self, opened: Interaction, values: dict[str, str], user: str = "alice"
    ) -> Interaction:
        """Fill in and submit the modal the bot opened in answer to ``opened`` (a MODAL_SUBMIT
        interaction in the same place, carrying the component's message as Discord does)."""
        modal = opened.modal
        if modal is None:
            raise AssertionError("the bot opened no modal for that interaction")
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
            for key, value in values.items()
        ]
        data = {"custom_id": modal["custom_id"], "components": rows}
        payload = opened.payload
        message = payload.get("message")
        if message is not None:
            message = self.messages.get(int(message["id"]), message)
        return await self.fire(
            IX_MODAL,
            data,
            user=user,
            message=message,
            guild="guild_id" in payload,
            guild_id=int(payload["guild_id"]) if "guild_id" in payload else None,
            channel_id=int(payload["channel_id"]),
        )

    def _channel_payload(
        self, channel_id: int | None, guild_id: int, author: dict[str, Any]
    ) -> dict[str, Any]:
        """The channel object an interaction carries: the guild's channel, a thread, a DM."""
        if channel_id is None:
            return P.text_channel(self.channel_of(guild_id), guild_id)
        if channel_id in self.threads:
            return self.threads[channel_id]
        if channel_id in self._dm_channels.values():
            return {"id": str(channel_id), "type": 1, "recipients": [author], "flags": 0}
        return P.text_channel(channel_id, guild_id)

    def dm_channel_id(self, user: str) -> int:
        """The id of the direct-message channel between ``user`` and the bot."""
        if user not in self._dm_channels:
            self._dm_channels[user] = P.snowflake()
        return self._dm_channels[user]

    async def post_message(
        self,
        content: str,
        *,
        user: str = "alice",
        mention_bot: bool = False,
        dm: bool = False,
        guild_id: int | None = None,
        channel_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        ping_reply: bool = True,
    ) -> dict[str, Any]:
        """A user posts ``content`` in the channel of ``guild_id`` (default: the first guild) as a
        MESSAGE_CREATE. With ``mention_bot`` the message mentions the bot, as ``<@bot id>
        content`` with the bot in ``mentions``. With ``dm`` it is a direct message to the bot
        instead: no guild, no member.

        ``channel_id`` posts in a thread instead (see ``threads``). ``reply_to`` makes it a reply
        to that message (type 19 with ``message_reference`` and ``referenced_message``, in the
        replied message's channel); with ``ping_reply`` (Discord's default) the replied message's
        author is mentioned, so a reply to the bot carries its content like a mention does.

        Like Discord, a guild message that does not mention the bot reaches a bot without the
        privileged message-content intent with empty ``content`` and ``embeds``."""
        author = self.users[user]
        gid = guild_id or self.guild_id
        mentions = [self.bot_user] if mention_bot else []
        text = f"<@{self.application_id}> {content}" if mention_bot else content
        where = self.dm_channel_id(user) if dm else (channel_id or self.channel_of(gid))
        reference = None
        if reply_to is not None:
            replied = self.messages.get(int(reply_to["id"]), reply_to)
            where = int(replied["channel_id"])
            reference = {
                "type": 0,
                "message_id": replied["id"],
                "channel_id": replied["channel_id"],
                **({"guild_id": replied["guild_id"]} if replied.get("guild_id") else {}),
            }
            if ping_reply and replied["author"]["id"] not in {m["id"] for m in mentions}:
                mentions.append(replied["author"])
        msg = P.message(
            message_id=P.snowflake(),
            channel_id=where,
            guild_id=None if dm else gid,
            author=author,
            content=text,
            mentions=mentions,
            message_reference=reference,
        )
        if reply_to is not None:
            msg["referenced_message"] = self.messages.get(int(reply_to["id"]), reply_to)
        if not dm:
            msg["member"] = {k: v for k, v in self._member_of(author).items() if k != "user"}
        self.messages[int(msg["id"])] = msg
        sent = msg
        addressed = mention_bot or any(m["id"] == self.bot_user["id"] for m in mentions)
        if not dm and not addressed and not self.intents & MESSAGE_CONTENT_INTENT:
            sent = {**msg, "content": "", "embeds": [], "attachments": [], "components": []}
        await self.dispatch("MESSAGE_CREATE", sent, shard_id=0 if dm else self._shard_of(gid))
        return msg

    async def wait_ack(self, ix: Interaction, timeout: float = 5.0) -> RecordedRequest:
        return await self.wait_for(lambda: ix.callbacks[0] if ix.callbacks else None, timeout)

    async def wait_answer(self, ix: Interaction, timeout: float = 10.0) -> dict[str, Any]:
        """The message that finally answers ``ix``: the callback's own message, or the deferred
        original once a followup (or an edit) filled it in, or the first extra followup."""

        def answered() -> dict[str, Any] | None:
            if not ix.callbacks:
                return None
            cb_type = (ix.callbacks[0].body or {}).get("type")
            if cb_type in (CB_MESSAGE, CB_UPDATE, CB_AUTOCOMPLETE):
                return ix.callbacks[0].body
            if cb_type == CB_DEFERRED_UPDATE:  # answered by editing the component's message
                if ix.edits and ix.original_id is not None:
                    return self.messages.get(ix.original_id)
                return ix.followups[0].body if ix.followups else None
            if ix.original_id is not None:
                original = self.messages.get(ix.original_id)
                if original is not None and not original["flags"] & FLAG_LOADING:
                    return original
                if original is not None and original.get("deleted") and ix.followups:
                    return ix.followups[-1].body  # loading message deleted, answer sent apart
            return None

        return await self.wait_for(answered, timeout)

    def message_payloads(self, path_regex: str = r".*") -> list[Any]:
        """JSON bodies of every message-creating or -editing request, in order."""
        pattern = re.compile(path_regex)
        out = []
        for r in self.requests:
            if (
                r.method in ("POST", "PATCH")
                and pattern.fullmatch(r.path)
                and isinstance(r.body, dict)
            ):
                out.append(r.body)
        return out

    def channel_messages(self) -> list[dict[str, Any]]:
        """Messages the bot created with POST /channels/{id}/messages (successful ones)."""
        return [
            m
            for m in self.messages.values()
            if m["author"]["id"] == str(self.application_id) and "webhook_id" not in m
        ]

    def _command_id(self, name: str) -> int:
        for cmds in self.commands.values():
            for cmd in cmds:
                if cmd["name"] == name:
                    return int(cmd["id"])
        return abs(hash(name)) % (1 << 60)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------------------- REST
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[..., Any]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        path = request.path[len(API_PREFIX) :]
        raw = await request.read()
        body: Any = None
        if raw:
            text = raw.decode("utf-8", "replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            body=body,
            at=time.monotonic(),
            authorized=request.headers.get("Authorization") == f"Bot {self.token}",
            user_agent=request.headers.get("User-Agent", ""),
        )
        request[RECORD] = record
        self.requests.append(record)
        try:
            for fault in self.faults:
                if fault.matches(request.method, path):
                    fault.count -= 1
                    fault.hits += 1
                    record.injected = True
                    response = self._fault_response(fault)
                    break
            else:
                response = await handler(request)
            record.status = response.status
            return response
        finally:
            await self._notify()

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        if fault.status == 429:
            return json_response(
                {
                    "message": "You are being rate limited.",
                    "retry_after": fault.retry_after,
                    "global": False,
                },
                429,
                {
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, round(fault.retry_after))),
                    "X-RateLimit-Scope": "user",
                },
            )
        return json_response(
            {"message": f"{fault.status}: injected fault", "code": 0}, fault.status
        )

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        record: RecordedRequest = request[RECORD]
        method, path, body = record.method, record.path, record.body
        webhookish = path.startswith(("/interactions/", "/webhooks/"))
        if not webhookish and not record.authorized:
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)

        for route_method, regex, handler in self._routes():
            if route_method == method:
                match = re.fullmatch(regex, path)
                if match:
                    return await handler(request, body, **match.groupdict())
        _log.warning("stand-in: no route for %s %s", method, path)
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway_bot),
            ("GET", r"/applications/(?P<app>\d+)/commands", self._get_commands),
            ("PUT", r"/applications/(?P<app>\d+)/commands", self._put_commands),
            (
                "GET",
                r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands",
                self._get_commands,
            ),
            (
                "PUT",
                r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands",
                self._put_commands,
            ),
            ("POST", r"/interactions/(?P<ix_id>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", self._followup),
            (
                "GET",
                r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                self._get_wh_message,
            ),
            (
                "PATCH",
                r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                self._edit_wh_message,
            ),
            (
                "DELETE",
                r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                self._delete_wh_message,
            ),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("POST", r"/channels/(?P<channel>\d+)/messages", self._create_message),
            (
                "POST",
                r"/channels/(?P<channel>\d+)/messages/(?P<mid>\d+)/threads",
                self._start_thread,
            ),
            (
                "PATCH",
                r"/channels/(?P<channel>\d+)/messages/(?P<mid>\d+)",
                self._edit_channel_message,
            ),
            (
                "DELETE",
                r"/channels/(?P<channel>\d+)/messages/(?P<mid>\d+)",
                self._delete_channel_message,
            ),
            ("POST", r"/channels/(?P<channel>\d+)/typing", self._typing),
            (
                "PUT",
                r"/channels/(?P<channel>\d+)/messages/(?P<mid>\d+)/reactions/(?P<emoji>[^/]+)/@me",
                self._add_reaction,
            ),
        ]

    async def _get_me(self, request: web.Request, body: Any) -> web.Response:
        return json_response({**self.bot_user, "verified": True, "mfa_enabled": False})

    async def _get_application(self, request: web.Request, body: Any) -> web.Response:
        return json_response(
            {
                "id": str(self.application_id),
                "name": "paperbot",
                "icon": None,
                "description": "stand-in application",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner,
                "verify_key": "0" * 64,
                "team": None,
                "flags": 0,
                "summary": "",
                "bot": self.bot_user,
            }
        )

    async def _get_gateway(self, request: web.Request, body: Any) -> web.Response:
        return json_response({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request, body: Any) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": self.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 16,
                },
            }
        )

    async def _get_commands(
        self, request: web.Request, body: Any, app: str, guild: str | None = None
    ) -> web.Response:
        return json_response(self.commands.get(guild, []))

    async def _put_commands(
        self, request: web.Request, body: Any, app: str, guild: str | None = None
    ) -> web.Response:
        stored = []
        for cmd in body or []:
            stored.append(
                {
                    **cmd,
                    "id": str(P.snowflake()),
                    "application_id": app,
                    "version": str(P.snowflake()),
                    "default_member_permissions": cmd.get("default_member_permissions"),
                    "type": cmd.get("type", 1),
                    **({"guild_id": guild} if guild else {}),
                }
            )
        self.commands[guild] = stored
        return json_response(stored)

    def _new_message(
        self,
        ix: Interaction | None,
        data: dict[str, Any],
        *,
        flags: int = 0,
        channel_id: int | None = None,
        reference: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if channel_id is None:
            channel_id = int(ix.payload["channel_id"]) if ix is not None else self.channel_id
        owner = next((g for g, (_, c) in self.guilds.items() if c == channel_id), None)
        if channel_id in self.threads:
            owner = int(self.threads[channel_id]["guild_id"])
        msg = P.message(
            message_id=P.snowflake(),
            channel_id=channel_id,
            guild_id=owner,
            author=self.bot_user,
            content=data.get("content") or "",
            embeds=data.get("embeds") or [],
            components=data.get("components") or [],
            flags=flags | int(data.get("flags") or 0),
            message_reference=reference,
            webhook_id=self.application_id if ix is not None else None,
            application_id=self.application_id if ix is not None else None,
            interaction_metadata=(
                {
                    "id": str(ix.id),
                    "type": ix.type,
                    "user": self.bot_user,
                    "authorizing_integration_owners": {},
                }
                if ix is not None
                else None
            ),
        )
        self.messages[int(msg["id"])] = msg
        return msg

    @staticmethod
    def _apply_edit(msg: dict[str, Any], data: dict[str, Any]) -> None:
        for key in ("content", "embeds", "components"):
            if key in data:
                msg[key] = data[key] if data[key] is not None else ([] if key != "content" else "")
        msg["flags"] = msg["flags"] & ~FLAG_LOADING
        msg["edited_timestamp"] = P.iso_now()

    async def _callback(
        self, request: web.Request, body: Any, ix_id: str, token: str
    ) -> web.Response:
        ix = self.interactions.get(int(ix_id))
        if ix is None or ix.token != token:
            return json_response({"message": "Unknown interaction", "code": 10062}, 404)
        record: RecordedRequest = request[RECORD]
        if record.at - ix.fired_at > self.ack_deadline:  # Discord forgets unanswered interactions
            return json_response({"message": "Unknown interaction", "code": 10062}, 404)
        if ix.callbacks:  # Discord allows exactly one initial response
            return json_response(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, 400
            )
        ix.callbacks.append(record)
        cb_type = body.get("type")
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        resource: dict[str, Any] | None = None
        if cb_type == CB_MESSAGE:
            msg = self._new_message(ix, data, flags=flags)
            ix.original_id = int(msg["id"])
            resource = msg
        elif cb_type == CB_DEFERRED_MESSAGE:
            msg = self._new_message(ix, {}, flags=flags | FLAG_LOADING)
            ix.original_id = int(msg["id"])
            resource = msg
        elif cb_type == CB_MODAL:
            if ix.type not in (IX_COMMAND, IX_COMPONENT):  # Discord: no modal for a modal
                ix.callbacks.pop()
                return json_response({"message": "Invalid Form Body", "code": 50035}, 400)
            ix.modal = data
        elif cb_type in (CB_UPDATE, CB_DEFERRED_UPDATE) and ix.payload.get("message"):
            # For a component, "@original" is the message the component is on.
            msg = self.messages.get(int(ix.payload["message"]["id"]))
            if msg is not None:
                ix.original_id = int(msg["id"])
                if cb_type == CB_UPDATE:
                    self._apply_edit(msg, data)
                    resource = msg
        interaction = {
            "id": str(ix.id),
            "type": ix.type,
            "response_message_id": str(ix.original_id) if ix.original_id else None,
            "response_message_loading": cb_type == CB_DEFERRED_MESSAGE,
            "response_message_ephemeral": bool(flags & FLAG_EPHEMERAL),
        }
        reply: dict[str, Any] = {"interaction": interaction}
        if resource is not None:
            reply["resource"] = {"type": cb_type, "message": resource}
        if request.query.get("with_response") in ("1", "true"):
            return json_response(reply)
        return web.Response(status=204)

    def _ix_for(self, token: str) -> Interaction | None:
        return self._by_token.get(token)

    async def _followup(
        self, request: web.Request, body: Any, app: str, token: str
    ) -> web.Response:
        ix = self._ix_for(token)
        if ix is None or app != str(self.application_id):
            return json_response({"message": "Unknown Webhook", "code": 10015}, 404)
        if not ix.callbacks:
            return json_response({"message": "Unknown Webhook", "code": 10015}, 404)
        record: RecordedRequest = request[RECORD]
        ix.followups.append(record)
        data = body or {}
        original = self.messages.get(ix.original_id) if ix.original_id else None
        if (
            original is not None
            and original["flags"] & FLAG_LOADING
            and not original.get("deleted")
        ):
            # Discord: the first followup after a "thinking" defer replaces the loading message.
            self._apply_edit(original, data)
            msg = original
        else:
            msg = self._new_message(ix, data, flags=int(data.get("flags") or 0))
        if request.query.get("wait") in ("true", "1"):
            return json_response(msg)
        return web.Response(status=204)

    def _resolve_wh_message(self, ix: Interaction, mid: str) -> dict[str, Any] | None:
        if mid == "@original":
            return self.messages.get(ix.original_id) if ix.original_id else None
        return self.messages.get(int(mid))

    async def _get_wh_message(
        self, request: web.Request, body: Any, app: str, token: str, mid: str
    ) -> web.Response:
        ix = self._ix_for(token)
        msg = self._resolve_wh_message(ix, mid) if ix else None
        if msg is None:
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        return json_response(msg)

    async def _edit_wh_message(
        self, request: web.Request, body: Any, app: str, token: str, mid: str
    ) -> web.Response:
        ix = self._ix_for(token)
        msg = self._resolve_wh_message(ix, mid) if ix else None
        if ix is None or msg is None or msg.get("deleted"):
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        ix.edits.append(request[RECORD])
        self._apply_edit(msg, body or {})
        return json_response(msg)

    async def _delete_wh_message(
        self, request: web.Request, body: Any, app: str, token: str, mid: str
    ) -> web.Response:
        ix = self._ix_for(token)
        msg = self._resolve_wh_message(ix, mid) if ix else None
        if msg is None:
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        msg["deleted"] = True
        return web.Response(status=204)

    async def _create_dm(self, request: web.Request, body: Any) -> web.Response:
        """Open (or get) the direct-message channel with ``recipient_id``: a DM channel object."""
        recipient = str((body or {}).get("recipient_id") or "")
        name = next((n for n, u in self.users.items() if u["id"] == recipient), None)
        if name is None:
            return json_response({"message": "Unknown User", "code": 10013}, 404)
        return json_response(
            {
                "id": str(self.dm_channel_id(name)),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.users[name]],
            }
        )

    async def _create_message(self, request: web.Request, body: Any, channel: str) -> web.Response:
        data = body or {}
        ref = data.get("message_reference")
        msg = self._new_message(None, data, channel_id=int(channel), reference=ref)
        return json_response(msg)

    async def _start_thread(
        self, request: web.Request, body: Any, channel: str, mid: str
    ) -> web.Response:
        """Start a public thread from a message: the thread takes the message's id, the message
        gets ``thread`` and the HAS_THREAD flag, and THREAD_CREATE goes to the guild."""
        msg = self.messages.get(int(mid))
        if msg is None or msg.get("deleted") or msg["channel_id"] != channel:
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        if not msg.get("guild_id") or int(channel) in self.threads:
            return json_response(
                {"message": "Cannot execute action on this channel type", "code": 50024}, 400
            )
        if int(mid) in self.threads:
            return json_response(
                {"message": "A thread has already been created for this message", "code": 160004},
                400,
            )
        name = str((body or {}).get("name") or "")
        if not 1 <= len(name) <= 100:
            return json_response({"message": "Invalid Form Body", "code": 50035}, 400)
        thread = {
            "id": mid,
            "type": 11,
            "guild_id": msg["guild_id"],
            "parent_id": channel,
            "owner_id": str(self.application_id),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int((body or {}).get("auto_archive_duration") or 4320),
                "archive_timestamp": P.iso_now(),
                "locked": False,
            },
        }
        self.threads[int(mid)] = thread
        msg["thread"] = thread
        msg["flags"] = msg["flags"] | FLAG_HAS_THREAD
        gid = int(msg["guild_id"])
        await self.dispatch(
            "THREAD_CREATE", {**thread, "newly_created": True}, shard_id=self._shard_of(gid)
        )
        return json_response(thread, 201)

    async def _edit_channel_message(
        self, request: web.Request, body: Any, channel: str, mid: str
    ) -> web.Response:
        msg = self.messages.get(int(mid))
        if msg is None:
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        self._apply_edit(msg, body or {})
        return json_response(msg)

    async def _delete_channel_message(
        self, request: web.Request, body: Any, channel: str, mid: str
    ) -> web.Response:
        msg = self.messages.get(int(mid))
        if msg is not None:
            msg["deleted"] = True
        return web.Response(status=204)

    async def _typing(self, request: web.Request, body: Any, channel: str) -> web.Response:
        return web.Response(status=204)

    async def _add_reaction(
        self, request: web.Request, body: Any, channel: str, mid: str, emoji: str
    ) -> web.Response:
        if int(mid) not in self.messages:
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        self.reactions.append((int(channel), int(mid), unquote(emoji)))
        return web.Response(status=204)

    # ----------------------------------------------------------------------------- gateway
    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        await ws.send_str(
            json.dumps({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        )
        session: Session | None = None
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op, d = frame.get("op"), frame.get("d")
                self.frames.append(
                    GatewayFrame(op, d, time.monotonic(), session.session_id if session else None)
                )
                if op == OP_HEARTBEAT:
                    await ws.send_str(json.dumps({"op": OP_HEARTBEAT_ACK}))
                elif op == OP_IDENTIFY:
                    session = await self._identify(ws, d)
                    if session is None:
                        break
                elif op == OP_RESUME:
                    session = await self._resume(ws, d)
                    if session is None:
                        continue
                await self._notify()
        finally:
            if session is not None and session.ws is ws:
                session.ws = None
            await self._notify()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> Session | None:
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        self.intents = int(d.get("intents") or 0)
        shard = tuple(d.get("shard") or (0, 1))
        session = Session(session_id=secrets.token_hex(16), shard=(int(shard[0]), int(shard[1])))
        self.shard_count = session.shard[1]
        self.sessions[session.session_id] = session
        session.ws = ws
        mine = [g for g in self.guilds if self._shard_of(g) == session.shard[0]]
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": {**self.bot_user, "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(g), "unavailable": True} for g in mine],
                "session_id": session.session_id,
                "resume_gateway_url": self.gateway_url,
                "shard": list(session.shard),
                "application": {"id": str(self.application_id), "flags": 0},
            },
            shard_id=session.shard[0],
        )
        for guild_id in mine:
            await self.dispatch(
                "GUILD_CREATE", self._guild_payload(guild_id), shard_id=session.shard[0]
            )
        return session

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> Session | None:
        session = self.sessions.get(d.get("session_id") or "")
        if session is None or d.get("token") != self.token:
            await ws.send_str(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
            return None
        session.ws = ws
        session.resumes += 1
        last = d.get("seq") or 0
        for seq, event, data in session.sent:  # replay what the client missed, in order
            if seq > last:
                await ws.send_str(json.dumps({"op": OP_DISPATCH, "t": event, "s": seq, "d": data}))
        await self.dispatch("RESUMED", {}, shard_id=session.shard[0])
        return session
