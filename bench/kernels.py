"""Eigenmodes + rotation kernels: time for a block of degrees, and the elementwise-numpy limit it runs at.

The shooting solver spends its time in numpy elementwise operations on small arrays (one RK4 step of
a batch = ~160 operations on arrays of shape (order, nsol, degrees, frequencies)). The reference
throughput is the same operation (a*x + y) on arrays of the same shape, measured in this run; the
ratio says how close the solver is to what numpy can do on this machine at this load.

    PYTHONPATH=. python bench/kernels.py [lmin lmax]    (default 100 123: one 24-degree group)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._machine import best_of, describe_machine  # noqa: E402
from globalhs.science.eigen import solve_modes  # noqa: E402
from globalhs.science.kernels import kernel_parts  # noqa: E402
from globalhs.science.model import parse_fgong  # noqa: E402

REF = Path(os.environ.get("GLOBALHS_REFDATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    lmin, lmax = (int(v) for v in sys.argv[1:3]) if len(sys.argv) > 2 else (100, 123)
    model = parse_fgong((REF / "model_s" / "fgong.l5bi.d.15c").read_text())
    print(describe_machine())
    c0, t0 = time.process_time(), time.perf_counter()
    ms = solve_modes(model, range(lmin, lmax + 1), 1000.0, 5500.0, group=24)
    kernel_parts(ms.l, ms.xi_r, ms.xi_h, ms.rho, ms.r, ms.R)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"degrees {lmin}-{lmax}: {len(ms)} modes in {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({len(ms) / wall:.2f} modes/s wall)")
    # reference: a*x + y on the batch shape of the bracketing scan of one group (4, 2, 24, 226)
    shape = (4, 2, lmax - lmin + 1, 226)
    a, x, y = 1.0001, np.random.rand(*shape), np.random.rand(*shape)
    n = 2000
    t_op = best_of(lambda: [a * x + y for _ in range(n)]) / (2 * n)
    print(f"numpy elementwise op on {shape}: {t_op * 1e6:.1f} us each")
    # the scan does ~160 such ops per RK step; steps per group ~ 2500-4500 (printed by the solver mesh)
    from globalhs.science.eigen import _Coefficients, _Mesh, _local_rate  # noqa: E402

    co = _Coefficients(model)
    rate = _local_rate(co, np.array([lmin, lmax]), [(2 * np.pi * f * 1e-6 / co.omega_scale) ** 2 for f in (1000, 5500)], 4)
    xt = co.turning_point(lmin, 2 * np.pi * 5500e-6)
    mesh = _Mesh(co, max(co.x[0], xt * min(0.5, 10 ** (-6.0 / lmin))), rate, 0.3)
    scan_limit = 160 * len(mesh.h) * t_op
    print(f"mesh steps: {len(mesh.h)}; one scan sweep at the numpy limit: {scan_limit:.2f} s")
    print(f"whole block / one scan sweep at the limit = {wall / scan_limit:.1f} sweeps-equivalent "
          "(scan + ~10 root-refinement sweeps on fewer trials + eigenfunction pass)")


if __name__ == "__main__":
    main()
