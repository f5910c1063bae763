from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample data beside the repository (../shared/data)."""
    if not DATA.is_dir():
        pytest.fail(f"sample data not found at {DATA}: clone the project with ../shared beside it")
    return DATA
