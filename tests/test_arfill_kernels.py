"""The compiled kernels of arfill (globalhs/science/_arfill_c.c) against the numpy reference.

The extension is optional (an install without a C compiler falls back to numpy), so these tests skip
when it is absent -- except under GLOBALHS_REQUIRE_EXT=1 (set by .ci/run), where its absence fails,
so CI never passes by testing the fallback alone.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.signal import lfilter

from globalhs.science import arfill

compiled = pytest.mark.skipif(arfill._arfill_c is None, reason="the compiled arfill kernels were not built "
                              "(no C compiler at install); the numpy reference is in use")


def test_extension_present_when_required():
    if os.environ.get("GLOBALHS_REQUIRE_EXT") != "1":
        pytest.skip("GLOBALHS_REQUIRE_EXT is not 1: the compiled kernels are optional here")
    assert arfill._arfill_c is not None, ("GLOBALHS_REQUIRE_EXT=1 but globalhs.science._arfill_c is not "
                                          "importable: the C extension was not built at install")
    assert arfill.kernel_path() == "compiled"


def test_kernel_path_can_be_forced_to_numpy(monkeypatch):
    monkeypatch.setenv("GLOBALHS_ARFILL", "numpy")
    assert arfill.kernel_path() == "numpy"


def _window(n, rng, nominal_gap=60, missing=0.05):
    good = np.ones(n, dtype=bool)
    while good.mean() > 1 - missing:
        length = int(rng.integers(1, nominal_gap + 1))
        start = int(rng.integers(0, n - length))
        good[start : start + length] = False
    return good


def _ar_series(nser, n, rng, complex_data=True):
    """Two damped oscillators per series (a high-Q AR(4)): the kind of series gap filling sees."""
    poles = [0.999 * np.exp(0.3j), 0.99 * np.exp(1.1j)]
    a = np.real(np.poly(poles + [np.conj(p) for p in poles]))
    e = rng.normal(size=(nser, n)) + (1j * rng.normal(size=(nser, n)) if complex_data else 0)
    return lfilter([1.0], a, e, axis=1)


def _kappas(x, good, order):
    starts, stops = arfill.runs(good)
    stages = arfill._burg_stages(x.shape[1], order, starts, stops)
    ref = np.array([arfill._burg_series(np.ascontiguousarray(row), good, stages) for row in x])
    return ref, arfill._burg_compiled(x, good, order, starts, stops)[0]


@compiled
@pytest.mark.parametrize("complex_data", [True, False])
def test_compiled_burg_reflection_coefficients_equal_the_reference(complex_data):
    rng = np.random.default_rng(5)
    n, order = 20_000, 40
    good = _window(n, rng)
    good[:3] = False  # a gap at the start: heads at index 0 must not be touched
    good[-1] = False
    good[5000:5020] = True
    good[5020] = False
    good[5021:5024] = True  # a segment shorter than the order (its errors die out as k grows)
    good[5024] = False
    x = _ar_series(3, n, rng, complex_data).astype(np.complex64 if complex_data else np.float32)
    x[:, ~good] = 7.0  # values under bad samples must be ignored
    ref, new = _kappas(x, good, order)
    assert new.dtype == ref.dtype and new.shape == ref.shape == (3, order)
    assert np.max(np.abs(ref)) > 0.5  # the test sees real structure, not noise-level coefficients
    # the reference sums in float32 (BLAS), the kernel sums float32 products in double: they agree to
    # single-precision rounding of the sums
    np.testing.assert_allclose(new, ref, rtol=0, atol=2e-5)


@compiled
def test_compiled_burg_filter_and_power_equal_the_reference(monkeypatch):
    rng = np.random.default_rng(9)
    good = _window(8000, rng)
    x = _ar_series(2, 8000, rng).astype(np.complex64)
    a, power = arfill.burg(x, good, 8)
    monkeypatch.setenv("GLOBALHS_ARFILL", "numpy")
    a_ref, power_ref = arfill.burg(x, good, 8)
    np.testing.assert_allclose(a, a_ref, rtol=0, atol=1e-4 * np.abs(a_ref).max())
    np.testing.assert_allclose(power, power_ref, rtol=1e-4)
    assert a[:, 0].tolist() == [1, 1]


@compiled
def test_compiled_burg_single_full_segment_and_errors():
    rng = np.random.default_rng(6)
    x = _ar_series(2, 5000, rng).astype(np.complex64)
    good = np.ones(5000, dtype=bool)
    ref, new = _kappas(x, good, 12)
    np.testing.assert_allclose(new, ref, rtol=0, atol=2e-5)
    short = np.zeros(5000, dtype=bool)
    short[100:110] = short[200:205] = True
    with pytest.raises(ValueError, match="no good segment is longer than 10 samples"):
        arfill.burg(x, short, 20)


@compiled
@pytest.mark.parametrize("complex_data", [True, False])
def test_compiled_path_fills_the_same_values(monkeypatch, complex_data):
    rng = np.random.default_rng(8)
    n = 30_000
    good = _window(n, rng, nominal_gap=40)
    good[12_000:12_300] = False  # longer than the order: stays bad on both paths
    x = _ar_series(4, n, rng, complex_data).astype(np.complex64 if complex_data else np.float32)
    x[:, ~good] = 0
    monkeypatch.setenv("GLOBALHS_ARFILL", "numpy")
    ref = arfill.fahlman_ulrych(x, good, minpercentage=90, maxorder=50, niter=3)
    monkeypatch.delenv("GLOBALHS_ARFILL")
    assert arfill.kernel_path() == "compiled"
    new = arfill.fahlman_ulrych(x, good, minpercentage=90, maxorder=50, niter=3)
    assert new.order == ref.order == 50 and np.array_equal(new.window, ref.window)
    filled = new.window & ~good
    assert filled.sum() > 0.03 * n
    scale = np.sqrt(np.mean(np.abs(x[:, good]) ** 2))
    err = np.abs(new.data - ref.data)[:, filled]
    # identical to rounding: the coefficients differ by single-precision rounding of Burg's sums
    assert np.max(err) < 1e-4 * scale
    assert np.all(new.data[:, ~new.window] == 0)
    np.testing.assert_allclose(new.coefficients, ref.coefficients, rtol=0, atol=1e-4)


def _fill_problem(rng, n=3000, p=30, nser=3):
    """A window with isolated and coupled gaps, barriers (long gaps), gaps near the ends; per-series
    filters; data zero off the good samples (as fill_gaps builds it)."""
    good = _window(n, rng, nominal_gap=20, missing=0.08)
    good[1000:1100] = False  # a barrier longer than the order
    good[1100:1103] = True
    good[1103:1110] = False  # a short gap right after it: exact block end
    unknown = arfill.fillable_gaps(good, p)
    a = np.c_[np.ones(nser), 0.3 * rng.normal(size=(nser, p)) + 0.2j * rng.normal(size=(nser, p))]
    a /= np.r_[1, np.arange(1, p + 1)]  # decaying: a stable, well-conditioned filter
    d = (rng.normal(size=(nser, n)) + 1j * rng.normal(size=(nser, n))) * good
    barrier = ~good & ~unknown
    rows = arfill._valid_rows(n, p, barrier)
    tu = np.flatnonzero(unknown)
    bar_idx = np.flatnonzero(barrier)
    k = np.searchsorted(bar_idx, tu)
    block_start = np.where(k > 0, bar_idx[np.maximum(k - 1, 0)] + 1, 0)
    block_stop = np.where(k < len(bar_idx), bar_idx[np.minimum(k, len(bar_idx) - 1)], n)
    return good, unknown, a, d, rows, tu, block_start, block_stop


@compiled
def test_compiled_right_hand_side_equals_the_reference(monkeypatch):
    good, unknown, a, d, rows, tu, _, _ = _fill_problem(np.random.default_rng(21))
    assert len(tu) > 100 and np.any(np.diff(tu) > 1)
    new = arfill._right_hand_side(d, a, tu, rows)
    monkeypatch.setenv("GLOBALHS_ARFILL", "numpy")
    ref = arfill._right_hand_side(d, a, tu, rows)
    np.testing.assert_allclose(new, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@compiled
def test_compiled_cluster_solves_equal_the_reference(monkeypatch):
    good, unknown, a, d, rows, tu, block_start, block_stop = _fill_problem(np.random.default_rng(22))
    rhs = arfill._right_hand_side(d, a, tu, rows)
    new = arfill._solve_clusters(a, tu, block_start, block_stop, rhs)
    monkeypatch.setenv("GLOBALHS_ARFILL", "numpy")
    ref = arfill._solve_clusters(a, tu, block_start, block_stop, rhs)
    assert new is not None and ref is not None
    np.testing.assert_allclose(new, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


@compiled
def test_compiled_cluster_solve_sends_unseen_unknowns_to_the_careful_path():
    # an unknown squeezed between two barriers: no prediction error sees it, its diagonal is zero
    rng = np.random.default_rng(23)
    n, p = 400, 4
    a = np.c_[np.ones(2), 0.3 * rng.normal(size=(2, p)) + 0.1j * rng.normal(size=(2, p))]
    good = np.ones(n, dtype=bool)
    good[100:143] = False
    good[200:202] = False
    unknown = np.zeros(n, dtype=bool)
    unknown[121] = unknown[200:202] = True
    barrier = ~good & ~unknown
    tu = np.flatnonzero(unknown)
    bar_idx = np.flatnonzero(barrier)
    k = np.searchsorted(bar_idx, tu)
    block_start = np.where(k > 0, bar_idx[np.maximum(k - 1, 0)] + 1, 0)
    block_stop = np.where(k < len(bar_idx), bar_idx[np.minimum(k, len(bar_idx) - 1)], n)
    rhs = np.ones((2, len(tu)), dtype=complex)
    assert arfill._solve_clusters(a, tu, block_start, block_stop, rhs) is None
    x = rng.normal(size=(2, n)) + 1j * rng.normal(size=(2, n))
    filled, mask = arfill.fill_gaps(x, good, a, unknown)  # the careful path drops it and fills the rest
    assert not mask[121] and mask[200:202].all() and np.all(filled[:, 121] == 0)


@compiled
def test_compiled_right_hand_side_of_single_precision_data(monkeypatch):
    good, unknown, a, d, rows, tu, _, _ = _fill_problem(np.random.default_rng(24))
    d64 = d.astype(np.complex64)
    new = arfill._right_hand_side(d64, a, tu, rows)
    monkeypatch.setenv("GLOBALHS_ARFILL", "numpy")
    ref = arfill._right_hand_side(d64.astype(np.complex128), a, tu, rows)
    assert new.dtype == np.complex128
    np.testing.assert_allclose(new, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_single_precision_result_is_the_double_result_rounded():
    # gapfill asks for complex64 output: the same solution, rounded once (either kernel path)
    good, unknown, a, d, _, _, _, _ = _fill_problem(np.random.default_rng(25))
    x = d.astype(np.complex64)
    wide, mask = arfill.fill_gaps(x, good, a, unknown)
    narrow, mask32 = arfill.fill_gaps(x, good, a, unknown, dtype=np.complex64)
    assert wide.dtype == np.complex128 and narrow.dtype == np.complex64
    assert np.array_equal(mask, mask32) and mask.sum() > 100
    np.testing.assert_array_equal(narrow, wide.astype(np.complex64))


@compiled
def test_compiled_kernels_refuse_bad_arguments_and_release_their_buffers():
    """The C wrappers check every array's size and the index arrays' order before touching memory, name
    the argument, and release the buffers they took.  The written arguments are bytearrays here: one
    whose buffer is still exported cannot be resized (BufferError), so the last lines fail if a wrapper
    leaked a buffer on its error path."""
    c = arfill._arfill_c
    x = np.zeros((1, 100), dtype=np.complex64)
    good = np.ones(100, dtype=bool)
    kappas, energy, out = bytearray(4 * 16), bytearray(8), bytearray(2 * 16)
    starts, stops = np.array([0, 50], dtype=np.int64), np.array([40, 100], dtype=np.int64)
    with pytest.raises(ValueError, match=r"energy \(float64\): 16 bytes, expected 8"):
        c.burg(x, good, starts, stops, kappas, bytearray(16), 1, 100, 2, 4)  # one series, two energies
    with pytest.raises(ValueError, match="segments must be sorted"):
        c.burg(x, good, stops, starts, kappas, energy, 1, 100, 2, 4)
    with pytest.raises(ValueError, match="bad sizes"):
        c.burg(x, good, starts, stops, kappas, energy, 1, 100, 2, 0)
    a = np.ones((1, 3), dtype=np.complex128)
    d = x.astype(np.complex128)
    with pytest.raises(ValueError, match="unknown times must be increasing"):
        c.rhs(d, a, np.array([5, 5], dtype=np.int64), good, out, 1, 100, 2, 2, False)
    with pytest.raises(ValueError, match=r"d \(complex64\): 1600 bytes, expected 800"):
        c.rhs(d, a, np.array([5, 6], dtype=np.int64), good, out, 1, 100, 2, 2, True)
    tu = np.array([5, 6], dtype=np.int64)
    block = (np.zeros(2, dtype=np.int64), np.full(2, 100, dtype=np.int64))
    one = np.array([1], dtype=np.int64)
    with pytest.raises(ValueError, match="clusters must tile the unknowns"):
        c.solve_clusters(a, tu, *block, one, one, np.zeros((1, 2), dtype=np.complex128), out, 1, 2, 1, 2)
    for written in (kappas, energy, out):
        written.append(0)  # BufferError if a wrapper kept its buffer
