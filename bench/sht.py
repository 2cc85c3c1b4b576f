"""Benchmark of jv2ts on MDI-vw-shaped images: the whole module and its parts, against numpy GEMM.

Synthetic 192x192 int16 Dopplergrams (MDI vw geometry, B0 drifting at 0.125 deg/day, sub-pixel
centre jitter) are stored in a private store, then jv2ts runs with the mdivw72d remap (MAPMMAX=600,
SINBDIVS=200, LMAX=300, TCHUNK=6h). Printed: maps/s of the module (read, remap, SHT, write) and of
each part measured alone, the time numpy's matmul takes for the same projection matrices (the
machine limit of the projection), ducc0's arbitrary-latitude adjoint synthesis on the same maps
(checked against ours), shtns on a Gauss grid of the same size (not the same quadrature: for scale
only), the BLAS configuration and the load average. Last line:
``maps_per_s=<N> gemm_ratio=<module time per map / GEMM-only time per map>``.

Usage: ``python bench/sht.py [--quick] [--images N]`` (``--quick``: one 6 h chunk, < 1 minute).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

V2T = ["MAPMMAX=600", "SINBDIVS=200", "VCORLEV=1", "LGSHIFT=1", "DATASIGN=-1", "MAPLGMIN=-89.0",
       "MAPLGMAX=89.0", "MAPBMAX=89.0", "MAPRMAX=0.95", "APODIZE=1", "APINNER=0.83", "APWIDTH=0.04",
       "PERR=-0.2", "IERR=-0.1", "DISTORT=2", "LMIN=0", "LMAX=300", "LCHUNK=40", "TCHUNK=6h"]


def blas_summary() -> str:
    try:
        from threadpoolctl import threadpool_info

        return "; ".join(f"{i['internal_api']} {i.get('version')} threads={i['num_threads']}" for i in threadpool_info())
    except ImportError:
        config = np.show_config(mode="dicts") if "mode" in np.show_config.__code__.co_varnames else {}
        blas = config.get("Build Dependencies", {}).get("blas", {}) if config else {}
        return f"{blas.get('name', '?')} {blas.get('version', '')} (threadpoolctl absent)"


def make_images(n: int, t0: float):
    """n vw-like images (int16 m/s) with realistic slow geometry drift, and their keywords."""
    from globalhs.science.remap import Geometry
    from globalhs.science.render import render_alm

    rng = np.random.default_rng(0)
    lmax = 150
    alm = (rng.normal(size=(lmax + 1) * (lmax + 2) // 2) + 1j * rng.normal(size=(lmax + 1) * (lmax + 2) // 2)) * 30
    alm[: lmax + 1] = alm[: lmax + 1].real
    from globalhs.science.remap import CARRINGTON_SYNODIC_DEG_PER_DAY
    from globalhs.time import parse_time

    # L0 on the LGSHIFT=1 fixed-rate frame (REF_T0 default, REF_L0 = 0) plus 0.3 deg
    frame_l0 = lambda t: (0.3 - CARRINGTON_SYNODIC_DEG_PER_DAY * (t - parse_time("1987.01.03_17:31:12_TAI")) / 86400) % 360
    g0 = Geometry(95.6, 95.3, 88.4, -6.0, 0.0, 696e6 / 1.48e11, l0=frame_l0(t0), t=t0)
    base = render_alm(alm, lmax, (192, 192), g0, surface=True, obs_v=(400.0, 29000.0, 1500.0), fill=np.nan)
    images, keywords = [], []
    for i in range(n):
        t = t0 + 60.0 * i
        img = base + rng.normal(scale=20.0, size=base.shape)
        images.append(np.round(-img).astype(np.float32))  # DATASIGN=-1 as MDI vw; NaN off the disk (BLANK)
        keywords.append({"T_REC": t, "T_OBS": t, "X0": g0.x0 + 0.002 * np.sin(i / 50), "Y0": g0.y0,
                         "RSUN_PIX": g0.rsun_pix, "B0": g0.b0 + 0.125 * i / 1440, "P": 0.0,
                         "L0": frame_l0(t), "DSUN": 1.48e11, "OBS_VR": 400.0,
                         "OBS_VW": 29000.0, "OBS_VN": 1500.0, "DATASIGN": -1, "QUALITY": 0, "MISSVALS": 0})
    return images, keywords


def timed(fn, *args, repeat: int = 1, **kwargs):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 6 h chunk (360 images), under a minute")
    parser.add_argument("--images", type=int, default=None, help="number of 1-minute images (a multiple of 360)")
    opts = parser.parse_args()
    n = opts.images or (360 if opts.quick else 1440)
    if n % 360:
        parser.error("--images must be a multiple of 360 (TCHUNK=6h at 60 s)")
    os.environ["GLOBALHS_STORE"] = tempfile.mkdtemp(prefix="bench-sht-")
    os.environ.pop("GLOBALHS_STAGE", None)

    from globalhs.drms import open_store
    from globalhs.drms.builtin import mdi_vw_V
    from globalhs.modules.jv2ts import MODULE, Setup
    from globalhs.science.remap import Geometry, Remapper
    from globalhs.science.sht import SHT
    from globalhs.time import format_time, parse_time_or_day

    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    print(f"BLAS: {blas_summary()}")
    t0 = parse_time_or_day("6400d")
    t_make, (images, keywords) = timed(make_images, n, t0)
    store = open_store()
    store.ensure_series(mdi_vw_V())
    t_ingest = time.perf_counter()
    with store.writer() as w:
        for img, kw in zip(images, keywords):
            w.add("mdi.vw_V", kw, {"V": img})
    t_ingest = time.perf_counter() - t_ingest
    print(f"setup: {n} images rendered in {t_make:.1f} s, stored in {t_ingest:.1f} s")

    ttotal = f"{n // 1440}d" if n % 1440 == 0 else f"{n // 60}h"
    argv = [f"in=mdi.vw_V[{format_time(t0, 'TAI')}/{ttotal}]", "tsout=mdi.vw_V_sht", f"TTOTAL={ttotal}",
            f"TSTART={format_time(t0, 'TAI')}"] + V2T
    import contextlib
    import io

    # the whole module; without --quick both projection backends, interleaved, best of two each
    libs = ("ducc0",) if opts.quick else ("ducc0", "gemm", "ducc0", "gemm")
    module_times: dict[str, float] = {}
    for lib in libs:
        with contextlib.redirect_stdout(io.StringIO()):
            t, status = timed(MODULE, argv + [f"SHTLIB={lib}"])
        if status != 0:
            raise SystemExit(f"jv2ts failed (SHTLIB={lib})")
        module_times[lib] = min(t, module_times.get(lib, np.inf))
    default_lib = MODULE.parse(argv)["SHTLIB"]
    t_module = module_times[default_lib]
    module_rate = n / t_module

    # parts, measured alone on the same data
    args = MODULE.parse(argv)
    setup = Setup(args)
    recs = store.query(args["in"])
    batch = 64
    t_read, imgs = timed(lambda: [r.read() for r in recs[:batch]])
    geoms = [Geometry.from_keywords(r.keywords) for r in recs[:batch]]
    remapper = Remapper(setup.params, geomtol=args["GEOMTOL"])
    t_plan, plan = timed(remapper.plan_for, geoms[0], imgs[0].shape)
    t_jac, _ = timed(lambda: plan.jacobian)
    stack = np.stack(imgs)
    obs = np.array([[400.0, 29000.0, 1500.0]] * batch)
    t_remap, maps = timed(plan.remap, stack, obs, -1.0, geoms, repeat=2)
    t_remap0, _ = timed(plan.remap, stack, obs, -1.0, repeat=2)
    maps = np.nan_to_num(maps)
    t_table, sht = timed(SHT, setup.grid, 0, 300)
    t_sht, coeffs = timed(sht, maps, repeat=2)
    t_fft, _ = timed(sht.fold, maps, repeat=2)
    # machine limit: numpy matmul of the same projection matrices on random folded data
    rng = np.random.default_rng(1)
    folded = rng.normal(size=(sht.nhalf, 2 * batch)).astype(np.float32)
    out = np.empty((sht.nlm, 2 * batch), dtype=np.float32)

    def gemm_only():
        for pe, po, _, _ in sht.tables:
            if pe.size:
                np.matmul(pe, folded, out=out[: pe.shape[0]])
            if po.size:
                np.matmul(po, folded, out=out[: po.shape[0]])

    t_gemm, _ = timed(gemm_only, repeat=3)
    gflops = sht.flops_per_map * batch / t_gemm / 1e9
    per = lambda t: f"{batch / t:8.0f} maps/s ({1e3 * t / batch:6.2f} ms/map)"
    print(f"read (FITS via the store)        {per(t_read)}")
    print(f"remap, plan reused + 1st order   {per(t_remap)}")
    print(f"remap, plan reused, same geometry{per(t_remap0)}")
    print(f"remap plan build                 {t_plan:.3f} s + Jacobian {t_jac:.3f} s ({remapper.plans_built} built)")
    print(f"SHT (FFT + fold + GEMMs)         {per(t_sht)}  [FFT + fold alone {per(t_fft)}]")
    print(f"GEMM only (numpy matmul)         {per(t_gemm)}  {gflops:.1f} GFLOP/s")
    print(f"Legendre tables (l<=300)         {t_table:.2f} s once per job")

    # ducc0: arbitrary-latitude adjoint synthesis on the full ring, same maps
    try:
        import ducc0

        grid = setup.grid
        theta = np.arccos(grid.sin_lat)
        ring = np.zeros((batch, grid.rows, grid.lfft), dtype=np.float64)
        cols = np.mod(grid.col_index, grid.lfft)
        ring[:, :, cols] = maps
        nphi = np.full(grid.rows, grid.lfft, dtype=np.uint64)
        phi0 = np.zeros(grid.rows)
        ringstart = (np.arange(grid.rows) * grid.lfft).astype(np.uint64)

        def ducc_all():
            return [ducc0.sht.experimental.adjoint_synthesis(
                map=ring[i].reshape(1, -1), theta=theta, nphi=nphi, phi0=phi0, ringstart=ringstart,
                lmax=300, mmax=300, spin=0, nthreads=os.cpu_count()) for i in range(batch)]

        t_ducc, alms = timed(ducc_all)
        # ours = sqrt(2) dsinB sqrt(2 pi) / lfft * conj(ducc), ducc's layout: m-major
        const = np.sqrt(2.0) * grid.dsinb * np.sqrt(2 * np.pi) / grid.lfft
        ours = coeffs[:, 0] + 1j * coeffs[:, 1]
        from globalhs.science.legendre import lm_index

        l, m = 120, 37
        ducc_idx = m * (2 * 300 + 1 - m) // 2 + l
        err = abs(const * np.conj(alms[0][0][ducc_idx]) - ours[lm_index(l, m)]) / (np.abs(ours).max())
        print(f"ducc0 adjoint_synthesis (general){per(t_ducc)}  agrees to {err:.1e} of max|a|")
    except Exception as exc:  # ducc0 optional in the comparison
        print(f"ducc0 comparison skipped: {exc}")
    try:
        import shtns

        sh = shtns.sht(300, 300)
        sh.set_grid(grid.rows, grid.lfft, shtns.sht_gauss | shtns.SHT_THETA_CONTIGUOUS, 1e-10)
        spat = np.ascontiguousarray(np.random.default_rng(2).normal(size=(grid.lfft, grid.rows)))
        t_shtns, _ = timed(lambda: [sh.analys(spat) for _ in range(8)])
        print(f"shtns analysis, Gauss grid {grid.rows}x{grid.lfft} (scale only) {8 / t_shtns:8.0f} maps/s")
    except Exception as exc:
        print(f"shtns comparison skipped: {exc}")
    for lib, t in module_times.items():
        print(f"module jv2ts, SHTLIB={lib} (read, remap, SHT, write): {n} maps in {t:.1f} s = {n / t:.1f} maps/s")
    print(f"load average after: {os.getloadavg()}")
    print(f"maps_per_s={module_rate:.1f} gemm_ratio={(t_module / n) / (t_gemm / batch):.2f}")


if __name__ == "__main__":
    main()
