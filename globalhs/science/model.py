"""Stellar models in the FGONG format (Model S) and the dimensionless coefficients of the oscillation equations.

The FGONG layout (Christensen-Dalsgaard, "File format for GONG solar model project"): four lines of
text, ``nn iconst ivar ivers`` (4i10), then ``iconst`` global values and ``ivar`` values for each of
the ``nn`` mesh points, five per line. Real fields are fixed width (16 characters, 27 = x,e26.18e3 when
``ivers >= 1000``) and negative numbers touch each other, so the text must be cut by column, never
split on white space. See docs/inversion.md and SCIENCE.md §1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["G_CGS", "FgongError", "SolarModel", "parse_fgong"]

#: Gravitational constant (cgs) that makes Model S's G M equal the solar G M (SCIENCE.md §1).
G_CGS = 6.67232e-8


class FgongError(ValueError):
    """The text is not an FGONG file; the message says which line or field was wrong."""


def _fixed_width_floats(lines: list[str], width: int, count: int, first_line: int) -> np.ndarray:
    """``count`` reals read ``width`` characters at a time from ``lines`` (FORTRAN E format)."""
    fields: list[str] = []
    for offset, line in enumerate(lines):
        text = line.rstrip("\n").rstrip()
        for start in range(0, len(text), width):
            fields.append(text[start : start + width])
        if len(fields) >= count:
            break
    else:
        offset = len(lines)
    if len(fields) < count:
        raise FgongError(f"FGONG data end early: expected {count} values after line {first_line}, found {len(fields)}")
    try:
        values = np.array([float(f.replace("D", "E").replace("d", "e")) for f in fields[:count]])
    except ValueError as exc:
        raise FgongError(f"FGONG value not a number near line {first_line + offset}: {exc}") from None
    return values


@dataclass(frozen=True)
class SolarModel:
    """A spherical equilibrium model, ordered centre -> surface (cgs units).

    ``glob`` and ``var`` keep every FGONG column (``var[:, k]`` is the spec's column k+1), so nothing
    the file holds is lost; the named attributes are the ones the oscillation equations need.
    """

    M: float
    R: float
    r: np.ndarray
    m: np.ndarray
    p: np.ndarray
    rho: np.ndarray
    gamma1: np.ndarray
    A: np.ndarray
    glob: np.ndarray
    var: np.ndarray
    G: float = G_CGS
    name: str = ""

    @property
    def x(self) -> np.ndarray:
        """Fractional radius r/R (R the photospheric radius, so the top point is slightly above 1)."""
        return self.r / self.R

    @property
    def c2(self) -> np.ndarray:
        """Adiabatic sound speed squared Gamma1 p / rho."""
        return self.gamma1 * self.p / self.rho

    def dimensionless(self) -> dict[str, np.ndarray]:
        """GYRE/Dziembowski coefficients V/Gamma1, U, c1, As on the points with r > 0.

        V = G m rho/(p r), U = 4 pi rho r^3/m, c1 = x^3 M/m, As = A (SCIENCE.md §1). The centre point
        (r = 0, where V, U and c1 are limits) is dropped: integrations start off centre.
        """
        keep = self.r > 1e-12 * self.R
        r, m, p, rho = self.r[keep], self.m[keep], self.p[keep], self.rho[keep]
        x = r / self.R
        return {
            "x": x,
            "Vg": self.G * m * rho / (p * r) / self.gamma1[keep],
            "U": 4.0 * np.pi * rho * r**3 / m,
            "c1": x**3 * self.M / m,
            "As": self.A[keep],
            "rho": rho,
            "r": r,
        }

    def omega_scale(self) -> float:
        """sqrt(G M / R^3) in rad/s: the unit of the dimensionless frequency omega~."""
        return float(np.sqrt(self.G * self.M / self.R**3))


def parse_fgong(text: str, name: str = "", G: float = G_CGS) -> SolarModel:
    """Read an FGONG file's text into a :class:`SolarModel` (centre -> surface).

    Raises :class:`FgongError` naming the line when the header or a number is malformed, or when the
    model has non-positive pressure or density (not a stellar model).
    """
    lines = text.splitlines()
    if len(lines) < 6:
        raise FgongError(f"FGONG text too short ({len(lines)} lines): expected 4 comment lines, a header and data")
    try:
        nn, iconst, ivar, ivers = (int(v) for v in lines[4].split()[:4])
    except ValueError:
        raise FgongError(f"FGONG line 5 must be 'nn iconst ivar ivers' (4i10), got {lines[4]!r}") from None
    if nn < 10 or iconst < 2 or ivar < 15:
        raise FgongError(f"FGONG header nn={nn} iconst={iconst} ivar={ivar}: expected nn>=10, iconst>=2, ivar>=15")
    width = 27 if ivers >= 1000 else 16
    per_line = 5
    glob_lines = -(-iconst // per_line)
    glob = _fixed_width_floats(lines[5 : 5 + glob_lines], width, iconst, 6)
    var = _fixed_width_floats(lines[5 + glob_lines :], width, nn * ivar, 6 + glob_lines).reshape(nn, ivar)
    if var[0, 0] > var[-1, 0]:  # files run surface -> centre; we want centre -> surface
        var = var[::-1].copy()
    M, R = glob[0], glob[1]
    r, lnq, p, rho = var[:, 0], var[:, 1], var[:, 3], var[:, 4]
    if np.any(p <= 0) or np.any(rho <= 0):
        raise FgongError("FGONG model has non-positive pressure or density: not a stellar model")
    if np.any(np.diff(r) <= 0):
        raise FgongError("FGONG radius column is not strictly monotonic")
    m = M * np.exp(lnq)
    return SolarModel(M=M, R=R, r=r, m=m, p=p, rho=rho, gamma1=var[:, 9], A=var[:, 14], glob=glob, var=var, G=G, name=name)
