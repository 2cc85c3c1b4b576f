"""invert: 2D RLS inversion of a pkbgn mode table's odd a-coefficients for Omega(r, latitude).

Input: the mode table (JSOC text layout, 12 + 2N columns) as a record set of the pkbgn output series
(``in=hmi.V_sht_modes[...]``: the l-chunk records of one span, segment ``modes`` holding the table
as a rows x columns array; overlapping chunks count a multiplet once) or as a text file
(``in=/path/hmi.6400.36``, then ``tstart=`` names the span). Kernels come from the cached kernel set
of ``model`` (``globalhs kernels``; computed on first use). Output: one record of ``out`` (e.g.
``hmi.V_rot2d``) with segments ``omega`` and ``err`` (radius rows x colatitude columns, nHz,
colatitudes 0..90 deg by 1.875 deg as in rot2d.hmiv72d.ave), ``radius`` (r/R of the rows) and
``colat`` (degrees), plus a PNG map written to ``plot`` in the working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from globalhs.atomic import atomic_open
from globalhs.modules.base import Arg, Module, ModuleError
from globalhs.refdata import refdata_dir

#: Colatitudes of the output map: the rot2d layout (0 = pole .. 90 = equator, 49 columns).
COLAT_DEG = np.arange(49) * 1.875
DEFAULT_MODEL = "model_s/fgong.l5bi.d.15c"


@dataclass
class ModeData:
    """What the inversion needs from a mode table."""

    l: np.ndarray
    n: np.ndarray
    nu: np.ndarray
    a: np.ndarray
    a_err: np.ndarray


def _from_array(array: np.ndarray, source: str) -> ModeData:
    try:
        from globalhs.science.modetable import ModeTable, ModeTableError
    except ImportError:  # the peakbag reader has not landed on this branch yet: same layout, minimal checks
        array = np.asarray(array, dtype=float)
        if array.ndim != 2 or array.shape[1] < 12 or (array.shape[1] - 12) % 2:
            raise ModuleError(f"{source}: expected a mode table with 12 + 2N columns (84 for N=36), got shape {array.shape}")
        nac = (array.shape[1] - 12) // 2
        return ModeData(array[:, 0].astype(int), array[:, 1].astype(int), array[:, 2],
                        array[:, 12 : 12 + nac], array[:, 12 + nac :])
    try:
        t = ModeTable.from_array(array, source)
    except ModeTableError as exc:
        raise ModuleError(str(exc)) from None
    return ModeData(t.l, t.n, t.nu, t.a, t.a_err)


def parse_table_text(text: str, source: str) -> ModeData:
    """A mode table from its text (blank and # lines ignored)."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            rows.append([float(v) for v in s.split()])
        except ValueError:
            raise ModuleError(f"{source} line {lineno}: not a number; expected a JSOC mode table") from None
    if not rows:
        raise ModuleError(f"{source}: no modes")
    if len({len(r) for r in rows}) != 1:
        raise ModuleError(f"{source}: lines have different numbers of columns; expected 12 + 2N on every line")
    return _from_array(np.array(rows), source)


def build_blocks(modes: ModeData, ks, grid: np.ndarray, *, smax: int = 35, lmin: int = 1, lmax: int = 300,
                 max_offset: float = 40.0) -> tuple[dict, dict]:
    """{s: (G_s, a_s, sigma_s)} for the RLS, and a summary of which modes were used.

    A mode is used when the kernel set has its (l, n) and the model frequency is within
    ``max_offset`` uHz of the observed one (the near-surface offset is a few uHz; a larger gap means
    a misidentified order). a_s is used when s <= 2l and its error is positive and not the 1000 flag.
    """
    from globalhs.science.kernels import c_ls, project

    sel = (modes.l >= max(lmin, 1)) & (modes.l <= lmax)
    rows = ks.index(modes.l[sel], modes.n[sel])
    idx_tab = np.nonzero(sel)[0]
    have = rows >= 0
    gap = np.full(len(rows), np.inf)
    gap[have] = np.abs(ks.nu[rows[have]] - modes.nu[idx_tab[have]])
    ok = have & (gap < max_offset)
    tab, krow = idx_tab[ok], rows[ok]
    PA = project(ks.A[krow].astype(float), ks.x, grid)
    PB = project(ks.B[krow].astype(float), ks.x, grid)
    blocks = {}
    nac = modes.a.shape[1]
    for s in range(1, min(smax, nac) + 1, 2):
        a = modes.a[tab, s - 1]
        e = modes.a_err[tab, s - 1]
        ll = modes.l[tab]
        use = (s <= 2 * ll) & (e > 0) & (e < 999.0) & np.isfinite(a)
        if not np.any(use):
            continue
        c = np.array([c_ls(int(l), s) for l in ll[use]])
        G = c[:, None] * (PA[use] - 0.5 * s * (s + 1) * PB[use])
        blocks[s] = (G, a[use], e[use])
    summary = {"modes_in": int(sel.sum()), "modes_used": int(ok.sum()), "no_kernel": int((~have).sum()),
               "freq_mismatch": int((have & ~ok).sum())}
    return blocks, summary


def radius_grid(model, nr: int, top: float) -> np.ndarray:
    """nr radii from 0 to ``top`` (r/R) equally spaced in acoustic radius, so dense near the surface."""
    from scipy.integrate import cumulative_trapezoid

    r = model.r / model.R
    tau = cumulative_trapezoid(1.0 / np.sqrt(model.c2), model.r, initial=0.0)
    targets = np.linspace(0.0, np.interp(top, r, tau), nr)
    grid = np.interp(targets, tau, r)
    grid[0], grid[-1] = 0.0, top
    return grid


def plot_map(path: Path, r: np.ndarray, colat: np.ndarray, omega: np.ndarray, err: np.ndarray, title: str) -> None:
    """Contour map of Omega/2pi in the meridional quarter plane and cuts at fixed latitudes (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 5))
    th = np.radians(colat)
    R, TH = np.meshgrid(r, th, indexing="ij")
    cs = ax0.contourf(R * np.sin(TH), R * np.cos(TH), omega, levels=np.arange(300, 480, 5), extend="both", cmap="viridis")
    ax0.contour(R * np.sin(TH), R * np.cos(TH), omega, levels=np.arange(300, 480, 20), colors="k", linewidths=0.5)
    ax0.set_aspect("equal")
    ax0.set_xlabel("r sin(theta) / R")
    ax0.set_ylabel("r cos(theta) / R")
    fig.colorbar(cs, ax=ax0, label="Omega/2pi (nHz)")
    for lat in (0, 15, 30, 45, 60, 75):
        j = int(np.argmin(np.abs(colat - (90 - lat))))
        ax1.plot(r, omega[:, j], label=f"{lat} deg")
        ax1.fill_between(r, omega[:, j] - err[:, j], omega[:, j] + err[:, j], alpha=0.3)
    ax1.set_xlim(0.4, 1.0)
    ax1.set_ylim(250, 480)
    ax1.set_xlabel("r / R")
    ax1.set_ylabel("Omega/2pi (nHz)")
    ax1.legend(title="latitude")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=90)
    plt.close(fig)


def rot2d_series(name: str):
    from globalhs.drms import Keyword, PrimeKey, Segment, SeriesDef
    from globalhs.time import MDI_EPOCH, parse_duration

    return SeriesDef(
        name,
        (PrimeKey("T_START", "time", MDI_EPOCH, parse_duration("1d"), 0.0, "TAI", "start of the mode-table span"),),
        (
            Keyword("MUR", "float", description="radial tradeoff parameter"),
            Keyword("MUT", "float", description="latitudinal tradeoff parameter"),
            Keyword("NMODES", "int", description="multiplets used"),
            Keyword("NDATA", "int", description="a-coefficients used"),
            Keyword("CHI2", "float", description="chi^2 of the fit to the a-coefficients"),
            Keyword("SMAX", "int", description="largest odd a-coefficient index used"),
            Keyword("MODEL", "string", description="solar model of the kernels"),
            Keyword("INPUT", "string", description="mode table the inversion used"),
        ),
        (
            Segment("omega", "float32", unit="nHz", description="Omega/2pi, rows = radius, columns = colatitude"),
            Segment("err", "float32", unit="nHz", description="1-sigma error of omega from the a-coefficient errors"),
            Segment("radius", "float64", description="r/R of the rows"),
            Segment("colat", "float64", unit="deg", description="colatitude of the columns"),
            Segment("avgkern", "float32", description="averaging kernels (target, radius, colatitude) per unit cos(theta)"),
            Segment("aktarget", "float64", description="averaging-kernel targets: rows (r/R, latitude deg)"),
        ),
        "2D RLS rotation inversion (rot2d layout)",
    )


def parse_targets(text: str) -> np.ndarray:
    """'0.7:0,0.95:60' -> [[0.7, 0], [0.95, 60]] (r/R : latitude in degrees)."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        try:
            r, lat = (float(v) for v in item.split(":"))
        except ValueError:
            raise ModuleError(f"argument aktargets: {item!r} is not r:latitude (e.g. 0.7:30)") from None
        if not (0 <= r <= 1.01 and 0 <= lat <= 90):
            raise ModuleError(f"argument aktargets: {item!r} outside 0 <= r <= 1, 0 <= latitude <= 90")
        out.append((r, lat))
    return np.array(out, dtype=float).reshape(-1, 2)


def _model_path(arg: str) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("GLOBALHS_MODEL")
    if env:
        return Path(env)
    default = refdata_dir() / DEFAULT_MODEL
    if default.is_file():
        return default
    raise ModuleError(f"argument model is empty, GLOBALHS_MODEL is not set and the default model {default} "
                      "does not exist; expected the path of an FGONG model (set model=, GLOBALHS_MODEL or "
                      "GLOBALHS_REFDATA)")


def _read_input(spec: str, tstart_arg: str):
    """(ModeData, T_START, source text) from a text file or a record set."""
    from globalhs.time import TimeFormatError, parse_time_or_day

    path = Path(spec)
    if path.is_file():
        if not tstart_arg:
            raise ModuleError(f"in={spec} is a file: give tstart= (the span's start, e.g. 6400d) to key the output record")
        try:
            tstart = parse_time_or_day(tstart_arg)
        except TimeFormatError as exc:
            raise ModuleError(f"argument tstart={tstart_arg!r}: {exc}") from None
        return parse_table_text(path.read_text(), str(path)), tstart, str(path)
    if "[" not in spec and ("/" in spec or path.suffix):
        raise ModuleError(f"argument in={spec!r}: no such file, and not a record set (series[...]); "
                          "expected a mode-table file or a pkbgn record set")
    from globalhs.drms import DrmsError, open_store

    try:
        recs = open_store().query(spec)
    except DrmsError as exc:
        raise ModuleError(f"argument in={spec!r}: {exc}") from None
    if not recs:
        raise ModuleError(f"argument in={spec!r}: selects no records; expected the pkbgn mode table(s) of one span")
    starts = {rec.keywords.get("T_START") for rec in recs}
    if None in starts or len(starts) != 1:
        raise ModuleError(f"argument in={spec!r}: records have T_START {sorted(map(str, starts))}; "
                          "expected the mode tables of one span (one T_START)")
    # several records (l chunks of one span) are joined into one table
    parts = [_from_array(rec.read(), f"{spec} record {i}") for i, rec in enumerate(recs)]
    nac = min(p.a.shape[1] for p in parts)
    l = np.concatenate([p.l for p in parts])
    n = np.concatenate([p.n for p in parts])
    # a multiplet fitted in two overlapping l chunks counts once (the later record wins)
    _, last = np.unique(np.stack([l, n])[:, ::-1], axis=1, return_index=True)
    keep = np.sort(len(l) - 1 - last)
    joined = ModeData(
        l[keep], n[keep], np.concatenate([p.nu for p in parts])[keep],
        np.concatenate([p.a[:, :nac] for p in parts])[keep],
        np.concatenate([p.a_err[:, :nac] for p in parts])[keep])
    return joined, float(starts.pop()), spec


def main(args: dict) -> None:
    from globalhs.kernelcache import (
        KernelCacheError,
        kernel_set,
        load_config,
        read_model,
    )
    from globalhs.science.rls import RLSError, averaging_kernels, rls_invert

    if args["mur"] < 0 or args["mut"] < 0:
        raise ModuleError(f"tradeoff parameters must be >= 0, got mur={args['mur']}, mut={args['mut']}")
    if args["nr"] < 10:
        raise ModuleError(f"argument nr={args['nr']}: expected at least 10 radii")
    if args["smax"] < 1 or args["smax"] % 2 == 0:
        raise ModuleError(f"argument smax={args['smax']}: expected an odd index >= 1 (35 uses a_1..a_35)")
    targets = parse_targets(args["aktargets"])
    modes, tstart, source = _read_input(args["in"], args["tstart"])
    model_path = _model_path(args["model"])
    try:
        config = load_config()
        ks, _ = kernel_set(model_path, config)
        model, _ = read_model(model_path)
    except KernelCacheError as exc:
        raise ModuleError(f"argument model: {exc}") from None
    grid = radius_grid(model, args["nr"], float(ks.x[-1]))
    blocks, summary = build_blocks(modes, ks, grid, smax=args["smax"], lmin=args["lmin"], lmax=args["lmax"])
    if summary["modes_used"] < 10:
        raise ModuleError(f"in={source}: only {summary['modes_used']} modes match the kernel set "
                          f"({summary}); expected a mode table of the same Sun/model numbering")
    try:
        res = rls_invert(blocks, grid, args["mur"], args["mut"])
    except RLSError as exc:
        raise ModuleError(str(exc)) from None
    omega = res.omega_map(COLAT_DEG)
    err = res.error_map(COLAT_DEG)
    segments = {"omega": omega.astype(np.float32), "err": err.astype(np.float32), "radius": grid, "colat": COLAT_DEG.copy()}
    if len(targets):
        ak = averaging_kernels(res, [(r, 90.0 - lat) for r, lat in targets], COLAT_DEG)
        segments.update(avgkern=ak.astype(np.float32), aktarget=targets)
    from globalhs.drms import open_store

    store = open_store()
    store.ensure_series(rot2d_series(args["out"]))
    with store.writer(replace=True) as w:
        w.add(args["out"], keywords={
            "T_START": tstart, "MUR": float(args["mur"]), "MUT": float(args["mut"]),
            "NMODES": summary["modes_used"], "NDATA": res.ndata, "CHI2": res.chi2, "SMAX": args["smax"],
            "MODEL": str(model_path.name), "INPUT": source,
        }, segments=segments)
    if args["plot"]:
        plot_map(Path(args["plot"]), grid, COLAT_DEG, omega, err,
                 f"{args['out']}  {summary['modes_used']} modes, chi2/N = {res.chi2 / res.ndata:.2f}")
    print(f"invert: {summary['modes_used']} modes, {res.ndata} a-coefficients, chi2/N = {res.chi2 / res.ndata:.3f}")


MODULE = Module(
    name="invert",
    summary="2D RLS rotation inversion of odd a-coefficients (mode table -> Omega(r, latitude))",
    args=(
        Arg("in", str, help="pkbgn mode-table record set (the l-chunk records of one span) or a mode-table text file"),
        Arg("out", str, help="output series, e.g. hmi.V_rot2d"),
        Arg("tstart", str, "", "span start (JSOC time or MDI day, e.g. 6400d) when in= is a file"),
        Arg("model", str, "", "FGONG model of the kernels (default $GLOBALHS_MODEL, else Model S in $GLOBALHS_REFDATA)"),
        Arg("mur", float, 3e-7, "radial tradeoff parameter (second derivative in r)"),
        Arg("mut", float, 3e-2, "latitudinal tradeoff parameter (second derivative in theta)"),
        Arg("nr", int, 101, "radii of the inversion grid (equally spaced in acoustic radius)"),
        Arg("smax", int, 35, "largest odd a-coefficient used"),
        Arg("lmin", int, 1, "smallest degree used"),
        Arg("lmax", int, 300, "largest degree used"),
        Arg("aktargets", str, "0.7:0,0.7:60,0.95:0,0.95:60", "averaging-kernel targets r/R:latitude, comma separated ('' for none)"),
        Arg("plot", str, "rot2d.png", "PNG map written in the working directory ('' for none)"),
    ),
    main=main,
)
