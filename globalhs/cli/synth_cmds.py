"""``globalhs synth``, ``globalhs report`` and ``globalhs demo``: the synthetic Sun end to end.

Thin: options are parsed here, the work is in ``globalhs.synthetic`` and ``globalhs.report``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from globalhs.time import TimeFormatError, format_time, parse_duration, parse_time_or_day


def _time(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_time_or_day(value)
    except TimeFormatError as exc:
        raise click.BadParameter(str(exc)) from None


def _duration(ctx, param, value):
    try:
        return parse_duration(value)
    except TimeFormatError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--starttime", required=True, callback=_time,
              help="first image: a time (2010.07.11_00:00:00_TAI) or an MDI day (6400d)")
@click.option("--totaltime", required=True, callback=_duration, help="span to synthesise (6h, 1d, 72d)")
@click.option("--lmax", type=click.IntRange(0, 1000), default=60, show_default=True, help="highest degree synthesised")
@click.option("--lmin", type=click.IntRange(0, 1000), default=0, show_default=True, help="lowest degree synthesised")
@click.option("--modes", type=click.Path(exists=True, dir_okay=False),
              help="mode table (JSOC format); default $GLOBALHS_REFDATA/hmi_modes/hmi.6400.36")
@click.option("--series", default="synth.V", show_default=True, help="output Dopplergram series")
@click.option("--size", type=click.IntRange(16, 8192), default=192, show_default=True, help="image size (pixels)")
@click.option("--style", type=click.Choice(["mdi", "hmi"]), default="mdi", show_default=True,
              help="instrument the images imitate (INSTRUME keyword)")
@click.option("--cadence", callback=_duration, default="60s", show_default=True, help="image cadence")
@click.option("--noise", type=click.FloatRange(0), default=20.0, show_default=True, help="pixel noise, m/s rms")
@click.option("--duty-cycle", type=click.FloatRange(0, 1, min_open=True), default=0.95, show_default=True,
              help="fraction of good images")
@click.option("--mean-gap", type=click.FloatRange(1), default=10.0, show_default=True, help="mean gap, images")
@click.option("--flagged-fraction", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="share of gaps that are bad-QUALITY images rather than missing ones")
@click.option("--amplitude-scale", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="mode variance = table amplitude x this, (m/s)^2")
@click.option("--background", type=click.FloatRange(0), default=0.0, show_default=True,
              help="granulation-like background variance per (l, m), (m/s)^2")
@click.option("--numin", type=float, default=0.0, show_default=True, help="lowest mode frequency, uHz")
@click.option("--numax", type=float, default=float("inf"), help="highest mode frequency, uHz")
@click.option("--rotation", type=click.Path(exists=True, dir_okay=False),
              help="2D rotation file (rot2d format, nHz) the table's splittings stand for, kept with the truth")
@click.option("--rmesh", type=click.Path(exists=True, dir_okay=False),
              help="radius mesh of --rotation (every 4th point is a row; e.g. rotation/rmesh.orig)")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed (same seed, same data)")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="processes making the span (the records are identical for any number)")
@click.option("--replace", is_flag=True, help="overwrite existing records and truth of the series")
@click.option("--quiet", is_flag=True, help="no progress bar")
def synth(starttime, totaltime, lmax, lmin, modes, series, size, style, cadence, noise, duty_cycle, mean_gap,
          flagged_fraction, amplitude_scale, background, numin, numax, rotation, rmesh, seed, workers, replace, quiet):
    """Generate synthetic Dopplergrams of a Sun with known modes into the record store."""
    from globalhs.drms import DrmsError
    from globalhs.science.modetable import ModeTableError
    from globalhs.science.synthsun import ObservationConfig
    from globalhs.synthetic.generate import generate
    from globalhs.synthetic.truth import TruthError, read_rot2d

    if (rotation is None) != (rmesh is None):
        raise click.UsageError("--rotation and --rmesh go together (the file and its radius mesh)")
    try:
        given_rotation = read_rot2d(rotation, rmesh) if rotation else None
        config = ObservationConfig(size=size, style=style, cadence=cadence, pixel_noise=noise,
                                   duty_cycle=duty_cycle, mean_gap=mean_gap, flagged_fraction=flagged_fraction,
                                   background_variance=background, seed=seed)
        summary = _with_progress(
            quiet, "synthesising",
            lambda progress: generate(starttime, totaltime, lmax=lmax, lmin=lmin, modes=modes, config=config,
                                      series=series, amplitude_scale=amplitude_scale, numin=numin, numax=numax,
                                      replace=replace, rotation=given_rotation, workers=workers,
                                      progress=progress),
        )
    except (ValueError, DrmsError, ModeTableError, TruthError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{summary.series}: {summary.n_written} images from {format_time(summary.first)} "
        f"({summary.n_missing} missing, {summary.n_flagged} flagged; duty cycle {summary.duty_cycle:.3f}); "
        f"{summary.n_multiplets} multiplets, {summary.n_modes} modes; truth in {summary.truth_dir}"
    )


def _with_progress(quiet: bool, label: str, work):
    """Run ``work(progress)`` with a rich progress bar on stderr (none if quiet or not a terminal)."""
    if quiet or not sys.stderr.isatty():
        return work(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="directory for report.html and its figures (default: <workdir>/report)")
def report(args, out):
    """HTML report of a finished run: starttime=... totaltime=... label=... [lmin= lmax= topdir=]

    The arguments are those given to `globalhs run`. Compares with the truth when the input is synthetic.
    """
    from globalhs.report.build import ReportError, build_report

    try:
        path, summary = build_report(list(args), out=Path(out) if out else None)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(summary)
    click.echo(f"report: {path}")


@click.command()
@click.option("--days", type=click.FloatRange(0.25, 30), default=2.0, show_default=True, help="days to synthesise")
@click.option("--lmax", type=click.IntRange(1, 100), default=20, show_default=True,
              help="highest degree synthesised and analysed")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed of the synthetic Sun")
@click.option("--size", type=click.IntRange(32, 1024), default=128, show_default=True, help="image size (pixels)")
@click.option("--laststep", default=None,
              help="last pipeline step (default: invert from 2 days on, else leakage: at 1 day the "
                   "fits' errors are too small to be useful)")
@click.option("--quiet", is_flag=True, help="no progress display")
def demo(days, lmax, seed, size, laststep, quiet):
    """Synthesise a short set, run the whole pipeline on it (label synth) and write the report."""
    from globalhs.synthetic.demo import DemoError, run_demo

    try:
        result = run_demo(days=days, lmax=lmax, seed=seed, quiet=quiet, size=size, laststep=laststep)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.summary)
    click.echo(f"report: {result.report}")
