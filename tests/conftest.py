"""Shared fixtures: the reference data directory, a private store and work directory per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REFDATA = Path(os.environ.get("GLOBALHS_REFDATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def refdata_path(*parts: str) -> Path:
    """Path of a reference file under GLOBALHS_REFDATA; skips the test, saying why, when absent."""
    path = REFDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (set GLOBALHS_REFDATA to ../shared/data)")
    return path


@pytest.fixture
def refdata():
    """``refdata("mdi", "fd_V_01h.fits")`` -> Path, or skip with the reason."""
    return refdata_path


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path, monkeypatch):
    """Every test gets its own store and top directory, so nothing leaks between tests or into $HOME."""
    monkeypatch.setenv("GLOBALHS_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("GLOBALHS_TOPDIR", str(tmp_path / "top"))
