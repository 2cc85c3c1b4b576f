"""leakage: the leakage-matrix branch (our extension step before pkbgn, template desc ``lkg``).

Computes C^r and C^h (see :mod:`globalhs.science.leakage`) for target degrees LMIN..LMAX with the
remap/SHT parameters of the label's jv2ts template (the same arguments as jv2ts', ``jv2ts.MAP_ARGS``,
with the original's defaults: a template sets them all), and stores them as one record of ``out``
(series ``P_leakage``; prime keys T_START, LMIN, LMAX) with segments ``radial`` and ``horizontal``.

B0: a number (degrees), or ``mean``: the mean of the observers' B0 (keyword CRLT_OBS, else B0, plus
IERR) over the input Dopplergrams ``in``.  The default 0 treats the series as seen from the solar
equator, which makes the B0 = 0 parity rule hold exactly (documented choice; B0 ranges over +-7.25
degrees in a year and changes elements that vanish at B0 = 0 by up to ~0.1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields

import numpy as np

from globalhs.drms import DrmsError, Keyword, Segment, SeriesDef, open_store
from globalhs.drms.builtin import span_degree_keys
from globalhs.modules.base import Arg, Module, ModuleError
from globalhs.modules.jv2ts import MAP_ARGS
from globalhs.science.leakage import LeakageBlock, MapGeometry, leakage_block
from globalhs.time import parse_time_or_day

LEAKAGE_KEYWORDS = (
    Keyword("B0", "float", unit="deg", description="observer latitude the leakage was computed for"),
    Keyword("MAPMMAX", "int", description="longitude points per 180 degrees of the remap"),
    Keyword("SINBDIVS", "int", description="sin(latitude) divisions per unit of the remap"),
    Keyword("MAPRMAX", "float", description="largest fractional disk radius used"),
    Keyword("MAPLGMAX", "float", unit="deg", description="remap longitude half-range"),
    Keyword("MAPBMAX", "float", unit="deg", description="remap latitude limit"),
    Keyword("APODIZE", "int", description="apodisation kind (0 none, 1 true coordinates, 2 as if B0=0)"),
    Keyword("APINNER", "float", description="apodisation start (fractional radius)"),
    Keyword("APWIDTH", "float", description="apodisation taper width (fractional radius)"),
    Keyword("LKGDL", "int", description="sources kept: |l' - l| <= LKGDL"),
    Keyword("LKGDM", "int", description="sources kept: |m' - m| <= LKGDM"),
)


def leakage_series(name: str) -> SeriesDef:
    """The leakage-matrix series: one record per l chunk."""
    return SeriesDef(
        name,
        span_degree_keys("start of the span it applies to", "lowest target degree", "highest target degree"),
        LEAKAGE_KEYWORDS,
        (Segment("radial", "float32", description="C^r [l^2 - LMIN^2 + m + l][l'-l+LKGDL][m'-m+LKGDM]"),
         Segment("horizontal", "float32", description="C^h, same layout; C = C^r + beta C^h")),
        "leakage matrix of the remap and SHT (globalhs extension)",
    )


def _b0(args, store) -> float:
    text = str(args["B0"]).strip()
    if text.lower() != "mean":
        try:
            return float(text)
        except ValueError:
            raise ModuleError(f"argument B0={text!r}: expected degrees or 'mean'") from None
    if not args["in"]:
        raise ModuleError("B0=mean needs in= (the Dopplergram record set whose mean B0 to use)")
    try:
        recs = store.query(args["in"])
    except DrmsError as exc:
        raise ModuleError(f"argument in={args['in']!r}: {exc}") from None
    values = []
    for rec in recs:
        for key in ("CRLT_OBS", "B0"):
            v = rec.keywords.get(key)
            if v is not None and math.isfinite(v):
                values.append(float(v))
                break
    if not values:
        raise ModuleError(f"in={args['in']!r}: no record has a finite CRLT_OBS or B0 keyword")
    return float(np.mean(values)) + args["IERR"]


def main(args) -> None:
    if args["LMIN"] < 0 or args["LMAX"] < args["LMIN"]:
        raise ModuleError(f"LMIN={args['LMIN']} LMAX={args['LMAX']}: expected 0 <= LMIN <= LMAX")
    if args["MAPLGMIN"] != -args["MAPLGMAX"]:
        raise ModuleError(f"MAPLGMIN={args['MAPLGMIN']} MAPLGMAX={args['MAPLGMAX']}: the leakage needs a "
                          f"map symmetric about the central meridian (MAPLGMIN = -MAPLGMAX)")
    try:
        tstart = parse_time_or_day(args["TSTART"])
    except ValueError as exc:
        raise ModuleError(f"argument TSTART={args['TSTART']!r}: {exc}") from None
    store = open_store()
    b0 = _b0(args, store)
    geom = _geometry({**args, "B0": b0})
    try:
        block = leakage_block(geom, args["LMIN"], args["LMAX"], args["LKGDL"], args["LKGDM"])
    except ValueError as exc:
        raise ModuleError(str(exc)) from None
    try:
        store.create_series(leakage_series(args["out"]))
    except DrmsError as exc:
        raise ModuleError(f"argument out={args['out']!r}: {exc}") from None
    keywords = {"T_START": tstart, "LMIN": args["LMIN"], "LMAX": args["LMAX"], **asdict(geom),
                "LKGDL": args["LKGDL"], "LKGDM": args["LKGDM"]}
    with store.writer(replace=True) as w:
        w.add(args["out"], keywords, {"radial": block.radial, "horizontal": block.horizontal})


def block_from_record(rec) -> LeakageBlock:
    """A :class:`LeakageBlock` from a stored leakage record (checks the array shape against its keys)."""
    kw = rec.keywords
    lmin, lmax, dl, dm = int(kw["LMIN"]), int(kw["LMAX"]), int(kw["LKGDL"]), int(kw["LKGDM"])
    radial, horizontal = rec.read("radial"), rec.read("horizontal")
    want = ((lmax + 1) ** 2 - lmin**2, 2 * dl + 1, 2 * dm + 1)
    if radial.shape != want or horizontal.shape != want:
        raise ModuleError(f"leakage record {rec.spec()}: segments have shape {radial.shape}, expected {want}")
    return LeakageBlock(lmin, lmax, dl, dm, radial, horizontal, _geometry(kw))


def _geometry(values) -> MapGeometry:
    """The :class:`MapGeometry` of the module's arguments or a record's keywords (the same names: the
    geometry's fields), each value as its field's type."""
    default = MapGeometry()
    return MapGeometry(**{f.name: type(getattr(default, f.name))(values[f.name]) for f in fields(MapGeometry)})


MODULE = Module(
    "leakage",
    "leakage matrix C(l,m; l',m') of the remap and SHT, radial and horizontal parts",
    (
        Arg("out", str, help="output series, e.g. mdi.vw_V_leakage"),
        Arg("TSTART", str, help="start of the span (JSOC time or MDI day, e.g. 6400d)"),
        Arg("LMIN", int, 0, "lowest target degree"),
        Arg("LMAX", int, 300, "highest target degree"),
        Arg("LKGDL", int, 6, "keep sources with |l' - l| <= LKGDL"),
        Arg("LKGDM", int, 15, "keep sources with |m' - m| <= LKGDM"),
        Arg("B0", str, "0", "observer latitude in degrees, or 'mean' (of in=)"),
        Arg("in", str, "", "Dopplergram record set for B0=mean"),
        Arg("IERR", float, 0.0, "B0 correction added to the mean (degrees)"),
        *MAP_ARGS,  # jv2ts' own declarations (the original's defaults): MAPLGMIN must be -MAPLGMAX here
    ),
    main,
)
