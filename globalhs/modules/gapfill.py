"""gapfill: detrend and gap-fill every a_lm(t) series of a retiled data set (dogapfill).

For each input record (jv2ts layout, usually one l over the whole span) and each of its series:
subtract the polynomial trend per discontinuity section (science/detrend.py: Legendre polynomials
orthonormal over the good samples, DTWINDOW windows overlapping by DTOVERLAP with cos^2 blending;
the real and imaginary parts are fitted separately), optionally reject SIGMACLIP outliers of that
series, then fill the gaps with the Fahlman-Ulrych AR method (science/arfill.py: MINPERCENTAGE,
MAXORDER, NITER). Samples left bad are zero. The window comes from mkgaps (``gaps``); the window
after filling is written by the gfgaps step (mkgaps gapfilled=1), which computes it from the
window alone. Series are processed in batches of BATCH rows so memory stays bounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from globalhs.drms import DrmsError, open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.modules import _timeseries as ts
from globalhs.modules.base import Arg, Module, ModuleError
from globalhs.modules.mkgaps import read_window
from globalhs.science import arfill
from globalhs.science.detrend import detrend


def fill_series(z: np.ndarray, good: np.ndarray, sections, args: dict[str, Any], plan, dt: float) -> np.ndarray:
    """Detrended, gap-filled copy of complex series z [nseries, ndt] sharing the window ``good``."""
    window = int(round(ts.seconds(args["DTWINDOW"], "DTWINDOW") / dt)) if args["DTWINDOW"] != "0" else None
    overlap = int(round(ts.seconds(args["DTOVERLAP"], "DTOVERLAP") / dt)) if args["DTOVERLAP"] != "0" else 0
    # detrending computes the trend in double precision and rounds the result to the data's single
    # precision, in which the filling runs (Burg is memory-bound)
    flat = detrend(z.astype(np.complex64, copy=False), good, args["DETRENDORDER"], window, overlap, sections)
    kwargs = dict(minpercentage=args["MINPERCENTAGE"], maxorder=args["MAXORDER"], niter=args["NITER"])
    if args["SIGMACLIP"] > 0:
        out = np.zeros(z.shape, dtype=np.complex64)
        windows = arfill.sigma_clip(flat, good, args["SIGMACLIP"])
        groups: dict[bytes, list[int]] = {}
        for i, w in enumerate(windows):
            groups.setdefault(np.packbits(w).tobytes(), []).append(i)
        for rows in groups.values():
            w = windows[rows[0]]
            same = np.array_equal(w, good)
            result = arfill.fahlman_ulrych(flat[rows], w, plan=plan if same else None, dtype=np.complex64, **kwargs)
            # a clipped sample the fill could not reach stays zero; the shared window is unchanged
            out[rows] = result.data
    else:
        out = arfill.fahlman_ulrych(flat, good, plan=plan, dtype=np.complex64, **kwargs).data
    return out


def main(args: dict[str, Any]) -> None:
    lmin, lmax = args["LMIN"], args["LMAX"]
    recs = [r for r in ts.query(args["in"]) if not (ts.lrange_of(r)[1] < lmin or ts.lrange_of(r)[0] > lmax)]
    if not recs:
        raise ModuleError(f"argument in={args['in']}: no record holds l in {lmin}..{lmax}")
    wrec, good, sections = read_window(args["gaps"], max(lmin, min(ts.lrange_of(r)[0] for r in recs)),
                                       min(lmax, max(ts.lrange_of(r)[1] for r in recs)))
    ndt = len(good)
    for rec in recs:
        lo, hi = ts.lrange_of(rec)
        if int(rec.keywords["NDT"]) != ndt or float(rec.keywords["T_START"]) != float(wrec.keywords["T_START"]):
            raise ModuleError(f"record {rec.spec()} spans NDT={rec.keywords['NDT']} from "
                              f"{rec.keywords['T_START']}; the window {wrec.spec()} has NDT={ndt}: expected the same span")
        ts.check_shape(rec, (ts.nrows(lo, hi), 2 * ndt))
    if args["BATCH"] < 1:
        raise ModuleError(f"argument BATCH={args['BATCH']}: expected at least 1")
    dt = ts.cadence_of(recs)
    plan = arfill.fill_plan(good, args["MINPERCENTAGE"], args["MAXORDER"], args["NITER"])
    print(f"gapfill: arfill kernels {arfill.kernel_path()} (compiled: the C extension built at install; "
          f"numpy: the reference, used without it or with GLOBALHS_ARFILL=numpy)", flush=True)
    store = open_store()
    try:
        store.ensure_series(timeseries_series(args["out"]))
    except DrmsError as exc:
        raise ModuleError(f"argument out={args['out']}: {exc}") from None
    with store.writer(replace=True) as writer:
        for rec in recs:
            lo, hi = ts.lrange_of(rec)
            n = ts.nrows(lo, hi)
            out = np.empty((n, 2 * ndt), dtype=np.float32)
            for first in range(0, n, args["BATCH"]):
                stop = min(first + args["BATCH"], n)
                z = ts.to_complex(ts.read_rows(rec, first, stop))
                try:
                    out[first:stop] = ts.to_interleaved(fill_series(z, good, sections, args, plan, dt))
                except (np.linalg.LinAlgError, ValueError) as exc:
                    raise ModuleError(f"record {rec.spec()} rows {first}..{stop - 1}: gap filling failed ({exc})") from None
            keywords = {**rec.keywords, "SOURCE": args["in"], "VERSION": "globalhs gapfill",
                        "DATE": ts.span_keywords(0.0, 0, 1.0)["DATE"]}
            writer.add(args["out"], keywords, {"data": out})


MODULE = Module(
    name="gapfill",
    summary="detrend and gap-fill time series (Fahlman-Ulrych autoregressive filling)",
    args=(
        Arg("in", str, help="retiled data set, e.g. mdi.vw_V_sht_72d[6400d]"),
        Arg("gaps", str, help="window record set from mkgaps, e.g. mdi.vw_V_sht_gaps_72d[6400d]"),
        Arg("out", str, help="output series, e.g. mdi.vw_V_sht_gf_72d"),
        Arg("LMIN", int, 0, "lowest degree to process"),
        Arg("LMAX", int, 300, "highest degree to process"),
        Arg("DETRENDORDER", int, 5, "degree of the detrending polynomial"),
        Arg("DTWINDOW", str, "0", "detrending window (duration, e.g. 1d; 0: the whole section)"),
        Arg("DTOVERLAP", str, "0", "overlap of detrending windows (duration), cos^2-blended"),
        Arg("MINPERCENTAGE", float, 90.0, "the AR order comes from the segments holding this % of good samples"),
        Arg("MAXORDER", int, 100, "largest AR order"),
        Arg("NITER", int, 3, "gap-filling iterations"),
        Arg("SIGMACLIP", float, 0.0, "reject samples of a series beyond this many rms (0: off)"),
        Arg("BATCH", int, 64, "series filled together (memory ~ BATCH x NDT x 48 bytes)"),
    ),
    main=main,
)
