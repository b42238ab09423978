"""The ``paperbot`` command.

A Ctrl-C while the command is still starting (importing its modules, before :func:`cli.main.main`
runs) would print a traceback from deep inside some import. So when this package is imported as
the command itself (the ``paperbot`` script, or ``python -m cli``), such a Ctrl-C exits at once
with code 130 and one line, until ``main`` takes Ctrl-C over (:func:`take_over_ctrl_c`). Imported
by anything else (the bot, tests), it changes nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"paperbot: interrupted\n")
    os._exit(130)  # nothing has been done yet: nothing to clean up


def _is_the_command() -> bool:
    first = sys.argv[0] if sys.argv else ""
    # "-m" is argv[0] while ``python -m cli`` imports this package.
    return first == "-m" or os.path.basename(first).removesuffix(".exe") == "paperbot"


if (
    _is_the_command()
    and threading.current_thread() is threading.main_thread()
    and signal.getsignal(signal.SIGINT) is signal.default_int_handler
):
    signal.signal(signal.SIGINT, _interrupted_while_starting)


def take_over_ctrl_c() -> None:
    """From here on a Ctrl-C raises ``KeyboardInterrupt``, which ``main`` reports."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
