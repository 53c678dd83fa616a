"""The statistical design of the variance checks (docs/grading.md).

A check accepts W iff n·mean(W²)/σ² lies in the central band of χ²(n) with total tail probability
ALPHA = 1e-9, and iff |mean(W)| <= z·σ/√n with P(|N(0,1)| > z) = 1e-9. The false-fail bound is
verified analytically (a simulation of 20,000 draws cannot show anything about 1e-9 by itself:
it only shows the code implements the band it claims, with 0 failures expected); power against
the usual wrong formulas is measured by simulation and computed exactly.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy.stats import chi2, norm

from fakes import ASSIGNMENT, REPO
from initkit import reference
from initkit.course import Course


def _load_checks():
    path = REPO / "autograder" / "_checks.py"
    spec = importlib.util.spec_from_file_location("initkit_hidden_checks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


c = _load_checks()

# The layers the hidden tests check: (fan_in, fan_out). W has fan_out x fan_in entries.
ORIENTATIONS = [(400, 100), (100, 400)]
DEEP = [(160, 80), (80, 40), (40, 20)]
RANDOM_LAYERS = [(1, 400), (400, 100), (300, 1), (1, 200)]

FORMULAS = {
    "he": lambda fi, fo: 2 / fi,
    "xavier": lambda fi, fo: 2 / (fi + fo),
    "fan_in": lambda fi, fo: 1 / fi,          # LeCun, the "Xavier" of some courses
    "fan_out": lambda fi, fo: 1 / fo,
    "he_fan_out": lambda fi, fo: 2 / fo,
}
# For each right formula, the wrong ones the checks must reject ("fan_avg" = Xavier for He).
ALTERNATIVES = {"he": ["fan_in", "xavier", "he_fan_out"], "xavier": ["fan_in", "fan_out", "he"]}


def test_bands_have_the_stated_tail_probability():
    for fi, fo in ORIENTATIONS + DEEP + RANDOM_LAYERS:
        n = fi * fo
        lo, hi = c.chi2_band(n)
        tails = chi2.cdf(lo, n) + chi2.sf(hi, n)
        assert tails == pytest.approx(c.ALPHA, rel=1e-6), n
        assert chi2.cdf(lo, n) == pytest.approx(c.ALPHA / 2, rel=1e-6)
    z = c.normal_z()
    assert 2 * norm.sf(z) == pytest.approx(c.ALPHA, rel=1e-9)
    assert c.ALPHA == 1e-9



def test_bands_are_scipy_stats_own_numbers():
    """The bands come from scipy.special (no scipy.stats import in the workers): the very floats
    scipy.stats.chi2.ppf / isf and norm.isf return, for every layer size the checks use and more."""
    sizes = sorted({fi * fo for fi, fo in ORIENTATIONS + DEEP + RANDOM_LAYERS} | set(range(1, 600))
                   | {1000, 4096, 12800, 40000, 160000})
    for n in sizes:
        assert c.chi2_band(n) == (float(chi2.ppf(c.ALPHA / 2, n)), float(chi2.isf(c.ALPHA / 2, n))), n
    assert c.normal_z() == float(norm.isf(c.ALPHA / 2))

def _acceptance_interval(n: int, variance: float) -> tuple[float, float]:
    """The observed mean(W²) values a check for `variance` accepts."""
    lo, hi = c.chi2_band(n)
    return lo * variance / n, hi * variance / n


@pytest.mark.parametrize("fi,fo", ORIENTATIONS)
def test_bands_tell_the_formulas_apart(fi, fo):
    """At n = 40,000 the acceptance intervals of the five formulas do not overlap, and the exact
    probability that a wrong formula's draw lands in the right band is below 1e-100."""
    n = fi * fo
    intervals = {name: _acceptance_interval(n, f(fi, fo)) for name, f in FORMULAS.items()}
    for a in intervals:
        for b in intervals:
            if a < b and FORMULAS[a](fi, fo) != FORMULAS[b](fi, fo):
                (lo1, hi1), (lo2, hi2) = intervals[a], intervals[b]
                assert hi1 < lo2 or hi2 < lo1, (a, b)
    lo, hi = c.chi2_band(n)
    for right, wrongs in ALTERNATIVES.items():
        for wrong in wrongs:
            ratio = FORMULAS[right](fi, fo) / FORMULAS[wrong](fi, fo)
            # W ~ N(0, σ²_wrong): n·mean(W²)/σ²_right = χ²(n)/ratio, accepted iff χ²(n) in ratio·[lo, hi]
            accept = chi2.cdf(hi * ratio, n) - chi2.cdf(lo * ratio, n)
            assert accept < 1e-100, (right, wrong, accept)


def _draws(rng, n_draws: int, shape, variance: float, method: int):
    """Correct draws written the two usual ways."""
    for _ in range(n_draws):
        if method == 0:
            yield rng.standard_normal(shape) * np.sqrt(variance)
        else:
            yield rng.normal(0.0, np.sqrt(variance), shape)


def _false_fails(n_draws: int, fi: int, fo: int, formula: str, seed: int) -> int:
    rng = np.random.default_rng(seed)
    variance = FORMULAS[formula](fi, fo)
    fails = 0
    for W in _draws(rng, n_draws, (fo, fi), variance, seed % 2):
        fails += not (c.variance_accepts(W, variance) and c.mean_accepts(W, variance))
    return fails


def test_correct_draws_pass_at_the_checks_size():
    """500 correct He draws of a 100 x 400 layer: 0 failures (the slow run does 20,000)."""
    assert _false_fails(500, 400, 100, "he", seed=1) == 0


@pytest.mark.slow
@pytest.mark.parametrize("fi,fo,formula,seed", [(400, 100, "he", 2), (100, 400, "xavier", 3)])
def test_false_fail_rate_20000_draws(fi, fo, formula, seed):
    assert _false_fails(20_000, fi, fo, formula, seed) == 0


def _rejections(n_draws: int, fi: int, fo: int, right: str, wrong: str, seed: int) -> int:
    rng = np.random.default_rng(seed)
    expected, actual = FORMULAS[right](fi, fo), FORMULAS[wrong](fi, fo)
    rejected = 0
    for W in _draws(rng, n_draws, (fo, fi), actual, seed % 2):
        rejected += not (c.variance_accepts(W, expected) and c.mean_accepts(W, expected))
    return rejected


@pytest.mark.parametrize("fi,fo", ORIENTATIONS)
@pytest.mark.parametrize("right", ["he", "xavier"])
def test_power_against_wrong_fans(fi, fo, right):
    """Every draw from a wrong formula is rejected (100 draws each here, 2,000 in the slow run)."""
    for k, wrong in enumerate(ALTERNATIVES[right]):
        assert _rejections(100, fi, fo, right, wrong, seed=10 + k) == 100, wrong


@pytest.mark.slow
@pytest.mark.parametrize("fi,fo", ORIENTATIONS)
@pytest.mark.parametrize("right", ["he", "xavier"])
def test_power_2000_draws(fi, fo, right):
    for k, wrong in enumerate(ALTERNATIVES[right]):
        assert _rejections(2000, fi, fo, right, wrong, seed=20 + k) == 2000, wrong


def test_messages_name_the_formula_a_wrong_variance_matches():
    """The notebook's diagnosis, given the hidden tests' statistical test, names the formula."""
    diagnosis = reference.diagnosis(Course.open(REPO, ASSIGNMENT))
    rng = np.random.default_rng(5)
    W = rng.standard_normal((100, 400)) * np.sqrt(1 / 400)
    observed = float(np.mean(W ** 2))
    message = diagnosis.variance_mistake("initialize_he", "W1", observed, 2 / 400, "2/fan_in", 400, 100,
                                         agrees=lambda v: c.variance_accepts(W, v))
    assert message.startswith("initialize_he: variance is 1/fan_in (LeCun); W1 has "), message


def test_mean_check_rejects_a_shifted_distribution():
    rng = np.random.default_rng(6)
    variance = 2 / 400
    W = rng.standard_normal((100, 400)) * np.sqrt(variance) + 0.004   # 0.057 sigma; band 0.031
    assert c.variance_accepts(W, variance)
    assert not c.mean_accepts(W, variance)
