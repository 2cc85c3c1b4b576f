"""The a-coefficient polynomials: definition, published values, orthogonality, inversion."""

import numpy as np
import pytest

from globalhs.science.apols import acoeffs_from_frequencies, apols, frequencies, splittings


def test_published_values_l10_m1():
    # SCIENCE.md "How this was checked": l = 10, m = 1.
    p = apols(10, 4, m=np.array([1.0]))[:, 0]
    assert p[2] == pytest.approx(-5.6315789, abs=1e-7)
    assert p[3] == pytest.approx(-1.8947368, abs=1e-7)
    assert p[4] == pytest.approx(5.5727554, abs=1e-7)


@pytest.mark.parametrize("l", [1, 2, 3, 10, 57, 150, 300])
def test_closed_forms_and_normalisation(l):
    m = np.arange(-l, l + 1, dtype=float)
    p = apols(l, 36)
    assert np.all(p[0] == l)
    assert np.array_equal(p[1], m)  # P_1 = m exactly
    assert np.allclose(p[2], (3 * m**2 - l * (l + 1)) / (2 * l - 1), rtol=0, atol=1e-10 * l)
    if l >= 2:
        assert np.allclose(p[3], (5 * m**3 - (3 * l * (l + 1) - 1) * m) / ((l - 1) * (2 * l - 1)), atol=1e-9 * l)
    top = min(36, 2 * l)
    assert np.allclose(p[1:top + 1, -1], l, rtol=1e-12)  # P_i(l) = l
    assert np.all(p[top + 1:] == 0)  # no polynomials beyond i = 2l
    # parity P_i(-m) = (-1)^i P_i(m)
    sign = (-1.0) ** np.arange(37)[:, None]
    assert np.allclose(p[:, ::-1], sign * p, atol=1e-10 * l)


@pytest.mark.parametrize("l", [1, 5, 36, 100, 300])
def test_orthogonality_1e_10(l):
    p = apols(l, 36)[: min(36, 2 * l) + 1]
    gram = p @ p.T
    d = np.sqrt(np.diag(gram))
    assert np.abs(gram / np.outer(d, d) - np.eye(len(d))).max() < 1e-10


def test_a1_alone_is_m_times_a1():
    l = 73
    a = np.r_[0.45, np.zeros(35)]
    assert np.array_equal(splittings(a, l), 0.45 * np.arange(-l, l + 1))
    assert np.array_equal(frequencies(3000.0, a, l), 3000.0 + 0.45 * np.arange(-l, l + 1))


@pytest.mark.parametrize("l", [2, 20, 300])
def test_round_trip_frequencies_acoeffs(l):
    rng = np.random.default_rng(l)
    a = rng.normal(size=36) * 0.1
    a[2 * l:] = 0  # coefficients beyond i = 2l do not exist
    nu = frequencies(2500.0, a, l)
    nu_nl, back = acoeffs_from_frequencies(nu, l, 36)
    assert nu_nl == pytest.approx(2500.0, abs=1e-12 * np.abs(nu - 2500).max())
    assert np.allclose(back, a, atol=1e-10)


def test_radial_mode_has_no_splitting():
    assert np.array_equal(splittings(np.ones(36), 0), [0.0])


def test_bad_shape_is_named():
    with pytest.raises(ValueError, match="2l\\+1 = 7"):
        acoeffs_from_frequencies(np.zeros(5), 3, 6)


@pytest.mark.refdata
def test_hmi_acoeffs_give_sensible_rotation(refdata):
    """The rotational (odd, s <= 5) splittings of hmi.6400.36: sidereal equatorial ~ 450 nHz."""
    from globalhs.science.modetable import read_modetable

    t = read_modetable(refdata("hmi_modes", "hmi.6400.36"))
    equator, per_m = [], []
    for i in np.flatnonzero(t.l >= 20):
        l = t.l[i]
        a = t.a[i, :5].copy()
        a[1::2] = 0  # even coefficients are not rotation
        s = splittings(a, l)
        m = np.arange(-l, l + 1)
        equator.append(s[-1] / l)
        per_m.append(s[m != 0] / m[m != 0])
        # smooth in m: rotation splitting is monotonic in m
        assert np.all(np.diff(s) > 0), (t.n[i], l)
    equator = np.array(equator)
    assert np.percentile(equator, 5) > 430 and np.percentile(equator, 95) < 470
    allm = np.concatenate(per_m)
    # all m-resolved rates lie between polar-ish (~300) and equatorial rotation
    assert np.percentile(allm, 1) > 300 and np.percentile(allm, 99) < 480
