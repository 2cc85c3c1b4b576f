"""Builders of jv2ts-layout records for the time-series module tests (written through the store)."""

from __future__ import annotations

import numpy as np

from globalhs.drms import open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.time import day_to_time

T0 = day_to_time(6400)
DT = 60.0


def nrows(lmin, lmax):
    return (lmax + 1) * (lmax + 2) // 2 - lmin * (lmin + 1) // 2


def write_sht(series, truth, lchunk, tchunk, t0=T0, dt=DT, skip=(), slot="6h", extra=None):
    """Write ``truth`` [rows of l=0..lmax, 2*ndt] as jv2ts records of ``lchunk`` degrees by ``tchunk``
    samples (the layout jv2ts writes); ``skip`` lists (lmin, chunk index) records to leave out."""
    store = open_store()
    store.ensure_series(timeseries_series(series, tstep_slot=slot))
    extra = extra or {}
    lmax = int((np.sqrt(8 * truth.shape[0] + 1) - 3) / 2)
    ndt = truth.shape[1] // 2
    with store.writer(replace=True) as w:
        for lo in range(0, lmax + 1, lchunk):
            hi = min(lo + lchunk - 1, lmax)
            r0, r1 = nrows(0, lo - 1) if lo else 0, nrows(0, hi)
            for c, k0 in enumerate(range(0, ndt, tchunk)):
                if (lo, c) in skip:
                    continue
                w.add(series, {"T_START": t0 + k0 * dt, "LMIN": lo, "LMAX": hi, "NDT": tchunk, "T_STEP": dt,
                               "MAPMMAX": 600, "SINBDIVS": 200, "NDATA": tchunk, "NMISSING": 0, **extra},
                      {"data": truth[r0:r1, 2 * k0 : 2 * (k0 + tchunk)]})
