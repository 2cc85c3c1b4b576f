"""Forms of the RLS problem on real HMI data: which regularisation choices move |ours - HMI|.

For hmi.6400.36 and hmi.6328.36.72d (two 72-day sets), each inverted with the variants below, prints
the fraction of 0.6-0.98 R, latitude <= 60 deg within 3 nHz of rot2d.hmiv72d.ave and the largest
|difference|, then chi^2/N of the default inversion for each a_s (is any coefficient mis-weighted?).
Variants: the default; the latitude penalty integrated over theta instead of cos(theta); a radial
weight proportional to a power of the sound speed (smoothing length following the modes' radial
wavelength); the radial second derivative taken in acoustic radius; finer radius grids. The numbers
are quoted in docs/inversion.md (section 4 of "Measured").

    GLOBALHS_REFDATA=../shared/data PYTHONPATH=. python bench/rls_forms.py    (needs the kernel cache)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import cumulative_trapezoid

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._machine import describe_machine  # noqa: E402
from globalhs.kernelcache import kernel_set, read_model  # noqa: E402
from globalhs.modules.invert import COLAT_DEG, MODULE, build_blocks, parse_table_text, radius_grid  # noqa: E402
from globalhs.science.rls import rls_invert  # noqa: E402

REF = Path(os.environ.get("GLOBALHS_REFDATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SETS = ("hmi.6400.36", "hmi.6328.36.72d")


def main() -> None:
    print(describe_machine())
    model_path = REF / "model_s" / "fgong.l5bi.d.15c"
    ks, _ = kernel_set(model_path)
    model, _ = read_model(model_path)
    rot = np.loadtxt(REF / "rotation" / "rot2d.hmiv72d.ave")
    rr = np.loadtxt(REF / "rotation" / "rmesh.orig")[::4]
    region = ((rr >= 0.6) & (rr <= 0.98))[:, None] & (COLAT_DEG >= 30)[None, :]
    tables = {name: parse_table_text((REF / "hmi_modes" / name).read_text(), name) for name in SETS}
    defaults = {a.name: a.default for a in MODULE.args}
    mur, mut = defaults["mur"], defaults["mut"]
    x = model.r / model.R
    c = np.sqrt(model.c2)
    c07 = np.interp(0.7, x, c)
    tau = cumulative_trapezoid(1.0 / c, model.r, initial=0.0)
    tau /= tau[-1]

    def sound_weight(p):
        return lambda grid: (np.interp(grid, x, c) / c07) ** p

    variants = [("default", {}, 101)]
    variants += [(f"latitude penalty per d theta, mu_r {m:g}", {"mur": m, "latitude_measure": "theta"}, 101)
                 for m in (mur, mur / 10, mur * 10)]
    variants += [(f"radial weight (c/c(0.7R))^{p}, mu_r {m:g}", {"mur": m, "weight": p}, 101)
                 for p in (1, 2, -1) for m in (mur, mur / 3)]
    variants += [(f"radial 2nd derivative in acoustic radius, mu_r {m:g}", {"mur": m, "tau": True}, 101)
                 for m in (1e-5, 1e-6, 1e-7)]
    variants += [(f"nr = {n}", {}, n) for n in (151, 201)]
    grids, blocks = {}, {}
    print("\nvariant | " + " | ".join(f"{name}: within 3 nHz, max" for name in SETS) + " | s per inversion")
    for label, opts, nr in variants:
        if nr not in grids:
            grids[nr] = radius_grid(model, nr, float(ks.x[-1]))
            for name in SETS:
                blocks[nr, name] = build_blocks(tables[name], ks, grids[nr])[0]
        grid = grids[nr]
        kw = {}
        if "latitude_measure" in opts:
            kw["latitude_measure"] = opts["latitude_measure"]
        if "weight" in opts:
            kw["radial_weight"] = sound_weight(opts["weight"])(grid)
        if opts.get("tau"):
            kw["radial_coordinate"] = np.interp(grid, x, tau)
        cells = []
        t = time.perf_counter()
        for name in SETS:
            res = rls_invert(blocks[nr, name], grid, opts.get("mur", mur), mut, **kw)
            om = res.omega_map(COLAT_DEG)
            diff = np.stack([np.interp(rr, grid, om[:, j]) for j in range(len(COLAT_DEG))], axis=1) - rot
            cells.append(f"{np.mean(np.abs(diff[region]) < 3):.3f}, {np.abs(diff[region]).max():.1f}")
            if label == "default" and name == SETS[0]:
                default_res = res
        dt = (time.perf_counter() - t) / len(SETS)
        print(f"{label} | " + " | ".join(cells) + f" | {dt:.1f}")

    print(f"\nchi^2/N of the default inversion of {SETS[0]} per a_s (mean normalised residual):")
    grid = grids[101]
    for j, s in enumerate(default_res.s_list):
        G, a, e = blocks[101, SETS[0]][s]
        z = (G @ default_res.omega_s[:, j] - a) / e
        print(f"  a{s}: N={len(z)} chi2/N {np.mean(z**2):.2f} mean z {z.mean():+.2f}")


if __name__ == "__main__":
    main()
