"""Throughput of the synthetic Sun: the mode stream, the renderer, the geometry and the stored image.

The mode stream's floor is the random-number generator: every mode needs two normal deviates per
time step. The benchmark measures numpy's float32 normal rate in the same run and prints the stream's
mode-steps per second as a fraction of half that rate (1.0 = as fast as drawing the excitation alone).
The renderer (a spin-0 synthesis of the radial field and a spin-1 gradient synthesis of the
horizontal one, at the pixels) is compared with one plain ducc0 spin-0 synthesis_general on the same
pixels: three components, so about 2-3 is its floor. "stored" is ``globalhs.synthetic.generate``
writing the images into a fresh store (FITS, one syncfs per batch), one process.

Every figure is CPU seconds of this process (``time.process_time``, less sensitive to the other
users of a shared machine than wall time); the stored image is also given as wall time.

    python bench/synth.py --quick          # lmax 20 only
    python bench/synth.py                  # lmax 20, 60, 100, 150 at 192x192

Quote the command, the load and the BLAS line with the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ducc0  # noqa: E402
from _machine import describe_machine  # noqa: E402

from globalhs.drms import open_store  # noqa: E402
from globalhs.science.ephemeris import RSUN, solar_geometry  # noqa: E402
from globalhs.science.modetable import read_modetable  # noqa: E402
from globalhs.science.sunimage import disk_pixels, render_mode_velocity, surface_velocity  # noqa: E402
from globalhs.science.synth import SphericalFieldStream, mode_set  # noqa: E402
from globalhs.science.synthsun import ObservationConfig, synthetic_observation  # noqa: E402
from globalhs.synthetic.generate import default_modes_path, generate  # noqa: E402


def cpu(fn, repeat: int = 3) -> float:
    """Least CPU seconds of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lmax", type=int, nargs="*", default=[20, 60, 100, 150])
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--stored", type=int, default=240, help="images written into a store per lmax (0: skip)")
    a = ap.parse_args(argv)
    lmaxes = [20] if a.quick else a.lmax
    table = read_modetable(os.environ.get("GLOBALHS_MODES", default_modes_path()))
    rng = np.random.default_rng(0)
    draws = np.empty(2**22, dtype=np.float32)
    normal_rate = draws.size / cpu(lambda: rng.standard_normal(out=draws, dtype=np.float32))
    print(f"# {describe_machine()}".replace("\n", "\n# "))
    print(f"# numpy {np.__version__}, ducc0 {ducc0.__version__}; float32 normals {normal_rate / 1e6:.0f} M/s (CPU)")
    print(f"# command: {' '.join([sys.executable, *sys.argv])}")
    print(f"{'lmax':>5} {'modes':>7} {'stream us/step':>14} {'of RNG':>6} {'render ms':>9} {'/plain':>6} "
          f"{'geometry ms':>11} {'image ms':>8} {'stored ms':>9} {'stored wall':>11} {'images/s':>8}")
    geo = solar_geometry(1.0e9)
    for lmax in lmaxes:
        ms = mode_set(table, lmax=lmax)
        stream = SphericalFieldStream(ms, lmax=lmax, dt=60.0, seed=1)
        eta = np.zeros(a.steps)
        stream.next(a.steps, eta)  # allocate the buffers
        t_stream = cpu(lambda: stream.next(a.steps, eta), 2) / a.steps
        radial, horizontal = stream.next(4, np.zeros(4))
        rsun = 0.94 * a.size / 2
        centre = (a.size - 1) / 2

        def geometry(b0=float(geo.b0)):
            disk = disk_pixels((a.size, a.size), centre, centre, rsun, b0, float(geo.p), s_ratio=RSUN / float(geo.dsun))
            surface_velocity(disk, b0)
            return disk

        disk = geometry()
        b0s = iter(float(geo.b0) + 1e-3 * np.arange(1, 100))
        t_geometry = cpu(lambda: geometry(next(b0s)), 5)
        t_render = cpu(lambda: render_mode_velocity(radial[0], horizontal[0], lmax, disk), 5)
        loc = np.column_stack([disk.theta, disk.phi])
        t_plain = cpu(lambda: ducc0.sht.synthesis_general(alm=radial[:1], spin=0, lmax=lmax, loc=loc,
                                                          epsilon=1e-7), 5)
        config = ObservationConfig(size=a.size, duty_cycle=1.0)
        count = 192  # enough images to amortise the stream's set-up and first-touch of its buffers
        t_image = cpu(lambda: list(synthetic_observation(ms, 1.0e9, count, config, lmax=lmax)), 1) / count
        t_stored = wall_stored = float("nan")
        if a.stored:
            root = Path(tempfile.mkdtemp(prefix="globalhs-bench-synth-"))
            try:
                store = open_store(root)
                c, w = time.process_time(), time.perf_counter()
                generate(1.0e9, a.stored * 60.0, lmax=lmax, config=config, store=store)
                t_stored = (time.process_time() - c) / a.stored
                wall_stored = (time.perf_counter() - w) / a.stored
            finally:
                shutil.rmtree(root, ignore_errors=True)
        limit = normal_rate / 2
        print(f"{lmax:5d} {len(ms):7d} {t_stream * 1e6:14.0f} {len(ms) / t_stream / limit:6.2f} "
              f"{t_render * 1e3:9.2f} {t_render / t_plain:6.2f} {t_geometry * 1e3:11.2f} {t_image * 1e3:8.1f} "
              f"{t_stored * 1e3:9.1f} {wall_stored * 1e3:11.1f} {1 / wall_stored:8.1f}")
    print(f"# load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
