"""Hidden tests, part 1: the five initializations (criteria zeros, constant, random,
xavier_variance, he_variance). Properties only: never arrays from one seed and one call order."""

import numpy as np
import pytest

from initkit.sandbox import RNG

from . import _checks as c

# Several shapes: deep, single-layer, one-neuron hidden layer, 1x1.
SHAPES = [[5, 4, 3, 1], [3, 2], [4, 1, 3], [1, 1]]
SHAPE_IDS = ["5-4-3-1", "3-2", "4-1-3", "1-1"]


# --------------------------------------------------------------------------- zeros

@pytest.mark.criterion("zeros")
@pytest.mark.parametrize("dims", SHAPES, ids=SHAPE_IDS)
def test_zeros(student, dims):
    fn = "initialize_zeros"
    params = c.parameters(fn, student.call(fn, list(dims)), dims)
    for key, P in params.items():
        if np.any(P != 0):
            c.fail(f"{fn}: {key} has nonzero entries (layer sizes {c.dims_text(dims)})")


# --------------------------------------------------------------------------- constant

CONSTANT_CASES = [([5, 4, 3, 1], None), ([3, 2], -1.25), ([4, 1, 3], 3), ([1, 1], 0.0)]


@pytest.mark.criterion("constant")
@pytest.mark.parametrize("dims,value", CONSTANT_CASES,
                         ids=["5-4-3-1-default", "3-2-value-1.25", "4-1-3-int-value-3", "1-1-value-0"])
def test_constant(student, dims, value):
    fn = "initialize_constant"
    if value is None:
        result, expected, how = student.call(fn, list(dims)), 0.5, "the default value"
    else:
        result, expected, how = student.call(fn, list(dims), value=value), float(value), f"value={value!r}"
    params = c.parameters(fn, result, dims)
    for key, P in params.items():
        wrong = P[P != expected]
        if wrong.size:
            c.fail(f"{fn}: {key} has entries {c.fmt(float(wrong.flat[0]))}, expected every entry to be "
                   f"{expected!r} ({how}, layer sizes {c.dims_text(dims)})")


# --------------------------------------------------------------------------- random

@pytest.mark.criterion("random")
@pytest.mark.parametrize("dims,scale,seed", [([1, 400, 100], 0.05, 101), ([300, 1, 200], 3.0, 102)],
                         ids=["scale-0.05", "scale-3"])
def test_random_distribution(student, dims, scale, seed):
    """Every W: mean zero and variance scale² (chi-square band); the 1-wide layers make copies of
    one row across a layer fail for sure."""
    fn = "initialize_random"
    params = c.parameters(fn, student.call(fn, list(dims), scale=scale, rng=RNG(seed)), dims)
    for l in range(1, len(dims)):
        c.check_gaussian(fn, f"W{l}", params[f"W{l}"], scale ** 2, f"scale² (scale={scale})",
                         c.known_formulas(dims[l - 1], dims[l], scale),
                         f"layer sizes {c.dims_text(dims)}, {params[f'W{l}'].size} entries")


@pytest.mark.criterion("random")
def test_random_biases_zero(student):
    fn, dims = "initialize_random", [5, 4, 3, 1]
    params = c.parameters(fn, student.call(fn, list(dims), scale=0.2, rng=RNG(103)), dims)
    for l in range(1, len(dims)):
        if np.any(params[f"b{l}"] != 0):
            c.fail(f"{fn}: b{l} is not zero (biases start at zero; only W is random)")


@pytest.mark.criterion("random")
def test_random_seed(student):
    """Same rng seed -> same parameters; another seed -> other parameters (all randomness from rng)."""
    fn, dims = "initialize_random", [4, 3, 2]
    a = c.parameters(fn, student.call(fn, list(dims), scale=0.1, rng=RNG(7)), dims)
    b = c.parameters(fn, student.call(fn, list(dims), scale=0.1, rng=RNG(7)), dims)
    d = c.parameters(fn, student.call(fn, list(dims), scale=0.1, rng=RNG(8)), dims)
    for key in a:
        if not np.array_equal(a[key], b[key]):
            c.fail(f"{fn}: two calls with generators made from the same seed gave different {key}: "
                   "draw every random number from the `rng` argument (not np.random.* directly)")
    if all(np.array_equal(a[f"W{l}"], d[f"W{l}"]) for l in range(1, len(dims))):
        c.fail(f"{fn}: generators with different seeds gave the same W: draw W from the `rng` argument")


# --------------------------------------------------------------------------- xavier / he

def _variance_test(student, fn, dims, seed, formula_name, variance_of):
    params = c.parameters(fn, student.call(fn, list(dims), rng=RNG(seed)), dims)
    for l in range(1, len(dims)):
        fan_in, fan_out = dims[l - 1], dims[l]
        c.check_gaussian(fn, f"W{l}", params[f"W{l}"], variance_of(fan_in, fan_out), formula_name,
                         c.known_formulas(fan_in, fan_out), f"fan_in={fan_in}, fan_out={fan_out}")
        if np.any(params[f"b{l}"] != 0):
            c.fail(f"{fn}: b{l} is not zero (biases start at zero)")


# Big non-square layers in both orientations (40,000 entries: the bands are ±4.4% wide and the
# formulas to tell apart differ by 20% or more; docs/grading.md), then every layer of a deeper
# network (catches a fan taken from the wrong entry of layer_dims). Four times as many entries
# bought nothing but a fifth of the grading time (benchmarks/bench_grade.py).
VARIANCE_CASES = [([400, 100], 11), ([100, 400], 12), ([160, 80, 40, 20], 13)]
VARIANCE_IDS = ["400-100", "100-400", "160-80-40-20"]


@pytest.mark.criterion("xavier_variance")
@pytest.mark.parametrize("dims,seed", VARIANCE_CASES, ids=VARIANCE_IDS)
def test_xavier_variance(student, dims, seed):
    _variance_test(student, "initialize_xavier", dims, seed, "2/(fan_in+fan_out)",
                   lambda fi, fo: 2 / (fi + fo))


@pytest.mark.criterion("xavier_variance")
def test_xavier_shapes(student):
    for dims in ([5, 4, 3, 1], [4, 1, 3]):
        c.parameters("initialize_xavier", student.call("initialize_xavier", list(dims), rng=RNG(14)), dims)


@pytest.mark.criterion("he_variance")
@pytest.mark.parametrize("dims,seed", VARIANCE_CASES, ids=VARIANCE_IDS)
def test_he_variance(student, dims, seed):
    _variance_test(student, "initialize_he", dims, seed + 10, "2/fan_in", lambda fi, fo: 2 / fi)


@pytest.mark.criterion("he_variance")
def test_he_shapes(student):
    for dims in ([5, 4, 3, 1], [4, 1, 3]):
        c.parameters("initialize_he", student.call("initialize_he", list(dims), rng=RNG(24)), dims)
