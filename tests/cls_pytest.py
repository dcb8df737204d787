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


def data_dir(name):
    """Where clsweep looks for data set `name` ("mnist" or "fashion"), as src/data/datasets.c
    does: $CLSWEEP_DATA/mnist (when set) or data/mnist; $FASHION_MNIST_DIR (when set) or
    /usr/share/datasets/fashion-mnist."""
    if name == "mnist":
        env = os.environ.get("CLSWEEP_DATA")
        return Path(env) / "mnist" if env else REPO / "data" / "mnist"
    env = os.environ.get("FASHION_MNIST_DIR")
    return Path(env) if env else Path("/usr/share/datasets/fashion-mnist")


def require_data(name):
    """Skips the calling test when data set `name` is not installed (make data / make deps)."""
    d = data_dir(name)
    if not (d / "train-images-idx3-ubyte.gz").exists() and not (d / "train-images-idx3-ubyte").exists():
        setup = "make data" if name == "mnist" else "make deps"
        pytest.skip(f"{name} not found in {d} ({setup})")
