"""Build the report of a finished run: find its products, make the figures, write the page.

A run is named by the same ``name=value`` parameters as ``globalhs run`` (the driver's own parameter
table and plan give the work directory and every step's rendered arguments, so the report reads the
series the templates really wrote rather than guessing). Each product is optional: a panel whose
product is absent says so, and the truth panels appear only when the input series is synthetic
(``globalhs.synthetic.truth``). Output: ``<workdir>/report/report.html`` and its PNGs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from globalhs.drms import DrmsError, open_store
from globalhs.report import figures
from globalhs.report.compare import Comparison, compare_tables, spectral_recovery
from globalhs.report.html import Section, write_html
from globalhs.science.modetable import ModeTable, ModeTableError
from globalhs.synthetic.truth import load_truth
from globalhs.time import DAY, MDI_EPOCH, format_time

__all__ = ["ReportError", "RunProducts", "find_products", "build_report"]


class ReportError(RuntimeError):
    """The run cannot be reported (no such work directory, bad parameters)."""


@dataclass
class RunProducts:
    """Where a run's pieces are: work directory, input series, the output series of each step."""

    workdir: Path
    start: float
    total: float
    lmin: int
    lmax: int
    input_series: str | None
    outputs: dict[str, str]      # step name -> output series
    plan: object


def _series_name(value: str) -> str:
    return value.split("[", 1)[0].strip()


def find_products(args: list[str]) -> RunProducts:
    """The run named by ``globalhs run``-style ``args`` (starttime=, totaltime=, label=, ...)."""
    from globalhs.pipeline.params import ParamError, parse_params
    from globalhs.pipeline.plan import make_plan
    from globalhs.pipeline.templates import TemplateError

    try:
        params = parse_params(args)
        plan = make_plan(params)
    except ParamError as exc:
        raise ReportError("; ".join(exc.problems)) from None
    except TemplateError as exc:
        raise ReportError(str(exc)) from None
    input_series, outputs = None, {}
    for sp in plan.steps:
        if sp.skipped or not sp.jobs:
            continue
        for arg in sp.jobs[0].rendered.arguments:
            name, _, value = arg.partition("=")
            if name == "in" and input_series is None:
                input_series = _series_name(value)
            elif "out" in name.lower() and "." in value and sp.step.name not in outputs:
                outputs[sp.step.name] = _series_name(value)
    return RunProducts(plan.workdir, params.start, params.seconds("totaltime"), params["lmin"], params["lmax"],
                       input_series, outputs, plan)


def _jobs(workdir: Path) -> list[figures.JobRecord]:
    from globalhs.pipeline.ledger import Ledger

    ledger = Ledger.open_existing(workdir)
    if ledger is None:
        return []
    try:
        rows = ledger.rows()
    finally:
        ledger.close()
    # A ledger without a start time per job cannot split queue wait from run time: started is None.
    return [figures.JobRecord(r.step, r.chunk, r.submitted, getattr(r, "started", None), r.finished,
                              r.attempt, r.state) for r in rows if r.submitted is not None]


def _window(store, series: str, start: float, total: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Window of the input: 1 where an image exists with QUALITY bit 31 clear, per cadence step."""
    defn = store.series(series)
    cadence = defn.prime[0].step or 60.0
    recs = store.query(f"{series}[{format_time(start)}/{total:g}s]")
    n = int(round(total / cadence))
    window = np.zeros(n)
    for rec in recs:
        i = int(round((rec.keywords["T_REC"] - start) / cadence))
        if 0 <= i < n and not (int(rec.keywords.get("QUALITY", 0)) & 0x80000000):
            window[i] = 1.0
    t_days = (start - MDI_EPOCH) / DAY + np.arange(n) * cadence / DAY
    return t_days, window


def _modes(store, recordset: str) -> ModeTable | None:
    """Every mode table stored in the records (each segment holding ``ModeTable.to_array``), merged."""
    tables = []
    for rec in store.query(recordset):
        for seg in rec.defn.segments:
            try:
                tables.append(ModeTable.from_array(rec.read(seg.name), rec.spec()))
            except (ModeTableError, DrmsError, OSError, ValueError):
                continue
    return ModeTable.concatenate(tables).sorted() if tables else None


def _power(store, recordset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """l, frequency (uHz) and power summed over m and both signs of frequency, from the pow records.

    Layout (timeseries' spectra): rows l(l+1)/2 + m - LMIN(LMIN+1)/2, columns frequencies FREQ0 +
    k DELTA_NU in increasing order; mode (l, m) at +nu in row m, (l, -m) at -nu.
    """
    ls, rows = [], []
    freq = None
    for rec in store.query(recordset):
        kw = rec.keywords
        data = rec.read()
        if data.ndim != 2 or "DELTA_NU" not in kw:
            continue
        f = kw.get("FREQ0", 0.0) + kw["DELTA_NU"] * np.arange(data.shape[1])
        zero = int(round(-kw.get("FREQ0", 0.0) / kw["DELTA_NU"]))     # column of frequency 0
        positive = np.arange(zero + 1, data.shape[1])
        mirror = 2 * zero - positive                                     # column of -f, if stored
        lmin_rec, lmax_rec = int(kw["LMIN"]), int(kw["LMAX"])
        base = lmin_rec * (lmin_rec + 1) // 2
        for ell in range(lmin_rec, lmax_rec + 1):
            block = data[ell * (ell + 1) // 2 - base: ell * (ell + 1) // 2 - base + ell + 1]
            ok = mirror >= 0
            total = block[:, positive].sum(axis=0)
            total[ok] += block[:, mirror[ok]].sum(axis=0)
            ls.append(ell)
            rows.append(total)
            freq = f[positive] * 1e6
    if not rows:
        return None
    order = np.argsort(ls)
    return np.asarray(ls)[order], freq, np.asarray(rows)[order]


def _rotation(store, recordset: str):
    """(radius, colatitude in degrees, Omega/2pi in nHz) of the invert record (segments omega,
    radius, colat of the rot2d layout), or None."""
    for rec in store.query(recordset):
        names = {seg.name for seg in rec.defn.segments}
        if {"omega", "radius", "colat"} <= names:
            return rec.read("radius"), rec.read("colat"), rec.read("omega")
    return None


def _step_table(jobs: list[figures.JobRecord], order) -> list[list[str]]:
    table = [["step", "jobs", "retries", "queue wait (s, median)", "run time (s, median)",
              "submit to finish (s, median)", "step span (s)"]]
    for step in order:
        mine = [j for j in jobs if j.step == step]
        if not mine:
            continue
        wait = [j.started - j.submitted for j in mine if j.started is not None]
        run = [j.finished - j.started for j in mine if j.finished is not None and j.started is not None]
        whole = [j.finished - j.submitted for j in mine if j.finished is not None]
        span = max((j.finished for j in mine if j.finished is not None), default=None)
        table.append([step, str(len(mine)), str(sum(max(j.attempts - 1, 0) for j in mine)),
                      f"{np.median(wait):.1f}" if wait else "not recorded",
                      f"{np.median(run):.1f}" if run else "not recorded",
                      f"{np.median(whole):.1f}" if whole else "-",
                      f"{span - min(j.submitted for j in mine):.1f}" if span is not None else "-"])
    return table


def build_report(args: list[str], out: Path | None = None, store=None) -> tuple[Path, str]:
    """Write the report of the run named by ``args``; returns (path of report.html, one-line summary)."""
    from globalhs.pipeline.steps import STEP_NAMES

    run = find_products(args)
    if not run.workdir.exists():
        raise ReportError(f"no work directory {run.workdir}: has this run been started "
                          f"(same starttime, totaltime, label, lmin, lmax, topdir)?")
    out = Path(out) if out else run.workdir / "report"
    store = store if store is not None else open_store()
    sections: list[Section] = []
    truth = load_truth(store.root, run.input_series) if run.input_series else None
    comparison: Comparison | None = None
    summary = "no fitted modes found"

    def available(step: str) -> str | None:
        """This run's records of the step's output series (first prime key = the run's start)."""
        series = run.outputs.get(step)
        return f"{series}[{format_time(run.start)}]" if series and store.has_series(series) else None

    # l-nu diagram
    pow_series = available("pow")
    power = _power(store, pow_series) if pow_series else None
    if power is not None:
        ls, freq, pw = power
        mark = (truth.modes.l, truth.modes.nu) if truth is not None else None
        fig = figures.lnu_diagram(pw, ls, freq, out / "lnu.png", truth=mark, numax=6000.0)
        text = f"from {pow_series}"
        if truth is not None:
            recovery = spectral_recovery(ls, freq, pw, truth.modes, int(ls.max()))
            text += "; " + recovery.summary()
            summary = recovery.summary()
        sections.append(Section("l-nu power diagram", fig.name, text))
    else:
        sections.append(Section("l-nu power diagram", missing=f"no power spectra found (pow series "
                                f"{run.outputs.get('pow', 'unknown')})"))
    # modes against truth
    modes_series = available("pkbgn")
    fitted = _modes(store, modes_series) if modes_series else None
    if fitted is not None and truth is not None:
        comparison = compare_tables(fitted, truth.modes)
        summary = comparison.summary()
        sections.append(Section("fitted minus true frequencies", figures.frequency_residuals(
            comparison, out / "nu_residuals.png").name, summary))
        sections.append(Section("a1 and a3 against l", figures.acoeff_panels(comparison, out / "acoeffs.png").name,
                                f"a1: {comparison.fraction_within(2.0, a=(1,)):.0%} of multiplets have nu and a1 "
                                f"within 2 sigma"))
    elif fitted is not None:
        summary = f"{len(fitted)} multiplets fitted (l {fitted.l.min()}-{fitted.l.max()}); no truth (real data)"
        sections.append(Section("fitted modes", text=summary))
    else:
        sections.append(Section("fitted modes", missing=f"no mode table found (pkbgn series "
                                f"{run.outputs.get('pkbgn', 'unknown')})"))
    # rotation
    rot_series = available("invert")
    rotation = _rotation(store, rot_series) if rot_series else None
    reference = truth.rotation if truth is not None else None
    if rotation is not None:
        ref = (reference.radius, reference.colatitude, reference.omega) if reference is not None else None
        label = f"reference ({reference.label})" if reference is not None else ""
        sections.append(Section("inverted rotation", figures.rotation_maps(
            *rotation, out / "rotation.png", reference=ref, reference_label=label or "reference").name,
            f"from {rot_series}" + (f"; beside it the rotation given with the synthetic Sun, {reference.label}"
                                    if reference is not None else "")))
    else:
        sections.append(Section("inverted rotation", missing=f"no inversion found (invert series "
                                f"{run.outputs.get('invert', 'unknown')})"))
    # window
    if run.input_series and store.has_series(run.input_series):
        t_days, window = _window(store, run.input_series, run.start, run.total)
        sections.append(Section("window and duty cycle", figures.window_figure(t_days, window, out / "window.png").name,
                                f"{run.input_series}: {int(window.sum())} good images of {window.size} "
                                f"(duty cycle {window.mean():.3f})"))
    # jobs
    jobs = _jobs(run.workdir)
    if jobs:
        fig = figures.timeline_figure(jobs, out / "timeline.png", STEP_NAMES)
        sections.append(Section("jobs per step", fig.name, "from the driver's ledger",
                                table=_step_table(jobs, STEP_NAMES)))
    else:
        sections.append(Section("jobs per step", missing=f"no ledger in {run.workdir}"))
    facts = [("work directory", str(run.workdir)), ("input", str(run.input_series)),
             ("span", f"{format_time(run.start)} + {run.total / DAY:g} d"), ("degrees", f"{run.lmin}-{run.lmax}"),
             ("truth", str(truth.directory) if truth else "none (real data)")]
    path = write_html(out / "report.html", f"globalhs report: {run.input_series}", summary, facts, sections)
    return path, summary

