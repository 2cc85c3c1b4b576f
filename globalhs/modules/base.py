"""What every pipeline module shares: a declared argument table, JSOC-style arguments, the success line.

A module is declared once::

    MODULE = Module(
        name="jv2ts",
        summary="remap and spherical harmonic transform of Dopplergrams",
        args=(Arg("in", str, help="input record set"), Arg("LMAX", int, 300, "largest degree"), ...),
        main=main,          # main(args: dict[str, object]) -> None; raises ModuleError on bad input
    )

and runs as ``globalhs module jv2ts @v2t.parms.6400 LMAX=100`` (what a job script calls) or as
``MODULE(["in=...", "LMAX=100"])`` / ``MODULE.call(in_=..., LMAX=100)`` from Python.
Arguments are ``name=value`` (also ``name= value``) and ``@file``: a parameter file with one or more
``name=value`` per line, where lines starting with ``#`` are comments (``##`` lines belong to the
driver). Later arguments override earlier ones, so ``@file LMAX=100`` overrides the file.
On success the module prints ``module <name> successful completion`` as its last line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["REQUIRED", "Arg", "Module", "ModuleError", "parse_arguments"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class ModuleError(Exception):
    """Bad input or a failed sanity check; the message names what was wrong and what was expected."""


@dataclass(frozen=True)
class Arg:
    """One declared module argument."""

    name: str
    type: Callable[[str], Any] = str
    default: Any = REQUIRED
    help: str = ""
    choices: tuple[Any, ...] = ()

    def convert(self, text: str) -> Any:
        try:
            value = self.type(text)
        except (TypeError, ValueError) as exc:
            kind = getattr(self.type, "__name__", "value")
            raise ModuleError(f"argument {self.name}={text!r}: expected {kind} ({exc})") from None
        if self.choices and value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise ModuleError(f"argument {self.name}={text!r}: expected one of {allowed}")
        return value


def _tokens_from_file(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModuleError(f"cannot read parameter file {path}: {exc.strerror}") from None
    tokens: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        tokens.extend(stripped.split())
    return tokens


def _expand(argv: Sequence[str]) -> list[str]:
    tokens: list[str] = []
    for token in argv:
        if token.startswith("@"):
            tokens.extend(_tokens_from_file(Path(token[1:])))
        else:
            tokens.append(token)
    return tokens


def parse_arguments(args: Sequence[Arg], argv: Sequence[str]) -> dict[str, Any]:
    """Values for every declared argument from ``name=value`` / ``@file`` tokens; all errors at once."""
    table = {a.name: a for a in args}
    raw: dict[str, str] = {}
    problems: list[str] = []
    tokens = _expand(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if "=" not in token:
            problems.append(f"argument {token!r} is not of the form name=value")
            i += 1
            continue
        name, value = token.split("=", 1)
        if value == "" and i + 1 < len(tokens) and "=" not in tokens[i + 1]:  # "name= value"
            value = tokens[i + 1]
            i += 1
        if name not in table:
            problems.append(f"unknown argument {name!r}")
        else:
            raw[name] = value
        i += 1
    values: dict[str, Any] = {}
    for arg in args:
        if arg.name in raw:
            try:
                values[arg.name] = arg.convert(raw[arg.name])
            except ModuleError as exc:
                problems.append(str(exc))
        elif arg.default is REQUIRED:
            problems.append(f"required argument {arg.name} is missing ({arg.help or 'no default'})")
        else:
            values[arg.name] = arg.default
    if problems:
        raise ModuleError("; ".join(problems))
    return values


@dataclass(frozen=True)
class Module:
    """A pipeline program: name, argument table and main function."""

    name: str
    summary: str
    args: tuple[Arg, ...]
    main: Callable[[dict[str, Any]], None] = field(repr=False)

    def parse(self, argv: Sequence[str]) -> dict[str, Any]:
        return parse_arguments(self.args, argv)

    def call(self, **values: Any) -> None:
        """Run from Python with keyword values (``in_`` for the reserved word ``in``); raises ModuleError."""
        argv = [f"{k.rstrip('_')}={v}" for k, v in values.items()]
        self.main(self.parse(argv))

    def __call__(self, argv: Sequence[str]) -> int:
        """Run as a program: exit status 0 with the success line, 1 with the error on stderr."""
        try:
            self.main(self.parse(argv))
        except ModuleError as exc:
            print(f"{self.name}: error: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"module {self.name} successful completion", flush=True)
        return 0

    def usage(self) -> str:
        """Argument table as text (what ``globalhs module NAME --help`` prints)."""
        lines = [f"{self.name}: {self.summary}", ""]
        for arg in self.args:
            default = "(required)" if arg.default is REQUIRED else f"default {arg.default!r}"
            choices = f" one of {', '.join(map(str, arg.choices))};" if arg.choices else ""
            lines.append(f"  {arg.name:<12} {default};{choices} {arg.help}")
        return "\n".join(lines)
