"""``globalhs kernels``: compute (or find in the cache) the rotation kernels of a solar model."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from globalhs.kernelcache import KernelCacheError, kernel_set, load_config


@click.command("kernels")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="FGONG model file (e.g. ../shared/data/model_s/fgong.l5bi.d.15c).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML settings file (default: the repository's kernels/config.toml).")
@click.option("--name", default="default", show_default=True, help="Table of the settings file to use.")
@click.option("--lmax", type=int, default=None, help="Override the largest degree.")
@click.option("--recompute", is_flag=True, help="Ignore an existing cache file.")
def kernels(model_path: Path, config_path: Path | None, name: str, lmax: int | None, recompute: bool) -> None:
    """Eigenfunctions and a_1..a_35 rotation kernels of every mode of MODEL, cached for later runs."""
    from dataclasses import replace

    try:
        config = load_config(config_path, name)
        if lmax is not None:
            if lmax < config.lmin:
                raise KernelCacheError(f"--lmax {lmax} is below lmin {config.lmin}")
            config = replace(config, lmax=lmax)
        t0 = time.perf_counter()

        def progress(l_done: int, l_last: int, seconds: float) -> None:
            click.echo(f"  degrees up to {l_done}/{l_last} done, {seconds:.0f} s", err=True)

        ks, path = kernel_set(model_path, config, recompute=recompute, progress=progress)
    except KernelCacheError as exc:
        click.echo(f"kernels: error: {exc}", err=True)
        sys.exit(1)
    seconds = time.perf_counter() - t0
    click.echo(f"{len(ks.l)} modes, l {ks.l.min()}-{ks.l.max()}, {ks.nu.min():.1f}-{ks.nu.max():.1f} uHz; "
               f"computed in {ks.meta.get('seconds', 0):.0f} s (this call {seconds:.1f} s)")
    click.echo(f"cache: {path}")
