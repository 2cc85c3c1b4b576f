"""Where a synthetic observation's truth lives: next to its records in the store.

``<store>/truth/<series>/modes.txt`` is the mode table the Sun was made from (the multiplets actually
synthesised, JSOC mode-table format) and ``synth.json`` the parameters of every span written into the
series (start, length, seed, instrument settings), so a report can compare a run's results with what
went in. One series holds one synthetic Sun: writing a different mode set into it is refused.

``guess.txt`` beside them is the starting table for peakbagging the synthetic data (the synth label's
pkbgn template reads ``$GLOBALHS_STORE/truth/synth.V/guess.txt``): an *earlier* fit (by default the HMI
table 72 days before the default truth), restricted to the multiplets the synthetic Sun has, with the
height and background columns zeroed so that the fits take them from the spectra (a table's heights
are in its own pipeline's power units, not ours).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from globalhs.atomic import atomic_open, atomic_write
from globalhs.science.modetable import ModeTable, format_modetable, read_modetable

__all__ = ["Truth", "TruthError", "Rotation", "truth_dir", "load_truth", "record_truth", "read_rot2d",
           "record_rotation", "starting_guesses", "record_guesses"]


class TruthError(ValueError):
    """The truth of a series disagrees with what is being written, or cannot be read."""


@dataclass(frozen=True)
class Rotation:
    """A rotation rate Omega(r, colatitude)/2pi in nHz: ``omega[i, j]`` at ``radius[i]`` (r/R) and
    ``colatitude[j]`` (degrees), with where it came from."""

    radius: np.ndarray
    colatitude: np.ndarray
    omega: np.ndarray
    label: str


@dataclass(frozen=True)
class Truth:
    """The mode table and the parameters of a synthetic series, and the rotation given with it."""

    modes: ModeTable
    parameters: dict
    directory: Path
    rotation: Rotation | None = None

    @property
    def spans(self) -> list[dict]:
        return self.parameters.get("spans", [])


def truth_dir(store_root: str | os.PathLike, series: str) -> Path:
    """Directory of the truth of ``series`` in the store rooted at ``store_root``."""
    return Path(store_root) / "truth" / series


def load_truth(store_root: str | os.PathLike, series: str) -> Truth | None:
    """The truth of ``series``, or None if the series is not synthetic (real data has none)."""
    directory = truth_dir(store_root, series)
    modes, params = directory / "modes.txt", directory / "synth.json"
    if not modes.exists():
        return None
    try:
        parameters = json.loads(params.read_text()) if params.exists() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise TruthError(f"cannot read {params}: {exc}") from None
    rotation = None
    if (directory / "rotation.npz").exists():
        with np.load(directory / "rotation.npz") as z:
            rotation = Rotation(z["radius"], z["colatitude"], z["omega"], str(z["label"]))
    return Truth(read_modetable(modes), parameters, directory, rotation)


def record_truth(store_root: str | os.PathLike, series: str, modes: ModeTable, span: dict, *,
                 replace: bool = False) -> Truth:
    """Write (or extend) the truth of ``series`` with the modes used and one more ``span``.

    A different mode table or different synthesis settings (``span["model"]``) for a series that
    already has a truth is an error unless ``replace`` (then the old truth is dropped).
    """
    directory = truth_dir(store_root, series)
    directory.mkdir(parents=True, exist_ok=True)
    text = format_modetable(modes)
    existing = load_truth(store_root, series)
    spans: list[dict] = []
    if existing is not None and not replace:
        if format_modetable(existing.modes) != text:
            raise TruthError(
                f"series {series} already holds a synthetic Sun made from a different mode set "
                f"({directory / 'modes.txt'}); write to another series (--series) or pass --replace"
            )
        old_model = existing.spans[0].get("model") if existing.spans else None
        if old_model is not None and old_model != span.get("model"):
            raise TruthError(
                f"series {series} was synthesised with different settings {old_model}; "
                f"write to another series (--series) or pass --replace"
            )
        spans = [s for s in existing.spans if (s.get("start"), s.get("total")) != (span.get("start"), span.get("total"))]
    spans.append(span)
    atomic_write(directory / "modes.txt", text)
    atomic_write(directory / "synth.json", json.dumps({"series": series, "spans": spans}, indent=1, sort_keys=True))
    return Truth(modes, {"series": series, "spans": spans}, directory)


def read_rot2d(path: str | os.PathLike, rmesh: str | os.PathLike, *, rows_step: int = 4,
               colat_step: float = 1.875) -> Rotation:
    """A JSOC 2D rotation file (rows = radii ``rmesh[rows_step * i]``, columns = colatitudes
    ``j * colat_step`` degrees from the pole to the equator, nHz), e.g. ``rot2d.hmiv72d.ave``."""
    try:
        omega = np.loadtxt(path, ndmin=2)
        mesh = np.loadtxt(rmesh).ravel()
    except (OSError, ValueError) as exc:
        raise TruthError(f"cannot read the rotation {path} with radius mesh {rmesh}: {exc}") from None
    radius = mesh[::rows_step][: omega.shape[0]]
    if radius.size != omega.shape[0]:
        raise TruthError(f"{path}: {omega.shape[0]} rows but the mesh {rmesh} gives {radius.size} radii "
                         f"at every {rows_step}th point")
    return Rotation(radius, np.arange(omega.shape[1]) * colat_step, omega, Path(path).name)


def record_rotation(store_root: str | os.PathLike, series: str, rotation: Rotation) -> Path:
    """Store ``rotation`` as the rotation given with the synthetic series (``rotation.npz``)."""
    directory = truth_dir(store_root, series)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "rotation.npz"
    with atomic_open(path, "wb") as fh:
        np.savez(fh, radius=rotation.radius, colatitude=rotation.colatitude, omega=rotation.omega,
                 label=np.array(rotation.label))
    return path


def starting_guesses(earlier: ModeTable, truth: ModeTable) -> ModeTable:
    """``earlier``'s rows for the (n, l) the truth has, heights and backgrounds zeroed; the truth's own
    rows (zeroed likewise) for multiplets ``earlier`` lacks."""
    rows, missing = [], []
    for j, (n, l) in enumerate(zip(truth.n, truth.l)):
        i = earlier.find(n, l)
        (rows.append(i) if i is not None else missing.append(j))
    parts = [earlier.select(np.array(rows, dtype=int))] if rows else []
    if missing:
        parts.append(truth.select(np.array(missing, dtype=int)).with_nacoeff(earlier.nacoeff))
    guesses = ModeTable.concatenate(parts).sorted()
    guesses.amp[:] = 0.0
    guesses.bg[:] = 0.0
    return guesses


def record_guesses(store_root: str | os.PathLike, series: str, guesses: ModeTable) -> Path:
    """Write the peakbagging starting table of ``series`` (``guess.txt``)."""
    directory = truth_dir(store_root, series)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / "guess.txt", format_modetable(guesses))
    return directory / "guess.txt"
