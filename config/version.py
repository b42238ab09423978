"""The installed paperbot version: one answer for the CLI, the bot's /info and the User-Agent."""

from __future__ import annotations

from importlib import metadata


def paperbot_version() -> str:
    """The distribution's version, or ``0+unknown`` when running from an uninstalled checkout."""
    try:
        return metadata.version("paperbot")
    except metadata.PackageNotFoundError:
        return "0+unknown"
