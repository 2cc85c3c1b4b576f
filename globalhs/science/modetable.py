"""The JSOC mode-table text format (series ``*_sht_modes``, e.g. ``hmi.6400.36``).

One line per multiplet (n, l), 12 + 2N whitespace-separated columns for N a-coefficients:

====== =====================================================================
column content
====== =====================================================================
0      l
1      n
2      nu_nl, mean frequency (uHz)
3      amplitude
4      linewidth Gamma, FWHM (uHz)
5      background
6      asymmetry parameter
7-11   formal errors of columns 2-6 (1000 flags a parameter that was not fitted/has no error)
12..   a_1..a_N (nHz), polynomials of :mod:`globalhs.science.apols`
12+N.. errors of a_1..a_N (nHz)
====== =====================================================================

N = 36 gives the 84 columns of the HMI tables; N = 18 gives 48 and N = 6 gives 24.  Written with the
same fixed widths as the JSOC files, so a table read and written again is byte-identical.
Reading and writing take text/paths only here; :func:`write_modetable` writes atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from globalhs.atomic import atomic_write

__all__ = ["ERROR_FLAG", "ModeTable", "ModeTableError", "parse_modetable", "read_modetable",
           "format_modetable", "write_modetable", "ncolumns"]

ERROR_FLAG = 1000.0
"""Value of an error column for a parameter that has no formal error (held fixed or not fitted)."""

_NFIXED = 12
_PARAMS = ("nu", "amp", "width", "bg", "asym")


class ModeTableError(ValueError):
    """A mode table that does not follow the format (message names the line and what was expected)."""


def ncolumns(nacoeff: int) -> int:
    """Number of columns of a table with ``nacoeff`` a-coefficients (84 for 36)."""
    return _NFIXED + 2 * nacoeff


@dataclass
class ModeTable:
    """A set of fitted multiplets as parallel arrays (one row per (n, l)).

    Attributes: ``l, n`` (int), ``nu, amp, width, bg, asym`` (float), ``err`` (rows x 5: errors of
    nu, amp, width, bg, asym), ``a`` and ``a_err`` (rows x N, nHz).
    """

    l: np.ndarray
    n: np.ndarray
    nu: np.ndarray
    amp: np.ndarray
    width: np.ndarray
    bg: np.ndarray
    asym: np.ndarray
    err: np.ndarray
    a: np.ndarray
    a_err: np.ndarray
    _index: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.l = np.asarray(self.l, dtype=int).reshape(-1)
        self.n = np.asarray(self.n, dtype=int).reshape(-1)
        rows = self.l.size
        for name in _PARAMS:
            setattr(self, name, np.asarray(getattr(self, name), dtype=float).reshape(-1))
        self.err = np.asarray(self.err, dtype=float).reshape(rows, 5)
        self.a = np.asarray(self.a, dtype=float)
        if self.a.ndim != 2 or self.a.shape[0] != rows:
            raise ModeTableError(f"a-coefficients must have shape (rows={rows}, N), got {self.a.shape}")
        self.a_err = np.asarray(self.a_err, dtype=float).reshape(self.a.shape)
        for name in ("n",) + _PARAMS:
            if getattr(self, name).size != rows:
                raise ModeTableError(f"column {name} has {getattr(self, name).size} rows, expected {rows}")

    @classmethod
    def empty(cls, nacoeff: int) -> "ModeTable":
        z = np.zeros(0)
        return cls(z, z, z, z, z, z, z, np.zeros((0, 5)), np.zeros((0, nacoeff)), np.zeros((0, nacoeff)))

    @property
    def nacoeff(self) -> int:
        return self.a.shape[1]

    def __len__(self) -> int:
        return self.l.size

    def find(self, n: int, l: int) -> int | None:
        """Row of multiplet (n, l), or None."""
        if self._index is None:
            self._index = {(int(nn), int(ll)): i for i, (nn, ll) in enumerate(zip(self.n, self.l))}
        return self._index.get((int(n), int(l)))

    def select(self, rows) -> "ModeTable":
        """A new table of the given rows (boolean mask or indices)."""
        return ModeTable(self.l[rows], self.n[rows], self.nu[rows], self.amp[rows], self.width[rows],
                         self.bg[rows], self.asym[rows], self.err[rows], self.a[rows], self.a_err[rows])

    def sorted(self) -> "ModeTable":
        """Rows ordered by l, then n (the order of the JSOC files)."""
        return self.select(np.lexsort((self.n, self.l)))

    def with_nacoeff(self, nacoeff: int) -> "ModeTable":
        """The same table with N a-coefficients (truncated, or zero-padded)."""
        rows = len(self)
        a = np.zeros((rows, nacoeff))
        e = np.zeros((rows, nacoeff))
        k = min(nacoeff, self.nacoeff)
        a[:, :k] = self.a[:, :k]
        e[:, :k] = self.a_err[:, :k]
        return ModeTable(self.l, self.n, self.nu, self.amp, self.width, self.bg, self.asym, self.err, a, e)

    @staticmethod
    def concatenate(tables: list["ModeTable"]) -> "ModeTable":
        if not tables:
            raise ModeTableError("concatenate: no tables given")
        nacoeff = {t.nacoeff for t in tables}
        if len(nacoeff) != 1:
            raise ModeTableError(f"concatenate: tables have different numbers of a-coefficients {sorted(nacoeff)}")
        cat = lambda name: np.concatenate([getattr(t, name) for t in tables])  # noqa: E731
        return ModeTable(cat("l"), cat("n"), cat("nu"), cat("amp"), cat("width"), cat("bg"), cat("asym"),
                         np.concatenate([t.err for t in tables]), np.concatenate([t.a for t in tables]),
                         np.concatenate([t.a_err for t in tables]))

    def to_array(self) -> np.ndarray:
        """The table as a (rows, 12 + 2N) float array in column order (what the FITS record stores)."""
        return np.column_stack([self.l, self.n, self.nu, self.amp, self.width, self.bg, self.asym,
                                self.err, self.a, self.a_err]).astype(float).reshape(len(self), _NFIXED + 2 * self.nacoeff)

    @classmethod
    def from_array(cls, array: np.ndarray, source: str = "array") -> "ModeTable":
        """Inverse of :meth:`to_array`; checks the column count."""
        array = np.asarray(array, dtype=float)
        if array.ndim == 1 and array.size == 0:
            raise ModeTableError(f"{source}: empty mode table has no column count")
        if array.ndim != 2 or array.shape[1] < _NFIXED or (array.shape[1] - _NFIXED) % 2:
            raise ModeTableError(f"{source}: expected 12 + 2N columns (84 for N=36), got shape {array.shape}")
        nac = (array.shape[1] - _NFIXED) // 2
        if not np.all(array[:, :2] == np.round(array[:, :2])):
            raise ModeTableError(f"{source}: columns 0 (l) and 1 (n) must be integers")
        return cls(array[:, 0], array[:, 1], *array[:, 2:7].T, array[:, 7:12],
                   array[:, 12:12 + nac], array[:, 12 + nac:])


def parse_modetable(text: str, source: str = "mode table") -> ModeTable:
    """A :class:`ModeTable` from the text of a JSOC mode table (blank and ``#`` lines ignored)."""
    rows = []
    ncol = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if ncol is None:
            ncol = len(fields)
            if ncol < _NFIXED or (ncol - _NFIXED) % 2:
                raise ModeTableError(f"{source} line {lineno}: {ncol} columns; expected 12 + 2N "
                                     f"(84 for 36 a-coefficients, 48 for 18, 24 for 6)")
        elif len(fields) != ncol:
            raise ModeTableError(f"{source} line {lineno}: {len(fields)} columns, expected {ncol} like line 1")
        try:
            rows.append([float(f) for f in fields])
        except ValueError as exc:
            raise ModeTableError(f"{source} line {lineno}: not a number ({exc})") from None
    if not rows:
        raise ModeTableError(f"{source}: no modes")
    return ModeTable.from_array(np.array(rows), source)


def read_modetable(path: str | os.PathLike) -> ModeTable:
    """Read a mode-table file (see the module docstring for the columns)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModeTableError(f"cannot read mode table {path}: {exc.strerror}") from None
    return parse_modetable(text, str(path))


def _format_row(table: ModeTable, i: int) -> str:
    head = "%4d %3d %9.4f %9.4f %7.4f %7.4f %7.4f %7.4f %8.4f %8.4f %9.4f %8.4f" % (
        table.l[i], table.n[i], table.nu[i], table.amp[i], table.width[i], table.bg[i], table.asym[i],
        *table.err[i])
    if table.nacoeff == 0:
        return head
    coeffs = [" %10.4f" % table.a[i, 0]] + [" %#13.6g" % v for v in table.a[i, 1:]]
    errs = [" %#13.6g" % v for v in table.a_err[i]]
    return head + "".join(coeffs) + "".join(errs)


def format_modetable(table: ModeTable) -> str:
    """The JSOC text of a table (one line per row, fixed widths, trailing newline)."""
    return "".join(_format_row(table, i) + "\n" for i in range(len(table)))


def write_modetable(path: str | os.PathLike, table: ModeTable) -> None:
    """Write ``table`` to ``path`` atomically (temporary file in the same directory, fsync, rename)."""
    atomic_write(path, format_modetable(table))
