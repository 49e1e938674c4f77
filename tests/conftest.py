"""Shared fixtures. Data from ../shared/data is used where present (always in CI) and
the tests that need it skip on a user's machine without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LIVE_NST_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the measurement data at {SHARED_DATA}")
        pytest.skip(f"measurement data not found at {SHARED_DATA}")
    return SHARED_DATA
