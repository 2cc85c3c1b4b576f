"""pow: power spectra |FFT|^2 of every a_lm(t) series (dopow), over TTOTALOUT from STARTOFFSET.

Normalisation and frequency order are science/spectra.py's: P_k = |(1/N) sum_t x_t e^{-2 pi i k t/N}|^2,
columns from -Nyquist upward (keywords FREQ0, DELTA_NU, NFREQ in Hz), so row (l, m) holds mode m at
positive and mode -m at negative frequencies. One output record per input record and piece, rows in
the jv2ts order; T_START and NDT of the output name the piece analysed. The slice module uses the
same code for pieces stepped by SLICESTEP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from globalhs.drms import Keyword, Segment, open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.modules import _timeseries as ts
from globalhs.modules.base import Arg, Module, ModuleError
from globalhs.science import spectra


def spectrum_series(name: str, slot: str = "1d"):
    """Definition of a power-spectrum series (jv2ts prime keys; NDT = samples transformed)."""
    return timeseries_series(
        name,
        tstep_slot=slot,
        segments=(Segment("data", "float32", description="power |X_k|^2, rows l(l+1)/2+m, columns from -Nyquist"),),
        keywords=(Keyword("NFREQ", "int", 0, description="frequency columns"),
                  Keyword("FREQ0", "float", unit="Hz", description="frequency of the first column"),
                  Keyword("DELTA_NU", "float", unit="Hz", description="frequency spacing 1/(NDT T_STEP)"),
                  Keyword("DUTYCYC", "float", description="fraction of samples with data in the piece")),
        description="power spectra of a_lm(t), normalised so a unit complex exponential has power 1",
    )


def write_spectra(args: dict[str, Any], piece_starts: list[int], nout: int, spacing: float = 86400.0) -> None:
    """Spectra of the pieces [s, s + nout) of every record of ``in`` holding LMIN..LMAX."""
    lmin, lmax = args["LMIN"], args["LMAX"]
    recs = [r for r in ts.query(args["in"]) if not (ts.lrange_of(r)[1] < lmin or ts.lrange_of(r)[0] > lmax)]
    if not recs:
        raise ModuleError(f"argument in={args['in']}: no record holds l in {lmin}..{lmax}")
    dt = ts.cadence_of(recs)
    for rec in recs:
        lo, hi = ts.lrange_of(rec)
        ndt = int(rec.keywords["NDT"])
        if args["TTOTALIN"] and abs(ndt * dt - ts.seconds(args["TTOTALIN"], "TTOTALIN")) > 0.5 * dt:
            raise ModuleError(f"record {rec.spec()} spans {ndt * dt:g} s; TTOTALIN={args['TTOTALIN']} expected")
        if piece_starts[-1] + nout > ndt:
            raise ModuleError(f"record {rec.spec()}: the piece from sample {piece_starts[-1]} of {nout} samples "
                              f"does not fit in its {ndt} samples (STARTOFFSET/TTOTALOUT)")
        ts.check_shape(rec, (ts.nrows(lo, hi), 2 * ndt))
    ts.ensure_output(args["out"], spectrum_series, args["SLOT"], spacing)
    store = open_store()
    axis = spectra.spectrum_keywords(nout, dt)
    with store.writer(replace=True) as writer:
        for rec in recs:
            lo, hi = ts.lrange_of(rec)
            n = ts.nrows(lo, hi)
            t0 = float(rec.keywords["T_START"])
            outs = [np.empty((n, nout), dtype=np.float32) for _ in piece_starts]
            has_data = [np.zeros(nout, dtype=bool) for _ in piece_starts]
            for first in range(0, n, args["BATCH"]):
                stop = min(first + args["BATCH"], n)
                z = ts.to_complex(ts.read_rows(rec, first, stop))
                for out, seen, s in zip(outs, has_data, piece_starts):
                    piece = z[:, s : s + nout]
                    out[first:stop] = spectra.power(piece)
                    seen |= np.any(piece != 0, axis=0)
            for out, seen, s in zip(outs, has_data, piece_starts):
                keywords = {**ts.inherited([rec], args["in"]), **ts.span_keywords(t0 + s * dt, nout, dt),
                            "LMIN": lo, "LMAX": hi, **axis, "DUTYCYC": float(np.mean(seen)),
                            "NMISSING": int(nout - seen.sum()), "SOURCE": rec.spec(),
                            "VERSION": "globalhs " + ("slice" if "SLICESTEP" in args else "pow")}
                writer.add(args["out"], keywords, {"data": out})


def _piece(args: dict[str, Any]) -> tuple[int, int, float]:
    """(start sample, samples, cadence) of the piece from STARTOFFSET of TTOTALOUT."""
    recs = ts.query(args["in"])
    dt = ts.cadence_of(recs)
    offset = ts.seconds(args["STARTOFFSET"], "STARTOFFSET")
    start = int(round(offset / dt))
    if args["TTOTALOUT"]:
        nout = int(round(ts.seconds(args["TTOTALOUT"], "TTOTALOUT") / dt))
    else:
        nout = min(int(r.keywords["NDT"]) for r in recs) - start
    if nout < 2 or start < 0:
        raise ModuleError(f"STARTOFFSET={args['STARTOFFSET']} TTOTALOUT={args['TTOTALOUT']}: expected a piece of "
                          "at least two samples inside the series")
    return start, nout, dt


def main(args: dict[str, Any]) -> None:
    start, nout, _ = _piece(args)
    write_spectra(args, [start], nout)


COMMON_ARGS = (
    Arg("in", str, help="gap-filled data set, e.g. mdi.vw_V_sht_gf_72d[6400d]"),
    Arg("out", str, help="output series, e.g. mdi.vw_V_sht_pow_72d"),
    Arg("LMIN", int, 0, "lowest degree"),
    Arg("LMAX", int, 300, "highest degree"),
    Arg("TTOTALIN", str, "", "span of the input series (totaltimein), checked when given"),
    Arg("TTOTALOUT", str, "", "length of each piece transformed (powtotaltime; empty: to the end)"),
    Arg("STARTOFFSET", str, "0d", "start of the (first) piece after the series' start (powstartoffset)"),
    Arg("BATCH", int, 256, "series transformed together"),
    Arg("SLOT", str, "auto", "T_START slot step of a new output series (auto: 1d, or 1h for slices < 1d apart)"),
)

MODULE = Module(
    name="pow",
    summary="power spectra of a_lm(t) time series",
    args=COMMON_ARGS,
    main=main,
)
