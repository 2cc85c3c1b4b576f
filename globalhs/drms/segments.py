"""Segment files: one FITS image per segment per record, written atomically (temp name, fsync,
rename) in the layout the series declares, read back as native floating-point arrays with NaN for
missing pixels."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from globalhs.drms.errors import DrmsError
from globalhs.drms.series import Keyword, Segment

__all__ = ["write_segment", "read_segment", "fsync_dir", "atomic_write_bytes", "header_cards"]

_COMPRESSION = {"rice": "RICE_1", "gzip": "GZIP_2"}
_FITS_TYPES = {"int16": np.int16, "int32": np.int32, "float32": np.float32, "float64": np.float64}


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees either the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def header_cards(keywords: dict[str, Any], table: dict[str, Keyword]) -> list[tuple[str, Any]]:
    """FITS cards for the record's keywords that fit a plain card (name <= 8 chars, finite value);
    the catalog is the source of truth, the header is a convenience for outside tools."""
    cards = []
    for name, value in keywords.items():
        kw = table.get(name)
        if len(name) > 8 or kw is None:
            continue
        if kw.type == "time":
            if not math.isfinite(value):
                continue
            value = kw.format(value)
        elif kw.type == "float" and not math.isfinite(value):
            continue
        elif kw.type == "string" and (len(value) > 68 or not value.isprintable()):
            continue
        cards.append((name, value))
    return cards


def _encode(seg: Segment, array: np.ndarray) -> np.ndarray:
    """The array as stored: floats as they are; integers scaled, rounded, NaN -> blank, range-checked."""
    data = np.asarray(array)
    if data.dtype.kind not in "iuf":
        raise DrmsError(f"segment {seg.name}: array of type {data.dtype}, expected real numbers")
    target = _FITS_TYPES[seg.dtype]
    if seg.dtype.startswith("float"):
        return np.ascontiguousarray(data, dtype=target)
    info = np.iinfo(target)
    scaled = seg.bscale != 1.0 or seg.bzero != 0.0

    def out_of_range(lo: float, hi: float) -> DrmsError:
        return DrmsError(f"segment {seg.name}: values from {lo:g} to {hi:g} do not fit {seg.dtype} with "
                         f"bscale={seg.bscale:g}, bzero={seg.bzero:g} and blank {seg.blank} "
                         f"(stored range {info.min}..{info.max})")

    if data.dtype.kind in "iu" and not scaled:
        lo, hi = (int(data.min()), int(data.max())) if data.size else (0, 0)
        if lo < info.min or hi > info.max or lo <= seg.blank <= hi and np.any(data == seg.blank):
            raise out_of_range(lo, hi)
        return data.astype(target)
    # int16 values are exact in float32; wider integers or scaling need float64
    work = np.float32 if seg.dtype == "int16" and not scaled and data.dtype.itemsize <= 4 else np.float64
    x = data.astype(work)
    if scaled:
        x -= seg.bzero
        x /= seg.bscale
    np.rint(x, out=x)
    missing = np.isnan(x)
    lo = float(np.min(x, where=~missing, initial=np.inf))
    hi = float(np.max(x, where=~missing, initial=-np.inf))
    if missing.all():
        lo = hi = 0.0
    if lo < info.min or hi > info.max or lo <= seg.blank <= hi and np.any(x == seg.blank):
        raise out_of_range(lo * seg.bscale + seg.bzero, hi * seg.bscale + seg.bzero)
    x[missing] = seg.blank
    return x.astype(target)


def write_segment(path: Path, seg: Segment, array: np.ndarray, cards: list[tuple[str, Any]] = ()) -> None:
    """Write ``array`` as segment ``seg`` to ``path`` atomically (fsynced before the rename)."""
    data = _encode(seg, array)
    header = fits.Header()
    for name, value in cards:
        header[name] = value
    if seg.dtype.startswith("int"):
        header["BLANK"] = seg.blank
        if seg.bscale != 1.0 or seg.bzero != 0.0:
            header["BSCALE"] = seg.bscale
            header["BZERO"] = seg.bzero
    if seg.unit:
        header["BUNIT"] = seg.unit
    if seg.compress != "none":
        hdu = fits.CompImageHDU(data, header=header, compression_type=_COMPRESSION[seg.compress],
                                quantize_level=0.0)
        if seg.dtype.startswith("int") and (seg.bscale != 1.0 or seg.bzero != 0.0):
            hdu.header["BSCALE"], hdu.header["BZERO"] = seg.bscale, seg.bzero
        hdus = fits.HDUList([fits.PrimaryHDU(), hdu])
    else:
        hdus = fits.HDUList([fits.PrimaryHDU(data, header=header, do_not_scale_image_data=True)])
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        hdus.writeto(fh, output_verify="exception")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_segment(path: Path, seg: Segment) -> np.ndarray:
    """The segment's data as a native-endian float array (NaN where the stored value is blank)."""
    try:
        with fits.open(path, do_not_scale_image_data=True, memmap=False) as hdus:
            hdu = hdus[1] if seg.compress != "none" and len(hdus) > 1 else hdus[0]
            raw = hdu.data
    except (OSError, ValueError, IndexError) as exc:
        raise DrmsError(f"cannot read segment {seg.name} from {path}: {exc}") from None
    if raw is None:
        raise DrmsError(f"segment file {path} holds no image")
    if seg.dtype.startswith("float"):
        return raw.astype(raw.dtype.newbyteorder("="), copy=False)
    out = raw.astype(np.float32 if seg.dtype == "int16" else np.float64)
    if seg.bscale != 1.0 or seg.bzero != 0.0:
        out = out * out.dtype.type(seg.bscale) + out.dtype.type(seg.bzero)
    out[raw == seg.blank] = np.nan
    return out
