"""Suite-wide rules: a test whose module names a path in the shared data needs that data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.paths import REQUIRE_SHARED, SHARED, SHARED_MISSING

# ``pg_admin_url`` / ``pg_url``: a throwaway PostgreSQL cluster, for tests of both store backends.
pytest_plugins = ["tests.postgres"]


def _names_shared_data(module: object) -> bool:
    return any(
        isinstance(value, Path) and value.is_relative_to(SHARED) for value in vars(module).values()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED.is_dir():
        return
    if REQUIRE_SHARED:
        raise pytest.UsageError(
            f"{SHARED_MISSING}; PAPERBOT_TESTS_REQUIRE_SHARED=1 forbids skipping"
        )
    skip = pytest.mark.skip(reason=SHARED_MISSING)
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and _names_shared_data(module):
            item.add_marker(skip)
