"""Hidden tests, part 3: initialize_orthogonal (criteria orthogonal, orthogonal_sign,
orthogonal_rng). Each criterion checks its own property and nothing the others check: orthogonal
and orthogonal_rng compare up to the signs of columns (rows for a wide matrix), orthogonal_rng up
to the scale too, so a missing sign correction or gain costs its own criterion only."""

import numpy as np
import pytest

from initkit.sandbox import RNG, StudentError

from . import _inputs as net

FN = "initialize_orthogonal"


def _call(student, shape, seed=None, gain=None):
    kwargs = {} if gain is None else {"gain": gain}
    if seed is not None:
        kwargs["rng"] = RNG(seed)
    return student.call(FN, tuple(shape), **kwargs)


# --------------------------------------------------------------------------- orthogonal

# Tall, wide, square, very tall, one row; the default gain and others (tanh's, relu's, 0.5, 3).
ORTHOGONAL_CASES = [((9, 5), None, 2101), ((5, 9), 5 / 3, 2102), ((7, 7), np.sqrt(2), 2103),
                    ((12, 3), 0.5, 2104), ((1, 6), 3.0, 2105)]


@pytest.mark.criterion("orthogonal")
@pytest.mark.parametrize("shape,gain,seed", ORTHOGONAL_CASES,
                         ids=["9x5-default-gain", "5x9-gain-5/3", "7x7-gain-sqrt2", "12x3-gain-0.5",
                              "1x6-gain-3"])
def test_orthonormal_times_gain(student, diagnosis, shape, gain, seed):
    """gain times orthonormal columns (rows >= cols) or rows (rows < cols), to 1e-8."""
    W = _call(student, shape, seed, gain)
    problem = diagnosis.orthogonal_problem(shape, 1.0 if gain is None else gain, W)
    if problem:
        raise AssertionError(problem)


# --------------------------------------------------------------------------- orthogonal_sign

# With the sign correction, Q[0,0] has the sign of M[0,0] (a fair coin over seeds); np.linalg.qr
# alone (Householder) gives Q[0,0] = -|M[0,0]| / ||M[:,0]|| < 0 in every draw. Over N_DRAWS seeds
# the test fails when at most SIGN_LIMIT or at least N_DRAWS - SIGN_LIMIT draws are negative.
# False-fail probability for a correct implementation, whatever its draws:
#   P(Bin(40, 1/2) <= 1) + P(Bin(40, 1/2) >= 39) = 2 * 41 / 2**40 = 7.5e-11 per shape,
#   2.2e-10 for the three shapes (<= _checks.ALPHA = 1e-9). (The seeds are fixed: a submission's
#   outcome never changes; the reference's 40 draws per shape have 24, 13 and 25 negatives.)
N_DRAWS, SIGN_LIMIT = 40, 1
SIGN_SHAPES = [(8, 5), (6, 6), (3, 7)]


@pytest.mark.criterion("orthogonal_sign")
@pytest.mark.parametrize("shape", SIGN_SHAPES, ids=["8x5", "6x6", "3x7"])
def test_sign_is_a_fair_coin(student, diagnosis, shape):
    negative = 0
    for i in range(N_DRAWS):
        W = _call(student, shape, 2200 + 60 * SIGN_SHAPES.index(shape) + i)
        if not isinstance(W, np.ndarray) or W.shape != tuple(shape) or W.dtype.kind not in "fiu":
            raise AssertionError(diagnosis.orthogonal_problem(shape, 1.0, W)
                                 or f"{FN}: not a numpy array of floats; shape {shape}")
        negative += bool(W[0, 0] < 0)
    if negative <= SIGN_LIMIT or negative >= N_DRAWS - SIGN_LIMIT:
        raise AssertionError(diagnosis.sign_message(negative, N_DRAWS, shape))


SIGN_COLUMN_SHAPES = [(7, 4), (4, 7), (5, 5)]


@pytest.mark.criterion("orthogonal_sign")
@pytest.mark.parametrize("shape", SIGN_COLUMN_SHAPES, ids=["7x4", "4x7", "5x5"])
def test_sign_of_every_column(student, ref, diagnosis, shape):
    """Where the result is the specified matrix up to signs (the rng protocol followed, else
    orthogonal_rng charges it), every column (row) has the sign the correction gives it."""
    wrong = total = 0
    for i in range(5):
        seed = 2500 + 10 * SIGN_COLUMN_SHAPES.index(shape) + i
        W = _call(student, shape, seed)
        Q = ref.initialize_orthogonal(shape, rng=np.random.default_rng(seed))
        if net.equal_up_to_signs(W, Q):
            total += 1
            wrong += net.flipped(W, Q)
    if wrong:
        raise AssertionError(diagnosis.sign_columns_message(shape, wrong, total))


# --------------------------------------------------------------------------- orthogonal_rng

RNG_CASES = [((10, 4), None), ((4, 10), 1.3), ((6, 6), None), ((2, 3), 2.0)]


@pytest.mark.criterion("orthogonal_rng")
@pytest.mark.parametrize("shape,gain", RNG_CASES, ids=["10x4", "4x10-gain-1.3", "6x6", "2x3-gain-2"])
def test_drawn_from_rng(student, ref, diagnosis, shape, gain):
    """One draw M = rng.standard_normal(shape), then QR: the reference's matrix for the same seed,
    up to signs and scale (three seeds)."""
    wrong = 0
    for i in range(3):
        seed = 2600 + 10 * [s for s, _ in RNG_CASES].index(shape) + i
        W = _call(student, shape, seed, gain)
        Q = ref.initialize_orthogonal(shape, rng=np.random.default_rng(seed))
        wrong += not net.equal_up_to_signs(W, Q)
    if wrong:
        raise AssertionError(diagnosis.orthogonal_rng_message(shape, 1.0 if gain is None else gain, wrong, 3))


@pytest.mark.criterion("orthogonal_rng")
def test_orthogonal_without_rng(student, diagnosis):
    """rng left out (None: np.random.default_rng()): works, and two calls differ."""
    shape = (5, 3)
    results = []
    for _ in range(2):
        try:
            results.append(student.call(FN, shape))
        except StudentError as exc:
            if exc.exc_type == "NotImplementedError":
                raise
            raise AssertionError(diagnosis.without_rng_message(FN, raised=exc.exc_type,
                                                               message=exc.message)) from None
    a, b = results
    for x in results:
        if not (isinstance(x, np.ndarray) and x.shape == shape):
            raise AssertionError(diagnosis.without_rng_message(FN, returned=x) + f", expected shape {shape}")
    if np.array_equal(a, b):
        raise AssertionError(diagnosis.without_rng_message(FN))
