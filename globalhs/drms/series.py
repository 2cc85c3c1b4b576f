"""Series definitions: prime keys (slotted times or integers), keywords with types and defaults,
segments with their FITS layout. A definition is plain data (frozen dataclasses) that round-trips
through a dict, so the catalog stores it as JSON and ``globalhs series create FILE`` reads JSON or TOML.

Definition file (JSON or TOML; times are JSOC strings or seconds, steps are durations or seconds)::

    name = "mdi.fd_V"
    description = "MDI full-disk Dopplergrams"
    [[prime]]
    name = "T_REC"
    type = "time"
    epoch = "1993.01.01_00:00:00_TAI"
    step = "1m"
    round = "1m"
    [[keywords]]
    name = "QUALITY"
    type = "int"
    default = 0
    [[segments]]
    name = "V"
    dtype = "int16"
    blank = -32768
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from globalhs.drms.errors import DrmsError
from globalhs.time import (MDI_EPOCH, Slot, TimeFormatError, format_time, parse_duration, parse_time,
                           parse_time_or_day)

__all__ = ["KEY_TYPES", "SEGMENT_DTYPES", "COMPRESSIONS", "PrimeKey", "Keyword", "Segment", "SeriesDef",
           "load_series_file", "MAX_PRIME_KEYS"]

KEY_TYPES = ("time", "int", "float", "string")
SEGMENT_DTYPES = ("int16", "int32", "float32", "float64")
COMPRESSIONS = ("none", "rice", "gzip")
MAX_PRIME_KEYS = 6
"""The catalog has this many prime-key columns (DRMS series in this pipeline use at most four)."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _seconds(value: Any, what: str, as_time: bool = False) -> float:
    """Seconds from a number, a duration string (``1m``) or, for epochs, a JSOC time string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return parse_time(str(value), "TAI") if as_time else parse_duration(str(value))
    except TimeFormatError as exc:
        raise DrmsError(f"{what}: {exc}") from None


def convert_value(kind: str, value: Any, what: str, zone: str = "TAI") -> Any:
    """``value`` as the Python type stored for a key of type ``kind`` (times: internal seconds)."""
    try:
        if kind == "time":
            if isinstance(value, str):  # microseconds: astropy's two-part JD leaves ~1e-7 s of noise
                return round(parse_time_or_day(value, MDI_EPOCH, zone), 6)
            return float(value)
        if kind == "int":
            if isinstance(value, str):
                return int(value, 0)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{value!r} is not a whole number")
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError, TimeFormatError) as exc:
        raise DrmsError(f"{what}={value!r}: expected a value of type {kind} ({exc})") from None


@dataclass(frozen=True)
class PrimeKey:
    """A prime key. ``time`` keys are slotted (DRMS TS_SLOT): a record is identified by the slot
    index floor((T - epoch + round/2) / step), so times within one slot name the same record."""

    name: str
    type: str = "int"
    epoch: float = MDI_EPOCH
    step: float = 0.0
    round: float = 0.0
    zone: str = "TAI"
    description: str = ""

    def __post_init__(self) -> None:
        if not _KEY_RE.match(self.name):
            raise DrmsError(f"prime key name {self.name!r}: expected letters, digits and _")
        if self.type not in ("time", "int"):
            raise DrmsError(f"prime key {self.name}: type {self.type!r}, expected 'time' (slotted) or 'int'")
        if self.type == "time" and not (self.step > 0 and math.isfinite(self.step)):
            raise DrmsError(f"prime key {self.name}: a time key needs a slot step > 0 (e.g. step='1m')")

    @property
    def slot(self) -> Slot:
        return Slot(self.epoch, self.step, self.round)

    def index(self, value: Any) -> int:
        """Catalog integer of a key value: slot index for times, the value itself for integers."""
        value = convert_value(self.type, value, self.name, self.zone)
        # to the microsecond, so float noise cannot push a slot-boundary time into the previous slot
        return self.slot.index(round(value, 6)) if self.type == "time" else value

    def value(self, index: int) -> Any:
        """Key value of a catalog integer (slot start time for time keys)."""
        return self.slot.time(index) if self.type == "time" else int(index)

    def format(self, value: Any) -> str:
        return format_time(value, self.zone) if self.type == "time" else str(value)


@dataclass(frozen=True, eq=False)
class Keyword:
    """A keyword: name, type (time, int, float, string), default, unit and what it means."""

    name: str
    type: str = "float"
    default: Any = None
    unit: str = ""
    description: str = ""
    zone: str = "TAI"

    def __post_init__(self) -> None:
        if not _KEY_RE.match(self.name):
            raise DrmsError(f"keyword name {self.name!r}: expected letters, digits and _")
        if self.type not in KEY_TYPES:
            raise DrmsError(f"keyword {self.name}: type {self.type!r}, expected one of {', '.join(KEY_TYPES)}")
        if self.default is None:
            object.__setattr__(self, "default", {"time": math.nan, "int": 0, "float": math.nan,
                                                 "string": ""}[self.type])
        else:
            object.__setattr__(self, "default", convert_value(self.type, self.default,
                                                              f"default of {self.name}", self.zone))

    def __eq__(self, other: object) -> bool:  # NaN defaults compare equal
        return isinstance(other, Keyword) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))

    def format(self, value: Any) -> str:
        if self.type == "time":
            return format_time(value, self.zone) if math.isfinite(value) else "MISSING"
        if self.type == "float":
            return f"{value:.10g}"
        return str(value)


@dataclass(frozen=True)
class Segment:
    """A data segment stored as one FITS file per record.

    Integer types store ``round((x - bzero) / bscale)`` with NaN as ``blank``; reading gives float
    back (float32 for int16/float32, float64 otherwise). ``compress`` writes a tiled compressed
    image HDU, always lossless: ``rice`` for integer types, ``gzip`` for any type."""

    name: str
    dtype: str = "float32"
    bscale: float = 1.0
    bzero: float = 0.0
    blank: int | None = None
    compress: str = "none"
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not _KEY_RE.match(self.name):
            raise DrmsError(f"segment name {self.name!r}: expected letters, digits and _")
        if self.dtype not in SEGMENT_DTYPES:
            raise DrmsError(f"segment {self.name}: dtype {self.dtype!r}, expected one of {', '.join(SEGMENT_DTYPES)}")
        if self.compress not in COMPRESSIONS:
            raise DrmsError(f"segment {self.name}: compress {self.compress!r}, expected one of {', '.join(COMPRESSIONS)}")
        if self.compress == "rice" and not self.dtype.startswith("int"):
            raise DrmsError(f"segment {self.name}: rice compression is lossless only for integer dtypes; "
                            f"use compress='gzip' for {self.dtype}")
        if self.dtype.startswith("int") and self.blank is None:
            object.__setattr__(self, "blank", -(2 ** (int(self.dtype[3:]) - 1)))
        if self.bscale == 0:
            raise DrmsError(f"segment {self.name}: bscale must not be 0")


@dataclass(frozen=True, eq=False)
class SeriesDef:
    """A series: name, prime keys in order, keywords, segments."""

    name: str
    prime: tuple[PrimeKey, ...]
    keywords: tuple[Keyword, ...] = ()
    segments: tuple[Segment, ...] = ()
    description: str = ""
    _by_name: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise DrmsError(f"series name {self.name!r}: expected namespace.name, e.g. mdi.fd_V")
        object.__setattr__(self, "prime", tuple(self.prime))
        object.__setattr__(self, "keywords", tuple(self.keywords))
        object.__setattr__(self, "segments", tuple(self.segments))
        if not 1 <= len(self.prime) <= MAX_PRIME_KEYS:
            raise DrmsError(f"series {self.name}: {len(self.prime)} prime keys, expected 1 to {MAX_PRIME_KEYS}")
        names = [k.name for k in self.prime] + [k.name for k in self.keywords]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DrmsError(f"series {self.name}: keyword(s) {', '.join(dupes)} defined twice "
                            f"(prime keys are keywords already)")
        segs = [s.name for s in self.segments]
        if len(set(segs)) != len(segs):
            raise DrmsError(f"series {self.name}: a segment name is defined twice")
        table = {k.name: k for k in self.keywords}
        table.update({k.name: Keyword(k.name, k.type, 0 if k.type == "int" else math.nan, zone=k.zone,
                                      description=k.description) for k in self.prime})
        object.__setattr__(self, "_by_name", table)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeriesDef) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    @property
    def keyword_names(self) -> tuple[str, ...]:
        """Every keyword, prime keys included, in the catalog's stored order."""
        return tuple(self._by_name)

    @property
    def prime_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.prime)

    def keyword(self, name: str) -> Keyword:
        """The keyword (prime keys included) called ``name``; DrmsError listing the known ones."""
        try:
            return self._by_name[name]
        except KeyError:
            raise DrmsError(f"series {self.name} has no keyword {name!r} "
                            f"(known: {', '.join(self._by_name)})") from None

    def segment(self, name: str) -> Segment:
        for seg in self.segments:
            if seg.name == name:
                return seg
        raise DrmsError(f"series {self.name} has no segment {name!r} "
                        f"(known: {', '.join(s.name for s in self.segments) or 'none'})")

    def normalise(self, keywords: dict[str, Any]) -> dict[str, Any]:
        """Every keyword of the series with its stored type; defaults filled in; prime keys required."""
        unknown = sorted(set(keywords) - set(self._by_name))
        if unknown:
            raise DrmsError(f"series {self.name} has no keyword(s) {', '.join(unknown)} "
                            f"(known: {', '.join(self._by_name)})")
        missing = [k.name for k in self.prime if k.name not in keywords]
        if missing:
            raise DrmsError(f"series {self.name}: prime key(s) {', '.join(missing)} missing from the record")
        out = {}
        for name, kw in self._by_name.items():
            out[name] = convert_value(kw.type, keywords[name], f"{self.name} keyword {name}", kw.zone) \
                if name in keywords else kw.default
        return out

    def prime_indices(self, keywords: dict[str, Any]) -> tuple[int, ...]:
        """Catalog integers (slot indices / integer values) of a record's prime keys."""
        return tuple(k.index(keywords[k.name]) for k in self.prime)

    # --- dict / file round trip -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_by_name", None)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SeriesDef":
        """A definition from a dict as written by ``to_dict`` or by hand (durations/times as strings)."""
        if not isinstance(d, dict) or "name" not in d:
            raise DrmsError("series definition: expected a table with at least 'name' and 'prime'")
        name = d["name"]
        allowed = {"name", "prime", "keywords", "segments", "description"}
        extra = sorted(set(d) - allowed)
        if extra:
            raise DrmsError(f"series {name}: unknown field(s) {', '.join(extra)} (expected {', '.join(sorted(allowed))})")
        try:
            prime = []
            for k in d.get("prime", []):
                k = dict(k)
                if k.get("type", "int") == "time":
                    k["epoch"] = _seconds(k.get("epoch", MDI_EPOCH), f"{name} prime key {k.get('name')} epoch", True)
                    k["step"] = _seconds(k.get("step", 0), f"{name} prime key {k.get('name')} step")
                    k["round"] = _seconds(k.get("round", 0), f"{name} prime key {k.get('name')} round")
                prime.append(PrimeKey(**k))
            keywords = [Keyword(**k) for k in d.get("keywords", [])]
            segments = [Segment(**s) for s in d.get("segments", [])]
        except TypeError as exc:
            raise DrmsError(f"series {name}: {exc}") from None
        return cls(name, tuple(prime), tuple(keywords), tuple(segments), d.get("description", ""))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def load_series_file(path: str | Path) -> SeriesDef:
    """A definition from a ``.json`` or ``.toml`` file; DrmsError naming the file on any problem."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise DrmsError(f"cannot read series definition {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text.decode())
        else:
            data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise DrmsError(f"series definition {path}: not valid {kind} ({exc})") from None
    try:
        return SeriesDef.from_dict(data)
    except DrmsError as exc:
        raise DrmsError(f"series definition {path}: {exc}") from None
