"""Throughput of the synthetic Sun: the mode stream and the image renderer at several lmax.

The mode stream's floor is the random-number generator: every mode needs two normal deviates per
time step. The benchmark measures numpy's float32 normal rate in the same run and prints the stream's
mode-steps per second as a fraction of half that rate (1.0 = as fast as drawing the excitation alone).
The renderer is compared with a plain ducc0 spin-0 synthesis_general on the same pixels.

    python bench/synth.py --quick          # lmax 20 only
    python bench/synth.py                  # lmax 20, 60, 100, 150 at 192x192

Timings on a shared machine are noisy: quote the command and the load with the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ducc0  # noqa: E402

from globalhs.science.ephemeris import RSUN, solar_geometry  # noqa: E402
from globalhs.science.modetable import read_modetable  # noqa: E402
from globalhs.science.sunimage import disk_pixels, render_mode_velocity  # noqa: E402
from globalhs.science.synth import SphericalFieldStream, mode_set  # noqa: E402
from globalhs.science.synthsun import ObservationConfig, synthetic_observation  # noqa: E402
from globalhs.synthetic.generate import default_modes_path  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lmax", type=int, nargs="*", default=[20, 60, 100, 150])
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--steps", type=int, default=256)
    a = ap.parse_args(argv)
    lmaxes = [20] if a.quick else a.lmax
    table = read_modetable(os.environ.get("GLOBALHS_MODES", default_modes_path()))
    rng = np.random.default_rng(0)
    n = 2**22
    normal_rate = n / best_of(lambda: rng.standard_normal(n, dtype=np.float32))
    print(f"# load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; numpy {np.__version__}, ducc0 "
          f"{ducc0.__version__}; float32 normals {normal_rate / 1e6:.0f} M/s")
    print(f"# command: {' '.join([sys.executable, *sys.argv])}")
    print(f"{'lmax':>5} {'modes':>8} {'stream us/step':>15} {'of RNG limit':>12} {'render ms':>10} "
          f"{'vs plain ducc0':>14} {'image ms':>9} {'images/s':>9}")
    geo = solar_geometry(1.0e9)
    for lmax in lmaxes:
        ms = mode_set(table, lmax=lmax)
        stream = SphericalFieldStream(ms, lmax=lmax, dt=60.0, seed=1)
        eta = np.zeros(a.steps)
        t_stream = best_of(lambda: stream.next(a.steps, eta), 2) / a.steps
        radial, horizontal = stream.next(4, np.zeros(4))
        rsun = 0.94 * a.size / 2
        disk = disk_pixels((a.size, a.size), (a.size - 1) / 2, (a.size - 1) / 2, rsun, float(geo.b0), float(geo.p),
                           s_ratio=RSUN / float(geo.dsun))
        t_render = best_of(lambda: render_mode_velocity(radial[0], horizontal[0], lmax, disk), 5)
        loc = np.column_stack([disk.theta, disk.phi])
        t_plain = best_of(lambda: ducc0.sht.synthesis_general(alm=radial[:1], spin=0, lmax=lmax, loc=loc,
                                                              epsilon=1e-7), 5)
        config = ObservationConfig(size=a.size, duty_cycle=1.0)
        count = 64
        t_image = best_of(lambda: list(synthetic_observation(ms, 1.0e9, count, config, lmax=lmax)), 1) / count
        limit = normal_rate / 2
        print(f"{lmax:5d} {len(ms):8d} {t_stream * 1e6:15.0f} {len(ms) / t_stream / limit:12.2f} "
              f"{t_render * 1e3:10.2f} {t_render / t_plain:14.2f} {t_image * 1e3:9.1f} {1 / t_image:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
