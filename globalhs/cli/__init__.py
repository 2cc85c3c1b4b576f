"""The ``globalhs`` command: one click group whose subcommands live in small modules, loaded on use.

The table below is the one list of subcommands; a module that does not exist yet is left out of
``--help`` rather than breaking it.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from globalhs import __version__

# name -> "module:attribute" of a click command. One line per command, grouped by area.
COMMANDS: dict[str, str] = {
    # times (globalhs/cli/time_cmds.py)
    "durcon": "globalhs.cli.time_cmds:durcon",
    "time": "globalhs.cli.time_cmds:time_cmd",
    # the record store (globalhs/cli/store_cmds.py)
    "series": "globalhs.cli.store_cmds:series",
    "ingest": "globalhs.cli.store_cmds:ingest",
    "show-info": "globalhs.cli.store_cmds:show_info",
    # the driver (globalhs/cli/run_cmds.py)
    "run": "globalhs.cli.run_cmds:run",
    "status": "globalhs.cli.run_cmds:status",
    "labels": "globalhs.cli.run_cmds:labels",
    "cancel": "globalhs.cli.run_cmds:cancel",
    # pipeline modules, as a job script calls them (globalhs/cli/module_cmd.py)
    "module": "globalhs.cli.module_cmd:module",
    # science products (globalhs/cli/science_cmds.py)
    "kernels": "globalhs.cli.science_cmds:kernels",
    # synthetic Sun, report, demo (globalhs/cli/synth_cmds.py)
    "synth": "globalhs.cli.synth_cmds:synth",
    "report": "globalhs.cli.synth_cmds:report",
    "demo": "globalhs.cli.synth_cmds:demo",
}


def _available(target: str) -> bool:
    module = target.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, target in COMMANDS.items() if _available(target))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None or not _available(target):
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="globalhs")
def main() -> None:
    """Global helioseismology: Dopplergrams to mode parameters and internal rotation."""
