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
    data = np.asarray(array)
    if data.dtype.kind not in "iuf" or data.dtype.kind == "c":
        raise DrmsError(f"segment {seg.name}: array of type {data.dtype}, expected real numbers")
    if seg.dtype.startswith("float"):
        return np.ascontiguousarray(data, dtype=_FITS_TYPES[seg.dtype])
    info = np.iinfo(_FITS_TYPES[seg.dtype])
    x = data.astype(np.float64)
    missing = ~np.isfinite(x)
    if seg.bscale != 1.0 or seg.bzero != 0.0 or data.dtype.kind == "f":
        x = np.rint((x - seg.bzero) / seg.bscale)
    x[missing] = seg.blank
    bad = (x < info.min) | (x > info.max) | ((x == seg.blank) & ~missing)
    if bad.any():
        raise DrmsError(f"segment {seg.name}: {int(bad.sum())} value(s) outside the range {seg.dtype} "
                        f"can store with bscale={seg.bscale}, bzero={seg.bzero} (blank {seg.blank})")
    return x.astype(_FITS_TYPES[seg.dtype])


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
