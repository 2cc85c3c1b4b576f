"""``globalhs durcon`` and ``globalhs time``: the original's duration and time converters."""

from __future__ import annotations

import click

from globalhs.time import TimeFormatError, format_time, parse_duration, parse_time_or_day, time_to_day


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(seconds)


@click.command()
@click.argument("durations", nargs=-1, required=True)
def durcon(durations: tuple[str, ...]) -> None:
    """Print the seconds in each DURATION (72d, 48h, 6h, 45s, 1.5d ...), one per line."""
    try:
        values = [parse_duration(d) for d in durations]
    except TimeFormatError as exc:
        raise click.UsageError(str(exc)) from None
    for value in values:
        click.echo(_seconds_text(value))


@click.command("time")
@click.argument("when")
@click.option("--day", "as_day", is_flag=True, help="Print the MDI day number instead of a time string.")
@click.option("--zone", default="TAI", show_default=True, type=click.Choice(["TAI", "UTC", "TT"]),
              help="Zone of the printed time string.")
@click.option("--seconds", "as_seconds", is_flag=True,
              help="Print internal seconds since 1977.01.01_00:00:00_TAI.")
def time_cmd(when: str, as_day: bool, zone: str, as_seconds: bool) -> None:
    """Convert WHEN (a day number such as 6400d or a JSOC time string) between forms."""
    try:
        t = parse_time_or_day(when)
    except TimeFormatError as exc:
        raise click.UsageError(str(exc)) from None
    if as_day:
        day = time_to_day(t)
        click.echo(str(int(day)) if day.is_integer() else repr(day))
    elif as_seconds:
        click.echo(_seconds_text(t))
    else:
        click.echo(format_time(t, zone))
