"""The one progress line on stderr, shown only when stderr is a terminal (never in pipes or CI
logs, where a rewritten line is noise). A counter (papers written, papers indexed) and a remote
fetch's phases ("2026-06-12: 30 papers", "page 3: 3000 of ~58011 records") share it, so every
ingest looks the same."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from retrieval.sanitize import clean_line

WIDTH = 120


class Progress:
    """``Progress("ingesting")`` then ``update(n)`` or ``note(message)``; ``close()`` clears
    the line."""

    def __init__(
        self, label: str, stream: TextIO | None = None, *, total: int | None = None
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.total = total
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def update(self, done: int) -> None:
        """A count so far (throttled: a counter may tick thousands of times a second)."""
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
            self._show(f"{self.label} [{bar}] {done:,}/{self.total:,} ({rate:,.0f}/s)")
        else:
            self._show(f"{self.label} {done:,} ({rate:,.0f}/s)")

    def note(self, message: str) -> None:
        """A phase of a fetch, shown at once (one per page or day, never a flood)."""
        if self.enabled:
            self._show(f"{self.label}: {message}")

    def _show(self, text: str) -> None:
        self.stream.write("\r" + clean_line(text)[:WIDTH] + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """Wipe the line, so the summary that follows starts clean."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
