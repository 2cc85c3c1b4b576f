"""Record-store throughput: ingest and read of MDI-size Dopplergrams, catalog insert and query.

Prints each figure with a machine limit measured in the same run (raw write+fsync and raw read of the
same bytes), and the numpy build. Run: ``PYTHONPATH=. python bench/drms_bench.py [--images 20]``.
The machine is shared; figures are noisy."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from globalhs.drms import open_store
from globalhs.drms.builtin import dopplergram_series
from globalhs.drms.ingest import ingest_files
from globalhs.time import day_to_time, format_time


def _numpy_config() -> str:
    try:
        from threadpoolctl import threadpool_info
        return "; ".join(f"{i['internal_api']} {i.get('version')} threads={i['num_threads']}" for i in threadpool_info())
    except ImportError:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"numpy {np.__version__}, BLAS {blas.get('name')} {blas.get('version')}"


def _mdi_files(directory: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        data = rng.integers(-3000, 3000, (1024, 1024)).astype(np.int16)
        hdu = fits.PrimaryHDU(data)
        hdu.header.update(BLANK=-32768, T_REC=format_time(day_to_time(6400) + 60 * i), X0=511.3, Y0=511.5,
                          R_SUN=491.0, B0=-6.6, L0=337.6, P=0.0, OBS_VR=432.4, OBS_VW=29670.0, OBS_VN=1568.3,
                          DSIGN0=-1, QUALITY="0x00000200", OBS_DIST=0.988)
        paths.append(directory / f"fd_V.{i:04d}.fits")
        hdu.writeto(paths[-1])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--records", type=int, default=103680, help="keyword-only records (72 d at 60 s)")
    opts = parser.parse_args()
    print(f"numpy: {_numpy_config()}; cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        files = _mdi_files(tmp / "in", opts.images)
        nbytes = sum(p.stat().st_size for p in files)
        store = open_store(tmp / "store")

        t0 = time.perf_counter()
        records = ingest_files(store, "mdi.fd_V", files)
        t_ingest = time.perf_counter() - t0
        raw = np.zeros(1024 * 1024, np.int16).tobytes()
        t0 = time.perf_counter()
        for i in range(opts.images):
            with open(tmp / f"raw{i}", "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
        t_raw = time.perf_counter() - t0
        print(f"ingest: {opts.images / t_ingest:.1f} images/s, {nbytes / t_ingest / 1e6:.1f} MB/s "
              f"(1024x1024 int16); raw write+fsync {opts.images * len(raw) / t_raw / 1e6:.1f} MB/s; "
              f"ratio {(nbytes / t_ingest) / (opts.images * len(raw) / t_raw):.2f}")

        t0 = time.perf_counter()
        for rec in records:
            rec.read("V")
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(opts.images):
            np.fromfile(tmp / f"raw{i}", np.int16).astype(np.float32)
        t_rawread = time.perf_counter() - t0
        print(f"read: {opts.images / t_read:.1f} images/s ({opts.images * 4 / t_read:.0f} MB/s of float32); "
              f"raw read+convert {opts.images / t_rawread:.1f} images/s; ratio {t_rawread / t_read:.2f}")

        store.create_series(dopplergram_series("bench.V", "1m"))
        t0 = time.perf_counter()
        with store.writer() as w:
            for k in range(opts.records):
                w.add("bench.V", {"T_REC": day_to_time(6400) + 60.0 * k, "QUALITY": k % 7})
        t_ins = time.perf_counter() - t0
        print(f"catalog insert: {opts.records / t_ins:.0f} records/s ({opts.records} keyword-only records, "
              f"one transaction)")
        for q in ("bench.V[6400d/72d]", "bench.V[6400d/72d@1h]", "bench.V[6400d/1d]"):
            t0 = time.perf_counter()
            n = len(store.query(q))
            dt = time.perf_counter() - t0
            print(f"query {q}: {n} records in {dt:.3f} s ({n / dt:.0f} records/s)")


if __name__ == "__main__":
    main()
