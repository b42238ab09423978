"""A per-user sliding-window cooldown shared by slash commands, buttons that search, and mentions.

Why one budget across every entry point: a user who is throttled on ``/ask`` should not be able to
keep the index busy through mentions or "More papers" instead. The window is counted in monotonic
time so clock changes cannot unlock or lock anyone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class UserCooldown:
    """Allow ``rate`` uses per ``per`` seconds for each user id."""

    def __init__(
        self, rate: int, per: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.per = per
        self._clock = clock
        self._uses: dict[int, deque[float]] = {}
        self._calls = 0

    def hit(self, user_id: int) -> float:
        """Record a use by ``user_id``; return 0.0 when allowed, else seconds until it would be.

        A refused use is not recorded, so hammering does not extend the wait.
        """
        if self.per <= 0:
            return 0.0
        now = self._clock()
        uses = self._uses.setdefault(user_id, deque())
        while uses and now - uses[0] >= self.per:
            uses.popleft()
        self._calls += 1
        if self._calls % 1024 == 0:
            self._prune(now)
        if len(uses) >= self.rate:
            return self.per - (now - uses[0])
        uses.append(now)
        return 0.0

    def _prune(self, now: float) -> None:
        """Forget users whose last use is out of the window, so memory tracks active users only."""
        stale = [uid for uid, uses in self._uses.items() if not uses or now - uses[-1] >= self.per]
        for uid in stale:
            del self._uses[uid]

    def __len__(self) -> int:
        return len(self._uses)
