"""errors='sandwich': the covariance of the diagonal likelihood's score when the m-spectra share their
modes' realisations through the leakage (SCIENCE.md section 6), checked against the Fisher matrix where
there is nothing to share and against the scatter of the score over simulated correlated spectra."""

import numpy as np
import pytest

from globalhs.science import peakbag as pb
from globalhs.science.leakage import LeakageBlock, MapGeometry, leakage_block
from globalhs.science.modetable import ModeTable
from globalhs.science.peakbag_errors import leakage_sandwich
from globalhs.science.synthspec import synodic_frequencies

DNU = 1e6 / (36 * 86400)
L, N = 6, 14
GEOM = MapGeometry(MAPMMAX=180, SINBDIVS=60, MAPRMAX=0.95, MAPLGMAX=89.0, MAPBMAX=89.0, APODIZE=1, APINNER=0.83,
                   APWIDTH=0.04, B0=5.0)
HEIGHT, WIDTH, BACKGROUND = 1.0, 4.0, 0.01  # a broad mode: its leaked copies in m +- 2 overlap it


def _truth():
    a = np.zeros((1, 6))
    a[0, 0], a[0, 2] = 440.0, 20.0
    return ModeTable([L], [N], [3000.0], [HEIGHT], [WIDTH], [BACKGROUND], [0.0], np.zeros((1, 5)), a, np.zeros((1, 6)))


def _problem(power, nu0, truth, leak, settings):
    guess = pb.guess_of(truth, 0)
    return pb._Problem(pb.Spectrum(L, power, nu0, DNU, 36 * 86400.0), N, guess, truth, leak, settings)


def _theta(prob, truth):
    return np.concatenate([[truth.nu[0]], prob._synodic(truth.a[0])[:prob.nfree_a],
                           np.log([HEIGHT, WIDTH, BACKGROUND])])


def _correlated_power(truth, leak, nu, rng):
    """|y_m|^2 with y_m(nu) = sum_m'' C(l,m; l,m'') A_m''(nu) + noise, A complex Gaussian of variance L_m''."""
    c = leak.matrix(L, 1.1e-3)[:, leak.dl, :]  # (m, d)
    centres = synodic_frequencies(truth, 0, pb.ORBITAL_NHZ)
    y = np.sqrt(BACKGROUND / 2) * (rng.standard_normal((2 * L + 1, nu.size)) + 1j * rng.standard_normal((2 * L + 1, nu.size)))
    for src in range(-L, L + 1):
        prof = HEIGHT / (1 + (2 * (nu - centres[src + L]) / WIDTH) ** 2)
        amp = np.sqrt(prof / 2) * (rng.standard_normal(nu.size) + 1j * rng.standard_normal(nu.size))
        for m in range(-L, L + 1):
            d = src - m
            if abs(d) <= leak.dm:
                y[m + L] += c[m + L, d + leak.dm] * amp
    return np.abs(y) ** 2


@pytest.fixture(scope="module")
def leak():
    return leakage_block(GEOM, L - 2, L + 2, 2, 6)


def test_equals_the_fisher_matrix_when_the_m_spectra_share_nothing(leak):
    """With only C(l,m; l,m) left, Cov(P_m, P_m') is diagonal and J must be the Fisher matrix exactly."""
    radial = np.zeros_like(leak.radial)
    horizontal = np.zeros_like(leak.horizontal)
    radial[:, leak.dl, leak.dm] = leak.radial[:, leak.dl, leak.dm]
    horizontal[:, leak.dl, leak.dm] = leak.horizontal[:, leak.dl, leak.dm]
    diagonal = LeakageBlock(leak.lmin, leak.lmax, leak.dl, leak.dm, radial, horizontal, leak.geometry)
    truth = _truth()
    nu = np.arange(int(2900 / DNU), int(3100 / DNU)) * DNU
    power = _correlated_power(truth, diagonal, nu, np.random.default_rng(1))
    prob = _problem(power, nu[0], truth, diagonal, pb.FitSettings(nacoeff=6))
    theta = _theta(prob, truth)
    score_cov = leakage_sandwich(prob, theta)
    _, fisher = prob.score_and_fisher(theta)
    assert np.allclose(score_cov, fisher, rtol=1e-9, atol=1e-12 * np.abs(fisher).max())


def test_is_the_covariance_of_the_score_over_correlated_spectra(leak):
    """The score (gradient of -ln L at the truth) scattered over 300 realisations of leakage-correlated
    spectra: its variances are J's (to the sampling error), and for nu they exceed the Fisher matrix's,
    which is the diagonal likelihood's own (too optimistic) assumption."""
    truth = _truth()
    nu = np.arange(int(2900 / DNU), int(3100 / DNU)) * DNU
    settings = pb.FitSettings(nacoeff=6)
    rng = np.random.default_rng(7)
    scores = []
    for _ in range(300):
        prob = _problem(_correlated_power(truth, leak, nu, rng), nu[0], truth, leak, settings)
        scores.append(prob.score_and_fisher(_theta(prob, truth))[0])
    empirical = np.cov(np.array(scores).T)
    score_cov = leakage_sandwich(prob, _theta(prob, truth))
    _, fisher = prob.score_and_fisher(_theta(prob, truth))
    ratio = np.diag(empirical) / np.diag(score_cov)
    # nu_nl, a1..a6 (a_i, i <= 2l = 12, all free), ln H, ln Gamma, ln B; sampling error of a variance ~8 %
    assert np.all(np.abs(ratio - 1) < 0.25), np.round(ratio, 2)
    assert np.abs(np.mean(ratio) - 1) < 0.08, np.round(ratio, 2)
    inverse = np.linalg.inv(fisher)
    sandwich = inverse @ score_cov @ inverse
    assert sandwich[0, 0] > 1.1 * inverse[0, 0], (sandwich[0, 0], inverse[0, 0])
