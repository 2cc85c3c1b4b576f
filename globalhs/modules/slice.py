"""slice: power spectra of pieces of the series stepped by SLICESTEP (dopowslice).

Pieces of TTOTALOUT (powtotaltime) start at STARTOFFSET, STARTOFFSET + SLICESTEP, ... as long as
they fit in the series; each gives one output record per input record, T_START naming the piece.
Normalisation and layout as :mod:`globalhs.modules.pow`.
"""

from __future__ import annotations

from typing import Any

from globalhs.modules import _timeseries as ts
from globalhs.modules.base import Arg, Module, ModuleError
from globalhs.modules.pow import COMMON_ARGS, _piece, write_spectra
from globalhs.science.spectra import slice_starts


def main(args: dict[str, Any]) -> None:
    start, nout, dt = _piece(args)
    if not args["TTOTALOUT"]:
        raise ModuleError("argument TTOTALOUT is required for slices: expected the length of each slice, e.g. 24d")
    step_s = ts.seconds(args["SLICESTEP"], "SLICESTEP")
    step = int(round(step_s / dt))
    ndt = min(int(r.keywords["NDT"]) for r in ts.query(args["in"]))
    try:
        starts = slice_starts(ndt, nout, step, start)
    except ValueError as exc:
        raise ModuleError(f"STARTOFFSET/TTOTALOUT/SLICESTEP: {exc}") from None
    write_spectra(args, [int(s) for s in starts], nout, step_s)


MODULE = Module(
    name="slice",
    summary="power spectra of slices of a_lm(t) time series",
    args=COMMON_ARGS + (Arg("SLICESTEP", str, "3d", "step between slice starts (slicestep)"),),
    main=main,
)
