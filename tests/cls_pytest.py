"""Shared helpers of the pytest files (not a test module itself)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def clsweep():
    """The clsweep executable of $CLSWEEP_BUILD (default build/); fails the test if absent."""
    build = Path(os.environ.get("CLSWEEP_BUILD", "build"))
    if not build.is_absolute():
        build = REPO / build
    exe = build / "clsweep"
    if not exe.exists():
        pytest.fail(f"{exe} not found: build it first (make), or set CLSWEEP_BUILD")
    return exe
