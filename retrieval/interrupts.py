"""Holding Ctrl-C off while a write commits, so an interrupted ingest is either written or not,
and can say which.

SQLite runs ``COMMIT`` in C; a SIGINT that lands during it raises ``KeyboardInterrupt`` only
after it returns, when the papers are already written, and a rollback then fails ("cannot
rollback - no transaction is active"). So from the moment the papers run out (what is left is
the last batch and the commit, a second or so) until the write returns, Ctrl-C is recorded
instead of raised, and the caller raises it once the outcome is known.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


class CommitGuard:
    """``guard.after(papers)`` feeds the write; ``guard.release()`` afterwards restores Ctrl-C
    and says whether one was held off. Only in the main thread and over Python's own SIGINT
    handler (the only place a ``KeyboardInterrupt`` comes from); elsewhere it does nothing."""

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: Any = None

    def after(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, then hold Ctrl-C off: the consumer is about to commit."""
        yield from items
        self._arm()

    def _arm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        self._previous = signal.signal(signal.SIGINT, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True

    def release(self) -> bool:
        """Ctrl-C works again; True if one arrived while it was held off."""
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return self.interrupted
