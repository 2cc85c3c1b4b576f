"""The report's figures, each a pure function of arrays that writes one PNG.

Uses ``matplotlib.figure.Figure`` directly (no pyplot state, no GUI backend), so figures can be made
from any process or thread. Every function returns the path it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from globalhs.report.compare import Comparison

__all__ = ["JobRecord", "lnu_diagram", "frequency_residuals", "acoeff_panels", "rotation_maps", "window_figure",
           "timeline_figure"]

_DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=_DPI, format="png")
    tmp.replace(path)
    return path


def lnu_diagram(power: np.ndarray, ls: np.ndarray, freq_uhz: np.ndarray, path: Path,
                truth: tuple[np.ndarray, np.ndarray] | None = None, numax: float | None = None) -> Path:
    """l-nu power diagram: ``power[i, k]`` (summed over m) at degree ``ls[i]``, frequency ``freq_uhz[k]``.

    Shown on a log scale normalised per l (so that every l is visible); ``truth`` = (l, nu) marks the
    true multiplet frequencies.
    """
    power = np.asarray(power, dtype=float)
    norm = power / np.maximum(np.nanmedian(power, axis=1, keepdims=True), np.finfo(float).tiny)
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot()
    top = numax if numax is not None else float(freq_uhz.max())
    sel = freq_uhz <= top
    extent = (ls.min() - 0.5, ls.max() + 0.5, freq_uhz[sel].min(), freq_uhz[sel].max())
    img = ax.imshow(np.log10(np.maximum(norm[:, sel].T, 1e-3)), origin="lower", aspect="auto", extent=extent,
                    cmap="magma", vmin=-0.5, vmax=max(1.0, float(np.nanpercentile(np.log10(norm[:, sel] + 1e-3), 99.9))))
    if truth is not None:
        tl, tnu = truth
        ax.plot(tl, tnu, "o", ms=2.5, mfc="none", mec="cyan", mew=0.6, label="true multiplets")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("degree l")
    ax.set_ylabel("frequency (uHz)")
    ax.set_title("power summed over m (log, normalised per l)")
    fig.colorbar(img, ax=ax, label="log10 power / median")
    fig.tight_layout()
    return _save(fig, path)


def frequency_residuals(comp: Comparison, path: Path) -> Path:
    """Fitted minus true mean frequency in units of sigma, against l (colour: frequency) and as a histogram."""
    res = comp.nu_residual
    good = np.isfinite(res)
    fig = Figure(figsize=(8.5, 3.6))
    ax, hx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    sc = ax.scatter(comp.l[good], np.clip(res[good], -10, 10), c=comp.nu_true[good], s=10, cmap="viridis")
    for k in (-2, 2):
        ax.axhline(k, color="0.6", lw=0.8, ls="--")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("degree l")
    ax.set_ylabel("(nu fit - nu true) / sigma (clipped at 10)")
    fig.colorbar(sc, ax=ax, label="nu (uHz)")
    if good.any():
        bins = np.linspace(-5, 5, 41)
        hx.hist(np.clip(res[good], -5, 5), bins=bins, density=True, color="C0", alpha=0.7, label="fits")
        x = np.linspace(-5, 5, 200)
        hx.plot(x, np.exp(-x**2 / 2) / np.sqrt(2 * np.pi), "k", lw=1, label="unit normal")
        hx.legend(fontsize=8)
    hx.set_xlabel("residual / sigma (clipped at 5)")
    hx.set_title(f"{good.sum()} multiplets, {np.mean(np.abs(res[good]) <= 2) if good.any() else 0:.0%} within 2 sigma",
                 fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def acoeff_panels(comp: Comparison, path: Path, which: Sequence[int] = (1, 3)) -> Path:
    """a_i against l (fits with error bars, truth as dots), one panel per i in ``which``."""
    fig = Figure(figsize=(4.2 * len(which), 3.6))
    for k, i in enumerate(which, 1):
        ax = fig.add_subplot(1, len(which), k)
        if i <= comp.a_fit.shape[1]:
            sigma = comp.a_sigma[:, i - 1]
            ok = np.isfinite(sigma) & (sigma > 0) & (sigma < 1000) & (comp.l >= (i + 1) // 2)
            ax.errorbar(comp.l[ok], comp.a_fit[ok, i - 1], yerr=sigma[ok], fmt="o", ms=2.5, lw=0.6,
                        color="C0", label="fitted")
            has = comp.l >= (i + 1) // 2
            ax.plot(comp.l[has], comp.a_true[has, i - 1], "_", ms=8, mew=1.5, color="C3", label="truth", zorder=3)
            values = np.concatenate([comp.a_fit[ok, i - 1], comp.a_true[has, i - 1]])
            if values.size:
                # Robust limits: a few runaway fits must not flatten the panel (they are counted below).
                lo, hi = np.percentile(values, [3, 97])
                pad = 0.3 * (hi - lo) + 1.0
                ax.set_ylim(lo - pad, hi + pad)
                outside = np.sum((comp.a_fit[ok, i - 1] < lo - pad) | (comp.a_fit[ok, i - 1] > hi + pad))
                if outside:
                    ax.set_title(f"{outside} fit(s) off the scale", fontsize=8)
        ax.set_xlabel("degree l")
        ax.set_ylabel(f"a{i} (nHz)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def rotation_maps(radius: np.ndarray, colatitude_deg: np.ndarray, omega_nhz: np.ndarray, path: Path,
                  reference: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                  reference_label: str = "truth") -> Path:
    """Inverted rotation rate Omega(r, colatitude) (nHz) as a quarter-disk map, beside a reference.

    ``omega_nhz[i, j]`` at ``radius[i]`` (r/R) and ``colatitude_deg[j]``; ``reference`` is
    (radius, colatitude, omega) in the same form.
    """
    maps = [("inverted", radius, colatitude_deg, omega_nhz)]
    if reference is not None:
        maps.append((reference_label, *reference))
    fig = Figure(figsize=(4.0 * len(maps) + 0.8, 4.2))
    # Colours from the well-resolved outer half (the core is barely constrained by the modes).
    outer = [m[3][np.asarray(m[1]) >= 0.5] for m in maps]
    vmin = min(np.nanpercentile(o, 1) for o in outer if o.size)
    vmax = max(np.nanpercentile(o, 99) for o in outer if o.size)
    for k, (title, r, colat, om) in enumerate(maps, 1):
        ax = fig.add_subplot(1, len(maps), k)
        th = np.deg2rad(colat)
        R, TH = np.meshgrid(r, th, indexing="ij")
        pc = ax.pcolormesh(R * np.sin(TH), R * np.cos(TH), np.clip(om, vmin, vmax), shading="gouraud",
                           cmap="RdYlBu_r", vmin=vmin, vmax=vmax)
        ax.contour(R * np.sin(TH), R * np.cos(TH), om, levels=np.arange(300, 500, 10), colors="k", linewidths=0.4)
        ax.set_aspect("equal")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.set_xlabel("r/R (equator)")
    fig.colorbar(pc, ax=fig.axes, label="Omega / 2 pi (nHz)")
    return _save(fig, path)


def window_figure(t_days: np.ndarray, window: np.ndarray, path: Path) -> Path:
    """The window (1 good, 0 bad) against time, with the duty cycle per day."""
    window = np.asarray(window, dtype=float)
    fig = Figure(figsize=(8.5, 2.8))
    ax = fig.add_subplot()
    ax.fill_between(t_days, 0, window, step="mid", color="C0", lw=0, alpha=0.5, label="window")
    day = np.floor(t_days - t_days.min()).astype(int)
    per_day = np.bincount(day, window) / np.maximum(np.bincount(day), 1)
    ax.step(t_days.min() + np.arange(per_day.size) + 0.5, per_day, where="mid", color="C3", label="daily duty cycle")
    ax.set_ylim(-0.02, 1.08)
    ax.set_xlabel("time (MDI day)")
    ax.set_title(f"duty cycle {window.mean():.3f} over {t_days.max() - t_days.min():.2f} days", fontsize=9)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


@dataclass(frozen=True)
class JobRecord:
    """One job of a run as the driver's ledger records it (times in seconds, any common origin)."""

    step: str
    index: str
    submitted: float
    started: float | None
    finished: float | None
    attempts: int = 1
    state: str = "done"


def timeline_figure(jobs: Sequence[JobRecord], path: Path, step_order: Sequence[str] = ()) -> Path:
    """Gantt chart of the jobs, one row per job grouped by step: queue wait light, run time dark,
    retried jobs outlined in red."""
    order = list(step_order) + sorted({j.step for j in jobs} - set(step_order))
    steps = [s for s in order if any(j.step == s for j in jobs)]
    t0 = min((j.submitted for j in jobs), default=0.0)
    fig = Figure(figsize=(8.5, 0.6 + 0.16 * max(len(jobs), 8)))
    ax = fig.add_subplot()
    y, ticks, labels = 0, [], []
    for k, step in enumerate(steps):
        mine = [j for j in jobs if j.step == step]
        ticks.append(y + (len(mine) - 1) / 2)
        labels.append(f"{step} ({len(mine)})")
        for j in mine:
            if j.started is None and j.finished is not None:   # queue wait not recorded: one bar
                ax.barh(y, j.finished - j.submitted, left=j.submitted - t0, color=f"C{k % 10}", alpha=0.65,
                        height=0.8, edgecolor="red" if j.attempts > 1 else "none", lw=1.2)
            elif j.started is not None:
                ax.barh(y, j.started - j.submitted, left=j.submitted - t0, color=f"C{k % 10}", alpha=0.3, height=0.8)
            if j.started is not None and j.finished is not None:
                ax.barh(y, j.finished - j.started, left=j.started - t0, color=f"C{k % 10}", height=0.8,
                        edgecolor="red" if j.attempts > 1 else "none", lw=1.2)
            y += 1
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.invert_yaxis()
    recorded = any(j.started is not None for j in jobs)
    ax.set_xlabel("seconds since the first submission ("
                  + ("light: queued, dark: running" if recorded else "submission to finish; queue wait not recorded")
                  + ", red edge: retried)")
    fig.tight_layout()
    return _save(fig, path)
