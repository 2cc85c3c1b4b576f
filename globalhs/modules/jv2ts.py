"""jv2ts: Dopplergrams -> spherical-harmonic time series (remap, apodise, SHT), as the original.

Reads the input record set ``in`` (e.g. ``mdi.vw_V[6400d/1d]``), and for each time chunk of
TCHUNK from TSTART over TTOTAL writes one record per l chunk of LCHUNK degrees to ``tsout``:
prime keys T_START, LMIN, LMAX, NDT; a float32 array [rows l(l+1)/2+m-offset, 2*NDT] with real
and imaginary parts interleaved in time (SPEC §3). Images that are absent, flagged (QUALITY bit
0x80000000) or have more than MAXMISSVALS missing pixels give exact zeros in their column and are
counted in NMISSING.

Streaming: images are read, remapped and transformed BATCH at a time into the current time
chunk's output, so memory is one time chunk of output (rows x 2*NDT float32) plus one batch of
images and maps, whatever TTOTAL is. The remap plan (interpolation weights) is reused, with a
first-order correction for each image's own geometry, while no source position moves by more than
GEOMTOL pixels (0: an exact plan for every new geometry, as the original).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import numpy as np

from globalhs.drms import DrmsError, open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.modules.base import Arg, Module, ModuleError
from globalhs.science.grid import MapGrid
from globalhs.science.legendre import lm_count, lm_index
from globalhs.science.remap import MAP_DEFAULTS, MISSING_QUALITY_BIT, Geometry, RemapParams, Remapper
from globalhs.science.sht import SHT
from globalhs.time import TimeFormatError, parse_duration, parse_time, parse_time_or_day

PROGRAM_VERSION = "globalhs jv2ts 1"

# The arguments that shape the map (and so the leakage matrix), declared once with the original's defaults
# (science.remap.MAP_DEFAULTS); the leakage module takes the same Arg objects (MAP_ARGS).
_D = MAP_DEFAULTS
MAP_GRID_ARGS: tuple[Arg, ...] = (
    Arg("MAPMMAX", int, _D["MAPMMAX"], "longitude points per 180 degrees (map columns)"),
    Arg("SINBDIVS", int, _D["SINBDIVS"], "increments in sin(latitude) from 0 to 1"),
    Arg("MAPRMAX", float, _D["MAPRMAX"], "largest fractional image radius remapped"),
    Arg("MAPLGMIN", float, _D["MAPLGMIN"], "eastmost longitude from the central meridian, degrees (west positive)"),
    Arg("MAPLGMAX", float, _D["MAPLGMAX"], "westmost longitude from the central meridian, degrees"),
    Arg("MAPBMAX", float, _D["MAPBMAX"], "largest |latitude|, degrees"),
)
APODIZATION_ARGS: tuple[Arg, ...] = (
    Arg("APODIZE", int, _D["APODIZE"], "apodisation: 0 none, 1 true coordinates, 2 as if B0 = 0", (0, 1, 2)),
    Arg("APINNER", float, _D["APINNER"], "start of the apodisation, fractional radius"),
    Arg("APWIDTH", float, _D["APWIDTH"], "width of the apodisation, fractional radius"),
)
MAP_ARGS: tuple[Arg, ...] = MAP_GRID_ARGS + APODIZATION_ARGS

# Argument names and defaults as the original's (jv2ts = jv2helio + jhelio2mlat + jqdotprod);
# GEOMTOL and BATCH are ours. One table: parsing, --help and docs/sht.md come from it.
ARGS: tuple[Arg, ...] = (
    Arg("in", str, help="input record set of Dopplergrams, e.g. mdi.vw_V[6400d/1d]"),
    Arg("tsout", str, help="output time-series series, e.g. mdi.vw_V_sht"),
    Arg("segin", str, "", "input segment (default: the series' only segment)"),
    Arg("LMIN", int, 0, "lowest degree in the output"),
    Arg("LMAX", int, 300, "highest degree (and m) in the output; below MAPMMAX"),
    Arg("LCHUNK", int, 0, "degrees per output record; 0 means LMAX+1"),
    Arg("NORM", int, 1, "1: a_lm = sqrt(2) dsinB sum fold P~ (unit-rms field -> unit modulus); 0: no sqrt(2) dsinB"),
    Arg("TSTART", str, help="start of the first output record (JSOC time or MDI day, e.g. 6400d)"),
    Arg("TTOTAL", str, help="total time covered, e.g. 1d; a multiple of TCHUNK"),
    Arg("TCHUNK", str, "", "time per output record, e.g. 6h; default TTOTAL"),
    Arg("VERSION", str, "", "VERSION keyword of the output"),
    Arg("TAG", str, "none", "TAG keyword of the output"),
    Arg("FORCEOUTPUT", int, 0, "nonzero: write output even when input records are absent (they become zeros)"),
    Arg("SUBMEAN", int, 0, "subtract the mean of each map (not implemented: must be 0)", (0,)),
    Arg("NORMLIZE", int, 0, "per-row coverage normalisation (not implemented: must be 0)", (0,)),
    Arg("CENTLONG", int, 1, "nonzero: the longitude FFT is centred on the central meridian (0 is not implemented)", (1,)),
    Arg("ZEROMISS", int, 0, "nonzero: zero a whole map row that contains a missing point (else only the point)"),
    Arg("LGAPOD", int, 0, "nonzero: apodise in longitude as well"),
    Arg("LGAPMIN", float, 60.0, "start of the longitude apodisation, degrees"),
    Arg("LGAPWIDT", float, 10.0, "width of the longitude apodisation, degrees"),
    *MAP_GRID_ARGS,
    Arg("LGSHIFT", int, 3, "longitude shift: 0 none, 1 fixed rate, 2 nearest degree, 3 nearest tenth", (0, 1, 2, 3)),
    Arg("REF_T0", str, "1987.01.03_17:31:12_TAI", "reference time of the fixed-rate frame (LGSHIFT=1)"),
    Arg("REF_L0", float, 0.0, "Carrington longitude of the fixed-rate frame at REF_T0"),
    Arg("PERR", float, 0.0, "fixed P-angle error, degrees (added to P)"),
    Arg("IERR", float, 0.0, "error of the Carrington inclination, degrees (annual B0, P correction)"),
    Arg("REF_TB0", str, "2001.06.06_06:57:22_TAI", "a time when B0 = 0 (ascending), phase of the IERR correction"),
    Arg("INTERPO", int, 1, "interpolation: 0 bilinear, 1 cubic convolution", (0, 1)),
    *APODIZATION_ARGS,
    Arg("APEL", int, 0, "nonzero: elliptical apodisation with APX, APY"),
    Arg("APX", float, 1.0, "divide x by this before apodising"),
    Arg("APY", float, 1.0, "divide y by this before apodising"),
    Arg("VCORLEV", int, 0, "velocity correction: 0 none, 1 rotation, limb shift, observer; 2 also / cos(rho)", (0, 1, 2)),
    Arg("MCORLEV", int, 0, "magnetic correction: 0 none, 1 line of sight to radial (/ cos(rho))", (0, 1)),
    Arg("DISTORT", int, 0, "distortion correction: 0 none, 1 MDI full disk, 2 MDI vector-weighted", (0, 1, 2)),
    Arg("CUBIC", float, 7.06e-9, "cubic distortion, full-disk pixel units"),
    Arg("TILTALPHA", float, 2.59, "tilt of the CCD, degrees"),
    Arg("TILTBETA", float, 56.0, "direction of the CCD tilt, degrees"),
    Arg("TILTFEFF", float, 12972.629, "effective focal length, full-disk pixels"),
    Arg("DATASIGN", int, 0, "multiply the data by this; 0 takes the DATASIGN keyword (1 if absent)", (-1, 0, 1)),
    Arg("MAXMISSVALS", int, 0, "if > 0, images with more missing pixels (MISSVALS) are treated as missing"),
    Arg("GEOMTOL", float, 0.015, "reuse a remap plan, corrected to first order, while no source position "
        "moves more than this (pixels; 0.015 keeps the map within 1e-4 of its rms, docs/sht.md); 0: exact plans"),
    Arg("SHTLIB", str, "gemm", "projection: gemm (Legendre tables x batch, one float32 matrix product per m; "
        "measured fastest here, docs/performance.md) or ducc0 (adjoint synthesis on the rings, one map at a time, "
        "no table memory)", ("ducc0", "gemm")),
    Arg("TABLEMEM", int, 2048, "SHTLIB=gemm: MB of Legendre tables held at once; larger l ranges take several passes over the images"),
    Arg("BATCH", int, 128, "images remapped and transformed together (memory ~3 MB per image vs. sparse and "
        "GEMM efficiency, which grow with the batch)"),
)


def _seconds(args: dict, name: str) -> float:
    try:
        value = parse_duration(args[name])
    except TimeFormatError as exc:
        raise ModuleError(f"argument {name}={args[name]!r}: expected a duration such as 1d or 6h ({exc})") from None
    if value <= 0:
        raise ModuleError(f"argument {name}={args[name]!r}: expected a positive duration")
    return value


def _time(args: dict, name: str, day_ok: bool = True) -> float:
    try:
        return parse_time_or_day(args[name]) if day_ok else parse_time(args[name])
    except TimeFormatError as exc:
        raise ModuleError(f"argument {name}={args[name]!r}: expected a JSOC time or an MDI day ({exc})") from None


def _multiple(a: float, b: float) -> bool:
    k = round(a / b)
    return k >= 1 and abs(a - k * b) < 1e-6 * max(b, 1.0)


class Setup:
    """Everything jv2ts derives from its arguments before touching data (all checks in one place)."""

    def __init__(self, args: dict[str, Any]):
        self.args = args
        self.lmin, self.lmax = args["LMIN"], args["LMAX"]
        if not 0 <= self.lmin <= self.lmax:
            raise ModuleError(f"LMIN={self.lmin}, LMAX={self.lmax}: expected 0 <= LMIN <= LMAX")
        if self.lmax >= args["MAPMMAX"]:
            raise ModuleError(f"LMAX={self.lmax}: expected below MAPMMAX={args['MAPMMAX']} (m up to LMAX needs the FFT)")
        self.lchunk = args["LCHUNK"] or (self.lmax + 1)
        if self.lchunk < 1:
            raise ModuleError(f"LCHUNK={args['LCHUNK']}: expected a positive number of degrees (or 0 for LMAX+1)")
        if args["NORM"] not in (0, 1):
            raise ModuleError(f"NORM={args['NORM']}: expected 0 or 1")
        if args["BATCH"] < 1:
            raise ModuleError(f"BATCH={args['BATCH']}: expected at least 1")
        self.tstart = _time(args, "TSTART")
        self.ttotal = _seconds(args, "TTOTAL")
        self.tchunk = _seconds(args, "TCHUNK") if args["TCHUNK"] else self.ttotal
        if not _multiple(self.ttotal, self.tchunk):
            raise ModuleError(f"TTOTAL={args['TTOTAL']} is not a multiple of TCHUNK={args['TCHUNK']}")
        self.ntchunks = int(round(self.ttotal / self.tchunk))
        try:
            self.grid = MapGrid.from_args(args)
            self.params = RemapParams(
                self.grid, maprmax=args["MAPRMAX"], interpo=args["INTERPO"], lgshift=args["LGSHIFT"],
                ref_t0=_time(args, "REF_T0", False), ref_l0=args["REF_L0"], apodize=args["APODIZE"],
                apinner=args["APINNER"], apwidth=args["APWIDTH"], apel=args["APEL"], apx=args["APX"],
                apy=args["APY"], vcorlev=args["VCORLEV"], mcorlev=args["MCORLEV"], distort=args["DISTORT"],
                cubic=args["CUBIC"], tiltalpha=args["TILTALPHA"], tiltbeta=args["TILTBETA"],
                tiltfeff=args["TILTFEFF"], perr=args["PERR"], ierr=args["IERR"], ref_tb0=_time(args, "REF_TB0", False),
            )
        except ValueError as exc:
            raise ModuleError(str(exc)) from None
        self.lchunks = [(lo, min(lo + self.lchunk - 1, self.lmax)) for lo in range(self.lmin, self.lmax + 1, self.lchunk)]

    def check_input(self, recs: list, cadence: float) -> None:
        """The original's sanity checks on times against the input's cadence."""
        a = self.args
        slot = (self.tstart - self.epoch) / cadence
        if abs(slot - round(slot)) > 1e-6:
            raise ModuleError(f"TSTART={a['TSTART']} is not on a slot boundary of the input (cadence {cadence:g} s)")
        if not _multiple(self.tchunk, cadence):
            raise ModuleError(f"TCHUNK={a['TCHUNK'] or a['TTOTAL']} is not a multiple of the input cadence {cadence:g} s")
        expected = int(round(self.ttotal / cadence))
        if len(recs) != expected and not a["FORCEOUTPUT"]:
            raise ModuleError(
                f"input {a['in']} has {len(recs)} records, expected TTOTAL/cadence = {expected}; "
                f"set FORCEOUTPUT=1 to write zeros for the absent images"
            )


def _cadence(rec) -> tuple[float, float]:
    """Cadence and slot epoch of the input series (its T_REC slot), else the CADENCE keyword."""
    prime = rec.defn.prime[0]
    step = getattr(prime, "step", None)
    epoch = getattr(prime, "epoch", 0.0) or 0.0
    cadence = float(rec.keywords.get("CADENCE") or step or 0.0)
    if not cadence > 0:
        raise ModuleError(f"record {rec.spec()}: no cadence (CADENCE keyword or a slotted T_REC); expected one")
    return cadence, float(epoch)


def _lgapod_weights(grid: MapGrid, start: float, width: float) -> np.ndarray:
    lon = np.abs(np.degrees(grid.lon))
    taper = 0.5 + 0.5 * np.cos(np.pi * (lon - start) / width)
    return np.where(lon < start, 1.0, np.where(lon < start + width, taper, 0.0)).astype(np.float32)


def _usable(rec, args: dict) -> bool:
    kw = rec.keywords
    if int(kw.get("QUALITY") or 0) & MISSING_QUALITY_BIT:
        return False
    return not (args["MAXMISSVALS"] > 0 and int(kw.get("MISSVALS") or 0) > args["MAXMISSVALS"])


def _keep_freed_memory() -> None:
    """Ask glibc to serve large arrays from the heap and keep freed memory (M_MMAP_MAX=0,
    M_TRIM_THRESHOLD large): each batch's ~100 MB temporaries (sparse products, maps, spectra) then
    reuse pages already mapped instead of faulting fresh zeroed ones in every time (measured: 12-15%
    less CPU and ~1.5x less wall time for jv2ts on vw images). Memory stays at the batch's peak,
    which jv2ts bounds anyway. No-op where glibc's mallopt is absent."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_max = -1, -4  # glibc malloc.h
    mallopt(m_mmap_max, 0)
    mallopt(m_trim_threshold, 2**30)


def main(args: dict[str, Any]) -> None:
    setup = Setup(args)
    _keep_freed_memory()
    store = open_store()
    try:
        recs = store.query(args["in"])
    except DrmsError as exc:
        raise ModuleError(f"argument in={args['in']}: {exc}") from None
    if not recs:
        raise ModuleError(f"argument in={args['in']}: no input records; expected Dopplergrams for TSTART..TTOTAL")
    cadence, setup.epoch = _cadence(recs[0])
    setup.check_input(recs, cadence)
    ndt = int(round(setup.tchunk / cadence))
    by_slot: dict[int, Any] = {}
    for rec in recs:
        t = float(rec.keywords.get("T_REC", rec.keywords.get("T_OBS")))
        k = (t - setup.tstart) / cadence
        index = int(round(k))
        if abs(k - index) > 1e-3 or not 0 <= index < setup.ntchunks * ndt:
            raise ModuleError(f"input record {rec.spec()} is outside TSTART={args['TSTART']} + TTOTAL={args['TTOTAL']} "
                              f"or off the {cadence:g} s cadence")
        if index in by_slot:
            raise ModuleError(f"input records {by_slot[index].spec()} and {rec.spec()} fill the same time slot")
        by_slot[index] = rec

    try:
        defn = store.series(args["tsout"])
    except DrmsError:
        defn = store.ensure_series(timeseries_series(args["tsout"], tstep_slot=min(setup.tchunk, 86400.0)))
    step = defn.prime[0].step
    if step and not _multiple(setup.tchunk, step):
        raise ModuleError(f"output series {args['tsout']} has T_START slots of {step:g} s; TCHUNK must be a multiple")

    remapper = Remapper(setup.params, geomtol=args["GEOMTOL"])
    lon_weight = _lgapod_weights(setup.grid, args["LGAPMIN"], args["LGAPWIDT"]) if args["LGAPOD"] else None
    segment = args["segin"] or None
    if args["SHTLIB"] == "ducc0":  # Legendre functions on the fly: no tables to bound
        groups = [setup.lchunks]
    else:
        groups = l_groups(setup.lchunks, setup.grid.rows // 2, args["TABLEMEM"] * 2**20)
    if len(groups) > 1:
        print(f"jv2ts: Legendre tables exceed TABLEMEM={args['TABLEMEM']} MB: {len(groups)} passes over the images",
              flush=True)
    maps_buffer = _MapsBuffer(min(args["BATCH"], ndt), setup.grid.rows * setup.grid.cols)
    for group in groups:
        lo, hi = group[0][0], group[-1][1]
        sht = SHT(setup.grid, lo, hi, backend=args["SHTLIB"], norm=args["NORM"])
        for c in range(setup.ntchunks):
            _time_chunk(c, group, sht, setup, by_slot, ndt, cadence, store, remapper, args, segment, lon_weight,
                        maps_buffer)


def l_groups(lchunks: list[tuple[int, int]], nhalf: int, budget: float) -> list[list[tuple[int, int]]]:
    """Consecutive l chunks grouped so that each group's float32 tables (rows x nhalf) fit ``budget``
    bytes (a chunk larger than the budget is a group of its own)."""
    groups: list[list[tuple[int, int]]] = [[]]
    for lo, hi in lchunks:
        if groups[-1]:
            size = lm_count(groups[-1][0][0], hi) * nhalf * 4
            if size > budget:
                groups.append([])
        groups[-1].append((lo, hi))
    return groups


def _geometry_or_none(rec):
    """The record's geometry, or None when absent or its keywords are bad (reported when it is read)."""
    if rec is None:
        return None
    try:
        return Geometry.from_keywords(rec.keywords)
    except (KeyError, TypeError, ValueError):
        return None


def _time_chunk(c, group, sht, setup, by_slot, ndt, cadence, store, remapper, args, segment, lon_weight,
                maps_buffer) -> None:
    """Transform one time chunk for the l chunks of ``group`` and write their records."""
    out = np.zeros((sht.nlm, 2 * ndt), dtype=np.float32)
    usable = [by_slot.get(c * ndt + i) for i in range(ndt)]
    usable = [r if r is not None and _usable(r, args) else None for r in usable]
    geometries = [_geometry_or_none(r) for r in usable]  # keywords only: cheap, for plan look-ahead
    for i0 in range(0, ndt, args["BATCH"]):
        batch = usable[i0 : i0 + args["BATCH"]]
        if any(r is not None for r in batch):
            ahead = geometries[i0:]
            _transform_batch(batch, out[:, 2 * i0 : 2 * (i0 + len(batch))], sht, remapper, args, segment, lon_weight,
                             ahead, maps_buffer)
    good = [r for r in usable if r is not None]
    t0 = setup.tstart + c * setup.tchunk
    nmissing = ndt - len(good)
    keywords = {
        "T_START": t0, "T_STOP": t0 + setup.tchunk, "T_OBS": t0 + 0.5 * setup.tchunk, "T_STEP": cadence,
        "NDT": ndt, "QUALITY": 0 if good else int(MISSING_QUALITY_BIT), "MAPMMAX": args["MAPMMAX"],
        "SINBDIVS": args["SINBDIVS"], "MFLIPPED": 0, "VERSION": args["VERSION"] or PROGRAM_VERSION,
        "TAG": args["TAG"], "NMISSING": nmissing, "NDATA": len(good), "SOURCE": args["in"],
        "DATE": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    first = group[0][0]
    with store.writer(replace=True) as w:
        for lo, hi in group:
            rows = slice(lm_index(lo, 0, first), lm_index(hi + 1, 0, first))
            w.add(args["tsout"], {**keywords, "LMIN": lo, "LMAX": hi}, {"data": out[rows]})
    print(f"jv2ts: {args['tsout']} T_START={t0:.0f} NDT={ndt} l={first}..{group[-1][1]} in {len(group)} records, "
          f"{nmissing} missing images, {remapper.plans_built} remap plans so far", flush=True)


class _MapsBuffer:
    """The batch's maps [BATCH, rows*cols] float32, reused by every batch (fresh ~100 MB arrays per
    batch cost their page faults again), zeroed lazily: a row is zeroed only when the points it
    will receive are not those it last received (another plan, or an absent image), because the
    points outside a plan's are zero already and the plan's own are all overwritten. Measured:
    zeroing the whole buffer per batch cost ~0.5 ms per map."""

    def __init__(self, rows: int, points: int):
        self.array = np.zeros((rows, points), dtype=np.float32)
        self.holds: list = [None] * rows  # the map_index array each row was last filled with; None = zeros

    def prepare(self, row: int, map_index: np.ndarray | None) -> None:
        """Make ``row`` zero outside ``map_index`` (None: zero everywhere)."""
        if self.holds[row] is not map_index:
            if self.holds[row] is not None:
                self.array[row].fill(0.0)
            self.holds[row] = map_index


def _transform_batch(recs, out, sht, remapper, args, segment, lon_weight, ahead, maps_buffer) -> None:
    """Remap and transform a contiguous run of time slots into ``out`` ([rows, 2*len(recs)] view);
    slots whose record is None (absent or unusable) keep exact zeros. ``ahead``: the geometries
    of the slots from this batch's first to the end of the time chunk (None where unusable) (a new remap
    plan is centred ahead, see :meth:`Remapper.plan_for`). ``maps_buffer``: the :class:`_MapsBuffer`
    every batch reuses."""
    present = [i for i, r in enumerate(recs) if r is not None]
    images, geoms, obs_v, signs = [], [], [], []
    for rec in (recs[i] for i in present):
        try:
            images.append(rec.read(segment))
        except (DrmsError, OSError) as exc:
            raise ModuleError(f"input record {rec.spec()}: cannot read segment {segment or '(default)'}: {exc}") from None
        kw = rec.keywords
        try:
            geoms.append(Geometry.from_keywords(kw))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModuleError(f"input record {rec.spec()}: geometry keyword missing or bad ({exc}); "
                              "expected X0, Y0, RSUN_PIX, B0 (store-normalised)") from None
        obs_v.append([float(kw.get(k) or 0.0) for k in ("OBS_VR", "OBS_VW", "OBS_VN")])
        signs.append(args["DATASIGN"] or int(kw.get("DATASIGN") or 1))
    grid = sht.grid
    maps = maps_buffer.array[: len(recs)]
    for slot in set(range(len(recs))) - set(present):
        maps_buffer.prepare(slot, None)
    # consecutive images sharing a plan are remapped together (one sparse x dense product); the
    # values at the plan's points go straight into the zeroed maps (no intermediate dense maps)
    start = 0
    while start < len(images):
        try:
            later = [g for g in ahead[present[start] + 1 :] if g is not None]
            plan = remapper.plan_for(geoms[start], images[start].shape, ahead=later)
        except ValueError as exc:
            raise ModuleError(f"input record {recs[present[start]].spec()}: {exc}") from None
        stop = start + 1
        while stop < len(images) and remapper.covers(plan, geoms[stop], images[stop].shape):
            stop += 1
        values = plan.remap_points(np.stack(images[start:stop]), np.array(obs_v[start:stop]),
                                   datasign=np.array(signs[start:stop], dtype=np.float32),
                                   geometries=geoms[start:stop])
        if lon_weight is not None:
            values *= lon_weight[plan.map_index % grid.cols, None]
        slots = present[start:stop]
        for slot in slots:
            maps_buffer.prepare(slot, plan.map_index)
        if slots == list(range(slots[0], slots[0] + len(slots))):
            maps[slots[0] : slots[0] + len(slots), plan.map_index] = values.T
        else:
            maps[np.asarray(slots)[:, None], plan.map_index[None, :]] = values.T
        # a NaN input pixel makes the points that use it NaN (a sum per image finds them cheaply)
        for j in np.flatnonzero(~np.isfinite(values.sum(axis=0))):
            image_map = maps[slots[j]].reshape(grid.shape)
            bad = np.isnan(image_map)
            if args["ZEROMISS"]:
                image_map[bad.any(axis=1)] = 0.0
            image_map[bad] = 0.0
        start = stop
    sht(maps.reshape((len(recs),) + grid.shape), out=out)


MODULE = Module(
    name="jv2ts",
    summary="remap Dopplergrams to longitude x sin(latitude), apodise, and project onto spherical harmonics",
    args=ARGS,
    main=main,
)
