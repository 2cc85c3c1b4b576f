"""Times and durations as JSOC writes them, on top of astropy.time.

The internal time is a float: TAI seconds since 1977.01.01_00:00:00_TAI (DRMS's convention).
Leap seconds come from astropy (ERFA's table); nothing here knows them by hand.

Forms read:
- time strings ``2010.07.11_00:00:00_TAI``, ``2010.07.11_00:00:00.5_UTC``, ``2014.02.05_08:00``,
  ``2010.07.11`` (midnight), an ISO form ``2010-07-11T00:00:00``; the zone (``_TAI``, ``_UTC``,
  ``_TT``) defaults to ``default_zone``;
- MDI day numbers ``6400d`` (an offset in days from the MDI epoch 1993.01.01_00:00:00_TAI);
- durations ``72d``, ``48h``, ``6h``, ``45s``, ``1.5d``, ``2w``, ``30m``, also ``72day``, ``6hours``...
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass

from astropy.time import Time, TimeDelta

__all__ = [
    "MDI_EPOCH",
    "DAY",
    "TimeFormatError",
    "parse_duration",
    "parse_time",
    "parse_time_or_day",
    "format_time",
    "day_to_time",
    "time_to_day",
    "Slot",
]

DAY = 86400.0
_T0 = Time("1977-01-01T00:00:00", scale="tai", format="isot")
_TAI_EPOCH = datetime.datetime(1977, 1, 1)   # internal time 0 on the TAI calendar
MDI_EPOCH = 504921600.0
"""1993.01.01_00:00:00_TAI in internal seconds (SPEC §2)."""

ZONES = {"TAI": "tai", "UTC": "utc", "UT": "utc", "Z": "utc", "TT": "tt"}

# One row per unit: every spelling durcon accepts and its length in seconds.
DURATION_UNITS: dict[str, float] = {}
for _names, _secs in (
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), DAY),
    (("w", "wk", "week", "weeks"), 7 * DAY),
):
    DURATION_UNITS.update(dict.fromkeys(_names, _secs))

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION_RE = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z]*)\s*$")
_JSOC_RE = re.compile(
    r"^(?P<y>\d{4})\.(?P<mo>\d{1,2})\.(?P<d>\d{1,2})"
    r"(?:_(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}(?:\.\d*)?))?)?"
    r"(?:_(?P<zone>[A-Za-z]+))?$"
)
_ISO_RE = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2}(?:\.\d*)?))?)?"
    r"(?:_?(?P<zone>[A-Za-z]+))?$"
)


class TimeFormatError(ValueError):
    """A time, day number or duration string that cannot be read; the message says what was expected."""


def parse_duration(text: str) -> float:
    """Seconds in a duration string, as the original's ``durcon`` (``72d`` -> 6220800)."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise TimeFormatError(
            f"invalid duration {text!r}: expected a number and a unit, e.g. 72d, 48h, 6h, 45s, 1.5d "
            f"(units: s, m, h, d, w)"
        )
    number, unit = match.groups()
    if unit == "":
        factor = 1.0
    elif unit.lower() in DURATION_UNITS and (unit in DURATION_UNITS or len(unit) > 1):
        factor = DURATION_UNITS[unit.lower()]
    else:
        raise TimeFormatError(
            f"invalid duration {text!r}: unknown unit {unit!r} (expected one of s, m, h, d, w "
            f"or sec, min, hour, day, week)"
        )
    return float(number) * factor


def _to_internal(t: Time) -> float:
    # astropy keeps the interval as two doubles in days; their product with 86400 carries ~1e-7 s of
    # noise, which could move a whole-second time across a slot boundary. Times read here are whole
    # seconds (fractions are added by the caller), so round to the microsecond.
    return round(float((t.tai - _T0).to_value("s")), 6)


def parse_time(text: str, default_zone: str = "UTC") -> float:
    """Internal seconds of a JSOC (or ISO) time string; the zone suffix wins over ``default_zone``."""
    s = str(text).strip()
    match = _JSOC_RE.match(s) or _ISO_RE.match(s)
    if not match:
        raise TimeFormatError(
            f"invalid time {text!r}: expected a JSOC time such as 2010.07.11_00:00:00_TAI "
            f"or 2014.02.05_08:00 (zone _TAI or _UTC), or a day number such as 6400d"
        )
    zone = (match["zone"] or default_zone).upper()
    if zone not in ZONES:
        raise TimeFormatError(f"invalid time {text!r}: unknown zone {zone!r} (expected TAI, UTC or TT)")
    sec = float(match["s"] or 0.0)
    whole = int(sec)
    iso = (
        f"{int(match['y']):04d}-{int(match['mo']):02d}-{int(match['d']):02d}T"
        f"{int(match['h'] or 0):02d}:{int(match['mi'] or 0):02d}:{whole:02d}"
    )
    try:
        t = Time(iso, format="isot", scale=ZONES[zone])
    except ValueError as exc:
        raise TimeFormatError(f"invalid time {text!r}: {exc}") from None
    return _to_internal(t) + (sec - whole)


def day_to_time(day: float) -> float:
    """Internal seconds at MDI day number ``day`` (day 0 = 1993.01.01_00:00:00_TAI)."""
    return MDI_EPOCH + DAY * float(day)


def time_to_day(t: float) -> float:
    """MDI day number (fractional) of internal time ``t``."""
    return (float(t) - MDI_EPOCH) / DAY


def parse_time_or_day(text: str, epoch: float = MDI_EPOCH, default_zone: str = "UTC") -> float:
    """A time given as an offset from ``epoch`` (``6400d``, ``12h``: durcon parses it) or a date string.

    This is dosht's rule: if the string is a duration it is an offset from the series' epoch,
    otherwise it is a date.
    """
    try:
        return epoch + parse_duration(text)
    except TimeFormatError:
        pass
    try:
        return parse_time(text, default_zone)
    except TimeFormatError:
        raise TimeFormatError(
            f"invalid time {text!r}: expected a day number such as 6400d or a date such as "
            f"2010.07.11_00:00:00_TAI"
        ) from None


def format_time(t: float, zone: str = "TAI", digits: int = 0) -> str:
    """JSOC string of internal time ``t``: ``2010.07.11_00:00:00_TAI`` (``digits`` decimals of seconds)."""
    zone = zone.upper()
    if zone not in ZONES:
        raise TimeFormatError(f"unknown zone {zone!r} (expected TAI, UTC or TT)")
    t = float(t)
    if not math.isfinite(t):
        raise TimeFormatError(f"cannot format time {t!r}: not a finite number of seconds")
    scale = 10.0**digits
    whole = math.floor(t)
    frac = round((t - whole) * scale) / scale
    if frac >= 1.0:
        whole, frac = whole + 1, 0.0
    if zone == "TAI" and abs(whole) < 2**53:
        # TAI has no leap seconds: its calendar is plain arithmetic from the epoch, ~1000x faster
        # than astropy (the driver formats one string per job; tests compare both ways)
        at = _TAI_EPOCH + datetime.timedelta(seconds=whole)
        sec = at.second + frac
        secs = f"{sec:0{3 + digits}.{digits}f}" if digits else f"{at.second:02d}"
        return f"{at.year:04d}.{at.month:02d}.{at.day:02d}_{at.hour:02d}:{at.minute:02d}:{secs}_TAI"
    at = getattr(_T0 + TimeDelta(whole, format="sec", scale="tai"), ZONES[zone])
    ymdhms = at.ymdhms
    sec = int(round(float(ymdhms["second"]))) + frac
    secs = f"{sec:0{3 + digits}.{digits}f}" if digits else f"{int(sec):02d}"
    return (
        f"{int(ymdhms['year']):04d}.{int(ymdhms['month']):02d}.{int(ymdhms['day']):02d}_"
        f"{int(ymdhms['hour']):02d}:{int(ymdhms['minute']):02d}:{secs}_{zone}"
    )


@dataclass(frozen=True)
class Slot:
    """A slotted time key (DRMS TS_SLOT): index = floor((T - epoch + round/2) / step)."""

    epoch: float = MDI_EPOCH
    step: float = DAY
    round: float = 0.0

    def index(self, t: float) -> int:
        """Slot index of internal time ``t``."""
        return math.floor((float(t) - self.epoch + self.round / 2.0) / self.step)

    def time(self, index: int) -> float:
        """Internal time at the start of slot ``index``."""
        return self.epoch + self.step * int(index)

    def is_boundary(self, t: float, tolerance: float = 1e-6) -> bool:
        """Whether ``t`` falls on a slot boundary (jv2ts insists that TSTART does)."""
        return abs(float(t) - self.time(self.index(t))) <= tolerance
