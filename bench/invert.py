"""2D RLS inversion of a real HMI mode table: wall time per stage, and the dense-LAPACK limit.

The solve is dominated by the Cholesky factorisation and the explicit inverse of the (n_s * n_r)^2
normal matrix (needed for the errors). The reference is scipy's cho_factor + cho_solve(identity)
on a random SPD matrix of the same size, timed in this run.

    PYTHONPATH=. python bench/invert.py [nr]      (needs the Model S kernel cache: globalhs kernels)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.linalg import cho_factor, cho_solve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._machine import best_of, describe_machine  # noqa: E402
from globalhs.kernelcache import kernel_set, read_model  # noqa: E402
from globalhs.modules.invert import COLAT_DEG, MODULE, build_blocks, parse_table_text, radius_grid  # noqa: E402
from globalhs.science.rls import rls_invert  # noqa: E402

REF = Path(os.environ.get("GLOBALHS_REFDATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    nr = int(sys.argv[1]) if len(sys.argv) > 1 else 101
    defaults = {a.name: a.default for a in MODULE.args}
    print(describe_machine())
    model_path = REF / "model_s" / "fgong.l5bi.d.15c"
    t = time.perf_counter()
    ks, path = kernel_set(model_path)
    model, _ = read_model(model_path)
    t_load = time.perf_counter() - t
    modes = parse_table_text((REF / "hmi_modes" / "hmi.6400.36").read_text(), "hmi.6400.36")
    t = time.perf_counter()
    grid = radius_grid(model, nr, float(ks.x[-1]))
    blocks, summary = build_blocks(modes, ks, grid)
    t_blocks = time.perf_counter() - t
    t = time.perf_counter()
    res = rls_invert(blocks, grid, defaults["mur"], defaults["mut"])
    res.omega_map(COLAT_DEG), res.error_map(COLAT_DEG)
    t_solve = time.perf_counter() - t
    n = len(res.s_list) * nr
    A = np.random.rand(n, n)
    A = A @ A.T + n * np.eye(n)
    t_ref = best_of(lambda: cho_solve(cho_factor(A), np.eye(n)), repeat=2)
    print(f"kernel cache load: {t_load:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
    print(f"design matrices ({summary['modes_used']} modes, {res.ndata} a-coefficients, {n} unknowns): {t_blocks:.1f} s")
    print(f"RLS solve + errors: {t_solve:.1f} s; Cholesky+inverse of {n}x{n} alone: {t_ref:.1f} s "
          f"(ratio {t_solve / t_ref:.2f})")
    print(f"total {t_load + t_blocks + t_solve:.1f} s")


if __name__ == "__main__":
    main()
