"""``globalhs module NAME args...``: run one pipeline module, as a job script does."""

from __future__ import annotations

import sys

import click

from globalhs.modules import MODULES, get_module


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []})
@click.argument("name", type=click.Choice(sorted(MODULES)))
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def module(name: str, arguments: tuple[str, ...]) -> None:
    """Run module NAME with name=value and @parameter-file ARGUMENTS (--help: its argument table)."""
    mod = get_module(name)
    if "--help" in arguments or "-h" in arguments:
        click.echo(mod.usage())
        return
    sys.exit(mod(list(arguments)))
