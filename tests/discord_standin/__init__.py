"""A loopback Discord (gateway websocket + REST) for end-to-end tests of the real discord.py."""

from .server import (
    CB_AUTOCOMPLETE,
    CB_DEFERRED_MESSAGE,
    CB_DEFERRED_UPDATE,
    CB_MESSAGE,
    CB_UPDATE,
    FLAG_EPHEMERAL,
    OP_HEARTBEAT,
    OP_IDENTIFY,
    OP_RESUME,
    DiscordStandIn,
    Interaction,
    RecordedRequest,
)

__all__ = [
    "CB_AUTOCOMPLETE",
    "CB_DEFERRED_MESSAGE",
    "CB_DEFERRED_UPDATE",
    "CB_MESSAGE",
    "CB_UPDATE",
    "FLAG_EPHEMERAL",
    "OP_HEARTBEAT",
    "OP_IDENTIFY",
    "OP_RESUME",
    "DiscordStandIn",
    "Interaction",
    "RecordedRequest",
]
