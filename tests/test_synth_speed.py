"""The fast paths of the synthetic Sun give what the general ones give: the multiplet fold against the
sparse folding matrices, the reused buffers against fresh ones."""

from __future__ import annotations

import numpy as np
import pytest

from globalhs.science.modetable import ModeTable
from globalhs.science.synth import (
    ModeOscillators,
    SphericalFieldStream,
    _fold,
    _folding_matrices,
    _MultipletFold,
    mode_set,
)


def _table(ls, ns):
    rows = len(ls)
    a = np.zeros((rows, 6))
    a[:, 0], a[:, 2] = 440.0, 20.0
    zeros = np.zeros(rows)
    return ModeTable(np.array(ls), np.array(ns), 2000.0 + 100.0 * np.arange(rows), np.full(rows, 4.0),
                     np.full(rows, 1.5), zeros, zeros, np.zeros((rows, 5)), a, np.zeros_like(a))


def test_multiplet_fold_equals_sparse_fold():
    # l from 2 with l = 4 missing and several radial orders per l; lmax beyond the modes.
    table = _table([2, 2, 3, 5, 5, 5, 7], [3, 4, 2, 1, 2, 6, 3]).sorted()
    modes = mode_set(table, lmax=9)
    fold = _MultipletFold.of(modes, 9)
    assert fold is not None and [b[0] for b in fold.blocks] == [2, 3, 5, 7]
    rng = np.random.default_rng(4)
    z = rng.standard_normal((5, len(modes))) + 1j * rng.standard_normal((5, len(modes)))
    radial, horizontal = fold.fold(z)
    np.testing.assert_allclose(radial, _fold(_folding_matrices(modes.l, modes.m, 9), z), rtol=0, atol=1e-13)
    np.testing.assert_allclose(horizontal, _fold(_folding_matrices(modes.l, modes.m, 9, weight=modes.beta), z),
                               rtol=0, atol=1e-13)


def test_modes_not_in_whole_multiplets_use_the_sparse_fold():
    modes = mode_set(_table([1, 2, 3], [2, 2, 2]), lmax=3)
    shuffled = modes.select(np.random.default_rng(0).permutation(len(modes)))
    partial = modes.select(modes.m != 1)
    assert _MultipletFold.of(shuffled, 3) is None and _MultipletFold.of(partial, 3) is None
    from dataclasses import replace

    assert _MultipletFold.of(replace(modes, beta=modes.beta * (1 + 0.1 * modes.m)), 3) is None
    # The stream over such a set is still the folding of its own series.
    stream = SphericalFieldStream(partial, lmax=3, dt=60.0, seed=2)
    z = ModeOscillators(partial.nu, partial.width, partial.variance, 60.0,
                        np.random.default_rng(np.random.SeedSequence(2).spawn(2)[0])).advance(4)
    radial, _ = stream.next(4, np.zeros(4))
    np.testing.assert_allclose(radial, _fold(_folding_matrices(partial.l, partial.m, 3), z), atol=1e-13)


@pytest.mark.parametrize("block", [1, 5, 64])
def test_advance_into_a_buffer_is_the_same_stream(block):
    nu, width, var = np.array([2e-3, 3e-3, 4e-3]), np.array([1e-6, 5e-6, 2e-6]), np.array([1.0, 2.0, 0.5])
    a = ModeOscillators(nu, width, var, 60.0, np.random.default_rng(5)).advance(70)
    osc = ModeOscillators(nu, width, var, 60.0, np.random.default_rng(5), block=block)
    out = np.empty((70, 3), dtype=complex)
    osc.advance(30, out=out[:30])
    osc.advance(40, out=out[30:])
    np.testing.assert_array_equal(out, a)


def test_disk_geometry_shortcuts_give_the_same_numbers():
    from dataclasses import replace

    from globalhs.science.observe import observer_components
    from globalhs.science.sunimage import disk_pixels, surface_velocity

    for s_ratio in (0.0, 0.0047, 0.0046):
        disk = disk_pixels((64, 64), 31.5, 31.0, 29.0, 6.5, -20.0, s_ratio=s_ratio)
        again = disk_pixels((64, 64), 31.5, 31.0, 29.0, 6.5, -20.0, s_ratio=s_ratio)  # from the cache
        for got, want in zip((disk.o_r, disk.o_theta, disk.o_phi),
                             observer_components(disk.theta, disk.phi, np.deg2rad(6.5))):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(again.theta, disk.theta)
        bare = replace(disk, sin_theta=None, cos_theta=None, sin_phi=None)
        np.testing.assert_array_equal(surface_velocity(disk, 6.5), surface_velocity(bare, 6.5))
    near = disk_pixels((64, 64), 31.5, 31.0, 29.0, 6.5, -20.0, s_ratio=0.0046)
    far = disk_pixels((64, 64), 31.5, 31.0, 29.0, 6.5, -20.0, s_ratio=0.0047)
    assert not np.array_equal(near.theta, far.theta)  # the cache is keyed by the distance
    with pytest.raises(ValueError):
        near.rows[0] = 1  # cached arrays are shared: read-only
