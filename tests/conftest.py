from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# The suite's property tests run a fixed, reproducible set of examples (CI must not turn red on a
# case one run happens to draw); `HYPOTHESIS_PROFILE=explore pytest ...` searches new cases.
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample data beside the repository (../shared/data)."""
    if not DATA.is_dir():
        pytest.fail(f"sample data not found at {DATA}: clone the project with ../shared beside it")
    return DATA
