"""Hidden tests, part 1: the five initializations (criteria zeros, constant, random,
xavier_variance, he_variance). Properties only: never arrays from one seed and one call order."""

import numpy as np
import pytest

from initkit.sandbox import RNG, StudentError

from .. import _checks as c

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

def _check_gaussian(diagnosis, fn, l, params, dims, variance, formula, scale=None):
    """W{l} against i.i.d. N(0, variance) (chi-square and normal bands, _checks.ALPHA); a
    failure is the notebook's own sentence for the mistake (its diagnosis cell), naming the usual
    formula the weights agree with by the same test."""
    W = params[f"W{l}"]
    if not c.variance_accepts(W, variance):
        observed = float(np.dot(W.ravel(), W.ravel())) / W.size
        c.fail(diagnosis.variance_mistake(fn, f"W{l}", observed, variance, formula, dims[l - 1], dims[l],
                                          scale, agrees=lambda v: c.variance_accepts(W, v)))
    if not c.mean_accepts(W, variance):
        c.fail(diagnosis.mean_mistake(fn, f"W{l}", float(W.mean())))


def _without_rng(student, fn, dims, **kwargs):
    """fn(dims) with rng left out (None: np.random.default_rng()); only its shapes are checked
    (unseeded, so no values), and an exception says which call raised it."""
    try:
        result = student.call(fn, list(dims), **kwargs)
    except StudentError as exc:
        raise StudentError(exc.fn, exc.exc_type,
                           f"{exc.message} (called as {fn}({list(dims)}) without rng: rng=None means "
                           "np.random.default_rng())", exc.traceback) from None
    return c.parameters(fn, result, dims)


DEFAULT_SCALE = 0.01
# (layer sizes, scale, seed, then layer sizes and seed of a call without `scale`, or None). The
# call without `scale` checks the default 0.01 on a 40,000-entry layer: its band (±4.4%) rejects a
# default 10% off (1.21 times the variance) for sure (docs/grading.md).
RANDOM_CASES = [([1, 400, 100], 0.05, 101, ([400, 100], 104)), ([300, 1, 200], 3.0, 102, None)]


@pytest.mark.criterion("random")
@pytest.mark.parametrize("dims,scale,seed,default_call", RANDOM_CASES, ids=["scale-0.05", "scale-3"])
def test_random_distribution(student, diagnosis, dims, scale, seed, default_call):
    """Every W: mean zero and variance scale² (chi-square band); the 1-wide layers make copies of
    one row across a layer fail for sure. The first case also checks the default scale."""
    fn = "initialize_random"
    params = c.parameters(fn, student.call(fn, list(dims), scale=scale, rng=RNG(seed)), dims)
    for l in range(1, len(dims)):
        _check_gaussian(diagnosis, fn, l, params, dims, scale ** 2, f"scale² (scale={scale})", scale)
    if default_call is not None:
        dims, seed = default_call
        params = c.parameters(fn, student.call(fn, list(dims), rng=RNG(seed)), dims)
        for l in range(1, len(dims)):
            _check_gaussian(diagnosis, fn, l, params, dims, DEFAULT_SCALE ** 2,
                            f"scale² with the default scale={DEFAULT_SCALE}")


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
    _without_rng(student, fn, dims, scale=0.1)


# --------------------------------------------------------------------------- xavier / he

def _variance_test(student, diagnosis, fn, dims, seed, formula_name, variance_of):
    params = c.parameters(fn, student.call(fn, list(dims), rng=RNG(seed)), dims)
    for l in range(1, len(dims)):
        fan_in, fan_out = dims[l - 1], dims[l]
        _check_gaussian(diagnosis, fn, l, params, dims, variance_of(fan_in, fan_out), formula_name)
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
def test_xavier_variance(student, diagnosis, dims, seed):
    _variance_test(student, diagnosis, "initialize_xavier", dims, seed, "2/(fan_in+fan_out)",
                   lambda fi, fo: 2 / (fi + fo))


def _shapes_and_rng(student, fn, seed):
    """Shapes on two layer lists; a second generator from the same seed gives the same parameters
    (all randomness from rng); rng left out still works (None: np.random.default_rng())."""
    for dims in ([5, 4, 3, 1], [4, 1, 3]):
        first = c.parameters(fn, student.call(fn, list(dims), rng=RNG(seed)), dims)
    again = c.parameters(fn, student.call(fn, list(dims), rng=RNG(seed)), dims)
    for key in first:
        if not np.array_equal(first[key], again[key]):
            c.fail(f"{fn}: two calls with generators made from the same seed gave different {key} "
                   f"(layer sizes {c.dims_text(dims)}): draw every random number from the `rng` "
                   "argument (not np.random.* or a new generator)")
    _without_rng(student, fn, dims)


@pytest.mark.criterion("xavier_variance")
def test_xavier_shapes(student):
    _shapes_and_rng(student, "initialize_xavier", 14)


@pytest.mark.criterion("he_variance")
@pytest.mark.parametrize("dims,seed", VARIANCE_CASES, ids=VARIANCE_IDS)
def test_he_variance(student, diagnosis, dims, seed):
    _variance_test(student, diagnosis, "initialize_he", dims, seed + 10, "2/fan_in", lambda fi, fo: 2 / fi)


@pytest.mark.criterion("he_variance")
def test_he_shapes(student):
    _shapes_and_rng(student, "initialize_he", 24)
