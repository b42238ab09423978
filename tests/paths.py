"""Where the repository and the shared data (next to the checkout, as in CI) live.

Tests that read the shared data skip with one clear reason when it is absent (a clone on its
own), unless ``PAPERBOT_TESTS_REQUIRE_SHARED=1`` (set by ``.ci/run``): then its absence is an
error, so CI can never pass by skipping.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
SCIFACT = SHARED / "eval" / "scifact"
REQUIRE_SHARED = os.environ.get("PAPERBOT_TESTS_REQUIRE_SHARED") == "1"
SHARED_MISSING = f"needs the shared data beside the checkout ({SHARED} is absent)"


def require_shared() -> None:
    """Skip the calling test (or fail it, when CI requires the data) if the data is absent."""
    if SHARED.is_dir():
        return
    if REQUIRE_SHARED:
        pytest.fail(f"{SHARED_MISSING}; PAPERBOT_TESTS_REQUIRE_SHARED=1 forbids skipping")
    pytest.skip(SHARED_MISSING)
