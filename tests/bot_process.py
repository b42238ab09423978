"""Run ``paperbot run`` in a child process against the loopback Discord stand-in.

Why a launcher: discord.py's REST base and gateway URL are class attributes, so a separate bot
process must be pointed at the stand-in before the bot starts, as ``DiscordStandIn.patch_discord``
does in-process. Everything else is the real command: ``cli.main.main(["run"])`` with the
settings from the environment (``PAPERBOT_*``).

Environment read here (besides the bot's own ``PAPERBOT_*``):

* ``PAPERBOT_TEST_DISCORD_API`` — the stand-in's REST base (``http://127.0.0.1:P/api/v10``);
* ``PAPERBOT_TEST_DISCORD_GATEWAY`` — its gateway (``ws://127.0.0.1:P/gateway``);
* ``PAPERBOT_TEST_PROCESS`` — a name appended to the User-Agent of every REST request, so the
  stand-in can tell which process answered (it records the header);
* ``PAPERBOT_TEST_GUILD_READY_TIMEOUT`` — discord.py's wait for guilds after READY (the stand-in
  sends them at once, so the default 2 s is only start-up delay);
* ``PAPERBOT_TEST_NO_LISTEN=1`` — see :func:`no_listening`.

Run as ``python -m tests.bot_process``; :class:`BotProcess` starts one (the end-to-end test of
several processes and ``bench/bench_pg.py`` use it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
READY_LINE = "ready as "  # bot.client logs it in on_ready (every shard of the process is ready)
LEADER_LINE = "now runs the scheduled jobs"  # retrieval.leader logs it when it takes the lead


def patch_discord() -> None:
    import discord.gateway
    import discord.http
    import yarl

    api = os.environ.get("PAPERBOT_TEST_DISCORD_API")
    gateway = os.environ.get("PAPERBOT_TEST_DISCORD_GATEWAY")
    if api:
        discord.http.Route.BASE = api
    if gateway:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    name = os.environ.get("PAPERBOT_TEST_PROCESS", "")
    original_init = discord.http.HTTPClient.__init__

    def init(self: discord.http.HTTPClient, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if name:
            self.user_agent = f"{self.user_agent} paperbot-process/{name}"

    discord.http.HTTPClient.__init__ = init  # type: ignore[method-assign]
    if name:  # interaction responses go out through aiohttp's default User-Agent: tag it too
        import aiohttp.client_reqrep

        tagged = f"{aiohttp.client_reqrep.SERVER_SOFTWARE} paperbot-process/{name}"
        aiohttp.client_reqrep.SERVER_SOFTWARE = tagged
    ready = os.environ.get("PAPERBOT_TEST_GUILD_READY_TIMEOUT")
    if ready:
        import bot.client

        original_options = bot.client._bot_options

        def with_ready(intents: discord.Intents | None, options: dict[str, Any]) -> dict[str, Any]:
            merged = original_options(intents, options)
            merged.setdefault("guild_ready_timeout", float(ready))
            return merged

        bot.client._bot_options = with_ready


class BotProcess:
    """One ``paperbot run`` child process talking to the stand-in, its output in ``log``."""

    def __init__(
        self, name: str, *, api: str, gateway: str, env: dict[str, str], log_dir: Path
    ) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        full = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
        full.update(
            {
                "PYTHONPATH": str(REPO),
                "PAPERBOT_TEST_DISCORD_API": api,
                "PAPERBOT_TEST_DISCORD_GATEWAY": gateway,
                "PAPERBOT_TEST_PROCESS": name,
                "PAPERBOT_TEST_GUILD_READY_TIMEOUT": "0.2",
                "PAPERBOT_LOG_LEVEL": "INFO",
            }
        )
        full.update(env)
        self.started_at = time.monotonic()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.bot_process"],
                cwd=REPO,
                env=full,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def user_agent_tag(self) -> str:
        return f"paperbot-process/{self.name}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ready(self) -> bool:
        return READY_LINE in self.output()

    def leading(self) -> bool:
        return LEADER_LINE in self.output()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait (without blocking the event loop that runs the stand-in) for ``on_ready``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"bot process {self.name} not ready:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a host dies or the OOM killer strikes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Ctrl-C (SIGINT), as an operator stops it; killed if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def no_listening() -> None:
    """``PAPERBOT_TEST_NO_LISTEN=1``: no LISTEN/NOTIFY listener, so the process notices other
    processes' writes only by polling the store's generation (what the bench compares)."""
    from retrieval.changes import ChangeWatcher

    def start(self: ChangeWatcher, wait: float = 5.0) -> bool:
        return False

    def stop(self: ChangeWatcher) -> None:
        return None

    ChangeWatcher.start = start  # type: ignore[method-assign]
    ChangeWatcher.stop = stop  # type: ignore[method-assign]


def main() -> int:
    patch_discord()
    if os.environ.get("PAPERBOT_TEST_NO_LISTEN") == "1":
        no_listening()
    from cli.main import main as paperbot

    return paperbot(["run"])


if __name__ == "__main__":
    sys.exit(main())
