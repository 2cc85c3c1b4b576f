"""The remap grid: regular in longitude (from the central meridian) and in sin(latitude).

SPEC §3: longitude step 180/MAPMMAX degrees over [MAPLGMIN, MAPLGMAX]; ``rows =
2*int(sin(MAPBMAX)*SINBDIVS)`` rows at ``sin B = (r + 0.5 - rows/2)/SINBDIVS`` (no equator row,
so the rows pair up symmetrically about the equator, which the SHT's fold relies on).
Column j sits at longitude ``j * step`` with j an integer, so column 0 (when present) is the
central meridian and the longitude FFT can put it at phase 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["MapGrid"]


@dataclass(frozen=True)
class MapGrid:
    """Geometry of a remapped map; arrays are (rows, cols), row 0 southmost, column 0 eastmost."""

    mapmmax: int = 600
    sinbdivs: int = 200
    maplgmin: float = -90.0
    maplgmax: float = 90.0
    mapbmax: float = 90.0

    def __post_init__(self):
        if self.mapmmax <= 0 or self.sinbdivs <= 0:
            raise ValueError(f"MAPMMAX and SINBDIVS must be positive, got {self.mapmmax}, {self.sinbdivs}")
        if not (-180.0 <= self.maplgmin <= self.maplgmax <= 180.0):
            raise ValueError(f"need -180 <= MAPLGMIN <= MAPLGMAX <= 180, got {self.maplgmin}, {self.maplgmax}")
        if not (0.0 < self.mapbmax <= 90.0):
            raise ValueError(f"MAPBMAX must be in (0, 90], got {self.mapbmax}")
        if self.rows == 0:
            raise ValueError(f"MAPBMAX={self.mapbmax} with SINBDIVS={self.sinbdivs} leaves no rows")

    @property
    def lon_step(self) -> float:
        """Longitude step in degrees (180/MAPMMAX)."""
        return 180.0 / self.mapmmax

    @property
    def lfft(self) -> int:
        """Length of the longitude FFT: the full circle, 2*MAPMMAX."""
        return 2 * self.mapmmax

    @property
    def rows(self) -> int:
        # small tolerance so sin(90) * SINBDIVS is not truncated to SINBDIVS - 1 by rounding
        return 2 * int(math.sin(math.radians(self.mapbmax)) * self.sinbdivs + 1e-9)

    @cached_property
    def col_index(self) -> np.ndarray:
        """Integer longitude index j of each column (longitude j*lon_step)."""
        eps = 1e-9
        jmin = math.ceil(self.maplgmin / self.lon_step - eps)
        jmax = math.floor(self.maplgmax / self.lon_step + eps)
        return np.arange(jmin, jmax + 1)

    @property
    def cols(self) -> int:
        return self.col_index.size

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    @cached_property
    def sin_lat(self) -> np.ndarray:
        """sin(latitude) of each row."""
        r = np.arange(self.rows)
        return (r + 0.5 - self.rows / 2) / self.sinbdivs

    @cached_property
    def lon(self) -> np.ndarray:
        """Longitude of each column from the central meridian, radians (positive west)."""
        return np.radians(self.col_index * self.lon_step)

    @property
    def dsinb(self) -> float:
        return 1.0 / self.sinbdivs

    @classmethod
    def from_args(cls, args) -> "MapGrid":
        """From a jv2ts argument dict (MAPMMAX, SINBDIVS, MAPLGMIN, MAPLGMAX, MAPBMAX)."""
        return cls(
            int(args["MAPMMAX"]),
            int(args["SINBDIVS"]),
            float(args["MAPLGMIN"]),
            float(args["MAPLGMAX"]),
            float(args["MAPBMAX"]),
        )
