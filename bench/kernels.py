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
    # reference: a*x + y on the batch shape of the bracketing scan of one group: (4, 2, degrees, 226 frequencies)
    from globalhs.science.eigen import _Coefficients, _Mesh, _System, _integrate, _local_rate  # noqa: E402

    G = lmax - lmin + 1
    shape = (4, 2, G, 226)
    a, x, y = 1.0001, np.random.rand(*shape), np.random.rand(*shape)
    n = 200
    t_op = best_of(lambda: [a * x + y for _ in range(n)]) / (2 * n)
    co = _Coefficients(model)
    to_w2 = lambda f: (2 * np.pi * f * 1e-6 / co.omega_scale) ** 2  # noqa: E731
    rate = _local_rate(co, np.array([lmin, lmax]), [to_w2(1000.0), to_w2(5500.0)], 4)
    xt = co.turning_point(lmin, 2 * np.pi * 5500e-6)
    mesh = _Mesh(co, max(co.x[0], xt * min(0.5, 10 ** (-6.0 / lmin))), rate, 0.3)
    w2 = np.broadcast_to(to_w2(np.linspace(1000, 5500, 226))[None, :], (G, 226)).copy()
    system = _System(np.arange(lmin, lmax + 1), w2, 4, False)
    t = time.perf_counter()
    _integrate(mesh, system)
    t_scan = time.perf_counter() - t
    # one RK4 step = 4 right-hand sides (~25 ops on one component, a quarter of the batch) + ~12 whole-batch ops
    limit = (4 * 25 / 4 + 12) * t_op * len(mesh.h)
    print(f"numpy a*x+y on {shape}: {t_op * 1e6:.0f} us (per element {t_op / np.prod(shape) * 1e9:.2f} ns)")
    print(f"one bracketing sweep ({G} degrees x 226 frequencies, {len(mesh.h)} RK4 steps): {t_scan:.2f} s; "
          f"elementwise-op limit {limit:.2f} s; ratio {t_scan / limit:.2f}")
    print(f"whole block = {wall / t_scan:.1f} bracketing sweeps (root refinement and eigenfunction pass work on "
          "one trial per mode)")


if __name__ == "__main__":
    main()
