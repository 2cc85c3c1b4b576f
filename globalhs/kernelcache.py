"""Compute once, reuse everywhere: the rotation-kernel set of a solar model, cached on disk.

A kernel set holds, for every mode (l, n) of a model in a degree and frequency range, the model
frequency, the Ledoux constant and the two radial functions A, B with K_nls = A - s(s+1)/2 B
(:mod:`globalhs.science.kernels`) on the model's own radius points. It is large (about 90 MB for
Model S, l <= 300, 1-5.5 mHz, stored as float32), so it lives in a cache directory
(``$GLOBALHS_CACHE/kernels``, else ``~/.cache/globalhs/kernels``) under a name made from the
model file's SHA-256 and the solver settings; ``kernels/config.toml`` in the repository holds the
settings. Writes are atomic (temporary name, fsync, rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from globalhs.atomic import atomic_open
from globalhs.science.eigen import solve_modes
from globalhs.science.kernels import kernel_parts, ledoux
from globalhs.science.model import FgongError, SolarModel, parse_fgong

__all__ = ["KernelConfig", "KernelSet", "KernelCacheError", "cache_dir", "load_config", "kernel_set", "read_model"]

#: Bump when the stored layout or the solver's numerics change, so old cache files are not reused.
FORMAT_VERSION = 1
REPO_CONFIG = Path(__file__).resolve().parents[1] / "kernels" / "config.toml"


class KernelCacheError(RuntimeError):
    """A model file or cache file could not be used; the message names it."""


@dataclass(frozen=True)
class KernelConfig:
    """Solver settings of a kernel set (see docs/inversion.md)."""

    lmin: int = 0
    lmax: int = 300
    numin: float = 1000.0
    numax: float = 5500.0
    hk: float = 0.3
    dnu_scan: float = 20.0
    cowling: bool = False
    group: int = 24


@dataclass
class KernelSet:
    """Modes of a model with their rotation-kernel parts (A, B per unit r/R on ``x``)."""

    l: np.ndarray
    n: np.ndarray
    nu: np.ndarray
    ledoux: np.ndarray
    x: np.ndarray
    A: np.ndarray
    B: np.ndarray
    meta: dict

    def index(self, l, n) -> np.ndarray:
        """Row of each (l, n) in this set, -1 where the set has no such mode."""
        key = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(self.l, self.n))}
        return np.array([key.get((int(a), int(b)), -1) for a, b in zip(np.atleast_1d(l), np.atleast_1d(n))], dtype=int)

    def kernel(self, rows, s: int) -> np.ndarray:
        """K_nls(x) for the given rows (without the c(l, s) factor)."""
        rows = np.asarray(rows)
        return self.A[rows].astype(float) - 0.5 * s * (s + 1) * self.B[rows].astype(float)


def load_config(path: Path | None = None, name: str = "default") -> KernelConfig:
    """Settings from the ``[name]`` table of a TOML file (the repository's kernels/config.toml by default)."""
    path = Path(path) if path else REPO_CONFIG
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KernelCacheError(f"cannot read kernel configuration {path}: {exc}") from None
    if name not in table:
        raise KernelCacheError(f"kernel configuration {path} has no [{name}] table (has: {', '.join(table)})")
    fields = {k: v for k, v in table[name].items() if k in KernelConfig.__dataclass_fields__}
    unknown = set(table[name]) - set(KernelConfig.__dataclass_fields__) - {"model"}
    if unknown:
        raise KernelCacheError(f"kernel configuration [{name}] has unknown keys {sorted(unknown)}")
    return KernelConfig(**fields)


def cache_dir() -> Path:
    base = os.environ.get("GLOBALHS_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "globalhs"
    return root / "kernels"


def read_model(path: Path) -> tuple[SolarModel, str]:
    """The model and the SHA-256 of its file; KernelCacheError naming the file if it is not FGONG."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KernelCacheError(f"cannot read model file {path}: {exc.strerror}") from None
    try:
        model = parse_fgong(data.decode("ascii", errors="replace"), name=path.name)
    except FgongError as exc:
        raise KernelCacheError(f"model file {path} is not a valid FGONG model: {exc}") from None
    return model, hashlib.sha256(data).hexdigest()


def _cache_path(digest: str, config: KernelConfig) -> Path:
    tag = hashlib.sha256(json.dumps([FORMAT_VERSION, digest, asdict(config)], sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"kernels-{digest[:12]}-{tag}.npz"


def _atomic_save(path: Path, arrays: dict) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def compute(model: SolarModel, config: KernelConfig, progress=None) -> KernelSet:
    """Solve for every mode in the configured range and reduce the eigenfunctions to kernel parts."""
    ells = np.arange(config.lmin, config.lmax + 1)
    chunks = [ells[k : k + config.group] for k in range(0, len(ells), config.group)]
    parts = []
    t0 = time.perf_counter()
    for chunk in chunks:
        ms = solve_modes(
            model, chunk, config.numin, config.numax,
            cowling=config.cowling, dnu_scan=config.dnu_scan, hk=config.hk, group=config.group,
        )
        A, B = kernel_parts(ms.l, ms.xi_r, ms.xi_h, ms.rho, ms.r, ms.R)
        C = ledoux(ms.l, ms.xi_r, ms.xi_h, ms.rho, ms.r)
        parts.append((ms.l, ms.n, ms.nu, C, A.astype(np.float32), B.astype(np.float32)))
        x = ms.r / ms.R
        if progress:
            progress(int(chunk[-1]), int(ells[-1]), time.perf_counter() - t0)
    cat = [np.concatenate([p[k] for p in parts]) for k in range(6)]
    meta = {"config": asdict(config), "model": model.name, "seconds": time.perf_counter() - t0, "format": FORMAT_VERSION}
    return KernelSet(l=cat[0], n=cat[1], nu=cat[2], ledoux=cat[3], x=x, A=cat[4], B=cat[5], meta=meta)


def kernel_set(model_path: Path, config: KernelConfig | None = None, *, recompute: bool = False, progress=None) -> tuple[KernelSet, Path]:
    """The kernel set of a model file: from the cache when present, else computed and cached."""
    config = config or KernelConfig()
    model, digest = read_model(model_path)
    path = _cache_path(digest, config)
    if path.exists() and not recompute:
        try:
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                ks = KernelSet(l=z["l"], n=z["n"], nu=z["nu"], ledoux=z["ledoux"], x=z["x"], A=z["A"], B=z["B"], meta=meta)
            return ks, path
        except (OSError, KeyError, ValueError) as exc:
            raise KernelCacheError(f"kernel cache file {path} is unreadable ({exc}); delete it to recompute") from None
    ks = compute(model, config, progress)
    ks.meta["model_sha256"] = digest
    _atomic_save(path, {"l": ks.l, "n": ks.n, "nu": ks.nu, "ledoux": ks.ledoux, "x": ks.x, "A": ks.A, "B": ks.B, "meta": np.array(json.dumps(ks.meta))})
    return ks, path
