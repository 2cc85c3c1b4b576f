"""shtcheck: verify what one jv2ts job wrote (the driver's step after sht, same parameter file).

For every time chunk (TCHUNK from TSTART over TTOTAL) and every l chunk (LCHUNK from LMIN to
LMAX) the record must exist in ``tsout`` with NDT = TCHUNK/cadence, the jv2ts array shape, finite
values, and gaps only where the input had them: the all-zero time columns must be exactly the
input's absent or unusable images, and their number must equal the NMISSING keyword.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from globalhs.drms import DrmsError, open_store
from globalhs.modules.base import Module, ModuleError
from globalhs.modules.jv2ts import ARGS, Setup, _cadence, _usable
from globalhs.science.legendre import lm_count
from globalhs.time import format_time


def _expected_missing(recs: list, t0: float, ndt: int, cadence: float, args: dict) -> set[int]:
    """Time columns of [t0, t0 + ndt*cadence) whose input image is absent or unusable."""
    present = set()
    for rec in recs:
        k = int(round((float(rec.keywords["T_REC"]) - t0) / cadence))
        if 0 <= k < ndt and _usable(rec, args):
            present.add(k)
    return set(range(ndt)) - present


def main(args: dict[str, Any]) -> None:
    setup = Setup(args)
    store = open_store()
    try:
        inputs = store.query(args["in"])
    except DrmsError as exc:
        raise ModuleError(f"argument in={args['in']}: {exc}") from None
    if not inputs:
        raise ModuleError(f"argument in={args['in']}: no input records; cannot tell which gaps are expected")
    cadence, _ = _cadence(inputs[0])
    ndt = int(round(setup.tchunk / cadence))
    problems: list[str] = []
    checked = 0
    for c in range(setup.ntchunks):
        t0 = setup.tstart + c * setup.tchunk
        missing = _expected_missing(inputs, t0, ndt, cadence, args)
        for lo, hi in setup.lchunks:
            spec = f"{args['tsout']}[{format_time(t0, 'TAI')}][{lo}][{hi}][{ndt}]"
            try:
                recs = store.query(spec)
            except DrmsError as exc:
                problems.append(f"{spec}: {exc}")
                continue
            if len(recs) != 1:
                problems.append(f"{spec}: record absent (expected one with NDT={ndt})")
                continue
            rec = recs[0]
            data = rec.read("data")
            if data.shape != (lm_count(lo, hi), 2 * ndt):
                problems.append(f"{spec}: array {data.shape}, expected {(lm_count(lo, hi), 2 * ndt)}")
                continue
            if not np.isfinite(data).all():
                problems.append(f"{spec}: non-finite values")
            pairs = data.reshape(data.shape[0], ndt, 2)
            zero = set(np.flatnonzero(~pairs.any(axis=(0, 2))).tolist())
            if zero != missing:
                unexpected, filled = sorted(zero - missing)[:5], sorted(missing - zero)[:5]
                problems.append(f"{spec}: zero columns {len(zero)} vs {len(missing)} missing inputs "
                                f"(unexpected gaps at samples {unexpected}, data where the input is missing {filled})")
            if int(rec.keywords.get("NMISSING", -1)) != len(missing):
                problems.append(f"{spec}: NMISSING={rec.keywords.get('NMISSING')}, expected {len(missing)}")
            checked += 1
    if problems:
        raise ModuleError(f"{len(problems)} problem(s) in {args['tsout']}: " + "; ".join(problems[:20]))
    print(f"shtcheck: {checked} records of {args['tsout']} verified", flush=True)


MODULE = Module(
    name="shtcheck",
    summary="check that every jv2ts output record of a job exists with the right NDT and no unexpected gaps",
    args=ARGS,
    main=main,
)
