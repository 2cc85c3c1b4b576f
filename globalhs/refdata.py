"""Where the reference data is: ``GLOBALHS_REFDATA``, else ``../shared/data`` beside the project.

The reference data (Model S, HMI mode tables, the published rotation) is never part of the package;
the synthetic Sun, the peakbagging starting tables and the inversion's default model are read from
here, and every caller asks this one function.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["refdata_dir"]


def refdata_dir() -> Path:
    """The reference-data directory (it need not exist; callers name the file they miss)."""
    root = os.environ.get("GLOBALHS_REFDATA")
    return Path(root) if root else Path(__file__).resolve().parents[1].parent / "shared" / "data"
