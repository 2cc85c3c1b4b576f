"""dscopy: copy the records of a data set into a named series (dodscopyn / dodscopy1).

The original used these optional steps to archive a retiled data set under another name. The copy
has the input series' definition under the new name (created if absent; an existing series must
have the same prime keys, keywords and segments) and every keyword and segment of each record.
Segments are read through a memory map where possible, so a large record is streamed, not loaded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from astropy.io import fits

from globalhs.drms import DrmsError, open_store
from globalhs.modules import _timeseries as ts
from globalhs.modules.base import Arg, Module, ModuleError


def _segment_data(rec, name: str) -> np.ndarray:
    seg = rec.defn.segment(name)
    if seg.dtype.startswith("float") and seg.compress == "none":
        path = rec.segment_path(name)
        try:
            with fits.open(path, memmap=True) as hdus:
                data = hdus[0].data
                if data is None:
                    raise ValueError("no image")
                return np.asarray(data)
        except (OSError, ValueError) as exc:
            raise ModuleError(f"record {rec.spec()}: cannot read segment {name} ({path}): {exc}") from None
    try:
        return rec.read(name)
    except DrmsError as exc:
        raise ModuleError(f"record {rec.spec()}: {exc}") from None


def main(args: dict[str, Any]) -> None:
    recs = ts.query(args["in"])
    if "LMIN" in recs[0].keywords and args["LMAX"] >= 0:
        recs = [r for r in recs if not (ts.lrange_of(r)[1] < args["LMIN"] or ts.lrange_of(r)[0] > args["LMAX"])]
        if not recs:
            raise ModuleError(f"argument in={args['in']}: no record holds l in {args['LMIN']}..{args['LMAX']}")
    defs = {r.series for r in recs}
    if len(defs) != 1:
        raise ModuleError(f"argument in={args['in']}: records from several series {sorted(defs)}; expected one")
    source = recs[0].defn
    if args["out"] == source.name:
        raise ModuleError(f"argument out={args['out']}: the copy must go to another series than its input")
    store = open_store()
    try:
        store.ensure_series(dataclasses.replace(source, name=args["out"]))
    except DrmsError as exc:
        raise ModuleError(f"argument out={args['out']}: {exc}") from None
    for rec in recs:  # everything present before anything is written
        for seg in source.segments:
            if not rec.segment_path(seg.name).exists():
                raise ModuleError(f"record {rec.spec()} has no file for segment {seg.name}")
    with store.writer(replace=True) as writer:
        for rec in recs:
            segments = {seg.name: _segment_data(rec, seg.name) for seg in source.segments}
            writer.add(args["out"], dict(rec.keywords), segments)


MODULE = Module(
    name="dscopy",
    summary="copy a data set into a named series (optional archive copies)",
    args=(
        Arg("in", str, help="input record set, e.g. mdi.vw_V_sht_72d[6400d]"),
        Arg("out", str, help="series to copy into (created like the input's if absent)"),
        Arg("LMIN", int, 0, "with LMAX: copy only records holding degrees in LMIN..LMAX"),
        Arg("LMAX", int, -1, "highest degree to copy (-1: every record)"),
    ),
    main=main,
)
