"""Entry points for the CLI: run the bot, sync its slash commands.

A missing or rejected token is the most common first-run mistake, so it gets one clear line on
stderr and exit code 2, never a traceback. The token itself is never logged: discord.py does not
log it, and a logging filter redacts it anyway in case any library ever echoes it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, TextIO

import discord

from bot.client import create_bot

if TYPE_CHECKING:
    from config.settings import Settings

_log = logging.getLogger("paperbot.bot")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_TOKEN = 2
MISSING_TOKEN = (
    "paperbot: no Discord token: set PAPERBOT_DISCORD_TOKEN (the bot token from the Discord "
    "Developer Portal, Bot tab)."
)
REJECTED_TOKEN = (
    "paperbot: Discord rejected the token in PAPERBOT_DISCORD_TOKEN; reset it in the Developer "
    "Portal (Bot tab) and set the new one."
)


class RedactSecret(logging.Filter):
    """Replace a secret in every log record's message and arguments with ``[redacted]``."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secret:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        if self.secret in message:
            record.msg = message.replace(self.secret, "[redacted]")
            record.args = None
        return True


def _token(settings: Settings) -> str | None:
    secret = settings.discord_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    return token or None


def install_redaction(token: str) -> RedactSecret:
    """Attach the redacting filter to every handler of the root logger (and future records)."""
    flt = RedactSecret(token)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    for handler in root.handlers:
        handler.addFilter(flt)
    return flt


def run_bot(settings: Settings, *, stderr: TextIO | None = None) -> int:
    """Run the bot until interrupted. Returns the process exit code."""
    err = stderr or sys.stderr
    token = _token(settings)
    if token is None:
        print(MISSING_TOKEN, file=err)
        return EXIT_TOKEN
    install_redaction(token)
    hf_token = settings.hf_token.get_secret_value().strip() if settings.hf_token else ""
    if hf_token:  # never logged anyway (only URLs are); redacted too, in case a library echoes it
        install_redaction(hf_token)
    logging.getLogger().setLevel(settings.log_level.upper())
    try:
        bot = create_bot(settings)
    except Exception as exc:
        _log.debug("could not start", exc_info=exc)
        print(f"paperbot: could not open the paper library: {exc}", file=err)
        return EXIT_FAILED
    try:
        return asyncio.run(_run(bot, token, err))
    except KeyboardInterrupt:
        return EXIT_OK


async def _run(bot: discord.Client, token: str, err: TextIO) -> int:
    async with bot:
        try:
            await bot.start(token)
        except discord.LoginFailure:
            print(REJECTED_TOKEN, file=err)
            return EXIT_TOKEN
        except discord.PrivilegedIntentsRequired:
            print("paperbot: Discord refused a privileged intent this bot asked for.", file=err)
            return EXIT_FAILED
        except (KeyboardInterrupt, asyncio.CancelledError):
            return EXIT_OK
    return EXIT_OK


async def sync_commands(
    settings: Settings,
    guild_id: int | None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Register the slash commands with Discord: globally, or in one guild (instant, for testing).

    Syncing is a separate step, never done on start-up, because Discord rate-limits it strictly
    and global changes take time to propagate.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    token = _token(settings)
    if token is None:
        print(MISSING_TOKEN, file=err)
        return EXIT_TOKEN
    install_redaction(token)
    bot = create_bot(settings, open_library=False)
    async with bot:
        try:
            await bot.login(token)
        except discord.LoginFailure:
            print(REJECTED_TOKEN, file=err)
            return EXIT_TOKEN
        try:
            if guild_id is not None:
                guild = discord.Object(id=guild_id)
                bot.tree.copy_global_to(guild=guild)
                synced = await bot.tree.sync(guild=guild)
                where = f"guild {guild_id}"
            else:
                synced = await bot.tree.sync()
                where = "globally (may take up to an hour to appear everywhere)"
        except discord.HTTPException as exc:
            print(f"paperbot: Discord refused the command sync: {exc}", file=err)
            return EXIT_FAILED
    names = ", ".join(sorted(f"/{c.name}" for c in synced))
    print(f"synced {len(synced)} commands {where}: {names}", file=out)
    return EXIT_OK
