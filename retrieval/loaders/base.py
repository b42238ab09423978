"""Shared pieces of the loaders: the user-facing error, the load report, the per-record error.

Loaders never crash on one bad record: a bad line becomes a :class:`MalformedRecord`, which the
caller turns into one entry of the :class:`LoadReport`. Only a whole file that cannot be used
(missing, empty, binary, unknown shape, nothing valid in it) raises :class:`LoaderError`, whose
message is one line a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: How many skipped lines the report keeps verbatim; the count keeps going past it.
MAX_REPORTED_SKIPS = 20


class LoaderError(Exception):
    """A file cannot be loaded at all. ``str(error)`` is a one-line, user-facing message."""


class MalformedRecord(ValueError):
    """One record (a JSONL line, a page block) is unusable; the message is the short reason."""


@dataclass
class LoadReport:
    """What happened while a :class:`~retrieval.loaders.source.PaperSource` was iterated.

    Filled in while iterating, so a caller showing progress can read it at any time.
    ``skipped_lines`` keeps the first :data:`MAX_REPORTED_SKIPS` ``(line number, reason)``
    pairs (1-based line numbers of the file as a text editor shows them).
    """

    path: Path
    format: str
    loaded: int = 0
    skipped: int = 0
    skipped_lines: list[tuple[int, str]] = field(default_factory=list)

    def skip(self, line: int, reason: str) -> None:
        self.skipped += 1
        if len(self.skipped_lines) < MAX_REPORTED_SKIPS:
            self.skipped_lines.append((line, reason))

    def summary(self) -> str:
        """One line for a CLI or a log: counts plus the first skipped line, if any."""
        text = f"{self.path.name} ({self.format}): {self.loaded} loaded, {self.skipped} skipped"
        if self.skipped_lines:
            line, reason = self.skipped_lines[0]
            text += f" (first: line {line}: {reason})"
        return text
