"""Record-set queries in JSOC syntax.

``series[k1][k2]...[? KEY op value ?]{seg,...}``: one bracket per prime key, in the series' order;
later keys may be left out; ``[]`` leaves a key open. Forms of a bracket for a slotted time key:

- ``2010.07.11_00:00:00_TAI`` or ``6400d`` (a time, or a duration after the key's epoch): the slot
  that holds that time;
- ``T/72d``: every slot from T for 72 days (T included, T+72d excluded); ``T/8h@1m``: one slot per
  1m cadence from T (the cadence must be a whole number of slots);
- ``6328-6399`` or ``6400``: slot indices (inclusive range, or one index; for T_START series with a
  1-day step the index is the MDI day number); ``T1-T2``: the slots from time T1 to time T2 inclusive;
- ``a,b,c``: a list of any of the single forms.

For an integer key: ``300``, ``0-299``, ``0,40,80``. ``[? QUALITY=0 and NDT>1000 ?]`` keeps records
whose keywords satisfy every comparison (=, ==, !=, <>, <, <=, >, >=; time values as JSOC strings).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from globalhs.drms.errors import DrmsError
from globalhs.drms.series import PrimeKey, SeriesDef, convert_value
from globalhs.time import TimeFormatError, parse_duration, parse_time_or_day

__all__ = ["RecordSet", "parse_recordset", "compile_recordset"]

_SERIES_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)\s*")
_INT_RANGE_RE = re.compile(r"^([+-]?\d+)\s*-\s*([+-]?\d+)$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FILTER_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|=|!=|<>|<=|>=|<|>)\s*(.+?)\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne, "<>": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
FORMS = ("series[2010.07.11_00:00:00_TAI/72d], series[6400d/72d], series[2014.02.05_08:00/8h@1m], "
         "series[6328-6399], series[6400d][0][300], series[][0], series[? QUALITY=0 ?]")


@dataclass(frozen=True)
class RecordSet:
    """A parsed record-set string: series name, one text per prime-key bracket, keyword filters."""

    text: str
    series: str
    keys: tuple[str, ...] = ()
    filters: tuple[tuple[str, str, str], ...] = ()
    segments: tuple[str, ...] | None = None


def _fail(text: str, problem: str) -> DrmsError:
    return DrmsError(f"record set {text!r}: {problem}; expected forms like {FORMS}")


def parse_recordset(text: str) -> RecordSet:
    """Split ``text`` into series name, prime-key brackets and filters (no series knowledge needed)."""
    if not isinstance(text, str) or not text.strip():
        raise _fail(str(text), "empty record set")
    m = _SERIES_RE.match(text)
    if not m:
        raise _fail(text, "does not start with a series name such as mdi.vw_V (namespace.name)")
    pos = m.end()
    keys: list[str] = []
    filters: list[tuple[str, str, str]] = []
    segments = None
    while pos < len(text):
        ch = text[pos]
        if ch.isspace():
            pos += 1
            continue
        if text.startswith("[?", pos):
            end = text.find("?]", pos + 2)
            if end < 0:
                raise _fail(text, f"filter opened at character {pos + 1} with '[?' is not closed by '?]'")
            filters.extend(_parse_filter(text, text[pos + 2:end]))
            pos = end + 2
        elif ch == "[":
            end = text.find("]", pos + 1)
            if end < 0:
                raise _fail(text, f"bracket opened at character {pos + 1} is not closed")
            inner = text[pos + 1:end]
            if "[" in inner:
                raise _fail(text, f"bracket opened at character {pos + 1} is not closed before the next '['")
            if filters:
                raise _fail(text, "prime-key brackets must come before [? ... ?] filters")
            keys.append(inner.strip())
            pos = end + 1
        elif ch == "{":
            end = text.find("}", pos + 1)
            if end < 0:
                raise _fail(text, f"segment list opened at character {pos + 1} is not closed by '}}'")
            segments = tuple(s.strip() for s in text[pos + 1:end].split(",") if s.strip())
            pos = end + 1
        else:
            raise _fail(text, f"unexpected {text[pos:]!r} after the series name (brackets [..] expected)")
    return RecordSet(text, m.group(1), tuple(keys), tuple(filters), segments)


def _parse_filter(text: str, expr: str) -> list[tuple[str, str, str]]:
    parts = re.split(r"\s+(?:and|AND)\s+", expr.strip())
    out = []
    for part in parts:
        m = _FILTER_RE.match(part)
        if not m or re.search(r"\s(or|OR)\s", part):
            raise _fail(text, f"filter {part.strip()!r} is not KEY op value (op one of = != < <= > >=, "
                              f"joined by 'and')")
        name, op, value = m.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out.append((name, op, value))
    return out


# --- compiling against a series definition ---------------------------------------------------

@dataclass
class Compiled:
    """SQL conditions on the catalog's prime-key columns plus a Python keyword predicate."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    predicate: Callable[[dict[str, Any]], bool] | None = None


def _ordinal(i: int) -> str:
    return ("first", "second", "third", "fourth", "fifth", "sixth")[i] if i < 6 else f"{i + 1}th"


def _time_index(key: PrimeKey, text: str, where: str) -> int:
    try:
        t = parse_time_or_day(text, key.epoch, key.zone)
    except TimeFormatError:
        raise DrmsError(f"{where}: {text!r} is not a time: expected a day number such as 6400d, a time "
                        f"such as 2010.07.11_00:00:00_TAI or a slot index such as 6400") from None
    return key.slot.index(round(t, 6))


def _single(key: PrimeKey, text: str, where: str) -> int:
    if _INT_RE.match(text):
        return int(text)
    if key.type == "int":
        raise DrmsError(f"{where}: {text!r} is not an integer value for key {key.name} "
                        f"(expected e.g. 300, 0-299 or 0,40,80)")
    return _time_index(key, text, where)


def _bracket(key: PrimeKey, col: str, text: str, where: str, out: Compiled) -> None:
    if text in ("", "*"):
        return
    if "/" in text:
        if key.type != "time":
            raise DrmsError(f"{where}: start/duration needs a time key, but {key.name} is an integer key "
                            f"(expected e.g. 0-299)")
        start_text, _, rest = text.partition("/")
        dur_text, _, cad_text = rest.partition("@")
        lo = _single(key, start_text.strip(), where)
        try:
            dur = parse_duration(dur_text.strip())
        except TimeFormatError:
            raise DrmsError(f"{where}: {dur_text.strip()!r} after '/' is not a duration "
                            f"(expected e.g. 6400d/72d or 2014.02.05_08:00/8h@1m)") from None
        if dur <= 0:
            raise DrmsError(f"{where}: duration {dur_text.strip()!r} must be positive")
        nslots = math.ceil(dur / key.step - 1e-9)
        out.where.append(f"{col} BETWEEN ? AND ?")
        out.params += [lo, lo + nslots - 1]
        if cad_text:
            try:
                cad = parse_duration(cad_text.strip())
            except TimeFormatError:
                raise DrmsError(f"{where}: cadence {cad_text.strip()!r} after '@' is not a duration "
                                f"(expected e.g. @1m)") from None
            ratio = cad / key.step
            if cad <= 0 or abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
                raise DrmsError(f"{where}: cadence {cad_text.strip()} is not a whole number of "
                                f"{key.name} slots ({key.step:g} s)")
            if round(ratio) > 1:
                out.where.append(f"(({col} - ?) % ?) = 0")
                out.params += [lo, int(round(ratio))]
        return
    if "," in text:
        values = [_single(key, part.strip(), where) for part in text.split(",") if part.strip()]
        out.where.append(f"{col} IN ({', '.join('?' * len(values))})")
        out.params += values
        return
    m = _INT_RANGE_RE.match(text)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
    elif key.type == "time" and text.count("-") == 1:
        a, b = text.split("-")
        lo, hi = _time_index(key, a.strip(), where), _time_index(key, b.strip(), where)
    else:
        out.where.append(f"{col} = ?")
        out.params.append(_single(key, text, where))
        return
    if hi < lo:
        raise DrmsError(f"{where}: range {text!r} ends before it starts")
    out.where.append(f"{col} BETWEEN ? AND ?")
    out.params += [lo, hi]


def compile_recordset(rs: RecordSet, defn: SeriesDef) -> Compiled:
    """Conditions selecting ``rs`` from series ``defn``; DrmsError naming the bad bracket."""
    if len(rs.keys) > len(defn.prime):
        raise _fail(rs.text, f"{len(rs.keys)} prime-key brackets, but series {defn.name} has "
                             f"{len(defn.prime)} prime key(s) ({', '.join(defn.prime_names)})")
    out = Compiled()
    for i, (key, text) in enumerate(zip(defn.prime, rs.keys)):
        where = f"record set {rs.text!r}, {_ordinal(i)} bracket (prime key {key.name})"
        _bracket(key, f"p{i}", text, where, out)
    if rs.segments:
        for seg in rs.segments:
            defn.segment(seg)
    if rs.filters:
        tests = []
        for name, op, value in rs.filters:
            kw = defn.keyword(name)
            try:
                tests.append((name, _OPS[op], convert_value(kw.type, value, f"filter {name}", kw.zone)))
            except DrmsError as exc:
                raise _fail(rs.text, str(exc)) from None
        out.predicate = lambda kws: all(fn(kws[name], value) for name, fn, value in tests)
    return out
