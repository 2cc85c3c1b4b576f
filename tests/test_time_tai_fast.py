"""format_time's TAI fast path (calendar arithmetic) against astropy's TAI calendar."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.time import Time, TimeDelta

from globalhs.time import format_time, parse_time

T0 = Time("1977-01-01T00:00:00", scale="tai", format="isot")


def astropy_tai(t: float, digits: int) -> str:
    scale = 10.0**digits
    whole = math.floor(t)
    frac = round((t - whole) * scale) / scale
    if frac >= 1.0:
        whole, frac = whole + 1, 0.0
    ymdhms = (T0 + TimeDelta(whole, format="sec", scale="tai")).tai.ymdhms
    sec = int(round(float(ymdhms["second"]))) + frac
    secs = f"{sec:0{3 + digits}.{digits}f}" if digits else f"{int(sec):02d}"
    return (f"{int(ymdhms['year']):04d}.{int(ymdhms['month']):02d}.{int(ymdhms['day']):02d}_"
            f"{int(ymdhms['hour']):02d}:{int(ymdhms['minute']):02d}:{secs}_TAI")


@pytest.mark.parametrize("digits", [0, 3])
def test_fast_tai_equals_astropy(digits):
    rng = np.random.default_rng(7)
    # 1900 .. 2100, whole and fractional seconds, including values just below a whole second
    times = list(rng.uniform(-2.4e9, 3.9e9, 300)) + list(np.floor(rng.uniform(0, 1.6e9, 100)))
    times += [0.0, -0.5, 86399.9996, 1_054_000_000.4999, 6400 * 86400.0 + 504_921_600.0]
    for t in times:
        assert format_time(t, "TAI", digits) == astropy_tai(t, digits), t


def test_fast_tai_round_trips_through_parse_time():
    for text in ("2010.07.11_00:00:00_TAI", "1996.05.01_12:34:56_TAI", "2016.12.31_23:59:59_TAI",
                 "2017.01.01_00:00:00_TAI"):
        assert format_time(parse_time(text)) == text
