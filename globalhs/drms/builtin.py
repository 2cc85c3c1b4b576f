"""Built-in series definitions: the Dopplergram inputs the labels read and the jv2ts-layout
time-series products. One source of truth for the normalised geometry keywords that ingest writes
and the modules read.

Slot steps (why): a Dopplergram series' T_REC is slotted at its cadence (60 s for MDI and the
synthetic Sun, 45 s for HMI) and rounded to the nearest slot (round = cadence), as in DRMS. A
time-series product's T_START is slotted from the MDI epoch with a step that must not exceed the
shortest chunk written into the series: 1 day by default (so the slot index is the MDI day number and
``series[6328-6399]`` selects days), 6 h for the SHT output of 6-hour TCHUNKs (``tstep_slot="6h"``),
otherwise two 6-hour chunks of one day would name the same record.
"""

from __future__ import annotations

from typing import Callable, Iterable

from globalhs.drms.series import Keyword, PrimeKey, Segment, SeriesDef
from globalhs.time import MDI_EPOCH, parse_duration

__all__ = ["GEOMETRY_KEYWORDS", "span_degree_keys", "dopplergram_series", "mdi_vw_V", "mdi_fd_V", "hmi_V_45s", "synth_V",
           "INPUT_SERIES", "input_series", "timeseries_series", "TIMESERIES_KEYWORDS"]

GEOMETRY_KEYWORDS: tuple[Keyword, ...] = (
    Keyword("T_OBS", "time", description="time of the observation (T_REC is the slotted prime key)"),
    Keyword("X0", "float", unit="pixel", description="disk centre, column, 0-based (MDI X0; HMI CRPIX1-1)"),
    Keyword("Y0", "float", unit="pixel", description="disk centre, row, 0-based (MDI Y0; HMI CRPIX2-1)"),
    Keyword("RSUN_PIX", "float", unit="pixel", description="solar radius in pixels (MDI R_SUN; HMI RSUN_OBS/CDELT1)"),
    Keyword("B0", "float", unit="deg", description="heliographic latitude of disk centre (MDI B0; HMI CRLT_OBS)"),
    Keyword("L0", "float", unit="deg", description="Carrington longitude of disk centre (MDI L0; HMI CRLN_OBS)"),
    Keyword("P", "float", 0.0, "deg", "position angle of solar north, counter-clockwise from image up "
            "(MDI P / SOLAR_P / P_ANGLE; HMI -CROTA2)"),
    Keyword("DSUN", "float", unit="m", description="observer-Sun distance (MDI OBS_DIST in AU; HMI DSUN_OBS)"),
    Keyword("RSUN_REF", "float", 696000000.0, "m", "reference solar radius for the finite-distance "
            "correction S = RSUN_REF/DSUN"),
    Keyword("CDELT", "float", unit="arcsec/pixel", description="image scale (CDELT1)"),
    Keyword("OBS_VR", "float", unit="m/s", description="observer velocity, radial (away from the Sun positive)"),
    Keyword("OBS_VW", "float", unit="m/s", description="observer velocity, westward"),
    Keyword("OBS_VN", "float", unit="m/s", description="observer velocity, northward"),
    Keyword("DATASIGN", "int", 1, description="sign to apply to the data (MDI DATASIGN/DSIGN0; HMI 1)"),
    Keyword("QUALITY", "int", 0, description="quality bits; 0x80000000 = image missing or unusable"),
    Keyword("MISSVALS", "int", 0, description="missing pixels inside the disk"),
    Keyword("INSTRUME", "string", description="instrument"),
    Keyword("SOURCE", "string", description="file the record was ingested from"),
)


def dopplergram_series(name: str, cadence: str | float, segment: Segment | None = None,
                       description: str = "") -> SeriesDef:
    """A Dopplergram series: T_REC slotted at ``cadence`` from the MDI epoch (rounded to the nearest
    slot), the normalised geometry keywords, one segment ``V`` (m/s)."""
    step = parse_duration(cadence) if isinstance(cadence, str) else float(cadence)
    seg = segment or Segment("V", "float32", unit="m/s", description="line-of-sight velocity")
    return SeriesDef(
        name,
        (PrimeKey("T_REC", "time", MDI_EPOCH, step, step, "TAI", "slotted observation time"),),
        GEOMETRY_KEYWORDS + (Keyword("CADENCE", "float", step, "s", "nominal cadence"),),
        (seg,),
        description,
    )


def mdi_vw_V() -> SeriesDef:
    """MDI Medium-l (vector-weighted, binned) Dopplergrams, 1-minute cadence."""
    return dopplergram_series("mdi.vw_V", "1m", Segment("V", "int16", unit="m/s"),
                              "SOHO/MDI Medium-l program Dopplergrams (vw_V), 60 s cadence")


def mdi_fd_V() -> SeriesDef:
    """MDI full-disk Dopplergrams (1024 x 1024), 1-minute cadence."""
    return dopplergram_series("mdi.fd_V", "1m", Segment("V", "int16", unit="m/s"),
                              "SOHO/MDI full-disk Dopplergrams (fd_V), 60 s cadence")


def hmi_V_45s() -> SeriesDef:
    """HMI Dopplergrams (4096 x 4096), 45-second cadence; stored Rice-compressed at 1 cm/s."""
    return dopplergram_series("hmi.V_45s", "45s", Segment("V", "int32", bscale=0.01, compress="rice", unit="m/s"),
                              "SDO/HMI Dopplergrams (V_45s), 45 s cadence")


def synth_V(cadence: str | float = "1m", name: str = "synth.V") -> SeriesDef:
    """Synthetic-Sun Dopplergrams (float32) at ``cadence``."""
    return dopplergram_series(name, cadence, None, f"synthetic-Sun Dopplergrams, {cadence} cadence")


INPUT_SERIES: dict[str, Callable[[], SeriesDef]] = {
    "mdi.vw_V": mdi_vw_V,
    "mdi.fd_V": mdi_fd_V,
    "hmi.V_45s": hmi_V_45s,
    "synth.V": synth_V,
}


def input_series(name: str) -> SeriesDef | None:
    """The builtin definition of an input series, or None if ``name`` is not one."""
    factory = INPUT_SERIES.get(name)
    return factory() if factory else None


TIMESERIES_KEYWORDS: tuple[Keyword, ...] = (
    Keyword("T_STOP", "time", description="end of the span (T_START + NDT*T_STEP)"),
    Keyword("T_OBS", "time", description="middle of the span"),
    Keyword("T_STEP", "float", unit="s", description="sampling interval"),
    Keyword("DATE", "string", description="creation time of the record"),
    Keyword("QUALITY", "int", 0, description="quality bits of the product"),
    Keyword("MAPMMAX", "int", 0, description="jv2ts MAPMMAX (longitude points per 180 degrees)"),
    Keyword("SINBDIVS", "int", 0, description="jv2ts SINBDIVS (divisions in sin latitude per unit)"),
    Keyword("MFLIPPED", "int", 0, description="sign convention of m: 0 MDI/HMI, 1 GONG"),
    Keyword("VERSION", "string", description="program and version that wrote the record"),
    Keyword("TAG", "string", description="free-form tag"),
    Keyword("CALVER64", "int", 0, description="calibration version of the inputs"),
    Keyword("NMISSING", "int", 0, description="number of missing input images"),
    Keyword("NDATA", "int", 0, description="number of input images used"),
    Keyword("SOURCE", "string", description="input record set"),
)


def span_degree_keys(span: str, lowest: str, highest: str) -> tuple[PrimeKey, ...]:
    """Prime keys of a product made per span and degree range: T_START (day slots from the MDI epoch,
    so its index is the MDI day), LMIN, LMAX. The arguments describe the three keys."""
    return (PrimeKey("T_START", "time", MDI_EPOCH, 86400.0, 0.0, "TAI", span),
            PrimeKey("LMIN", "int", description=lowest),
            PrimeKey("LMAX", "int", description=highest))


def timeseries_series(name: str, tstep_slot: str | float = "1d", segments: Iterable[Segment] | None = None,
                      keywords: Iterable[Keyword] = (), description: str = "") -> SeriesDef:
    """A jv2ts-layout product: prime keys T_START (slotted from the MDI epoch by ``tstep_slot``),
    LMIN, LMAX, NDT; the jv2ts keywords plus ``keywords``; by default one float32 segment ``data``
    laid out [l,m row][2*NDT] (real and imaginary parts interleaved in time).

    ``tstep_slot`` must not exceed the shortest span written into the series (``6h`` for 6-hour SHT
    chunks); with the default 1 day the T_START slot index is the MDI day number."""
    step = parse_duration(tstep_slot) if isinstance(tstep_slot, str) else float(tstep_slot)
    segs = tuple(segments) if segments is not None else (
        Segment("data", "float32", description="a_lm(t): rows l(l+1)/2+m, real/imag interleaved in time"),)
    return SeriesDef(
        name,
        (PrimeKey("T_START", "time", MDI_EPOCH, step, 0.0, "TAI", "start of the span"),
         PrimeKey("LMIN", "int", description="lowest degree l in the record"),
         PrimeKey("LMAX", "int", description="highest degree l in the record"),
         PrimeKey("NDT", "int", description="number of time samples")),
        TIMESERIES_KEYWORDS + tuple(keywords),
        segs,
        description or f"jv2ts-layout time series, T_START slot {tstep_slot}",
    )
