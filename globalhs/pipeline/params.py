"""The parameter table of ``globalhs run``: declared once; validation, ``--help`` and docs come from it.

The names, meanings and defaults are the original ``doglobalhs``'s. Arguments are ``name=value``
with no spaces; validation works as the original's ``checkglobalhsargs``: spurious spaces, unknown
names, values outside a small set, unparsable times and durations and inconsistent ranges are all
reported at once (:class:`ParamError`), before anything is started.

A value comes from the argument, else from the parameter's environment variable (the original's
scripts read GLOBALHS_V2TQUEUE and friends when doglobalhs was not given the argument), else from the
default. A default may name another parameter (``lchunk1`` defaults to ``lchunk``).

``python -m globalhs.pipeline.params --markdown`` prints the table for the docs.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from globalhs.pipeline.steps import STEP_NAMES, STEPS
from globalhs.time import TimeFormatError, format_time, parse_duration, parse_time_or_day

__all__ = ["Param", "PARAMS", "ParamError", "RunParams", "parse_params", "markdown_table",
           "help_table", "default_topdir"]


class ParamError(ValueError):
    """Invalid run parameters; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Same:
    """A default equal to another parameter's value (``lchunk1`` defaults to ``lchunk``)."""

    name: str

    def __str__(self) -> str:
        return f"{self.name}"


REQUIRED = None


# -- value kinds: text -> value, or ValueError saying what was expected --------------------------

def _int(minimum: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected an integer >= {minimum}") from None
        if value < minimum:
            raise ValueError(f"expected an integer >= {minimum}")
        return value
    convert.__name__ = f"integer >= {minimum}"
    return convert


def _time(text: str) -> str:
    try:
        parse_time_or_day(text)
    except TimeFormatError:
        raise ValueError("expected a day number such as 6400d or a date such as "
                         "2010.07.11_00:00:00_TAI") from None
    return text


def _duration(allow_zero: bool) -> Callable[[str], str]:
    def convert(text: str) -> str:
        try:
            seconds = parse_duration(text)
        except TimeFormatError:
            raise ValueError("expected a duration such as 72d, 48h, 6h or 45s") from None
        if seconds < 0 or (seconds == 0 and not allow_zero):
            raise ValueError("expected a duration " + (">= 0" if allow_zero else "> 0"))
        return text
    convert.__name__ = "duration" + (" >= 0" if allow_zero else " > 0")
    return convert


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def _name(text: str) -> str:
    if not _NAME_RE.match(text):
        raise ValueError("expected letters, digits and _.+- only (it becomes part of file and job names)")
    return text


def _text(text: str) -> str:
    if not text:
        raise ValueError("expected a non-empty string")
    return text


def _path(text: str) -> str:
    if not text:
        raise ValueError("expected a directory")
    return text


def _choice(text: str) -> str:
    return text


@dataclass(frozen=True)
class Param:
    """One declared ``globalhs run`` parameter."""

    name: str
    convert: Callable[[str], Any]
    default: Any
    help: str
    env: str | None = None
    choices: tuple[str, ...] = ()
    kind: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def default_text(self) -> str:
        if self.required:
            return "(required)"
        if isinstance(self.default, Same):
            return f"= {self.default.name}"
        if self.name == "topdir":
            return "site config, else ./globalhs_top"
        return str(self.default)


def _p(name, convert, default, help, env=None, choices=(), kind=""):
    return Param(name, convert, default, help, env, tuple(choices), kind or getattr(convert, "__name__", ""))




def _using(attribute: str, value: str) -> str:
    """The steps whose ``attribute`` is ``value``, for help text that cannot drift from the step table."""
    return ", ".join(s.name for s in STEPS if getattr(s, attribute) == value)

_THRESHOLD = 70   # dosht's default job threshold; used for every kind (the seed gives only dosht's)
_NJOBS = 10       # the seed does not give doretile1/dogapfill/dopow/dopkbgn's defaults: ours

# DO NOT REORDER without reason: the order is the seed's (most to least likely to be given).
PARAMS: tuple[Param, ...] = (
    _p("starttime", _time, REQUIRED, "start of the analysed span: MDI day number (6400d) or a date",
       kind="time"),
    _p("totaltime", _duration(False), REQUIRED, "length of the analysed span (72d, 48h)", kind="duration"),
    _p("label", _name, REQUIRED, "the set of templates parmtemplates/{desc}.parms.{label} to run "
       "(also the job-name suffix, GLOBALHS_LABEL)", kind="name"),
    _p("lmin", _int(0), 0, "smallest spherical-harmonic degree", kind="integer"),
    _p("lmax", _int(0), 300, "largest spherical-harmonic degree", kind="integer"),
    _p("lchunk", _int(1), 40, "l's chunked together in the short time series", kind="integer"),
    _p("firststep", _choice, "sht", "first step to run", choices=STEP_NAMES, kind="step"),
    _p("laststep", _choice, "pkbgn", "last step to run", choices=STEP_NAMES, kind="step"),
    _p("lchunk1", _int(1), Same("lchunk"), "lchunk of sht, lchunkin of retilen", kind="integer"),
    _p("lchunk2", _int(1), Same("lchunk"), "lchunkout of retilen, lchunkin of retile1", kind="integer"),
    _p("lchunk3", _int(1), 1, "lchunkout of retile1", kind="integer"),
    _p("lchunk4", _int(1), 10, "lchunk of gapfill and pow", kind="integer"),
    _p("lchunk5", _int(1), Same("lchunk4"), "lchunk of slice", kind="integer"),
    _p("timechunk", _duration(False), "1d", "time chunk of the short time series", kind="duration"),
    _p("timechunk1", _duration(False), Same("timechunk"), "timechunk of sht (one job each)",
       kind="duration"),
    _p("timechunk2", _duration(False), "12d", "timechunk of retilen (one job each)", kind="duration"),
    _p("powtotaltime", _duration(False), Same("totaltime"), "totaltimeout of pow and slice",
       kind="duration"),
    _p("powstartoffset", _duration(True), "0d", "startoffset of pow and slice", kind="duration"),
    _p("slicestep", _duration(False), "3d", "slicestep of slice", kind="duration"),
    _p("pkbwriteflag", _choice, "1", "writeflag of pkbgn (0: the FFTs are already written)",
       choices=("0", "1"), kind="flag"),
    *(_p(n, _int(1), _NJOBS, f"most jobs of {_using('njobs', n)}", env=f"GLOBALHS_{n.upper()}", kind="integer")
      for n in ("retnjobs", "tsfnjobs", "pownjobs", "pkbnjobs")),
    *(_p(f"{k}jobsthreshold", _int(1), _THRESHOLD,
         f"submit {k} jobs ({_using('kind', k)}) only while fewer than this many are queued",
         env=f"GLOBALHS_{k.upper()}JOBTHRESHOLD", kind="integer")
      for k in ("v2t", "ret", "tsf", "pow", "pkb")),
    *(_p(f"{k}queue", _text, "j.q", f"queue (partition) of {k} jobs ({_using('kind', k)})",
         env=f"GLOBALHS_{k.upper()}QUEUE", kind="string")
      for k in ("v2t", "ret", "tsf", "pow", "pkb")),
    _p("topdir", _path, "./globalhs_top", "top directory of the work directories", env="GLOBALHS_TOPDIR",
       kind="directory"),
)

PARAMS_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}


# -- topdir: the original's /tmp28 is site specific ------------------------------------------------

CONFIG_ENV = "GLOBALHS_CONFIG"
DEFAULT_TOPDIR_NAME = "globalhs_top"


def config_files() -> list[Path]:
    """Site configuration files read for ``topdir``, first found wins."""
    files = []
    if os.environ.get(CONFIG_ENV):
        files.append(Path(os.environ[CONFIG_ENV]))
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    files += [Path(xdg) / "globalhs" / "config.toml", Path("/etc/globalhs/config.toml")]
    return files


def default_topdir() -> tuple[str, str]:
    """(topdir, where it came from) when ``topdir=`` is not given and GLOBALHS_TOPDIR is unset."""
    import tomllib

    for path in config_files():
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ParamError([f"site config {path}: cannot read it ({exc})"]) from None
            topdir = data.get("run", {}).get("topdir")
            if topdir:
                return str(topdir), f"site config {path}"
    return str(Path.cwd() / DEFAULT_TOPDIR_NAME), "default (under the current directory)"


# -- the validated parameters ---------------------------------------------------------------------

@dataclass(frozen=True)
class RunParams:
    """Validated parameter values (text as given, integers as ints) and what was given explicitly."""

    values: Mapping[str, Any]
    given: Mapping[str, str]            # name -> text from the command line
    sources: Mapping[str, str]          # name -> "argument" | "environment GLOBALHS_X" | "default" ...

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def seconds(self, name: str) -> float:
        return parse_duration(self.values[name])

    @property
    def start(self) -> float:
        """Internal time of ``starttime``."""
        return parse_time_or_day(self.values["starttime"])

    @property
    def start_string(self) -> str:
        return format_time(self.start, "TAI")

    def argv(self, **override: str) -> list[str]:
        """The ``name=value`` arguments as given, with ``override`` applied (for the resume command)."""
        given = dict(self.given)
        given.update(override)
        return [f"{k}={v}" for k, v in given.items()]


def _split_tokens(tokens: Sequence[str], problems: list[str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token != token.strip() or any(c.isspace() for c in token):
            problems.append(f"spurious space in argument {token!r}: write name=value with no spaces")
            token = token.strip()
            if "=" in token:
                name, value = token.split("=", 1)
                raw.setdefault(name.strip(), value.strip())
            continue
        if "=" not in token:
            problems.append(f"argument {token!r} is not name=value (a spurious space before or after '='?)")
            continue
        name, value = token.split("=", 1)
        if value == "":
            hint = f" (did you mean {name}={tokens[i]}?)" if i < len(tokens) and "=" not in tokens[i] else ""
            problems.append(f"argument {name}= has no value: spurious space after '='{hint}")
            if hint:
                i += 1
            continue
        if name == "":
            problems.append(f"argument {token!r} has no name: spurious space before '='?")
            continue
        if name in raw:
            problems.append(f"parameter {name} given twice ({name}={raw[name]} and {name}={value})")
            continue
        raw[name] = value
    return raw


def parse_params(tokens: Sequence[str], environ: Mapping[str, str] | None = None) -> RunParams:
    """Validate ``name=value`` tokens against the table; :class:`ParamError` lists every problem."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    raw = _split_tokens(tokens, problems)
    for name in raw:
        if name not in PARAMS_BY_NAME:
            problems.append(f"unknown parameter {name!r} (known: {', '.join(PARAMS_BY_NAME)})")

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    deferred: list[Param] = []
    for p in PARAMS:
        if p.name in raw:
            text, source = raw[p.name], "argument"
        elif p.env and environ.get(p.env):
            text, source = environ[p.env], f"environment {p.env}"
        elif p.required:
            problems.append(f"required parameter {p.name} is missing ({p.help})")
            continue
        elif isinstance(p.default, Same):
            deferred.append(p)
            continue
        elif p.name == "topdir":
            try:
                text, source = default_topdir()
            except ParamError as exc:
                problems.extend(exc.problems)
                continue
        else:
            values[p.name], sources[p.name] = p.default, "default"
            continue
        try:
            value = p.convert(text)
            if p.choices and value not in p.choices:
                raise ValueError(f"expected one of {', '.join(p.choices)}")
        except ValueError as exc:
            where = "" if source == "argument" else f" (from {source})"
            problems.append(f"{p.name}={text!r}{where}: {exc}")
            continue
        values[p.name], sources[p.name] = value, source
    for p in deferred:
        if p.default.name in values:
            values[p.name], sources[p.name] = values[p.default.name], f"default (= {p.default.name})"

    _cross_check(values, problems)
    if problems:
        raise ParamError(problems)
    given = {k: v for k, v in raw.items() if k in PARAMS_BY_NAME}
    return RunParams(values, given, sources)


def _cross_check(v: dict[str, Any], problems: list[str]) -> None:
    """Checks between parameters (each only when the parameters involved are themselves valid)."""
    if "lmin" in v and "lmax" in v and v["lmin"] > v["lmax"]:
        problems.append(f"lmin={v['lmin']} is greater than lmax={v['lmax']}: expected lmin <= lmax")
    if "firststep" in v and "laststep" in v and \
            STEP_NAMES.index(v["firststep"]) > STEP_NAMES.index(v["laststep"]):
        problems.append(f"firststep={v['firststep']} comes after laststep={v['laststep']} "
                        f"(step order: {', '.join(STEP_NAMES)})")
    if all(k in v for k in ("totaltime", "powtotaltime", "powstartoffset")):
        total = parse_duration(v["totaltime"])
        need = parse_duration(v["powtotaltime"]) + parse_duration(v["powstartoffset"])
        if need > total + 1e-6:
            problems.append(f"powstartoffset={v['powstartoffset']} plus powtotaltime={v['powtotaltime']} "
                            f"exceeds totaltime={v['totaltime']}")


# -- generated documentation -----------------------------------------------------------------------

def _allowed(p: Param) -> str:
    if p.choices:
        return ", ".join(p.choices)
    return p.kind


def _rows() -> list[tuple[str, str, str, str, str]]:
    return [(p.name, p.default_text(), _allowed(p), p.env or "", p.help) for p in PARAMS]


def markdown_table() -> str:
    """The parameter table in Markdown (docs/run.md embeds exactly this text)."""
    lines = ["| parameter | default | allowed values | environment | meaning |",
             "|---|---|---|---|---|"]
    for name, default, allowed, env, help_ in _rows():
        env_md = f"`{env}`" if env else ""
        lines.append(f"| `{name}` | {default} | {allowed} | {env_md} | {help_} |")
    return "\n".join(lines) + "\n"


def help_table() -> str:
    """The parameter table as plain text (``globalhs run --help``)."""
    lines = []
    for name, default, allowed, env, help_ in _rows():
        extra = f" [{allowed}]" if allowed else ""
        env_t = f" (env {env})" if env else ""
        lines.append(f"  {name:<17} {default:<12} {help_}{extra}{env_t}")
    lines.append("")
    lines.append(f"  topdir: GLOBALHS_TOPDIR, else [run] topdir in a site config file "
                 f"(${CONFIG_ENV}, ~/.config/globalhs/config.toml, /etc/globalhs/config.toml), "
                 f"else ./{DEFAULT_TOPDIR_NAME}")
    return "\n".join(lines)


DOC_BEGIN = "<!-- parameter table: generated by `python -m globalhs.pipeline.params --markdown`; do not edit -->"
DOC_END = "<!-- end of parameter table -->"
STEPS_BEGIN = "<!-- step table: generated from globalhs/pipeline/steps.py; do not edit -->"
STEPS_END = "<!-- end of step table -->"


def _replace_region(text: str, begin: str, end: str, body: str) -> str:
    head, sep, rest = text.partition(begin)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        raise ValueError(f"docs/run.md lacks the markers {begin!r} ... {end!r}")
    return f"{head}{begin}\n{body}{end}{tail}"


def docs_with_table(text: str) -> str:
    """``text`` (docs/run.md) with the generated parameter and step tables put between their markers."""
    from globalhs.pipeline.steps import markdown_table as steps_table

    text = _replace_region(text, DOC_BEGIN, DOC_END, markdown_table())
    return _replace_region(text, STEPS_BEGIN, STEPS_END, steps_table())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--markdown"]:
        sys.stdout.write(markdown_table())
        return 0
    if len(args) == 2 and args[0] == "--update-docs":
        path = Path(args[1])
        path.write_text(docs_with_table(path.read_text()))
        return 0
    print("usage: python -m globalhs.pipeline.params --markdown | --update-docs docs/run.md", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
