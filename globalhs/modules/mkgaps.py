"""mkgaps: the window of a data set (1 good, 0 rejected per time sample) and its sections.

A sample is rejected when (SPEC §4, science/window.py):

- its image is missing: every a_lm of the degrees POWLMIN..POWLMAX is exactly zero (jv2ts writes
  missing images as zeros; one degree range suffices because a missing image is zero in every row),
  or, with ``qualin``, no input image exists for it;
- QUALITY of its input image has a bit of QUALMASK set (``qualin``);
- the instrument rule says so: keyword ``isskey`` of the input image is not one of ``issgood``
  (MDI: the image stabilisation system was off);
- its total power over POWLMIN..POWLMAX is an outlier against a running median (MEDWIDTH samples,
  NSIGMA robust standard deviations; NSIGMA=0 turns this off).

Discontinuities split the span into sections for detrending: times listed in the file ``discon``
(MDI: the hand-made list, one JSOC time or MDI day per line, ``#`` comments) and changes of the
keywords ``disconkeys`` between consecutive good input images (HMI, e.g. CALVER64).

With ``gapfilled=1`` (the gfgaps step) the input is such a window record and the output is the
window after gap filling: the samples :func:`globalhs.science.arfill.filled_window` fills with the
same MINPERCENTAGE, MAXORDER and NITER as gapfill. It depends on the window alone, so it is exactly
the set of samples gapfill filled, for every series of the data set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from globalhs.drms import DrmsError, Keyword, Segment, open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.modules import _timeseries as ts
from globalhs.modules.base import Arg, Module, ModuleError
from globalhs.science import arfill
from globalhs.science import window as win


def window_series(name: str):
    """Definition of a window series: segments ``window`` [NDT] (1/0) and ``sections`` [n, 2]."""
    return timeseries_series(
        name,
        segments=(Segment("window", "int16", description="1 good, 0 rejected, per time sample"),
                  Segment("sections", "int32", description="[start, stop) samples between discontinuities")),
        keywords=(Keyword("DUTYCYC", "float", description="fraction of good samples"),
                  Keyword("NOUTLIER", "int", 0, description="samples rejected by the median filter"),
                  Keyword("NQUALITY", "int", 0, description="samples rejected by QUALITY or the instrument rule"),
                  Keyword("ARORDER", "int", 0, description="gfgaps: final AR order of the gap filling")),
        description="window (good samples) and discontinuity sections of a time-series data set",
    )


def read_window(recordset: str, lmin: int, lmax: int, what: str = "gaps") -> tuple[Any, np.ndarray, list[tuple[int, int]]]:
    """(record, window bool [NDT], sections) of the window record covering lmin..lmax."""
    recs = [r for r in ts.query(recordset, what) if ts.lrange_of(r)[0] <= lmin and ts.lrange_of(r)[1] >= lmax]
    if not recs:
        raise ModuleError(f"argument {what}={recordset}: no window record covers l={lmin}..{lmax}")
    rec = recs[-1]
    try:
        good = rec.read("window")
        secs = rec.read("sections")
    except DrmsError as exc:
        raise ModuleError(f"argument {what}={recordset}: {exc}") from None
    ndt = int(rec.keywords["NDT"])
    if good.shape != (ndt,) or not np.all(np.isin(good, (0, 1))):
        raise ModuleError(f"record {rec.spec()}: window has shape {good.shape} / values other than 0 and 1; "
                          f"expected {ndt} values 0 or 1")
    secs = np.atleast_2d(secs)
    if secs.shape[1] != 2 or not np.all(np.isfinite(secs)):
        raise ModuleError(f"record {rec.spec()}: sections have shape {secs.shape}; expected [n, 2] sample ranges")
    sections = [(int(a), int(b)) for a, b in secs]
    return rec, good.astype(bool), sections


def _read_discontinuity_file(path: str) -> list[float]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ModuleError(f"argument discon={path}: cannot read the discontinuity list ({exc.strerror})") from None
    times = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            times.append(ts.time_arg(text, f"discon ({path} line {number})"))
    return times


def _quality(args, t0: float, dt: float, ndt: int) -> tuple[np.ndarray, list[int]]:
    """(good [ndt], discontinuity breaks) from the input images' keywords."""
    try:
        recs = open_store().query(args["qualin"])
    except DrmsError as exc:
        raise ModuleError(f"argument qualin={args['qualin']}: {exc}") from None
    present = np.zeros(ndt, dtype=bool)
    quality = np.zeros(ndt, dtype=np.int64)
    iss = np.full(ndt, None, dtype=object)
    keys: dict[str, np.ndarray] = {k: np.full(ndt, None, dtype=object) for k in args["disconkeys"]}
    for rec in recs:
        k = int(round((float(rec.keywords["T_REC"]) - t0) / dt))
        if not 0 <= k < ndt:
            continue
        present[k] = True
        quality[k] = int(rec.keywords.get("QUALITY", 0))
        if args["isskey"]:
            if args["isskey"] not in rec.keywords:
                raise ModuleError(f"record {rec.spec()}: no keyword {args['isskey']} (isskey); expected the "
                                  "instrument's ISS state")
            iss[k] = rec.keywords[args["isskey"]]
        for name, values in keys.items():
            values[k] = rec.keywords.get(name)
    good = present & win.quality_window(quality, args["QUALMASK"])
    if args["isskey"]:
        good &= win.keyword_window(iss, args["issgood"])
    breaks: list[int] = []
    for values in keys.values():
        breaks += win.breaks_from_changes(list(values), good)
    return good, breaks


def _data_window(args) -> None:
    lmin, lmax = args["LMIN"], args["LMAX"]
    plo, phi = args["POWLMIN"], args["POWLMAX"]
    recs = [r for r in ts.query(args["in"]) if ts.lrange_of(r)[0] <= phi and ts.lrange_of(r)[1] >= plo]
    if not recs:
        raise ModuleError(f"argument in={args['in']}: no record holds l in POWLMIN..POWLMAX = {plo}..{phi}")
    starts = {float(r.keywords["T_START"]) for r in recs}
    ndts = {int(r.keywords["NDT"]) for r in recs}
    if len(starts) != 1 or len(ndts) != 1:
        raise ModuleError(f"argument in={args['in']}: records of several spans; expected one retiled data set "
                          "(one T_START and NDT)")
    t0, ndt, dt = starts.pop(), ndts.pop(), ts.cadence_of(recs)
    power = np.zeros(ndt)
    missing = np.ones(ndt, dtype=bool)
    for rec in recs:
        lo, hi = ts.lrange_of(rec)
        ts.check_shape(rec, (ts.nrows(lo, hi), 2 * ndt))
        a, b = max(lo, plo), min(hi, phi)
        rows = ts.read_rows(rec, ts.row_of(a, 0, lo), ts.row_of(b, b, lo) + 1)
        missing &= win.missing_samples(rows)
        power += win.sample_power(rows)
    good = ~missing
    breaks: list[int] = []
    nquality = 0
    if args["qualin"]:
        qgood, breaks = _quality(args, t0, dt, ndt)
        nquality = int(np.sum(good & ~qgood))
        good &= qgood
    outliers = win.median_outliers(power, good, args["MEDWIDTH"], args["NSIGMA"]) if args["NSIGMA"] > 0 else \
        np.zeros(ndt, dtype=bool)
    good &= ~outliers
    if args["discon"]:
        breaks += win.breaks_from_times(_read_discontinuity_file(args["discon"]), t0, dt, ndt)
    sections = win.sections(ndt, breaks)
    extra = {"NOUTLIER": int(outliers.sum()), "NQUALITY": nquality, "NMISSING": int(missing.sum())}
    _write(args, recs, t0, ndt, dt, good, sections, extra)


def _filled_window(args) -> None:
    rec, good, sections = read_window(args["in"], args["LMIN"], args["LMAX"], "in")
    plan = arfill.fill_plan(good, args["MINPERCENTAGE"], args["MAXORDER"], args["NITER"])
    filled = good | (plan[-1][1] if plan else False)
    order = plan[-1][0] if plan else 0
    extra = {"ARORDER": order, "NOUTLIER": int(rec.keywords.get("NOUTLIER", 0)),
             "NQUALITY": int(rec.keywords.get("NQUALITY", 0)), "NMISSING": int(rec.keywords.get("NMISSING", 0))}
    _write(args, [rec], float(rec.keywords["T_START"]), int(rec.keywords["NDT"]), float(rec.keywords["T_STEP"]),
           filled, sections, extra)


def _write(args, recs, t0, ndt, dt, good, sections, extra) -> None:
    store = open_store()
    try:
        store.ensure_series(window_series(args["out"]))
    except DrmsError as exc:
        raise ModuleError(f"argument out={args['out']}: {exc}") from None
    keywords = {**ts.inherited(recs, args["in"]), **ts.span_keywords(t0, ndt, dt), "LMIN": args["LMIN"],
                "LMAX": args["LMAX"], "DUTYCYC": float(np.mean(good)), "SOURCE": args["in"],
                "VERSION": "globalhs mkgaps" + (" gapfilled" if args["gapfilled"] else ""), **extra}
    with store.writer(replace=True) as writer:
        writer.add(args["out"], keywords, {"window": good.astype(np.int16),
                                           "sections": np.array(sections, dtype=np.int32).reshape(-1, 2)})


def main(args: dict[str, Any]) -> None:
    if args["LMIN"] > args["LMAX"]:
        raise ModuleError(f"LMIN={args['LMIN']} LMAX={args['LMAX']}: expected LMIN <= LMAX")
    if args["gapfilled"]:
        _filled_window(args)
    else:
        _data_window(args)


def _int0(text: str) -> int:
    return int(text, 0)


def _names(text: str) -> tuple[str, ...]:
    return tuple(t for t in (s.strip() for s in text.split(",")) if t)


MODULE = Module(
    name="mkgaps",
    summary="window (good samples) and discontinuity sections of a time-series data set; gfgaps with gapfilled=1",
    args=(
        Arg("in", str, help="retiled data set (e.g. mdi.vw_V_sht_72d[6400d]); with gapfilled=1 the window record set"),
        Arg("out", str, help="output window series, e.g. mdi.vw_V_sht_gaps_72d"),
        Arg("LMIN", int, 0, "lowest degree the window is for (prime key of the output)"),
        Arg("LMAX", int, 300, "highest degree the window is for"),
        Arg("gapfilled", int, 0, "1: write the window after gap filling (the gfgaps step)", (0, 1)),
        Arg("POWLMIN", int, 0, "lowest degree read for missing images and the power outliers"),
        Arg("POWLMAX", int, 20, "highest degree read for missing images and the power outliers"),
        Arg("MEDWIDTH", int, 61, "running-median width in samples"),
        Arg("NSIGMA", float, 6.0, "outlier threshold in robust standard deviations (0: off)"),
        Arg("qualin", str, "", "input images (e.g. mdi.vw_V[6400d/72d]) for QUALITY, ISS and keyword discontinuities"),
        Arg("QUALMASK", _int0, 0x80000000, "QUALITY bits that reject an image"),
        Arg("isskey", str, "", "instrument-rule keyword of the input images (MDI: the ISS state); empty: no rule"),
        Arg("issgood", _names, ("1",), "comma-separated values of isskey that mean good"),
        Arg("discon", str, "", "file of discontinuity times (MDI), one per line"),
        Arg("disconkeys", _names, (), "comma-separated keywords whose changes are discontinuities (HMI)"),
        Arg("MINPERCENTAGE", float, 90.0, "gapfilled=1: as gapfill's"),
        Arg("MAXORDER", int, 100, "gapfilled=1: as gapfill's"),
        Arg("NITER", int, 3, "gapfilled=1: as gapfill's"),
    ),
    main=main,
)
