"""A synthetic observation: Dopplergrams of a Sun with known modes, streamed image by image.

Puts together the mode field (``globalhs.science.synth``), the ephemeris
(``globalhs.science.ephemeris``) and a renderer (``globalhs.science.sunimage`` by default; any
callable with the signature of ``render_mode_velocity`` can be swapped in), adds the non-oscillating
signals, pixel noise and the instrument's gaps, and yields one ``SyntheticImage`` per cadence step.
Memory is bounded: the modes' state, one block of coefficients and one image.

Keywords are the normalised geometry keywords every Dopplergram series of the store carries
(``globalhs.drms.builtin.GEOMETRY_KEYWORDS``: X0, Y0, RSUN_PIX, B0, L0, P, DSUN, RSUN_REF, CDELT,
OBS_VR, OBS_VW, OBS_VN, DATASIGN, QUALITY, ...), the values an MDI or HMI header gives after ingest;
INSTRUME says ``SYNTH-MDI`` (vw-like, 192x192, 60 s) or ``SYNTH-HMI`` (HMI-like, scaled down, 45 s).
Velocities are in m/s, positive away from the observer (DATASIGN = 1); pixels off the disk are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from globalhs.science.ephemeris import RSUN, solar_geometry
from globalhs.science.sunimage import disk_pixels, observer_velocity, render_mode_velocity, surface_velocity
from globalhs.science.synth import ModeSet, SphericalFieldStream, gap_pattern

__all__ = ["QUALITY_BAD", "ObservationConfig", "SyntheticImage", "synthetic_observation"]

QUALITY_BAD = 0x80000000
"""QUALITY bit that makes the pipeline treat an image as missing (SPEC section 3)."""

STATUS_GOOD, STATUS_MISSING, STATUS_FLAGGED = 0, 1, 2

Renderer = Callable[..., np.ndarray]


@dataclass(frozen=True)
class ObservationConfig:
    """What the synthetic instrument looks like; every field has a realistic default.

    ``rsun_fraction``: apparent radius as a fraction of half the image width. ``pixel_noise``: white
    noise per pixel (m/s). ``duty_cycle``: fraction of good images; ``mean_gap``: mean gap length in
    images; ``flagged_fraction``: share of gaps that are bad-QUALITY images rather than absent ones.
    ``background_variance``: granulation-like background per (l, m), (m/s)^2.
    ``geometry_tolerance``: the pixel geometry is drawn at B0 and P rounded to this (degrees) and the
    distance rounded to this x 1e-2 in its logarithm; 1e-3 deg moves a limb pixel of a 90-pixel disk
    by at most 0.001 pixel. The keywords are always the exact values.
    """

    size: int = 192
    style: str = "mdi"
    cadence: float = 60.0
    rsun_fraction: float = 0.94
    pixel_noise: float = 20.0
    duty_cycle: float = 0.95
    mean_gap: float = 10.0
    flagged_fraction: float = 0.5
    background_variance: float = 0.0
    rotation: bool = True
    limb_shift: bool = True
    observer_velocity: bool = True
    seed: int = 0
    geometry_tolerance: float = 1e-3

    def __post_init__(self):
        if self.style not in ("mdi", "hmi"):
            raise ValueError(f"instrument style {self.style!r}: expected 'mdi' or 'hmi'")
        if self.size < 16:
            raise ValueError(f"image size {self.size}: expected at least 16 pixels")
        if self.cadence <= 0:
            raise ValueError(f"cadence {self.cadence}: expected a positive number of seconds")


@dataclass
class SyntheticImage:
    """One cadence step: ``status`` 0 good, 1 missing (``image`` None), 2 flagged bad (QUALITY set)."""

    index: int
    t: float
    status: int
    image: np.ndarray | None
    keywords: dict


def _keywords(config: ObservationConfig, t: float, geo, quality: int) -> dict:
    """The normalised geometry keywords of a Dopplergram series (``globalhs.drms.builtin``)."""
    centre = (config.size - 1) / 2.0
    rsun_pix = config.rsun_fraction * config.size / 2.0
    return {
        "T_REC": t, "T_OBS": t, "X0": centre, "Y0": centre, "RSUN_PIX": rsun_pix,
        "B0": float(geo.b0), "L0": float(geo.l0), "P": float(geo.p), "DSUN": float(geo.dsun),
        "RSUN_REF": RSUN, "CDELT": float(geo.rsun_arcsec) / rsun_pix,
        "OBS_VR": float(geo.obs_vr), "OBS_VW": float(geo.obs_vw), "OBS_VN": float(geo.obs_vn),
        "DATASIGN": 1, "QUALITY": quality, "MISSVALS": 0, "CADENCE": config.cadence,
        "INSTRUME": f"SYNTH-{config.style.upper()}",
    }


def synthetic_observation(
    modes: ModeSet,
    t_start: float,
    n_images: int,
    config: ObservationConfig = ObservationConfig(),
    *,
    lmax: int | None = None,
    render: Renderer = render_mode_velocity,
    block: int = 64,
    part: tuple[int, int] | None = None,
) -> Iterator[SyntheticImage]:
    """Yield ``n_images`` synthetic Dopplergrams from ``t_start`` (internal TAI s) at ``config.cadence``.

    Deterministic for ``config.seed``: the modes, the noise and the gaps each have their own stream
    spawned from it, so changing the gap settings does not change the modes. ``part=(first, count)``
    yields only images first..first+count-1, exactly as the whole run would (the mode stream is run
    through the earlier steps without rendering them), so a span can be made by several processes.
    """
    lmax = modes.lmax if lmax is None else int(lmax)
    seeds = np.random.SeedSequence(config.seed).spawn(3)
    field_stream = SphericalFieldStream(
        modes, lmax=lmax, dt=config.cadence, seed=int(seeds[0].generate_state(1)[0]),
        background_variance=config.background_variance,
    )
    noise_key = int(seeds[1].generate_state(1)[0])
    status = gap_pattern(
        n_images, config.duty_cycle, np.random.default_rng(seeds[2]),
        mean_gap=config.mean_gap, flagged_fraction=config.flagged_fraction,
    )
    shape = (config.size, config.size)
    centre = (config.size - 1) / 2.0
    rsun_pix = config.rsun_fraction * config.size / 2.0
    disk, disk_at = None, (np.inf, np.inf, np.inf)
    part_first, part_count = part if part is not None else (0, n_images)
    part_stop = min(n_images, part_first + part_count)
    tol = config.geometry_tolerance
    for first in range(0, part_stop, block):
        k = min(block, n_images - first)
        times = t_start + (first + np.arange(k)) * config.cadence
        geo = solar_geometry(times)
        radial, horizontal = field_stream.next(k, geo.eta)
        if first + k <= part_first:
            continue
        for i in range(k):
            index, t = first + i, float(times[i])
            if not part_first <= index < part_stop:
                continue
            g = type(geo)(**{name: np.asarray(getattr(geo, name))[i] for name in geo.__dataclass_fields__})
            quality = QUALITY_BAD if status[index] == STATUS_FLAGGED else 0
            keywords = _keywords(config, t, g, quality)
            if status[index] == STATUS_MISSING:
                yield SyntheticImage(index, t, STATUS_MISSING, None, keywords)
                continue
            s_ratio = RSUN / float(g.dsun)
            # The pixel geometry is drawn at B0, P (and distance) rounded to the tolerance: the images
            # then do not depend on where a part starts, and one geometry serves many images.
            at = ((round(float(g.b0) / tol) * tol, round(float(g.p) / tol) * tol,
                   float(np.exp(round(np.log(float(g.dsun)) / (tol / 100)) * (tol / 100))))
                  if tol > 0 else (float(g.b0), float(g.p), float(g.dsun)))
            if at != disk_at:
                disk_at = at
                disk = disk_pixels(shape, centre, centre, rsun_pix, at[0], at[1], s_ratio=RSUN / at[2])
                steady = surface_velocity(disk, at[0], rotation=config.rotation, limb_shift=config.limb_shift)
            v = render(radial[i], horizontal[i], lmax, disk)
            v = v + steady
            if config.observer_velocity:
                v = v + observer_velocity(disk, float(g.obs_vr), float(g.obs_vw), float(g.obs_vn), s_ratio)
            # Each image's noise has its own stream (keyed by its index): independent of gaps and blocks.
            noise_rng = np.random.default_rng([noise_key, index])
            v = v + config.pixel_noise * noise_rng.standard_normal(v.size)
            if status[index] == STATUS_FLAGGED:
                # A flagged image is unusable in reality too: spoil it, so a pipeline that ignores
                # QUALITY shows it.
                v = v + 1e4 * noise_rng.standard_normal(v.size)
            image = np.full(shape, np.nan, dtype=np.float32)
            image[disk.rows, disk.cols] = v
            yield SyntheticImage(index, t, int(status[index]), image, keywords)
