"""Spherical harmonic transform of remapped maps: longitude FFT, equator fold, per-m GEMM.

Conventions (SPEC §3):

- Longitude: ``c_m = (1/lfft) sum_j f_j exp(+i m phi_j)`` over the full circle of length
  ``lfft = 2*MAPMMAX`` (unobserved longitudes are zero), column j at ``phi_j = j*180/MAPMMAX``
  degrees so the central meridian is phase 0; ``m = 0..lmax``; ``Im c_0 = 0``.
- Latitude: rows pair up about the equator (no equator row); ``even = f(x) + f(-x)`` and
  ``odd = f(x) - f(-x)`` for ``x = sin B > 0``; l - m even projects the even part, odd the odd.
- NORM=1: ``a_lm = sqrt(2) * dsinB * sum_k fold_k P~_l^m(x_k)``, P~ orthonormal on [-1, 1] with the
  Condon–Shortley phase (:mod:`globalhs.science.legendre`). A unit-rms field
  ``Re(exp(-i w t) Y)`` (``Y`` normalised to unit mean square over the sphere) seen over the
  whole sphere gives ``|a_lm(t)| = 1`` for m > 0 (for m = 0 the real field is the sum of the two
  frequency signs and a static ``Re Y_l0`` gives 2).

The projection is, per m, one matrix product of the Legendre table (l, latitude) with the folded
coefficients of a whole batch of images (latitude, 2*images: real and imaginary parts side by
side), which is exactly the output layout (row l(l+1)/2+m, real/imag interleaved in time).
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft

from globalhs.science.grid import MapGrid
from globalhs.science.legendre import legendre_table, lm_arrays, lm_count, lm_index

__all__ = ["SHT", "BACKENDS", "longitude_fft", "lm_index", "lm_count"]

BACKENDS = ("gemm", "ducc0")
"""gemm: Legendre tables x folded batch, one matrix product per m (tables held in memory);
ducc0: ``ducc0.sht.experimental.adjoint_synthesis`` on the grid's rings, one map at a time,
Legendre functions on the fly (no table memory; the same numbers to ~1e-7)."""


def longitude_fft(maps: np.ndarray, grid: MapGrid, mmax: int, *, workers: int = -1) -> np.ndarray:
    """``c[..., row, m]`` for ``m = 0..mmax`` of maps ``[..., rows, cols]`` (SPEC convention).

    The columns are the contiguous longitudes ``j = col_index[0] ..``; the FFT zero-pads them to
    the full circle and the phase of the first column is restored afterwards.
    """
    if mmax >= grid.mapmmax:
        raise ValueError(f"mmax={mmax} needs MAPMMAX > mmax, got MAPMMAX={grid.mapmmax}")
    spec = scipy.fft.rfft(maps, n=grid.lfft, axis=-1, workers=workers)[..., : mmax + 1]
    m = np.arange(mmax + 1)
    phase = np.exp(1j * m * grid.col_index[0] * np.pi / grid.mapmmax).astype(spec.dtype)
    # conj(rfft) is the exp(+i m phi) sum for real input
    return np.conj(spec) * (phase / grid.lfft)


class SHT:
    """The NORM=1 transform of maps on ``grid`` to a_lm for ``lmin <= l <= lmax``.

    Build once per (grid, l range) — the Legendre tables are the expensive part — and call on
    batches: ``sht(maps[n, rows, cols]) -> a[n_lm, 2*n]`` (float32, real/imag interleaved per image,
    row :func:`lm_index` ``(l, m, lmin)``), or :meth:`transform` for complex ``[n, n_lm]``.
    """

    def __init__(self, grid: MapGrid, lmin: int, lmax: int, *, dtype=np.float32, workers: int = -1,
                 backend: str = "gemm", norm: int = 1):
        if lmax >= grid.mapmmax:
            raise ValueError(f"LMAX={lmax} must be below MAPMMAX={grid.mapmmax}")
        if lmin < 0 or lmax < lmin:
            raise ValueError(f"need 0 <= LMIN <= LMAX, got {lmin}, {lmax}")
        if grid.rows % 2:
            raise ValueError("the grid needs an even number of rows (pairs about the equator)")
        if backend not in BACKENDS:
            raise ValueError(f"SHT backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        self.grid, self.lmin, self.lmax, self.dtype, self.workers = grid, lmin, lmax, np.dtype(dtype), workers
        self.backend = backend
        self.nhalf = grid.rows // 2
        self.nlm = lm_count(lmin, lmax)
        scale = np.sqrt(2.0) * grid.dsinb if norm == 1 else 1.0
        self.tables = []
        if backend == "ducc0":
            self._setup_ducc(scale)
            return
        x = grid.sin_lat[self.nhalf :]  # x > 0, ascending
        table = legendre_table(lmax, x, lmin=lmin)
        # per m: (n_l, nhalf) tables for l - m even and l - m odd; their products go to contiguous
        # blocks of an m-major buffer (row offsets below), which one gather puts in l-major order
        order = []
        offset = 0
        for m in range(lmax + 1):
            ls = np.arange(max(m, lmin), lmax + 1)
            even, odd = ls[(ls - m) % 2 == 0], ls[(ls - m) % 2 == 1]
            self.tables.append(
                (
                    np.ascontiguousarray(table[lm_index(even, m, lmin)] * scale, dtype=self.dtype),
                    np.ascontiguousarray(table[lm_index(odd, m, lmin)] * scale, dtype=self.dtype),
                    offset,
                    offset + even.size,
                )
            )
            order.extend(lm_index(even, m, lmin))
            order.extend(lm_index(odd, m, lmin))
            offset += ls.size
        # buffer row of each output row (inverse of the m-major order)
        self.gather = np.empty(self.nlm, dtype=np.int64)
        self.gather[np.asarray(order, dtype=np.int64)] = np.arange(self.nlm)

    def fold(self, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Even and odd parts ``[m, nhalf, 2*n]`` (real/imag interleaved per image) of a batch."""
        maps = np.asarray(maps, dtype=self.dtype)
        if maps.ndim != 3 or maps.shape[1:] != self.grid.shape:
            raise ValueError(f"maps must be [n, {self.grid.rows}, {self.grid.cols}], got {maps.shape}")
        c = longitude_fft(maps, self.grid, self.lmax, workers=self.workers)  # [n, rows, m]
        n = maps.shape[0]
        # -> [m, rows, n] complex viewed as [m, rows, 2n] real: image-fastest, re/im interleaved
        cm = np.ascontiguousarray(c.transpose(2, 1, 0)).view(self.dtype)
        north = cm[:, self.nhalf :]
        south = cm[:, self.nhalf - 1 :: -1]  # row nhalf-1-k mirrors nhalf+k
        return north + south, north - south

    def _setup_ducc(self, scale: float) -> None:
        """ducc0's adjoint synthesis on the grid's rings gives sum f conj(Y_lm) over the full rings;
        ours is ``scale sqrt(2 pi) / lfft`` times its complex conjugate (real maps)."""
        import ducc0  # noqa: F401  (a dependency; imported here to keep it off the GEMM path)

        grid = self.grid
        self._ducc_geometry = dict(
            theta=np.arccos(grid.sin_lat), nphi=np.full(grid.rows, grid.lfft, dtype=np.uint64),
            phi0=np.zeros(grid.rows), ringstart=(np.arange(grid.rows) * grid.lfft).astype(np.uint64),
        )
        l, m = lm_arrays(self.lmin, self.lmax)
        self._ducc_index = m * (2 * self.lmax + 1 - m) // 2 + l
        self._ducc_scale = scale * np.sqrt(2 * np.pi) / grid.lfft
        self._ring_cols = np.mod(grid.col_index, grid.lfft)

    def _ducc_call(self, maps: np.ndarray, out: np.ndarray) -> np.ndarray:
        import ducc0

        ring = np.zeros((self.grid.rows, self.grid.lfft))
        threads = os.cpu_count() if self.workers == -1 else max(1, self.workers)
        for i in range(maps.shape[0]):
            ring[:, self._ring_cols] = maps[i]
            alm = ducc0.sht.experimental.adjoint_synthesis(
                map=ring.reshape(1, -1), lmax=self.lmax, mmax=self.lmax, spin=0, nthreads=threads,
                **self._ducc_geometry,
            )[0]
            values = np.conj(alm[self._ducc_index]) * self._ducc_scale
            out[:, 2 * i] = values.real
            out[:, 2 * i + 1] = values.imag
        return out

    def __call__(self, maps: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """a_lm of a batch as ``[n_lm, 2*n]`` float (real, imag of image 0, real, imag of image 1...)."""
        if self.backend == "ducc0":
            maps = np.asarray(maps)
            if maps.ndim != 3 or maps.shape[1:] != self.grid.shape:
                raise ValueError(f"maps must be [n, {self.grid.rows}, {self.grid.cols}], got {maps.shape}")
            if out is None:
                out = np.empty((self.nlm, 2 * maps.shape[0]), dtype=self.dtype)
            return self._ducc_call(maps, out)
        even, odd = self.fold(maps)
        n2 = even.shape[-1]
        buffer = np.empty((self.nlm, n2), dtype=self.dtype)
        for m, (pe, po, start_e, start_o) in enumerate(self.tables):
            if pe.shape[0]:
                np.matmul(pe, even[m], out=buffer[start_e : start_e + pe.shape[0]])
            if po.shape[0]:
                np.matmul(po, odd[m], out=buffer[start_o : start_o + po.shape[0]])
        if out is None:
            return np.take(buffer, self.gather, axis=0)
        out[...] = np.take(buffer, self.gather, axis=0)
        return out

    def transform(self, maps: np.ndarray) -> np.ndarray:
        """Complex a_lm ``[n, n_lm]`` of a batch of maps."""
        a = self(maps)
        return (a[:, 0::2] + 1j * a[:, 1::2]).T

    @property
    def flops_per_map(self) -> int:
        """Multiply-adds x 2 of the projection GEMMs for one map (the machine-limit reference)."""
        return int(sum(2 * (pe.size + po.size) * 2 for pe, po, _, _ in self.tables))
