"""Shared bench helpers: machine load, BLAS configuration, and reference throughputs measured in-run."""

from __future__ import annotations

import os
import time

import numpy as np


def describe_machine() -> str:
    load = os.getloadavg()
    lines = [f"cpus: {os.cpu_count()}, load average (1/5/15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(f"threadpool: {pool.get('internal_api')} {pool.get('version')} threads={pool.get('num_threads')}")
    except ImportError:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        lines.append(f"BLAS: {blas.get('name')} {blas.get('version')} (threadpoolctl not installed)")
    return "\n".join(lines)


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best
