"""``python -m bot``: run the bot with settings from the environment (``PAPERBOT_*``)."""

from __future__ import annotations

import sys

from bot.runner import run_bot
from config.settings import get_settings


def main() -> int:
    return run_bot(get_settings())


if __name__ == "__main__":
    sys.exit(main())
