"""``globalhs series``, ``globalhs ingest`` and ``globalhs show-info``: the record store from the shell."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from globalhs.drms import DrmsError, load_series_file, open_store
from globalhs.drms.builtin import INPUT_SERIES, input_series

_store_option = click.option(
    "--store", "store_path", envvar="GLOBALHS_STORE", type=click.Path(file_okay=False, path_type=Path),
    help="Record store directory [env GLOBALHS_STORE; default a per-user data directory].")


def _open(store_path: Path | None):
    try:
        return open_store(store_path)
    except DrmsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def series() -> None:
    """Create and inspect series definitions."""


@series.command("create")
@click.argument("source")
@_store_option
def series_create(source: str, store_path: Path | None) -> None:
    """Create a series from SOURCE: a definition file (.json or .toml) or a builtin input series name
    (mdi.vw_V, mdi.fd_V, hmi.V_45s, synth.V). An identical existing definition is left as it is."""
    try:
        defn = input_series(source) if source in INPUT_SERIES and not Path(source).exists() \
            else load_series_file(source)
        _open(store_path).create_series(defn)
    except DrmsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"series {defn.name} created")


@series.command("list")
@_store_option
def series_list(store_path: Path | None) -> None:
    """List the series in the store, with their record counts."""
    store = _open(store_path)
    for name in store.list_series():
        click.echo(f"{name}\t{store.count(name)}")


@series.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the definition as JSON (what `series create` reads).")
@_store_option
def series_show(name: str, as_json: bool, store_path: Path | None) -> None:
    """Show the definition of series NAME: prime keys, keywords, segments."""
    try:
        defn = _open(store_path).series(name)
    except DrmsError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(defn.to_dict(), indent=2))
        return
    click.echo(f"series {defn.name}: {defn.description}")
    click.echo("prime keys:")
    for k in defn.prime:
        slot = (f" slotted: epoch {k.format(k.epoch)}, step {k.step:g} s, round {k.round:g} s"
                if k.type == "time" else "")
        click.echo(f"  {k.name:<10} {k.type}{slot}")
    click.echo("keywords:")
    for kw in defn.keywords:
        default = kw.format(kw.default) if not (isinstance(kw.default, float) and math.isnan(kw.default)) else "-"
        click.echo(f"  {kw.name:<10} {kw.type:<6} default {default:<8} {kw.unit:<12} {kw.description}")
    click.echo("segments:")
    for seg in defn.segments:
        scaling = f" bscale {seg.bscale:g} bzero {seg.bzero:g} blank {seg.blank}" if seg.dtype.startswith("int") else ""
        click.echo(f"  {seg.name:<10} {seg.dtype}{scaling} compress {seg.compress} {seg.unit}")


@series.command("check")
@click.option("--fix", is_flag=True, help="Remove what is found.")
@click.option("--min-age", default=3600.0, show_default=True, help="Only entries older than this many seconds.")
@_store_option
def series_check(fix: bool, min_age: float, store_path: Path | None) -> None:
    """Find (and with --fix remove) files left by processes killed while writing to the store."""
    found = _open(store_path).check(fix=fix, min_age=min_age)
    for path in found:
        click.echo(f"{'removed' if fix else 'orphan'}\t{path}")
    click.echo(f"{len(found)} orphan(s){' removed' if fix and found else ''}")


@click.command()
@click.argument("series_name", metavar="SERIES")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--replace", is_flag=True, help="Let each file supersede a stored record with the same T_REC.")
@_store_option
def ingest(series_name: str, files: tuple[Path, ...], replace: bool, store_path: Path | None) -> None:
    """Ingest FITS Dopplergrams (MDI-style or HMI-style keywords) into SERIES, all or nothing."""
    from globalhs.drms.ingest import ingest_files

    store = _open(store_path)
    show = len(files) > 1 and sys.stderr.isatty()
    with click.progressbar(length=len(files), label=f"ingest {series_name}", file=sys.stderr,
                           hidden=not show) as bar:
        try:
            records = ingest_files(store, series_name, files, replace=replace, progress=lambda done: bar.update(1))
        except DrmsError as exc:
            raise click.ClickException(f"{exc} (nothing was ingested)") from None
    click.echo(f"ingested {len(records)} record(s) into {series_name}")


def _split_keys(args: tuple[str, ...]) -> tuple[list[str] | None, int | None]:
    keys, limit = None, None
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or name not in ("key", "n"):
            raise click.UsageError(f"argument {arg!r}: expected key=KEY1,KEY2,... or n=N")
        if name == "key":
            keys = [k.strip() for k in value.split(",") if k.strip()]
        else:
            try:
                limit = int(value)
            except ValueError:
                raise click.UsageError(f"argument {arg!r}: n must be an integer (negative: the last records)")
    return keys, limit


@click.command("show-info")
@click.argument("recordset")
@click.argument("args", nargs=-1)
@click.option("-c", "count_only", is_flag=True, help="Print only the number of records.")
@click.option("-q", "quiet", is_flag=True, help="No header line.")
@click.option("-p", "paths", is_flag=True, help="Also print each record's directory.")
@click.option("-r", "recnums", is_flag=True, help="Also print each record's number.")
@_store_option
def show_info(recordset: str, args: tuple[str, ...], count_only: bool, quiet: bool, paths: bool,
              recnums: bool, store_path: Path | None) -> None:
    """Print keywords of the records in RECORDSET, like JSOC's show_info.

    ARGS: key=T_REC,QUALITY (default: the prime keys) and n=N (first N records; negative: last N)."""
    keys, limit = _split_keys(args)
    store = _open(store_path)
    if count_only and limit is None:
        try:
            click.echo(str(store.count(recordset)))
        except DrmsError as exc:
            raise click.ClickException(str(exc)) from None
        return
    try:
        records = store.query(recordset)
        defn = store.series(records[0].series if records else recordset.split("[")[0].split("{")[0].strip())
        keys = keys or list(defn.prime_names)
        table = [defn.keyword(k) for k in keys]
    except DrmsError as exc:
        raise click.ClickException(str(exc)) from None
    if limit is not None:
        records = records[:limit] if limit >= 0 else records[limit:]
    if count_only:
        click.echo(str(len(records)))
        return
    header = (["recnum"] if recnums else []) + keys + (["path"] if paths else [])
    if not quiet:
        click.echo("\t".join(header))
    for rec in records:
        row = [str(rec.recnum)] if recnums else []
        row += [kw.format(rec.keywords[kw.name]) for kw in table]
        if paths:
            row.append(str(rec.dir))
        click.echo("\t".join(row))
