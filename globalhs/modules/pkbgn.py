"""pkbgn: peakbagging of the power spectra of one l range (the original's doiter iterations).

Reads the power spectra written by pow (rows l(l+1)/2 + m - LMIN(LMIN+1)/2, columns from -Nyquist,
keywords FREQ0, DELTA_NU in Hz, MFLIPPED), the leakage records of the leakage step and a starting
mode table (an earlier fit, e.g. ``hmi.6400.36``, or a Model S table with a surface offset), and fits
every multiplet of the table with LMIN <= l <= LMAX (:mod:`globalhs.science.peakbag`).  With NITER > 1
the fits replace the guesses (their own and their neighbours') and everything is fitted again.

Output: the JSOC mode-table text (``outtable``; 12 + 2 NACOEFF columns) and, with writeflag=1, a
record of ``out`` (prime keys T_START, LMIN, LMAX; segment ``modes`` = the same table as numbers).
Multiplets that fail a quality test or cannot be fitted at all (too few frequency bins in their
windows, as for l = 0 on spans of a few days) are listed with the reason in ``<outtable>.rejected`` and
on stdout, counted in NREJECT and not written; if none can be fitted the table is empty (NMODES = 0)
and the job still succeeds: only bad input or an internal error fails it.
"""

from __future__ import annotations

import math
import os
import string
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from globalhs.atomic import atomic_open
from globalhs.drms import DrmsError, Keyword, Segment, SeriesDef, open_store
from globalhs.drms.builtin import span_degree_keys
from globalhs.modules.base import Arg, Module, ModuleError
from globalhs.modules.leakage import block_from_record
from globalhs.refdata import refdata_dir
from globalhs.science import peakbag as pb
from globalhs.science.modetable import ModeTable, ModeTableError, read_modetable, write_modetable
from globalhs.time import format_time

MODES_KEYWORDS = (
    Keyword("NACOEFF", "int", description="a-coefficients per mode"),
    Keyword("NMODES", "int", description="multiplets fitted"),
    Keyword("NREJECT", "int", description="multiplets rejected by the quality tests"),
    Keyword("NITER", "int", description="fit iterations (fit, update guesses, refit)"),
    Keyword("SOURCE", "string", description="power spectra fitted"),
    Keyword("LEAKAGE", "string", description="leakage records used"),
    Keyword("GUESS", "string", description="starting mode table"),
)


def modes_series(name: str) -> SeriesDef:
    """Mode-table series (``P_sht_modes``): one record per l range."""
    return SeriesDef(
        name,
        span_degree_keys("start of the span analysed", "lowest degree fitted", "highest degree fitted"),
        MODES_KEYWORDS,
        (Segment("modes", "float64", description="mode table: rows (n,l), 12 + 2 NACOEFF columns as the text"),),
        "peakbagging results in the JSOC mode-table layout",
    )


def _query(store, spec: str, what: str):
    try:
        recs = store.query(spec)
    except DrmsError as exc:
        raise ModuleError(f"argument {what}={spec!r}: {exc}") from None
    if not recs:
        raise ModuleError(f"argument {what}={spec!r}: no records")
    return recs


def _spectra_by_l(recs, lmin: int, lmax: int):
    """{l: (record, first row)} for every wanted l held by the spectrum records."""
    found = {}
    for rec in recs:
        lo, hi = int(rec.keywords["LMIN"]), int(rec.keywords["LMAX"])
        for l in range(max(lo, lmin), min(hi, lmax) + 1):
            found[l] = (rec, l * (l + 1) // 2 - lo * (lo + 1) // 2)
    return found


def main(args) -> None:
    lmin, lmax = args["LMIN"], args["LMAX"]
    if lmin < 0 or lmax < lmin:
        raise ModuleError(f"LMIN={lmin} LMAX={lmax}: expected 0 <= LMIN <= LMAX")
    settings = fit_settings(args)
    guess_path = _expand_path(args["guess"], "guess")
    try:
        guesses = read_modetable(guess_path)
    except ModeTableError as exc:
        raise ModuleError(f"argument guess={args['guess']!r}: {exc}") from None
    if args["guessmodel"]:
        guesses = _model_guesses(args, guesses, settings.nacoeff)
    store = open_store()
    spec_recs = _query(store, args["in"], "in")
    leak_recs = _query(store, args["leakage"], "leakage")
    spectra = _spectra_by_l(spec_recs, lmin, lmax)
    if args["ORBITAL"] == "mean":
        settings = replace(settings, orbital_nhz=_span_orbital(spec_recs[0]))
    print(f"pkbgn: a1 made sidereal with {settings.orbital_nhz:.3f} nHz (ORBITAL={args['ORBITAL']})", flush=True)
    wanted = sorted({int(l) for l in guesses.l if lmin <= l <= lmax})
    if not wanted:
        raise ModuleError(f"guess={args['guess']!r} has no multiplet with {lmin} <= l <= {lmax}")
    missing = [l for l in wanted if l not in spectra]
    if missing:
        raise ModuleError(f"in={args['in']!r} holds no spectra for l = {_ranges(missing)} (needed by the guesses)")
    blocks = {}
    for rec in leak_recs:
        blocks[(int(rec.keywords["LMIN"]), int(rec.keywords["LMAX"]))] = rec

    def leakage_for(l):
        for (lo, hi), rec in blocks.items():
            if lo <= l <= hi:
                if not isinstance(rec, pb.LeakageBlock):
                    blocks[(lo, hi)] = rec = block_from_record(rec)
                return rec
        raise ModuleError(f"leakage={args['leakage']!r}: no record covers target l = {l}")

    cache: dict = {}
    if args["HEIGHTS"] == "data":
        # The neighbours' heights matter as much as the job's own: their leaks into the job's spectra are
        # modelled with them (a zero height leaves a leak unmodelled and biases nu). Degrees within the
        # leakage block's reach that have spectra in ``in`` are estimated from the data too.
        reach = max(int(rec.keywords.get("LKGDL", 0)) for rec in leak_recs)
        around = _spectra_by_l(spec_recs, max(lmin - reach, 0), lmax + reach)
        neighbours = [l for l in sorted({int(l) for l in guesses.l}) if l in around and l not in wanted]
        guesses = _heights_from_data(guesses, wanted, neighbours, around, leakage_for, settings, cache)
    table = guesses
    fits: list[pb.MultipletFit] = []
    for iteration in range(args["NITER"]):
        fits = []
        passing = pass_settings(settings, iteration, args["NITER"])
        for l in wanted:
            spectrum = _spectrum(*spectra[l], l, _band(table, l, settings), cache)
            fits.extend(pb.fit_degree(spectrum, table, leakage_for(l), passing))
        table = pb.update_table(table, fits)
    result = pb.fits_to_table(fits, settings.nacoeff)
    rejected = [f for f in fits if not f.ok]
    for f in rejected:
        print(f"rejected n={f.n} l={f.l}: {f.reason}", flush=True)
    nonlinear = [f for f in fits if f.ok and f.linearity > settings.bootstrap_above]
    for f in nonlinear:
        print(f"nonlinear n={f.n} l={f.l}: sigma(nu_nlm)/Gamma = {f.linearity:.2f} > {settings.bootstrap_above}; "
              f"errors from the {f.error_method}" + ("" if settings.bootstrap else
                                                    " are likely too small (BOOTSTRAP=40 estimates them)"), flush=True)
    if len(result) == 0:  # a result, not a failure: the spectra cannot support these fits (e.g. too short)
        print(f"pkbgn: no multiplet with {lmin} <= l <= {lmax} could be fitted ({len(rejected)} rejected); "
              f"writing an empty table", flush=True)
    t_start = float(spec_recs[0].keywords["T_START"])
    outtable = Path(args["outtable"] or f"{args['out']}.{format_time(t_start)}.{lmin}-{lmax}.txt")
    write_modetable(outtable, result)
    _write_rejected(Path(str(outtable) + ".rejected"), rejected)
    methods = Counter(f.error_method for f in fits if f.ok)
    if methods:  # which matrix the errors come from (the Fisher matrix where the observed Hessian is indefinite)
        print("pkbgn: errors from " + ", ".join(f"{k} ({v})" for k, v in sorted(methods.items())), flush=True)
    print(f"pkbgn: {len(result)} multiplets fitted ({len(nonlinear)} nonlinear), {len(rejected)} rejected; "
          f"table {outtable}", flush=True)
    if args["writeflag"]:
        try:
            store.create_series(modes_series(args["out"]))
        except DrmsError as exc:
            raise ModuleError(f"argument out={args['out']!r}: {exc}") from None
        keywords = {"T_START": t_start, "LMIN": lmin, "LMAX": lmax, "NACOEFF": settings.nacoeff,
                    "NMODES": len(result), "NREJECT": len(rejected), "NITER": args["NITER"],
                    "SOURCE": args["in"], "LEAKAGE": args["leakage"], "GUESS": str(args["guess"])}
        with store.writer(replace=True) as w:
            w.add(args["out"], keywords, {"modes": result.to_array()})


def pass_settings(settings: pb.FitSettings, iteration: int, niter: int) -> pb.FitSettings:
    """The settings of pass ``iteration`` (0-based) of NITER: only the last pass's errors are written, so the
    bootstrap (2 BOOTSTRAP refits per nonlinear fit) and the sandwich's score covariance run there; earlier
    passes take the Hessian's errors (the same fits)."""
    if iteration == niter - 1:
        return settings
    return replace(settings, bootstrap=0, errors="hessian" if settings.errors == "sandwich" else settings.errors)


def fit_settings(args) -> pb.FitSettings:
    """The fit settings of parsed pkbgn arguments (orbital_nhz nan for ORBITAL=mean, set per span);
    ModuleError naming the argument for a bad combination.  bench/pkbgn.py --label-settings uses it on a
    label's rendered templates."""
    try:
        return pb.FitSettings(nacoeff=args["NACOEFF"], window_gammas=args["WINDOWGAMMAS"],
                              window_min=args["WINDOWMIN"], asymmetric=bool(args["ASYM"]),
                              neighbours=args["NEIGHBOURS"], max_iter=args["MAXITER"],
                              orbital_nhz=_orbital_value(args["ORBITAL"]), errors=args["ERRORS"],
                              bootstrap=args["BOOTSTRAP"])
    except ValueError as exc:
        raise ModuleError(str(exc)) from None


def _orbital_value(text: str) -> float:
    """ORBITAL as a number (nan for ``mean``, replaced once the span is known)."""
    if text == "mean":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"ORBITAL={text!r}: expected a rate in nHz or 'mean'") from None


def _span_orbital(rec) -> float:
    """The observer's mean orbital rate (nHz) over the span of a pow record (T_START, 1/DELTA_NU)."""
    try:
        t_start, dnu = float(rec.keywords["T_START"]), float(rec.keywords["DELTA_NU"])
    except KeyError as exc:
        raise ModuleError(f"spectrum record {rec.spec()} lacks keyword {exc}; ORBITAL=mean needs T_START "
                          f"and DELTA_NU") from None
    if not (math.isfinite(t_start) and dnu > 0):
        raise ModuleError(f"spectrum record {rec.spec()}: T_START={t_start} DELTA_NU={dnu}: ORBITAL=mean needs "
                          f"a span")
    return pb.mean_orbital_nhz(t_start, 1.0 / dnu)


def _model_guesses(args, reference: ModeTable, nacoeff: int) -> ModeTable:
    """Guesses from model frequencies (columns n, l, nu in uHz, e.g. the ADIPLS Model S table) with the
    surface offset; ``guess`` then only supplies widths, amplitudes and backgrounds by frequency."""
    path = _expand_path(args["guessmodel"], "guessmodel")
    try:
        model = np.loadtxt(path, comments="#", ndmin=2)
    except (OSError, ValueError) as exc:
        raise ModuleError(f"argument guessmodel={args['guessmodel']!r}: cannot read n, l, nu columns ({exc})") from None
    if model.shape[1] < 3:
        raise ModuleError(f"argument guessmodel={args['guessmodel']!r}: expected columns n, l, nu (uHz)")
    keep = (model[:, 1] >= args["LMIN"] - 6) & (model[:, 1] <= args["LMAX"] + 6) & (model[:, 2] > 900)
    return pb.guesses_from_model(model[keep, 0], model[keep, 1], model[keep, 2], reference, nacoeff)


def _expand_path(text: str, what: str) -> str:
    """``~`` and ``$VARS`` expanded; GLOBALHS_REFDATA defaults to ../shared/data beside the project
    (as the tests' refdata fixture and the synthetic Sun's default truth table do)."""
    env = dict(os.environ)
    env.setdefault("GLOBALHS_REFDATA", str(refdata_dir()))
    try:
        expanded = string.Template(text).substitute(env)
    except (KeyError, ValueError) as exc:
        raise ModuleError(f"argument {what}={text!r}: environment variable {exc} is not set") from None
    return os.path.expanduser(expanded)


def _heights_from_data(table: ModeTable, wanted, neighbours, spectra, leakage_for, settings, cache) -> ModeTable:
    """The guess table with heights and backgrounds in the units of these spectra.

    Each multiplet of the job's degrees ``wanted`` gets H and B estimated from its own windows
    (:func:`globalhs.science.peakbag.estimate_height`), and so does each multiplet of the degrees
    ``neighbours`` (outside the job), whose leaks the fits model; ``spectra`` holds both. Every other
    row is rescaled by the median ratio of the job's estimates to the table's values."""
    table = table.select(np.arange(len(table)))
    est = _height_estimates(table, wanted, spectra, leakage_for, settings, cache)
    if not est:  # too few bins (short spans, low l): each fit starts from its own window's data instead
        print("pkbgn: no multiplet has enough bins in its windows to estimate its height; the fits start "
              "from the data in their windows", flush=True)
        return table
    around = _height_estimates(table, neighbours, spectra, leakage_for, settings, cache, optional=True)
    rows = np.array(list(est))
    values = np.array(list(est.values()))
    with np.errstate(divide="ignore", invalid="ignore"):
        h_ratio = _median_ratio(values[:, 0], table.amp[rows])
        b_ratio = _median_ratio(values[:, 1], table.bg[rows])
    table.amp *= h_ratio if np.isfinite(h_ratio) else 1.0
    table.bg *= b_ratio if np.isfinite(b_ratio) else 1.0
    table.amp[rows], table.bg[rows] = values[:, 0], values[:, 1]
    if around:
        near = np.array(list(around))
        table.amp[near], table.bg[near] = np.array(list(around.values())).T
    scaled = "; other rows " + (f"scaled by {h_ratio:.4g} (height) and {b_ratio:.4g} (background)"
                                if np.isfinite(h_ratio) or np.isfinite(b_ratio) else
                                "kept (the table gives no heights to scale)")
    print(f"pkbgn: heights from the data for {len(rows)} multiplets and {len(around)} neighbours{scaled}",
          flush=True)
    return table


def _height_estimates(table: ModeTable, degrees, spectra, leakage_for, settings, cache, *,
                      optional: bool = False) -> dict[int, tuple[float, float]]:
    """{row: (H, B)} estimated from the data for the multiplets of ``degrees`` (rows whose estimate is
    not positive and finite are left out). ``optional``: a degree with no leakage record is skipped
    (it keeps the scaled table value) instead of being an error."""
    found = {}
    for l in degrees:
        try:
            leak = leakage_for(l)
        except ModuleError:
            if optional:
                continue
            raise
        spectrum = _spectrum(*spectra[l], l, _band(table, l, settings), cache)
        for row in np.flatnonzero(table.l == l):
            h, b = pb.estimate_height(spectrum, int(table.n[row]), pb.guess_of(table, row), leak, settings)
            if np.isfinite(h) and np.isfinite(b) and h > 0 and b > 0:
                found[row] = (h, b)
    return found


def _median_ratio(estimated: np.ndarray, tabled: np.ndarray) -> float:
    """Median of estimated / tabled over the rows whose tabled value is positive; nan if there are none
    (e.g. a guess table with its heights zeroed, as the synthetic Sun's is)."""
    positive = tabled > 0
    return float(np.median(estimated[positive] / tabled[positive])) if positive.any() else np.nan


def _band(table: ModeTable, l: int, settings: pb.FitSettings) -> tuple[float, float]:
    """Frequency range (uHz) the fits of degree l can touch: guesses +- splitting +- a wide window."""
    rows = table.l == l
    spread = 1e-3 * np.abs(table.a[rows, 0]).max(initial=500.0) * l + 1.0
    half = np.maximum(settings.window_gammas * table.width[rows], settings.window_min)
    return float((table.nu[rows] - spread - 2 * half).min()), float((table.nu[rows] + spread + 2 * half).max())


def _spectrum(rec, first_row: int, l: int, band, cache: dict) -> pb.Spectrum:
    kw = rec.keywords
    try:
        freq0, dnu = float(kw["FREQ0"]) * 1e6, float(kw["DELTA_NU"]) * 1e6
    except KeyError as exc:
        raise ModuleError(f"spectrum record {rec.spec()} lacks keyword {exc}; expected pow's FREQ0, DELTA_NU")
    if not (math.isfinite(freq0) and math.isfinite(dnu) and dnu > 0):
        raise ModuleError(f"spectrum record {rec.spec()}: FREQ0={kw['FREQ0']} DELTA_NU={kw['DELTA_NU']} are not a "
                          f"frequency axis")
    if rec.recnum not in cache:  # records may hold several l: read each once (only the last is kept)
        cache.clear()
        cache[rec.recnum] = rec.read("data")
    data = cache[rec.recnum]
    rows = data[first_row:first_row + l + 1]
    if rows.shape[0] != l + 1:
        raise ModuleError(f"spectrum record {rec.spec()} has {data.shape[0]} rows; l={l} needs rows up to "
                          f"{first_row + l}")
    try:
        spec = pb.spectra_from_rows(l, rows, freq0, dnu, bool(kw.get("MFLIPPED", 0)), band)
    except ValueError as exc:
        raise ModuleError(f"spectrum record {rec.spec()}: {exc}") from None
    spec.length = 1e6 / dnu  # seconds observed: the frequency spacing is 1/T
    return spec


def _write_rejected(path: Path, rejected) -> None:
    with atomic_open(path) as fh:
        fh.write("# l n reason (multiplets not written to the mode table)\n")
        for f in rejected:
            fh.write(f"{f.l:4d} {f.n:3d} {f.reason}\n")


def _ranges(values) -> str:
    return ", ".join(str(v) for v in values[:10]) + (" ..." if len(values) > 10 else "")


MODULE = Module(
    "pkbgn",
    "peakbagging: MLE fit of every multiplet's 2l+1 spectra with the leakage matrix",
    (
        Arg("in", str, help="power spectra record set (pow output, e.g. mdi.vw_V_sht_pow_72d[6400d])"),
        Arg("leakage", str, help="leakage record set (e.g. mdi.vw_V_leakage[6400d])"),
        Arg("guess", str, help="starting mode table (JSOC text format; $VARS and ~ expanded)"),
        Arg("out", str, help="output series (e.g. mdi.vw_V_sht_modes)"),
        Arg("guessmodel", str, "", "model frequencies n, l, nu (e.g. Model S): guesses = model + surface offset"),
        Arg("outtable", str, "", "text mode table to write (default <out>.<T_START>.<LMIN>-<LMAX>.txt)"),
        Arg("LMIN", int, 0, "lowest degree fitted by this job"),
        Arg("LMAX", int, 300, "highest degree fitted by this job"),
        Arg("NACOEFF", int, 36, "a-coefficients fitted (6, 18 or 36)"),
        Arg("NITER", int, 2, "fit, update guesses, refit: number of passes"),
        Arg("HEIGHTS", str, "data", "starting heights/backgrounds: data (estimated; the guess table's units are "
            "rescaled) or table (taken as they are)", ("data", "table")),
        Arg("WINDOWGAMMAS", float, 6.0, "window half-width in linewidths"),
        Arg("WINDOWMIN", float, 12.0, "smallest window half-width (uHz)"),
        Arg("ASYM", int, 0, "1: fit the Nigam-Kosovichev asymmetry", (0, 1)),
        Arg("NEIGHBOURS", str, "include", "neighbouring multiplets: include (modelled) or mask", ("include", "mask")),
        Arg("MAXITER", int, 60, "iterations per fit before it is rejected"),
        Arg("ERRORS", str, "hessian", "formal errors: hessian (observed Hessian of the diagonal likelihood; the "
            "Fisher matrix where it is indefinite), fisher (its expectation) or sandwich (H^-1 J H^-1: also counts "
            "that a mode's realisation appears in every m-spectrum it leaks into, SCIENCE.md section 6)",
            ("hessian", "fisher", "sandwich")),
        Arg("BOOTSTRAP", int, 0, "replicates per stage of the bias-corrected parametric bootstrap giving the errors "
            "of nonlinear fits (median sigma(nu_nlm)/Gamma > 0.10, where the Hessian's are too small; 2K refits "
            "each); 0: Hessian errors for all"),
        Arg("ORBITAL", str, "mean", "nHz added to the synodic a1 to report it sidereal; mean: the observer's "
            "mean orbital rate over the span (ephemeris; 30.5-32.6 nHz over the year)"),
        Arg("writeflag", int, 1, "non-zero: also write the record; 0: text table only"),
    ),
    main,
)
