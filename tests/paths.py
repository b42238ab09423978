"""Where the repository and the shared data (next to the checkout, as in CI) live."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
SCIFACT = SHARED / "eval" / "scifact"
