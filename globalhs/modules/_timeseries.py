"""What the time-series modules (retile, dscopy, mkgaps, gapfill, pow, slice) share.

The jv2ts layout (SPEC §3): a float32 array [rows, 2*NDT] per record, row l(l+1)/2 + m minus
LMIN(LMIN+1)/2 for l = LMIN..LMAX and m = 0..l, real and imaginary parts interleaved in time; prime
keys T_START, LMIN, LMAX, NDT. Reading goes through astropy's memory map where the segment is an
uncompressed image, so a module touches only the rows it needs and never holds a whole data set.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from astropy.io import fits

from globalhs.drms import DrmsError, open_store
from globalhs.modules.base import ModuleError
from globalhs.time import TimeFormatError, parse_duration, parse_time_or_day

#: keywords a product inherits from its jv2ts inputs; the first three define the transform and must
#: agree, the others may change within a span (HMI's calibration version does) and are taken from
#: the first input record
INHERITED = ("MAPMMAX", "SINBDIVS", "MFLIPPED", "CALVER64", "TAG")
MUST_AGREE = ("MAPMMAX", "SINBDIVS", "MFLIPPED")


def row_of(l: int, m: int, lfirst: int) -> int:
    """Row of (l, m) in a record whose first degree is ``lfirst``."""
    return l * (l + 1) // 2 + m - lfirst * (lfirst + 1) // 2


def nrows(lmin: int, lmax: int) -> int:
    """Rows of a record holding l = lmin..lmax (all m >= 0)."""
    return (lmax + 1) * (lmax + 2) // 2 - lmin * (lmin + 1) // 2


def seconds(text: str, what: str) -> float:
    try:
        return parse_duration(text)
    except TimeFormatError as exc:
        raise ModuleError(f"argument {what}={text!r}: expected a duration such as 72d or 6h ({exc})") from None


def time_arg(text: str, what: str) -> float:
    try:
        return parse_time_or_day(text)
    except TimeFormatError as exc:
        raise ModuleError(f"argument {what}={text!r}: expected a JSOC time or an MDI day such as 6400d ({exc})") from None


def query(recordset: str, what: str = "in") -> list:
    """Records of a record set, ModuleError (naming the argument) when the query fails or is empty."""
    try:
        recs = open_store().query(recordset)
    except DrmsError as exc:
        raise ModuleError(f"argument {what}={recordset}: {exc}") from None
    if not recs:
        raise ModuleError(f"argument {what}={recordset}: no records; expected the output of the previous step")
    return recs


def lrange_of(rec) -> tuple[int, int]:
    return int(rec.keywords["LMIN"]), int(rec.keywords["LMAX"])


def cadence_of(recs: Iterable) -> float:
    """The common T_STEP of records; ModuleError when missing or different."""
    steps = {float(r.keywords.get("T_STEP", float("nan"))) for r in recs}
    if len(steps) != 1 or not all(np.isfinite(s) and s > 0 for s in steps):
        raise ModuleError(f"input records have T_STEP {sorted(steps)}; expected one positive cadence")
    return steps.pop()


def check_shape(rec, shape: tuple[int, ...], segment: str = "data") -> None:
    """The segment's FITS header says ``shape`` (numpy order), else a ModuleError naming the record."""
    path = rec.segment_path(segment)
    try:
        header = fits.getheader(path, 0)
        got = tuple(int(header[f"NAXIS{i}"]) for i in range(int(header["NAXIS"]), 0, -1))
    except (OSError, KeyError, ValueError) as exc:
        raise ModuleError(f"record {rec.spec()}: cannot read segment {segment} ({path}): {exc}") from None
    if got != shape:
        raise ModuleError(f"record {rec.spec()}: segment {segment} has shape {got}, expected {shape} "
                          f"(jv2ts layout [rows of l={rec.keywords.get('LMIN')}..{rec.keywords.get('LMAX')}, 2*NDT])")


def read_rows(rec, first: int, stop: int, segment: str = "data") -> np.ndarray:
    """Rows [first, stop) of a record's 2-D segment as native float32, read through a memory map."""
    path = rec.segment_path(segment)
    try:
        with fits.open(path, memmap=True, do_not_scale_image_data=True) as hdus:
            data = hdus[0].data
            if data is None or data.ndim != 2:
                raise ValueError("no 2-D image in the primary HDU")
            if stop > data.shape[0]:
                raise ValueError(f"{data.shape[0]} rows, {stop} needed")
            out = np.array(data[first:stop], dtype=np.float32)
            del data
    except (OSError, ValueError, TypeError) as exc:
        raise ModuleError(f"record {rec.spec()}: cannot read rows {first}..{stop - 1} of segment {segment} "
                          f"({path}): {exc}") from None
    if not np.all(np.isfinite(out)):
        raise ModuleError(f"record {rec.spec()}: segment {segment} rows {first}..{stop - 1} hold NaN or "
                          f"infinite values; expected finite a_lm (missing images are zeros)")
    return out


def to_complex(rows: np.ndarray) -> np.ndarray:
    """[rows, 2*NDT] interleaved float32 -> [rows, NDT] complex64 (a view-free copy)."""
    return np.ascontiguousarray(rows, dtype=np.float32).view(np.complex64)


def to_interleaved(z: np.ndarray) -> np.ndarray:
    """[rows, NDT] complex -> [rows, 2*NDT] float32, real and imaginary parts interleaved."""
    return np.ascontiguousarray(z, dtype=np.complex64).view(np.float32)


def inherited(recs: Iterable, source: str) -> dict[str, Any]:
    """Keywords a product takes over from its inputs; ModuleError if the inputs disagree."""
    out: dict[str, Any] = {}
    recs = list(recs)
    for name in INHERITED:
        values = {r.keywords.get(name) for r in recs} - {None}
        if len(values) > 1 and name not in MUST_AGREE:
            out[name] = next(r.keywords[name] for r in recs if r.keywords.get(name) is not None)
            continue
        if len(values) > 1:
            raise ModuleError(f"input records of {source} disagree on {name} ({sorted(map(str, values))}); "
                              "expected one data set made one way")
        if values:
            out[name] = values.pop()
    return out


def span_keywords(t_start: float, ndt: int, step: float) -> dict[str, Any]:
    return {"T_START": t_start, "NDT": int(ndt), "T_STEP": step, "T_STOP": t_start + ndt * step,
            "T_OBS": t_start + 0.5 * ndt * step,
            "DATE": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


@dataclass
class DiskArray:
    """A float32 array in a temporary file: outputs are assembled through the disk, so
    a module holds one input piece at a time, and the store writer streams the file to FITS."""

    array: np.memmap
    path: Path

    @classmethod
    def create(cls, shape: tuple[int, ...], directory: str | os.PathLike | None = None) -> "DiskArray":
        fd, name = tempfile.mkstemp(prefix=".globalhs-", suffix=".f4", dir=directory)
        os.close(fd)
        array = np.memmap(name, dtype=np.float32, mode="w+", shape=shape)
        return cls(array, Path(name))

    def close(self) -> None:
        """Forget the map and remove the file (Linux keeps the pages of a removed file valid while
        any view still refers to them)."""
        self.array = None  # type: ignore[assignment]
        self.path.unlink(missing_ok=True)


def scratch_dir() -> str | None:
    """Where temporary arrays go: beside the staged records when the driver stages this job."""
    stage = os.environ.get("GLOBALHS_STAGE")
    if stage:
        parent = Path(stage).resolve().parent  # the step directory: same disk, outside the stage
        parent.mkdir(parents=True, exist_ok=True)
        return str(parent)
    return None


def chunks(lmin: int, lmax: int, lchunk: int) -> Iterator[tuple[int, int]]:
    """(first, last) degree of each output record: lchunk degrees, the last chunk shorter."""
    if lchunk < 1:
        raise ModuleError(f"argument LCHUNK={lchunk}: expected at least 1 degree per record")
    for lo in range(lmin, lmax + 1, lchunk):
        yield lo, min(lo + lchunk - 1, lmax)


def ensure_output(name: str, factory, slot_arg: str, shortest: float):
    """Create the output series with ``factory(name, slot)`` unless it exists; returns the slot step.

    ``slot_arg`` "auto" picks 1 day when every piece written is at least a day apart (``shortest``
    seconds), else 1 hour; an existing series keeps its own slot. A slot longer than ``shortest``
    would make two records share a prime key, which is an error."""
    store = open_store()
    try:
        if store.has_series(name):
            step = store.series(name).prime[0].step
        else:
            if slot_arg == "auto":
                slot_arg = "1d" if shortest >= 86400 else "1h"
            step = seconds(slot_arg, "SLOT")
            store.ensure_series(factory(name, slot_arg))
    except DrmsError as exc:
        raise ModuleError(f"argument out={name}: {exc}") from None
    if step > shortest + 1e-6:
        raise ModuleError(f"series {name} has T_START slots of {step:g} s, longer than the {shortest:g} s between "
                          "the records this job writes: they would share a slot; use another output series")
    return step
