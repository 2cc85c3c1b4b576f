"""Parameter-file templates: ``parmtemplates/{desc}.parms.{label}``, found and rendered per job.

A template holds a module's arguments, one or more ``name=value`` per line with no spaces around
``=`` (the original's scripts split on spaces, so ``name= value`` breaks them: here it is an error
naming the file and line). Lines whose first non-space character is ``#`` are comments; lines
starting ``##name=value`` are for the driver only (``##module=gapfill`` picks the module).

Rendering replaces the legacy placeholders (a capital letter four times: XXXX input interval,
NNNN lmin, MMMM lmax, CCCC lchunk, TTTT time chunk, SSSS start time) and then jinja2 variables
(``{{ lmin }}``, ``{{ totaltime }}``, ``{% if step == "gfgaps" %}``...; see docs/run.md). An unknown
placeholder or an undefined variable is an error, not an empty string.

Template directories: those in ``GLOBALHS_TEMPLATES`` (``:``-separated, searched first, so a site
can add labels or override shipped ones), then the shipped ``parmtemplates/``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jinja2

from globalhs.pipeline.steps import DESCS, STEPS

TEMPLATES_ENV = "GLOBALHS_TEMPLATES"
SHIPPED = Path(__file__).resolve().parents[2] / "parmtemplates"
LEGACY = ("XXXX", "NNNN", "MMMM", "CCCC", "TTTT", "SSSS")
_LEGACY_RE = re.compile(r"([A-Z])\1\1\1")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class TemplateError(ValueError):
    """A template that cannot be used; the message names the file, the line and what was expected."""


def template_dirs() -> list[Path]:
    """Directories searched for templates, first match wins."""
    extra = [Path(p) for p in os.environ.get(TEMPLATES_ENV, "").split(os.pathsep) if p]
    return [*extra, SHIPPED]


def find_template(desc: str, label: str) -> Path | None:
    """The template file for ``desc`` and ``label``, or None (the step is then skipped)."""
    for directory in template_dirs():
        path = directory / f"{desc}.parms.{label}"
        if path.is_file():
            return path
    return None


def labels() -> dict[str, dict[str, Path]]:
    """Every label found, with the template of each desc it has."""
    found: dict[str, dict[str, Path]] = {}
    for directory in reversed(template_dirs()):       # earlier directories override later ones
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            desc, sep, label = path.name.partition(".parms.")
            if sep and desc in DESCS and label and path.is_file():
                found.setdefault(label, {})[desc] = path
    return dict(sorted(found.items()))


def steps_of_label(label: str) -> list[str]:
    """The steps a label runs (those whose desc has a template)."""
    descs = labels().get(label, {})
    return [s.name for s in STEPS if s.desc in descs]


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one job."""

    arguments: list[str]                   # module arguments, name=value each
    driver: dict[str, str] = field(default_factory=dict)   # ##name=value lines

    def parms_text(self) -> str:
        """The job's parameter file: one argument per line, then the driver-only lines."""
        lines = list(self.arguments) + [f"##{k}={v}" for k, v in self.driver.items()]
        return "\n".join(lines) + "\n"


def _check_line(source: str, number: int, line: str) -> list[str]:
    tokens = line.split()
    for i, token in enumerate(tokens):
        name, sep, value = token.partition("=")
        if not sep or not name or not value:
            near = " ".join(tokens[max(0, i - 1):i + 2])
            raise TemplateError(
                f"{source} line {number}: {token!r} is not name=value (near {near!r}); templates "
                f"allow no spaces around '=' (write e.g. LMAX=300, not LMAX= 300)")
        if not _NAME_RE.match(name):
            raise TemplateError(f"{source} line {number}: {name!r} is not a parameter name")
    return tokens


def parse_rendered(text: str, source: str) -> Rendered:
    """Split rendered template text into module arguments and driver-only lines."""
    arguments: list[str] = []
    driver: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("##"):
            body = stripped[2:]
            tokens = _check_line(source, number, body) if body.strip() else []
            for token in tokens:
                name, _, value = token.partition("=")
                driver[name] = value
            continue
        if stripped.startswith("#"):
            continue
        arguments.extend(_check_line(source, number, stripped))
    return Rendered(arguments, driver)


_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                            autoescape=False)


class Template:
    """A template file, checked on load and rendered per job."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.text = self.path.read_text()
        except OSError as exc:
            raise TemplateError(f"cannot read template {self.path}: {exc.strerror}") from None
        for number, line in enumerate(self.text.splitlines(), 1):
            for match in _LEGACY_RE.finditer(line):
                if match.group(0) not in LEGACY:
                    raise TemplateError(
                        f"{self.path} line {number}: unknown placeholder {match.group(0)!r}; "
                        f"known: {', '.join(LEGACY)}")
        # legacy placeholders become jinja2 expressions, so the template is compiled once
        source = _LEGACY_RE.sub(lambda m: "{{ _legacy." + m.group(0) + " }}", self.text)
        try:
            self._jinja = _JINJA.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{self.path} line {exc.lineno}: jinja2 syntax error: {exc.message}") from None

    def render(self, legacy: Mapping[str, str], variables: Mapping[str, Any]) -> Rendered:
        """Replace legacy placeholders, then jinja2 variables; check the no-spaces rule."""
        try:
            text = self._jinja.render(**variables, _legacy=dict(legacy))
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{self.path}: {exc.message}; variables available: "
                                f"{', '.join(sorted(variables))}") from None
        return parse_rendered(text, str(self.path))
