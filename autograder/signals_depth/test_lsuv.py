"""Hidden tests, part 4: lsuv_init (criteria lsuv_variance, lsuv_protocol, lsuv_error).

lsuv_variance: every layer's pre-activations have variance 1 ± tol on the given batch (computed
here from the returned parameters), and the batch is the one given. lsuv_protocol: b = 0 and
W[l] a positive multiple of the orthogonal matrix drawn from rng in layer order (up to signs: the
sign correction is orthogonal_sign's). lsuv_error: a layer with constant pre-activations raises
ValueError naming it. Deterministic (fixed seeds)."""

import numpy as np
import pytest

from initkit.sandbox import RNG, StudentError

from . import _inputs as net

FN = "lsuv_init"

# (layer sizes, activation, tol or None (the default 0.1), m, seed, batch scale, batch shift)
VARIANCE_CASES = {
    "tanh-deep": ([10, 20, 20, 20, 5], "tanh", None, 64, 3101, 3.0, 0.0),
    "relu-deep-tol-0.05": ([8, 16, 16, 16, 16, 2], "relu", 0.05, 48, 3102, 0.2, 0.5),
    "linear-tall-and-wide": ([6, 4, 9, 3], "linear", None, 30, 3103, 5.0, -1.0),
    "sigmoid-tol-0.01": ([5, 7, 7, 1], "sigmoid", 0.01, 40, 3104, 1.0, 2.0),
    "tanh-one-layer": ([12, 6], "tanh", None, 25, 3105, 0.1, 0.0),
}


def _lsuv(student, dims, X, activation, seed, tol):
    kwargs = {"activation": activation}
    if seed is not None:
        kwargs["rng"] = RNG(seed)
    if tol is not None:
        kwargs["tol"] = tol
    return student.call(FN, list(dims), X, **kwargs)


@pytest.mark.criterion("lsuv_variance")
@pytest.mark.parametrize("case", list(VARIANCE_CASES))
def test_unit_variance(student, diagnosis, case):
    dims, activation, tol, m, seed, scale, shift = VARIANCE_CASES[case]
    X = net.batch(dims[0], m, seed + 77, scale=scale, shift=shift)
    params = _lsuv(student, dims, X, activation, seed, tol)
    problem = diagnosis.lsuv_problem(dims, X, params, activation, 0.1 if tol is None else tol)
    if problem:
        raise AssertionError(problem)


@pytest.mark.criterion("lsuv_variance")
def test_uses_the_given_batch(student, diagnosis):
    """The same rng seed, two batches (the second 4 times wider spread, other examples): each
    gets unit variances, so the results differ."""
    dims, activation = [7, 10, 10, 3], "tanh"
    X1 = net.batch(7, 40, 3150)
    X2 = net.batch(7, 40, 3151, scale=4.0)
    results = []
    for X in (X1, X2):
        params = _lsuv(student, dims, X, activation, 3152, None)
        problem = diagnosis.lsuv_problem(dims, X, params, activation, 0.1)
        if problem:
            raise AssertionError(problem)
        results.append(params)
    keys = [f"{k}{l}" for l in range(1, len(dims)) for k in ("W", "b")]
    if all(np.allclose(results[0][k], results[1][k], rtol=1e-6, atol=0) for k in keys):
        raise AssertionError(diagnosis.lsuv_same_batch_message())


# The scale LSUV's rule gives each layer (a layer within tol is left as drawn, else divided by
# sqrt(var) once, which makes its variance 1; max_iter rescalings at most), read from the
# student's own W[l] = c × orthonormal, so a different draw is not charged here.
# (layer sizes, activation (None: the default "tanh"), tol, max_iter, X's seed, scale, shift).
SCALE_CASES = {
    "within-tol-left-as-drawn": ([8, 8, 8, 8], "linear", None, None, 5, 1.02, 0.3),
    "just-outside-tol": ([1, 1], "linear", None, None, None, 1.05, 0.0),
    "exactly-tol-away": ([1, 1], "linear", 1.25, None, None, 1.5, 0.0),
    "max-iter-1": ([6, 9, 4], "tanh", None, 1, 6, 5.0, 0.0),
    "max-iter-0": ([6, 9, 4], "tanh", None, 0, 6, 5.0, 0.0),
    "default-activation": ([6, 9, 4], None, None, None, 6, 5.0, 0.0),
}


def _start_scale(student, diagnosis, shape):
    """The scale of the student's own initialize_orthogonal for `shape`; None (then 1) when it
    raises or returns no multiple of an orthonormal matrix (orthogonal's criteria say so)."""
    try:
        return diagnosis.orthogonal_scale(student.call("initialize_orthogonal", shape, rng=RNG(3399)))
    except StudentError:
        return None


@pytest.mark.criterion("lsuv_variance")
@pytest.mark.parametrize("case", list(SCALE_CASES))
def test_the_stopping_rule_sets_each_scale(student, diagnosis, case):
    dims, activation, tol, max_iter, seed, scale, shift = SCALE_CASES[case]
    if seed is None:                  # one example each side of 0: var(Z) = scale² exactly
        X = np.array([[scale, -scale]])
    else:
        X = np.random.default_rng(seed).standard_normal((dims[0], 40)) * scale + shift
    kwargs = {"rng": RNG(3300 + len(case))}
    if activation is not None:
        kwargs["activation"] = activation
    for name, value in (("tol", tol), ("max_iter", max_iter)):
        if value is not None:
            kwargs[name] = value
    params = student.call(FN, list(dims), X, **kwargs)
    # The scale each layer starts with is the student's own initialize_orthogonal's (a wrong
    # default gain there is orthogonal's mistake, not LSUV's).
    starts = [_start_scale(student, diagnosis, (dims[l], dims[l - 1])) for l in range(1, len(dims))]
    problem = diagnosis.lsuv_scale_problem(dims, X, params, activation or "tanh",
                                           0.1 if tol is None else tol, 10 if max_iter is None else max_iter,
                                           starts)
    if problem:
        raise AssertionError(problem)


# --------------------------------------------------------------------------- lsuv_protocol

PROTOCOL_CASES = {
    "tanh-tall-wide-square": ([6, 9, 4, 4, 2], "tanh", 3201),
    "relu": ([3, 8, 8, 1], "relu", 3202),
    "linear-one-layer": ([5, 8], "linear", 3203),
}


def _own_orthogonal_follows_protocol(student, ref, dims):
    """Does the student's initialize_orthogonal give the reference's matrix (up to signs) for
    every layer shape? If not, its own criteria charge it, and lsuv_protocol checks less."""
    for l in range(1, len(dims)):
        shape = (dims[l], dims[l - 1])
        try:
            W = student.call("initialize_orthogonal", shape, rng=RNG(3290 + l))
        except StudentError:
            return False
        if not net.equal_up_to_signs(W, ref.initialize_orthogonal(shape, rng=np.random.default_rng(3290 + l))):
            return False
    return True


@pytest.mark.criterion("lsuv_protocol")
@pytest.mark.parametrize("case", list(PROTOCOL_CASES))
def test_orthogonal_start(student, ref, diagnosis, case):
    dims, activation, seed = PROTOCOL_CASES[case]
    X = net.batch(dims[0], 30, seed + 77, scale=2.0)
    params = _lsuv(student, dims, X, activation, seed, None)
    rng = np.random.default_rng(seed)
    Qs = [ref.initialize_orthogonal((dims[l], dims[l - 1]), rng=rng) for l in range(1, len(dims))]
    problem = diagnosis.lsuv_start_problem(dims, params, Qs, up_to_signs=True)
    if problem and "drawn from rng" in problem and not _own_orthogonal_follows_protocol(student, ref, dims):
        # Your initialize_orthogonal draws other matrices (its criteria say why): check only that
        # each W[l] is a multiple of an orthogonal matrix and that the same seed gives the same.
        again = _lsuv(student, dims, X, activation, seed, None)
        problem = diagnosis.lsuv_parameters_problem(dims, again)
        if problem:
            raise AssertionError(problem)
        for key in [f"{k}{l}" for l in range(1, len(dims)) for k in ("W", "b")]:
            if not np.array_equal(params[key], again[key]):
                raise AssertionError(diagnosis.same_seed_message(FN, key))
        return
    if problem:
        raise AssertionError(problem)


@pytest.mark.criterion("lsuv_protocol")
def test_lsuv_without_rng(student, diagnosis):
    """rng left out (None: np.random.default_rng()): zero biases, orthogonal multiples."""
    dims, X = [4, 6, 3], net.batch(4, 20, 3250)
    try:
        params = student.call(FN, dims, X)
    except StudentError as exc:
        if exc.exc_type == "NotImplementedError":
            raise
        raise AssertionError(diagnosis.without_rng_message(FN, raised=exc.exc_type,
                                                           message=exc.message)) from None
    problem = diagnosis.lsuv_parameters_problem(dims, params)
    if problem:
        raise AssertionError(problem)
    for l in (1, 2):
        if np.any(params[f"b{l}"] != 0):
            raise AssertionError(f"{FN}: the biases are not zero; b{l} is not zero: they start at "
                                 f"zero and stay zero (called without rng, layer_dims {dims})")


# --------------------------------------------------------------------------- lsuv_error

# (layer sizes, activation, batch, the layer with constant pre-activations, what it is).
# X = 0: Z1 = 0. One example and a one-unit layer: that layer's Z is a single number (variance 0)
# while the layers before it have several units (variance > 0: checked on the reference).
def _error_case(case):
    if case == "layer1-zero-batch":
        return [5, 4, 2], "tanh", np.zeros((5, 6)), 1, "X = 0, layer_dims [5, 4, 2]"
    if case == "layer2-one-example":
        return [5, 4, 1], "relu", net.batch(5, 1, 3301), 2, "one example, layer 2 has one unit"
    if case == "layer3-one-example":
        return [6, 5, 3, 1], "linear", net.batch(6, 1, 3302), 3, "one example, layer 3 has one unit"
    raise ValueError(case)


@pytest.mark.criterion("lsuv_error")
@pytest.mark.parametrize("case", ["layer1-zero-batch", "layer2-one-example", "layer3-one-example"])
def test_constant_layer_raises(student, diagnosis, case):
    dims, activation, X, l, where = _error_case(case)
    try:
        returned = student.call(FN, list(dims), X, activation=activation, rng=RNG(3300 + l))
    except StudentError as exc:
        if exc.exc_type == "NotImplementedError":
            raise
        if exc.exc_type == "ValueError" and diagnosis.lsuv_error_names_layer(exc.message, l):
            return
        raise AssertionError(diagnosis.lsuv_error_message(l, where, raised=exc.exc_type,
                                                          message=exc.message)) from None
    raise AssertionError(diagnosis.lsuv_error_message(l, where, returned=returned))
