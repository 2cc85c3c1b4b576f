"""Segment files: one FITS image per segment per record, written atomically (temp name, fsync,
rename) in the layout the series declares, read back as native floating-point arrays with NaN for
missing pixels."""

from __future__ import annotations

import ctypes
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from astropy.io import fits

from globalhs.atomic import atomic_write
from globalhs.drms.errors import DrmsError
from globalhs.drms.series import Keyword, Segment

__all__ = ["write_segment", "read_segment", "fsync_dir", "sync_filesystem", "atomic_write_bytes", "header_cards"]

_COMPRESSION = {"rice": "RICE_1", "gzip": "GZIP_2"}
_FITS_TYPES = {"int16": np.int16, "int32": np.int32, "float32": np.float32, "float64": np.float64}


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc_syncfs():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _libc_syncfs()


def sync_filesystem(path: Path, files: Iterable[Path] = ()) -> None:
    """Make every write to the filesystem holding ``path`` durable, in one call.

    Linux ``syncfs(2)`` writes back the whole filesystem's dirty data and commits its journal (since
    Linux 5.8 it also reports writeback errors, raised here as ``OSError``): one call instead of an
    fsync per file and directory, the cost of a batch of records. Where ``syncfs`` is missing, each of
    ``files`` (and its directory) is fsynced instead, which gives the same guarantee for those files.
    """
    if _SYNCFS is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs of the filesystem holding {path}: {os.strerror(err)}")
        finally:
            os.close(fd)
        return
    for file in files:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(Path(file).parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees either the old file or the whole new one."""
    atomic_write(path, data)
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


def write_segment(path: Path, seg: Segment, array: np.ndarray, cards: list[tuple[str, Any]] = (),
                  *, fsync: bool = True) -> None:
    """Write ``array`` as segment ``seg`` to ``path`` atomically (fsynced before the rename).

    ``fsync=False`` leaves durability to the caller (``sync_filesystem`` before the file is catalogued)."""
    data = _encode(seg, array)
    if seg.compress == "none" and seg.dtype.startswith("float"):
        # Why: astropy's header and HDU objects cost ~9 ms per small image, more than making it
        # (docs/performance.md, synth); the plain layout is a few lines of the FITS standard.
        blob = _plain_fits(data, [*cards, *([("BUNIT", seg.unit)] if seg.unit else [])])
        if blob is not None:
            atomic_write(path, blob, durable=fsync)
            return
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
    # astropy refuses the exclusive-create mode ("xb") globalhs.atomic opens its temporary files with
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        hdus.writeto(fh, output_verify="exception")
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _card_value(value: Any) -> str | None:
    """The value field of a fixed-format card as astropy writes it, or None if this is not a plain
    bool, integer, float or short printable string (the caller then lets astropy write the file)."""
    if isinstance(value, (bool, np.bool_)):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, (int, np.integer)):
        text = str(int(value))
        return f"{text:>20}" if len(text) <= 20 else None
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        text = str(value).replace("e", "E")  # a numpy float32 as its own shortest form, like astropy
        if "E" in text:
            significand, exponent = text.split("E")
            sign = exponent[0] if exponent[0] in "+-" else ""
            text = f"{significand}E{sign}{int(exponent.lstrip('+-')):02d}"
        elif "." not in text:
            text += ".0"
        if len(text) > 20:  # keep the exponent, shorten the significand (astropy's rule)
            cut = text.find("E")
            text = text[:20] if cut < 0 else text[: 20 - (len(text) - cut)] + text[cut:]
        return f"{text:>20}"
    if isinstance(value, str):
        if not value.isascii() or not value.isprintable():
            return None
        text = "'" + value.replace("'", "''").ljust(8) + "'" if value else "''"
        return f"{text:<20}" if len(text) <= 70 else None
    return None


_PLAIN_BITPIX = {np.dtype(np.float32): -32, np.dtype(np.float64): -64}
_PLAIN_NAME = re.compile(r"[A-Z0-9_-]{1,8}")
_RESERVED = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "END", "BSCALE", "BZERO", "BLANK", "XTENSION", "COMMENT",
             "HISTORY", "CONTINUE"} | {f"NAXIS{k}" for k in range(1, 1000)}


def _plain_fits(data: np.ndarray, cards: list[tuple[str, Any]]) -> bytes | None:
    """A single-HDU FITS file of a float image with ``cards``, byte for byte what astropy's
    ``PrimaryHDU(data, header).writeto`` gives; None if a card is not of the plain kinds."""
    lines = [f"{'SIMPLE':<8}= {'T':>20} / conforms to FITS standard",
             f"{'BITPIX':<8}= {_PLAIN_BITPIX[data.dtype]:>20} / array data type",
             f"{'NAXIS':<8}= {data.ndim:>20} / number of array dimensions"]
    lines += [f"{f'NAXIS{k + 1}':<8}= {n:>20}" for k, n in enumerate(reversed(data.shape))]
    names = [name for name, _ in cards]
    if data.size == 0 or len(set(names)) < len(names) or not all(_PLAIN_NAME.fullmatch(n) for n in names) \
            or _RESERVED.intersection(names):
        return None
    for name, value in cards:
        text = _card_value(value)
        if text is None:
            return None
        lines.append(f"{name:<8}= {text}")
    lines.append("END")
    header = "".join(line.ljust(80) for line in lines)
    header += " " * (-len(header) % 2880)
    body = data.astype(data.dtype.newbyteorder(">"), copy=False).tobytes()
    return header.encode("ascii") + body + b"\0" * (-len(body) % 2880)


_BITPIX = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _read_plain_image(path: Path) -> np.ndarray | None:
    """The raw (unscaled) primary image of an uncompressed FITS file, parsed directly, or None
    when the file is not the plain layout :func:`write_segment` writes (the caller then uses
    astropy). Why: astropy's per-file overhead (~1-2 ms) dominated reading small Dopplergrams
    (docs/performance.md, jv2ts); this is one read and one view, no header objects."""
    with open(path, "rb") as fh:
        data = fh.read()
    cards: dict[str, str] = {}
    end = -1
    for start in range(0, len(data) - 79, 80):
        card = data[start : start + 80]
        key = card[:8].rstrip()
        if key == b"END":
            end = start
            break
        if card[8:10] == b"= ":
            cards[key.decode("ascii", "replace")] = card[10:].split(b"/")[0].strip().decode("ascii", "replace")
    if end < 0 or cards.get("SIMPLE") != "T":
        return None
    try:
        bitpix, naxis = int(cards["BITPIX"]), int(cards["NAXIS"])
        shape = tuple(int(cards[f"NAXIS{k}"]) for k in range(naxis, 0, -1))
    except (KeyError, ValueError):
        return None
    if bitpix not in _BITPIX or naxis < 1 or "XTENSION" in cards:
        return None
    offset = (end // 2880 + 1) * 2880
    count = math.prod(shape)
    if offset + count * abs(bitpix) // 8 > len(data):
        return None
    return np.frombuffer(data, dtype=_BITPIX[bitpix], count=count, offset=offset).reshape(shape)


def read_segment(path: Path, seg: Segment) -> np.ndarray:
    """The segment's data as a native-endian float array (NaN where the stored value is blank)."""
    try:
        raw = _read_plain_image(path) if seg.compress == "none" else None
        if raw is None:
            with fits.open(path, do_not_scale_image_data=True, memmap=False) as hdus:
                hdu = hdus[1] if seg.compress != "none" and len(hdus) > 1 else hdus[0]
                raw = hdu.data
    except (OSError, ValueError, IndexError) as exc:
        raise DrmsError(f"cannot read segment {seg.name} from {path}: {exc}") from None
    if raw is None:
        raise DrmsError(f"segment file {path} holds no image")
    if seg.dtype.startswith("float"):
        return raw.astype(raw.dtype.newbyteorder("="))  # a writable native copy
    out = raw.astype(np.float32 if seg.dtype == "int16" else np.float64)
    if seg.bscale != 1.0 or seg.bzero != 0.0:
        out = out * out.dtype.type(seg.bscale) + out.dtype.type(seg.bzero)
    out[raw == seg.blank] = np.nan
    return out
