"""Hidden tests, part 3: symmetry (criteria gradient_equality, symmetry_breaking, symmetry_check)."""

import numpy as np
import pytest

from initkit.sandbox import RNG

from .. import _checks as c

TRAIN_DIMS = [3, 4, 3, 1]


def _data(seed=601, m=8):
    _, X, Y = c.network(TRAIN_DIMS, seed, m)
    return X, Y


# --------------------------------------------------------------------------- gradient_equality

EQUALITY_CASES = [("constant", 0.5, "relu"), ("constant", -0.3, "tanh"), ("zeros", None, "tanh")]
STEPS = 3
RELATIVE_TOL = 1e-12


@pytest.mark.criterion("gradient_equality")
@pytest.mark.parametrize("init,value,activation", EQUALITY_CASES,
                         ids=["constant0.5-relu", "constant-0.3-tanh", "zeros-tanh"])
def test_gradient_equality(student, ref, init, value, activation):
    """From the reference's symmetric initialization, the student's forward, backward and update:
    neurons of a hidden layer get identical gradients at every step."""
    dims = TRAIN_DIMS
    X, Y = _data()
    if init == "zeros":
        params, start = ref.initialize_zeros(dims), "zero initialization"
    else:
        params, start = ref.initialize_constant(dims, value), f"constant {value} initialization"
    for step in range(STEPS):
        AL, cache = c.forward_output(student.call("forward_propagation", X, params,
                                                  hidden_activation=activation), X.shape[1])
        grads = c.grads("backward_propagation", student.call("backward_propagation", AL, Y, cache), dims)
        when = ("at the first step" if step == 0 else
                f"after {step} training step{'s' if step > 1 else ''} with your functions")
        for l in range(1, len(dims) - 1):       # hidden layers
            for key, M in ((f"dW{l}", grads[f"dW{l}"]), (f"db{l}", grads[f"db{l}"])):
                spread = c.row_spread(M)
                if spread > RELATIVE_TOL * max(float(np.max(np.abs(M))), 1e-300):
                    c.fail(f"gradient_equality: from {start} (hidden_activation={activation!r}), "
                           f"{when}, the rows of {key} differ by up to {c.fmt(spread)}: neurons of a "
                           "layer that start identical must get identical gradients")
        if step + 1 < STEPS:
            params = c.parameters("update_parameters",
                                  student.call("update_parameters", params, grads, 0.5), dims,
                                  float64=False)


# --------------------------------------------------------------------------- symmetry_breaking

BREAKING_CASES = [("initialize_random", {"scale": 0.1}, 701), ("initialize_xavier", {}, 702),
                  ("initialize_he", {}, 703)]
BREAK_DIMS = [3, 6, 4, 1]


def _train_reference(ref, params, X, Y, steps=20, lr=0.5):
    for _ in range(steps):
        AL, cache = ref.forward_propagation(X, params, hidden_activation="relu")
        params = ref.update_parameters(params, ref.backward_propagation(AL, Y, cache), lr)
    return params


@pytest.mark.criterion("symmetry_breaking")
@pytest.mark.parametrize("fn,kwargs,seed", BREAKING_CASES, ids=["random", "xavier", "he"])
def test_symmetry_breaking(student, ref, diagnosis, fn, kwargs, seed):
    """Pairwise distinct rows in every layer after the student's init, and hidden neurons still
    distinct after training from it (trained by the reference: the init is the subject)."""
    dims = BREAK_DIMS
    params = c.parameters(fn, student.call(fn, list(dims), rng=RNG(seed), **kwargs), dims, float64=False)
    params = {k: v.astype(np.float64) for k, v in params.items()}
    for l in range(1, len(dims)):
        W = params[f"W{l}"]
        if W.shape[0] > 1:
            d, i, j = c.min_row_distance(W)
            if d <= 1e-8 * max(float(np.max(np.abs(W))), 1e-300):
                c.fail(diagnosis.identical_neurons_mistake(fn, f"W{l}", i, j,
                                                           f" (layer sizes {c.dims_text(dims)})"))
    X, Y = _data(seed=seed + 50, m=16)
    trained = _train_reference(ref, params, X, Y)
    for l in range(1, len(dims) - 1):
        neurons = np.hstack([trained[f"W{l}"], trained[f"b{l}"]])
        d, i, j = c.min_row_distance(neurons)
        if d <= 1e-8 * max(float(np.max(np.abs(neurons))), 1e-300):
            c.fail(f"{fn}: after training from your initialization, hidden neurons {i} and {j} of "
                   f"layer {l} became identical (layer sizes {c.dims_text(dims)})")


# --------------------------------------------------------------------------- symmetry_check

def _battery(case):
    """(parameters, l, tol or None, expected) for one case. Differences are at least 10x away
    from tol, so checks against the first row and max-min spreads agree."""
    rng = np.random.default_rng(800)
    row = rng.standard_normal((1, 5))
    W1 = np.repeat(row, 3, axis=0)
    b1 = np.full((3, 1), 0.3)
    W2 = rng.standard_normal((2, 3))                  # asymmetric neighbour layer
    b2 = rng.standard_normal((2, 1))
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    if case == "identical-rows":
        p = {"W1": W2.copy(), "b1": b2.copy(), "W2": np.repeat(rng.standard_normal((1, 2)), 4, axis=0),
             "b2": np.full((4, 1), -0.7)}
        return p, 2, None, True
    if case == "rows-differ":
        W1 = W1.copy()
        W1[2, 3] += 1e-9                               # 10x the default tol
        return {**params, "W1": W1}, 1, None, False
    if case == "same-W-different-biases":
        return {**params, "b1": np.array([[0.3], [0.3], [0.8]])}, 1, None, False
    if case == "differences-below-tol":
        W1 = W1 + rng.uniform(-1e-12, 1e-12, W1.shape)
        b1 = b1 + rng.uniform(-1e-12, 1e-12, b1.shape)
        return {**params, "W1": W1, "b1": b1}, 1, None, True
    if case == "differences-below-given-tol":
        W1 = W1 + rng.uniform(-1e-4, 1e-4, W1.shape)
        return {**params, "W1": W1}, 1, 1e-3, True
    if case == "differences-above-given-tol":
        W1 = W1.copy()
        W1[1] += 1e-4
        return {**params, "W1": W1}, 1, 1e-6, False
    if case == "one-neuron-layer":
        p = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal((3, 1)),
             "W2": rng.standard_normal((1, 3)), "b2": rng.standard_normal((1, 1))}
        return p, 2, None, True
    raise ValueError(case)


def _more_checks(case):
    """Further calls of some cases, after the first: [(parameters, l, tol or None, expected, what)].
    Under the notebook's definition (every row and bias within tol of the first, `|difference| <=
    tol`) each answer is unambiguous, and a max - min spread gives the same one: the True calls
    have spreads <= tol, the False ones a difference from the first row > tol. The default tol is
    1e-10; differences of 0.3 and 1.05 times it are exact to 1e-6 of tol (entries of order 1)."""
    rng = np.random.default_rng(800)
    W1 = np.repeat(rng.standard_normal((1, 5)), 3, axis=0)
    b1 = np.full((3, 1), 0.3)
    params = {"W1": W1, "b1": b1, "W2": rng.standard_normal((2, 3)), "b2": rng.standard_normal((2, 1))}

    def changed(key, index, delta):
        M = params[key].copy()
        M[index] += delta
        return {**params, key: M}

    if case == "rows-differ":
        return [(changed("W1", (0, 1), 1e-9), 1, None, False,
                 "only the first neuron differs: one entry of the first row of W1 is 1e-9 above the "
                 "other rows, which are equal (they are below the first row by more than tol)"),
                (changed("W1", (2, 4), 1.05e-10), 1, None, False,
                 "one entry of W1 differs from the first row by 1.05e-10, just more than the default "
                 "tol=1e-10")]
    if case == "same-W-different-biases":
        return [({**params, "b1": np.array([[0.8], [0.3], [0.3]])}, 1, None, False,
                 "the rows of W1 are identical, but the first bias is 0.8 and the others 0.3"),
                (changed("b1", (2, 0), 3e-10), 1, None, False,
                 "the rows of W1 are identical, but one bias (0.3 + 3e-10) differs from the first (0.3) "
                 "by 3e-10, three times the default tol=1e-10")]
    if case == "differences-below-tol":
        W = W1.copy()
        W[1, 0] += 3e-11
        W[2, 2] -= 3e-11
        return [({**params, "W1": W, "b1": b1 + np.array([[0.0], [3e-11], [3e-11]])}, 1, None, True,
                 "rows and biases differ from the first by at most 3e-11, less than the default "
                 "tol=1e-10")]
    if case == "differences-below-given-tol":
        exact = {"W1": np.array([[1.0, -2.0, 0.5], [1.25, -2.0, 0.5], [1.0, -1.75, 0.5]]),
                 "b1": np.array([[0.5], [0.75], [0.75]]),
                 "W2": np.array([[0.3, -1.1, 0.7]]), "b2": np.array([[0.1]])}
        return [(exact, 1, 0.25, True,
                 "rows and biases differ from the first by exactly tol=0.25 (exact in floating point), "
                 "and |difference| <= tol counts as equal")]
    return []


# The notebook's words for each case (its diagnosis cell's SYMMETRY_SITUATIONS).
SITUATION = {"identical-rows": "identical", "rows-differ": "rows_differ",
             "same-W-different-biases": "biases_differ", "differences-below-tol": "within_tol",
             "differences-below-given-tol": "within_tol", "differences-above-given-tol": "rows_differ",
             "one-neuron-layer": "one_neuron"}


def _symmetry_failure(diagnosis, case, fn, params, l, tol, got, what):
    W, b = params[f"W{l}"], params[f"b{l}"]
    tol_text = "the default tol" if tol is None else f"tol={tol}"
    c.fail(diagnosis.verdict_mistake(
        fn, got, SITUATION[case], f"{fn}(parameters, {l}{'' if tol is None else f', tol={tol}'}): "
        f"{what} (W{l} has shape {W.shape}, b{l} {b.shape}; {tol_text})"))


SYMMETRY_CASES = ["identical-rows", "rows-differ", "same-W-different-biases", "differences-below-tol",
                  "differences-below-given-tol", "differences-above-given-tol", "one-neuron-layer"]


@pytest.mark.criterion("symmetry_check")
@pytest.mark.parametrize("case", SYMMETRY_CASES)
def test_is_layer_symmetric(student, diagnosis, case):
    """The case's first call (_battery), then its further calls (_more_checks)."""
    params, l, tol, expected = _battery(case)
    fn = "is_layer_symmetric"
    got = c.boolean(fn, student.call(fn, params, l) if tol is None else student.call(fn, params, l, tol=tol))
    if got != expected:
        what = {
            "identical-rows": "every row of W and every bias are identical",
            "rows-differ": f"one entry of W{l} differs from the first row by 1e-9, more than tol",
            "same-W-different-biases": f"the rows of W{l} are identical but the biases b{l} differ",
            "differences-below-tol": "rows and biases differ only by 1e-12, less than tol",
            "differences-below-given-tol": f"rows differ by at most 1e-4, less than tol={tol}",
            "differences-above-given-tol": f"rows differ by 1e-4, more than tol={tol}",
            "one-neuron-layer": "the layer has one neuron (one row), so nothing differs",
        }[case]
        _symmetry_failure(diagnosis, case, fn, params, l, tol, got, what)
    for params, l, tol, expected, what in _more_checks(case):
        got = c.boolean(fn, student.call(fn, params, l) if tol is None else student.call(fn, params, l, tol=tol))
        if got != expected:
            _symmetry_failure(diagnosis, case, fn, params, l, tol, got, what)
