"""Write a synthetic observation into the record store as an input series (``globalhs synth``).

The images go into a Dopplergram series (``synth.V`` by default, the store's builtin definition) in
transactions of ``commit_every`` images, so a long span never holds more than that many records in
flight; missing images are simply absent, flagged ones carry QUALITY 0x80000000. The truth (the mode
table used and the parameters) is written next to the records (``globalhs.synthetic.truth``) before
the first image, so an interrupted generation still says what it was making.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from globalhs.drms import DrmsError, open_store
from globalhs.drms.builtin import synth_V
from globalhs.refdata import refdata_dir
from globalhs.science.modetable import ModeTable, read_modetable
from globalhs.science.synth import mode_set
from globalhs.science.synthsun import ObservationConfig, synthetic_observation
from globalhs.synthetic.truth import Rotation, record_guesses, record_rotation, record_truth, starting_guesses
from globalhs.time import format_time

__all__ = ["DEFAULT_MODES", "default_modes_path", "GenerationSummary", "generate"]

DEFAULT_MODES = ("hmi_modes", "hmi.6400.36")
"""The default mode table, under the reference-data directory (GLOBALHS_REFDATA or ../shared/data)."""
EARLIER_MODES = ("hmi_modes", "hmi.6328.36.72d")
"""The default peakbagging starting table: the HMI fit of the 72 days before the default truth."""


def default_modes_path(which: tuple[str, str] = DEFAULT_MODES) -> Path:
    """``$GLOBALHS_REFDATA/hmi_modes/hmi.6400.36``, else ``../shared/data/...`` beside the project."""
    return refdata_dir().joinpath(*which)


@dataclass(frozen=True)
class GenerationSummary:
    series: str
    first: float
    n_images: int
    n_written: int
    n_missing: int
    n_flagged: int
    n_modes: int
    n_multiplets: int
    truth_dir: Path

    @property
    def duty_cycle(self) -> float:
        return (self.n_images - self.n_missing - self.n_flagged) / max(self.n_images, 1)


def generate(
    start: float,
    total: float,
    *,
    lmax: int,
    lmin: int = 0,
    modes: str | os.PathLike | ModeTable | None = None,
    config: ObservationConfig = ObservationConfig(),
    series: str = "synth.V",
    amplitude_scale: float = 1.0,
    numin: float = 0.0,
    numax: float = np.inf,
    replace: bool = False,
    rotation: Rotation | None = None,
    guess: str | os.PathLike | ModeTable | None = None,
    workers: int = 1,
    commit_every: int = 360,
    store=None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationSummary:
    """Synthesise ``total`` seconds from internal time ``start`` into ``series`` of the store.

    ``modes``: a mode table (path or table; default ``default_modes_path()``); multiplets with
    ``lmin <= l <= lmax`` and ``numin <= nu <= numax`` (uHz) are synthesised. ``rotation`` is recorded
    with the truth as the rotation the table's splittings stand for (the report shows it beside the
    inversion); the splittings themselves always come from the table. ``guess`` is the earlier table
    the peakbagging starting values come from (default: hmi.6328.36.72d if present, else the truth;
    ``globalhs.synthetic.truth.starting_guesses``). ``workers`` > 1 makes the span
    in that many processes (contiguous parts; each runs the mode stream through the earlier steps
    without rendering them, so the records are identical to a single process's). ``progress(done, n)`` is
    called after each committed batch. Raises ``ValueError``/``DrmsError`` naming the bad input.
    """
    if total <= 0:
        raise ValueError(f"total time {total} s: expected a positive duration")
    if lmax < 0 or lmin < 0 or lmin > lmax:
        raise ValueError(f"degree range lmin={lmin}, lmax={lmax}: expected 0 <= lmin <= lmax")
    n_images = int(round(total / config.cadence))
    if n_images < 1 or abs(n_images * config.cadence - total) > 1e-6 * config.cadence:
        raise ValueError(f"total time {total} s is not a whole number of {config.cadence} s cadence steps")
    if modes is None:
        modes = default_modes_path()
        if not modes.exists():
            raise FileNotFoundError(f"default mode table {modes} not found: set GLOBALHS_REFDATA to the "
                                    f"reference-data directory (../shared/data) or give a mode table")
    table = modes if isinstance(modes, ModeTable) else read_modetable(modes)
    keep = (table.l >= lmin) & (table.l <= lmax) & (table.nu >= numin) & (table.nu <= numax) \
        & (table.width > 0) & (table.amp > 0) & (table.nu > 0)
    used = table.select(keep).sorted()
    modeset = mode_set(used, lmin=lmin, lmax=lmax, amplitude_scale=amplitude_scale)
    store = store if store is not None else open_store()
    defn = synth_V(config.cadence, name=series)
    store.ensure_series(defn)
    if not replace:
        recordset = f"{series}[{format_time(start)}/{total:g}s]"
        existing = store.count(recordset)
        if existing:
            raise DrmsError(f"{recordset} already has {existing} records; nothing was written "
                            f"(pass replace to overwrite them)")
    span = {
        "start": format_time(start), "total": total, "lmin": lmin, "lmax": lmax, "numin": numin,
        "numax": None if not np.isfinite(numax) else numax, "n_images": n_images,
        "model": {"amplitude_scale": amplitude_scale, **asdict(config)},
    }
    truth = record_truth(store.root, series, used, span, replace=replace)
    if rotation is not None:
        record_rotation(store.root, series, rotation)
    if guess is None:
        earlier = default_modes_path(EARLIER_MODES)
        guess = earlier if earlier.exists() else used
    record_guesses(store.root, series,
                   starting_guesses(guess if isinstance(guess, ModeTable) else read_modetable(guess), used))
    parts = _parts(n_images, max(1, int(workers)))
    job = dict(store_root=str(store.root), modeset=modeset, start=start, n_images=n_images, config=config,
               lmax=lmax, series=series, replace=replace, commit_every=commit_every)
    counts = np.zeros(3, dtype=int)
    if len(parts) == 1:
        counts += _make_part(parts[0], store=store, progress=progress, **job)
    else:
        with concurrent.futures.ProcessPoolExecutor(len(parts) - 1, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_make_part, part, **job) for part in parts[1:]]
            # The first part here, with the progress bar scaled to the whole span.
            scale = len(parts)
            counts += _make_part(parts[0], store=store, progress=(lambda d, n: progress(d * scale, n_images))
                                 if progress else None, **job)
            for future in futures:
                counts += future.result()
        if progress:
            progress(n_images, n_images)
    written, missing, flagged = (int(c) for c in counts)
    return GenerationSummary(series, start, n_images, written, missing, flagged, len(modeset), len(used),
                             truth.directory)


def _parts(n: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous (first, count) parts of n images for ``workers`` processes."""
    bounds = [round(i * n / workers) for i in range(workers + 1)]
    return [(a, b - a) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _make_part(part, *, store_root, modeset, start, n_images, config, lmax, series, replace, commit_every,
               store=None, progress=None) -> np.ndarray:
    """Render and store images part[0]..part[0]+part[1]-1; returns (written, missing, flagged)."""
    store = store if store is not None else open_store(store_root)
    written = missing = flagged = 0
    batch: list = []

    def flush() -> None:
        if batch:
            with store.writer(replace=replace, sync="batch") as w:
                for img in batch:
                    w.add(series, keywords=img.keywords, segments={"V": img.image})
            batch.clear()

    done = 0
    for img in synthetic_observation(modeset, start, n_images, config, lmax=lmax, part=part):
        done += 1
        if img.image is None:
            missing += 1
        else:
            flagged += img.status == 2
            batch.append(img)
            written += 1
        if len(batch) >= commit_every:
            flush()
            if progress:
                progress(done, part[1])
    flush()
    if progress:
        progress(part[1], part[1])
    return np.array([written, missing, flagged])

