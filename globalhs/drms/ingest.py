"""Ingest FITS Dopplergrams into a Dopplergram series, normalising MDI-style and HMI-style headers
onto the one set of geometry keywords the modules read (``builtin.GEOMETRY_KEYWORDS``).

Keyword sources, first match wins (MDI style, then HMI style):

=========  =======================================================================
T_REC      T_REC, T_OBS, DATE_OBS/DATE-OBS (slotted to the series cadence)
T_OBS      T_OBS, DATE_OBS/DATE-OBS, T_REC
X0, Y0     X0, Y0 (MDI, 0-based); else the pixel of world (0, 0) from CRPIX1/2, CRVAL1/2,
           CDELT1/2 and CROTA2 (HMI; CRPIX - 1 when CRVAL = 0)
RSUN_PIX   R_SUN (MDI, pixels); RSUN_OBS / CDELT1 (HMI, arcsec / arcsec per pixel)
B0         B0, OBS_B0, SOLAR_B0, CRLT_OBS
L0         L0, OBS_L0, CRLN_OBS
P          P, SOLAR_P, P_ANGLE, -CROTA2
DSUN       DSUN_OBS (m); OBS_DIST (AU) * 1 AU
=========  =======================================================================

Required: a time, the disk centre, the radius, B0 and P. The image must be 2-D; it may sit in the
primary HDU or in an image or tile-compressed extension (its header then adds to the primary's).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from astropy.io import fits

from globalhs.drms.builtin import input_series
from globalhs.drms.errors import DrmsError
from globalhs.time import TimeFormatError, parse_time

__all__ = ["read_dopplergram", "normalise_header", "ingest_files", "AU"]

AU = 149597870700.0


def read_dopplergram(path: str | os.PathLike) -> tuple[fits.Header, np.ndarray]:
    """Header (primary merged with the image extension's) and the image as float with NaN for BLANK."""
    path = Path(path)
    if not path.is_file():
        raise DrmsError(f"{path}: no such file")
    caught: list[warnings.WarningMessage] = []

    def truncated() -> DrmsError | None:
        for w in caught:
            if "truncated" in str(w.message).lower():
                return DrmsError(f"{path}: truncated FITS file ({w.message})")
        return None

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(path, do_not_scale_image_data=True, memmap=False) as hdus:
                image = next((h for h in hdus if h.is_image and h.header.get("NAXIS", 0) >= 2
                              and h.data is not None), None)
                if image is None:
                    raise DrmsError(f"{path}: no 2-D image in the file (expected a Dopplergram)")
                header = hdus[0].header.copy()
                if image is not hdus[0]:
                    for card in image.header.cards:
                        if card.keyword not in ("", "COMMENT", "HISTORY"):
                            header[card.keyword] = card.value
                raw = np.array(image.data)
                shape = tuple(image.header[f"NAXIS{i}"] for i in range(image.header["NAXIS"], 0, -1))
    except DrmsError:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError, ... on corrupt files
        raise truncated() or DrmsError(f"{path}: not a readable FITS file ({type(exc).__name__}: {exc})") from None
    error = truncated()
    if error:
        raise error
    if raw.shape != shape or raw.ndim != 2:
        raise DrmsError(f"{path}: image of shape {raw.shape}, expected a 2-D image of shape {shape}")
    data = raw.astype(np.float32 if raw.dtype.itemsize <= 2 else np.float64)
    if raw.dtype.kind in "iu":
        blank = header.get("BLANK")
        scale, zero = float(header.get("BSCALE", 1.0)), float(header.get("BZERO", 0.0))
        if scale != 1.0 or zero != 0.0:
            data = data * data.dtype.type(scale) + data.dtype.type(zero)
        if blank is not None:
            data[raw == int(blank)] = np.nan
    return header, data


def _first(header: fits.Header, names: Iterable[str]) -> tuple[str, Any] | None:
    for name in names:
        value = header.get(name)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return name, value
    return None


def _number(path: Path, name: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise DrmsError(f"{path}: keyword {name}={value!r} is not a number") from None
    if not math.isfinite(x):
        raise DrmsError(f"{path}: keyword {name}={value!r} is not finite")
    return x


def _time(path: Path, name: str, value: Any) -> float:
    try:
        # microseconds: astropy's two-part JD leaves ~1e-7 s of noise on whole seconds
        return round(parse_time(str(value).strip(), "UTC" if name.startswith("DATE") else "TAI"), 6)
    except TimeFormatError as exc:
        raise DrmsError(f"{path}: keyword {name}: {exc}") from None


def _quality(path: Path, value: Any) -> int:
    try:
        q = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise DrmsError(f"{path}: keyword QUALITY={value!r} is not an integer (or 0x hex string)") from None
    return q & 0xFFFFFFFF


def _require(path: Path, header: fits.Header, what: str, names: tuple[str, ...]) -> tuple[str, Any]:
    found = _first(header, names)
    if found is None:
        raise DrmsError(f"{path}: missing required keyword for the {what} (expected one of {', '.join(names)})")
    return found


def _centre(path: Path, header: fits.Header) -> tuple[float, float]:
    if _first(header, ("X0",)) and _first(header, ("Y0",)):
        return _number(path, "X0", header["X0"]), _number(path, "Y0", header["Y0"])
    if _first(header, ("CRPIX1",)) and _first(header, ("CRPIX2",)):
        crpix = np.array([_number(path, "CRPIX1", header["CRPIX1"]), _number(path, "CRPIX2", header["CRPIX2"])])
        crval = np.array([float(header.get("CRVAL1", 0.0)), float(header.get("CRVAL2", 0.0))])
        if crval.any():
            cdelt1 = _number(path, "CDELT1", _require(path, header, "image scale", ("CDELT1",))[1])
            cdelt2 = float(header.get("CDELT2", cdelt1))
            rho = math.radians(float(header.get("CROTA2", 0.0)))
            cd = np.array([[cdelt1 * math.cos(rho), -cdelt2 * math.sin(rho)],
                           [cdelt1 * math.sin(rho), cdelt2 * math.cos(rho)]])
            crpix = crpix - np.linalg.solve(cd, crval)  # the pixel whose world coordinates are (0, 0)
        return float(crpix[0]) - 1.0, float(crpix[1]) - 1.0
    raise DrmsError(f"{path}: missing required keyword for the disk centre (expected X0 and Y0, "
                    f"or CRPIX1 and CRPIX2)")


def normalise_header(header: fits.Header, path: str | os.PathLike = "<header>",
                     data: np.ndarray | None = None) -> dict[str, Any]:
    """The geometry keywords of one Dopplergram from an MDI-style or HMI-style header."""
    path = Path(path)
    kws: dict[str, Any] = {}
    name, value = _require(path, header, "observation time", ("T_REC", "T_OBS", "DATE_OBS", "DATE-OBS"))
    kws["T_REC"] = _time(path, name, value)
    name, value = _require(path, header, "observation time", ("T_OBS", "DATE_OBS", "DATE-OBS", "T_REC"))
    kws["T_OBS"] = _time(path, name, value)
    kws["X0"], kws["Y0"] = _centre(path, header)
    if _first(header, ("R_SUN",)):
        kws["RSUN_PIX"] = _number(path, "R_SUN", header["R_SUN"])
    elif _first(header, ("RSUN_OBS",)) and _first(header, ("CDELT1",)):
        kws["RSUN_PIX"] = _number(path, "RSUN_OBS", header["RSUN_OBS"]) / _number(path, "CDELT1", header["CDELT1"])
    else:
        raise DrmsError(f"{path}: missing required keyword for the solar radius (expected R_SUN in pixels, "
                        f"or RSUN_OBS and CDELT1)")
    if not kws["RSUN_PIX"] > 0:
        raise DrmsError(f"{path}: solar radius {kws['RSUN_PIX']} pixels, expected > 0")
    name, value = _require(path, header, "B0 angle", ("B0", "OBS_B0", "SOLAR_B0", "CRLT_OBS"))
    kws["B0"] = _number(path, name, value)
    found = _first(header, ("P", "SOLAR_P", "P_ANGLE"))
    if found:
        kws["P"] = _number(path, *found)
    else:
        kws["P"] = -_number(path, "CROTA2", _require(path, header, "P angle", ("P", "SOLAR_P", "P_ANGLE", "CROTA2"))[1])
    optional = {"L0": ("L0", "OBS_L0", "CRLN_OBS"), "CDELT": ("CDELT1",), "OBS_VR": ("OBS_VR",),
                "OBS_VW": ("OBS_VW",), "OBS_VN": ("OBS_VN",), "RSUN_REF": ("RSUN_REF",)}
    for key, names in optional.items():
        found = _first(header, names)
        if found:
            kws[key] = _number(path, *found)
    if _first(header, ("DSUN_OBS",)):
        kws["DSUN"] = _number(path, "DSUN_OBS", header["DSUN_OBS"])
    elif _first(header, ("OBS_DIST",)):
        kws["DSUN"] = _number(path, "OBS_DIST", header["OBS_DIST"]) * AU
    found = _first(header, ("DATASIGN", "DSIGN0"))
    if found:
        kws["DATASIGN"] = int(_number(path, *found))
    found = _first(header, ("QUALITY",))
    if found:
        kws["QUALITY"] = _quality(path, found[1])
    found = _first(header, ("INSTRUME",))
    if found:
        kws["INSTRUME"] = str(found[1]).strip()
    if _first(header, ("MISSVALS",)):
        kws["MISSVALS"] = int(_number(path, "MISSVALS", header["MISSVALS"]))
    elif data is not None:
        ny, nx = data.shape
        y, x = np.ogrid[:ny, :nx]
        inside = (x - kws["X0"]) ** 2 + (y - kws["Y0"]) ** 2 <= kws["RSUN_PIX"] ** 2
        kws["MISSVALS"] = int(np.count_nonzero(np.isnan(data) & inside))
    kws["SOURCE"] = str(path)
    return kws


def ingest_files(store, series: str, paths: Iterable[str | os.PathLike], replace: bool = False,
                 segment: str = "V", progress: Callable[[int], None] | None = None) -> list:
    """Ingest Dopplergram files into ``series`` in one transaction; returns the new Records.

    A builtin input series (mdi.vw_V, mdi.fd_V, hmi.V_45s, synth.V) is created on first use. Any bad
    file (unreadable, truncated, missing keyword, record already stored with ``replace=False``)
    raises DrmsError naming it, and nothing of the whole call is stored. ``progress(n)`` is called
    after each file with the number of files done."""
    if not store.has_series(series):
        builtin = input_series(series)
        if builtin is None:
            raise DrmsError(f"unknown series {series!r}: create it first (`globalhs series create FILE`) "
                            f"or use a builtin input series (mdi.vw_V, mdi.fd_V, hmi.V_45s, synth.V)")
        store.ensure_series(builtin)
    defn = store.series(series)
    defn.segment(segment)
    known = {k.name for k in defn.keywords} | set(defn.prime_names)
    with store.writer(replace=replace, stage=False) as w:
        for done, path in enumerate(paths, 1):
            header, data = read_dopplergram(path)
            kws = normalise_header(header, path, data)
            kws = {k: v for k, v in kws.items() if k in known}
            try:
                w.add(series, kws, {segment: data})
            except DrmsError as exc:
                raise DrmsError(f"{path}: {exc}") from None
            if progress is not None:
                progress(done)
    return store.records(w.recnums)
