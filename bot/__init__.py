"""paperbot's Discord front end: slash commands, mentions and buttons over ``retrieval``.

``create_bot(settings)`` builds the client (nothing connects until ``start()``); ``run_bot`` and
``sync_commands`` are what ``paperbot run`` / ``paperbot sync`` call.
"""

from bot.client import PaperBot, ShardedPaperBot, create_bot
from bot.runner import run_bot, sync_commands

__all__ = ["PaperBot", "ShardedPaperBot", "create_bot", "run_bot", "sync_commands"]
