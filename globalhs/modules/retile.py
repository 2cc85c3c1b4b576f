"""retile: rearrange jv2ts records (many l, short time) into long series (few l, long time).

Serves both retiling steps, as the original's two stages: retilen turns the SHT chunks (``lchunkin``
degrees x TCHUNK, e.g. 40 l x 6 h) into ``timechunk2`` pieces (e.g. 40 l x 12 d), one job per piece;
retile1 turns those pieces into the full span (``lchunkout`` l, usually 1, x 72 d), one job per l
group. Output records keep the jv2ts layout and keywords.

Streaming: each output record is assembled in a memory-mapped temporary file beside the job's stage
and filled by reading only the needed rows of one input record at a time, so the memory used is one
input slice plus the page cache, never a data set (72 d at lmax 300 is 37.7 GB). Every input record is
checked (span, shape, coverage of every l and every sample exactly once) before anything is written.
"""

from __future__ import annotations

from typing import Any

from globalhs.drms import open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.modules import _timeseries as ts
from globalhs.modules.base import Arg, Module, ModuleError


def plan_pieces(recs: list, t0: float, ndt_out: int, dt: float, lmin: int, lmax: int) -> list[tuple[Any, int]]:
    """(record, first output sample) of every input record that overlaps [lmin, lmax]; ModuleError
    unless the records cover every (l, sample) of the output exactly once."""
    pieces = []
    cover: dict[int, list[tuple[int, int, str]]] = {l: [] for l in range(lmin, lmax + 1)}
    for rec in recs:
        lo, hi = ts.lrange_of(rec)
        if hi < lmin or lo > lmax:
            continue
        ndt = int(rec.keywords["NDT"])
        offset = (float(rec.keywords["T_START"]) - t0) / dt
        k0 = int(round(offset))
        if abs(offset - k0) > 1e-6 or k0 < 0 or k0 + ndt > ndt_out:
            raise ModuleError(f"record {rec.spec()}: samples {offset:g}..{offset + ndt - 1:g} of the output span; "
                              f"expected whole samples inside 0..{ndt_out - 1} (TSTART/TTOTAL)")
        ts.check_shape(rec, (ts.nrows(lo, hi), 2 * ndt))
        pieces.append((rec, k0))
        for l in range(max(lo, lmin), min(hi, lmax) + 1):
            cover[l].append((k0, k0 + ndt, rec.spec()))
    for l, spans in cover.items():
        spans.sort()
        position = 0
        for a, b, spec in spans:
            if a != position:
                what = f"samples {position}..{a - 1} are missing" if a > position else f"{spec} overlaps another record"
                raise ModuleError(f"input does not tile l={l}: {what}; expected records covering every sample once")
            position = b
        if position != ndt_out:
            raise ModuleError(f"input does not tile l={l}: samples {position}..{ndt_out - 1} are missing "
                              f"(no record covers them); expected the whole span")
    return pieces


def main(args: dict[str, Any]) -> None:
    t0 = ts.time_arg(args["TSTART"], "TSTART")
    span = ts.seconds(args["TTOTAL"], "TTOTAL")
    lmin, lmax = args["LMIN"], args["LMAX"]
    if not 0 <= lmin <= lmax:
        raise ModuleError(f"LMIN={lmin} LMAX={lmax}: expected 0 <= LMIN <= LMAX")
    recs = [r for r in ts.query(args["in"]) if not (ts.lrange_of(r)[1] < lmin or ts.lrange_of(r)[0] > lmax)]
    if not recs:
        raise ModuleError(f"argument in={args['in']}: no record holds l in {lmin}..{lmax}")
    dt = ts.cadence_of(recs)
    ndt_out = int(round(span / dt))
    if abs(ndt_out * dt - span) > 1e-6 * dt:
        raise ModuleError(f"TTOTAL={args['TTOTAL']} is not a whole number of samples of {dt:g} s")
    pieces = plan_pieces(recs, t0, ndt_out, dt, lmin, lmax)
    common = ts.inherited(recs, args["in"])
    ts.ensure_output(args["out"], lambda name, slot: timeseries_series(name, tstep_slot=slot), args["SLOT"], span)
    store = open_store()
    scratch = ts.scratch_dir()
    with store.writer(replace=True) as writer:
        for lo, hi in ts.chunks(lmin, lmax, args["LCHUNK"]):
            disk = ts.DiskArray.create((ts.nrows(lo, hi), 2 * ndt_out), scratch)
            try:
                nmissing = ndata = 0
                for rec, k0 in pieces:
                    rlo, rhi = ts.lrange_of(rec)
                    a, b = max(lo, rlo), min(hi, rhi)
                    if a > b:
                        continue
                    ndt = int(rec.keywords["NDT"])
                    rows = ts.read_rows(rec, ts.row_of(a, 0, rlo), ts.row_of(b, b, rlo) + 1)
                    disk.array[ts.row_of(a, 0, lo) : ts.row_of(b, b, lo) + 1, 2 * k0 : 2 * (k0 + ndt)] = rows
                    if a == lo:  # count each time piece once
                        nmissing += int(rec.keywords.get("NMISSING", 0))
                        ndata += int(rec.keywords.get("NDATA", 0))
                disk.array.flush()
                keywords = {**common, **ts.span_keywords(t0, ndt_out, dt), "LMIN": lo, "LMAX": hi,
                            "NMISSING": nmissing, "NDATA": ndata, "SOURCE": args["in"],
                            "VERSION": args["VERSION"] or "globalhs retile"}
                writer.add(args["out"], keywords, {"data": disk.array})
            finally:
                disk.close()


MODULE = Module(
    name="retile",
    summary="retile jv2ts-layout records into longer time series (retilen and retile1)",
    args=(
        Arg("in", str, help="input jv2ts-layout record set, e.g. mdi.vw_V_sht[6400d/12d]"),
        Arg("out", str, help="output series (created if absent), e.g. mdi.vw_V_sht_12d"),
        Arg("TSTART", str, help="start of the output span (JSOC time or MDI day, e.g. 6400d)"),
        Arg("TTOTAL", str, help="length of the output span, e.g. 12d or 72d"),
        Arg("LMIN", int, 0, "lowest degree to retile"),
        Arg("LMAX", int, 300, "highest degree to retile"),
        Arg("LCHUNK", int, 1, "degrees per output record (lchunkout)"),
        Arg("SLOT", str, "auto", "T_START slot step of a new output series (auto: 1d, or 1h for pieces < 1d)"),
        Arg("VERSION", str, "", "VERSION keyword of the output"),
    ),
    main=main,
)
