"""A progress line on stderr, shown only when stderr is a terminal (never in pipes or CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``Progress("ingesting")`` then ``update(n)``; ``close()`` clears the line."""

    def __init__(
        self, label: str, stream: TextIO | None = None, *, total: int | None = None
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.total = total
        self.enabled = self.stream.isatty()
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        rate = done / max(now - self.started, 1e-9)
        if self.total:
            width = 28
            filled = min(width, int(width * done / self.total))
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self.label} [{bar}] {done:,}/{self.total:,} ({rate:,.0f}/s)"
        else:
            text = f"{self.label} {done:,} ({rate:,.0f}/s)"
        self.stream.write("\r" + text[:120] + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
