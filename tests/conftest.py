"""Shared fixtures. Tests never touch the network: real samples come from the mirror
(``$LSLIB_DATA_MIRROR``, default ``../shared/data``) through the manifests and a per-session cache."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO.parent / "shared" / "data"
# test helper modules (``tests/imagefiles.py``) import from every test folder (pytest runs in importlib mode)
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["LSLIB_OFFLINE"] = "1"
if not os.environ.get("LSLIB_DATA_MIRROR") and DEFAULT_MIRROR.is_dir():
    os.environ["LSLIB_DATA_MIRROR"] = str(DEFAULT_MIRROR)


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A fresh cache per test session, so tests exercise mirror -> cache resolution."""
    os.environ["LSLIB_CACHE_DIR"] = str(tmp_path_factory.mktemp("lslib-cache"))


def _have_mirror() -> bool:
    mirror = os.environ.get("LSLIB_DATA_MIRROR")
    return bool(mirror) and Path(mirror).is_dir()


@pytest.fixture(scope="session")
def sample() -> Callable[[str], Path]:
    """``sample("<dataset>/<path>")`` -> verified local path of a real sample file (skips without a mirror)."""
    if not _have_mirror():
        pytest.skip("the real-sample mirror is missing: set LSLIB_DATA_MIRROR (CI uses ../shared/data)")
    from lslib.data.fetch import fetch

    return fetch


@pytest.fixture(scope="session")
def sample_dir() -> Callable[[str], Path]:
    """``sample_dir("<dataset>/<folder>")`` -> cached folder with all its files fetched and verified."""
    if not _have_mirror():
        pytest.skip("the real-sample mirror is missing: set LSLIB_DATA_MIRROR (CI uses ../shared/data)")
    from lslib.data.fetch import fetch_dir

    return fetch_dir
