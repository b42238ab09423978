"""Assertions on what the bot actually sent over the wire."""

from __future__ import annotations

import re
from typing import Any

RAW_PING = re.compile(r"@(everyone|here)\b|<@[!&]?\d+>")


def message_data(body: Any) -> dict[str, Any] | None:
    """The message part of a REST body: interaction callbacks wrap it in ``data``."""
    if not isinstance(body, dict):
        return None
    if "type" in body and "data" in body and isinstance(body["data"], dict):
        return body["data"]
    if any(k in body for k in ("content", "embeds", "components")):
        return body
    return None


def is_ephemeral(answer: dict[str, Any]) -> bool:
    """Whether an answer (a callback body or a message) is visible to the clicker only."""
    data = message_data(answer) or answer
    return bool(int(data.get("flags") or 0) & (1 << 6))


def texts(data: dict[str, Any]) -> list[str]:
    out = [data.get("content") or ""]
    for embed in data.get("embeds") or []:
        out += [embed.get("title") or "", embed.get("description") or ""]
        out.append((embed.get("footer") or {}).get("text") or "")
        out.append((embed.get("author") or {}).get("name") or "")
        for f in embed.get("fields") or []:
            out += [f.get("name") or "", f.get("value") or ""]
    return out


def assert_within_limits(data: dict[str, Any]) -> None:
    assert len(data.get("content") or "") <= 2000
    embeds = data.get("embeds") or []
    assert len(embeds) <= 10
    total = 0
    for e in embeds:
        assert len(e.get("title") or "") <= 256
        assert len(e.get("description") or "") <= 4096
        assert len(e.get("fields") or []) <= 25
        for f in e.get("fields") or []:
            assert len(f.get("name") or "") <= 256
            assert len(f.get("value") or "") <= 1024
        assert len((e.get("footer") or {}).get("text") or "") <= 2048
        total += sum(len(t) for t in texts({"embeds": [e]}))
    assert total <= 6000
    for row in data.get("components") or []:
        for c in row.get("components") or []:
            assert len(c.get("label") or "") <= 80
            assert len(c.get("custom_id") or "") <= 100


def assert_no_ping(data: dict[str, Any]) -> None:
    """Nobody can be pinged: mentions disabled in the payload and no raw mention syntax shown."""
    assert data.get("allowed_mentions", {}).get("parse") == [], data.get("allowed_mentions")
    assert not data["allowed_mentions"].get("users")
    assert not data["allowed_mentions"].get("roles")
    assert not data["allowed_mentions"].get("replied_user")
    for t in texts(data):
        assert not RAW_PING.search(t), t


def sent_messages(discord: Any) -> list[dict[str, Any]]:
    """Every message body the bot sent or edited (callbacks, followups, channel sends, edits)."""
    out = []
    for r in discord.requests:
        if r.method in ("POST", "PATCH"):
            data = message_data(r.body)
            if data is not None:
                out.append(data)
    return out
