"""Hidden tests, part 2: forward pass, cost, backward pass, update (criteria forward, cost,
backward_gradients, update). The trusted reference does every step but the one under test."""

import re

import numpy as np
import pytest

from .. import _checks as c

# --------------------------------------------------------------------------- forward

FORWARD_CASES = [
    ([4, 5, 3, 1], 7, "relu", 201),
    ([4, 5, 3, 1], 7, "tanh", 202),
    ([2, 10, 5, 1], 50, None, 203),     # None: the default hidden_activation (relu)
    ([3, 1], 5, "tanh", 204),           # one layer: logistic regression
    ([6, 4, 1], 1, "relu", 205),        # a single example
]


def _activation_kwargs(activation):
    return {} if activation is None else {"hidden_activation": activation}


@pytest.mark.criterion("forward")
@pytest.mark.parametrize("dims,m,activation,seed", FORWARD_CASES,
                         ids=["relu", "tanh", "default-activation", "one-layer", "one-example"])
def test_forward(student, ref, dims, m, activation, seed):
    params, X, _ = c.network(dims, seed, m)
    kwargs = _activation_kwargs(activation)
    expected = np.asarray(ref.forward_propagation(X, params, **kwargs)[0], dtype=np.float64)
    AL, _cache = c.forward_output(student.call("forward_propagation", X, params, **kwargs), m)
    err = float(np.max(np.abs(AL - expected)))
    if err > 1e-10:
        how = "the default hidden_activation" if activation is None else f"hidden_activation={activation!r}"
        c.fail(f"forward_propagation: AL differs from the expected output by up to {c.fmt(err)} for "
               f"{how} (layer sizes {c.dims_text(dims)}, m={m})")


# --------------------------------------------------------------------------- cost

def _cost_inputs(m, seed, low, high):
    rng = np.random.default_rng(seed)
    AL = rng.uniform(low, high, (1, m))
    Y = (rng.permutation(m) % 2).astype(np.float64)[None, :]
    return AL, Y


@pytest.mark.criterion("cost")
@pytest.mark.parametrize("m,seed,low,high", [(5, 301, 0.05, 0.95), (64, 302, 0.01, 0.99),
                                             (1, 303, 0.2, 0.8), (40, 304, 1e-6, 1 - 1e-6)],
                         ids=["m5", "m64", "m1", "confident"])
def test_cost(student, ref, diagnosis, m, seed, low, high):
    AL, Y = _cost_inputs(m, seed, low, high)
    expected = float(ref.compute_cost(AL, Y))      # > 0: predictions stay inside (0, 1)
    got = c.number("compute_cost", "the cost", student.call("compute_cost", AL, Y))
    if abs(got - expected) > 1e-10 * max(1.0, abs(expected)):
        c.fail(diagnosis.factor_mistake("compute_cost", "the cost", got / expected, m)
               + f"; got {got!r}, expected {expected!r} (m={m})")


# --------------------------------------------------------------------------- backward

BACKWARD_CASES = [
    ([3, 4, 3, 1], 6, "relu"),
    ([3, 4, 3, 1], 6, "tanh"),
    ([2, 3, 1], 5, "relu"),
    ([4, 1], 5, "tanh"),
]
EPS = 1e-6
MAX_RELATIVE_ERROR = 1e-7


_GRADIENT_CASES: dict = {}


def _gradient_case(i: int, ref):
    """Inputs of case i (kink-free) and centered differences of the trusted cost (cached)."""
    key = (i, id(ref))
    if key not in _GRADIENT_CASES or _GRADIENT_CASES[key][0] is not ref:
        _GRADIENT_CASES[key] = (ref, _make_gradient_case(i, ref))
    return _GRADIENT_CASES[key][1]


def _make_gradient_case(i: int, ref):
    dims, m, activation = BACKWARD_CASES[i]
    params, X, Y = c.kink_free_network(dims, m, activation, first_seed=400 + 100 * i)
    AL = np.asarray(ref.forward_propagation(X, params, hidden_activation=activation)[0], np.float64)

    def cost(p):
        return ref.compute_cost(ref.forward_propagation(X, p, hidden_activation=activation)[0], Y)

    return params, X, Y, AL, c.numeric_gradients(cost, params, EPS)


# Case relu-small also checks ReLU's derivative where Z is exactly 0, which no centered difference
# can: the notebook defines relu'(z) = [z > 0] (0 at z = 0). Zero hidden biases (as right after
# initialization) and an all-zero example make the hidden Z of that example exactly 0.
KINK_CASE = 2
KINK_SEED = 460


def _kink_input(dims, m):
    params, X, Y = c.network(dims, KINK_SEED, m)
    for l in range(1, len(dims) - 1):
        params[f"b{l}"] = np.zeros_like(params[f"b{l}"])
    X[:, 0] = 0.0
    return params, X, Y


def _check_relu_at_zero(student, ref, dims, m):
    """The student's gradients against the reference's on the kink input (the reference's
    backward pass: the slope does not exist there, the notebook's formula decides). Skipped when
    the student's forward pass gives another AL: that is charged in `forward`."""
    params, X, Y = _kink_input(dims, m)
    fn = "forward_propagation"
    AL, cache = c.forward_output(student.call(fn, X, params, hidden_activation="relu"), m)
    ref_AL, ref_cache = ref.forward_propagation(X, params, hidden_activation="relu")
    if float(np.max(np.abs(AL - np.asarray(ref_AL, np.float64)))) > 1e-13:
        return
    want = ref.backward_propagation(ref_AL, Y, ref_cache)
    got = c.grads("backward_propagation", student.call("backward_propagation", AL, Y, cache), dims)
    for key in got:
        err = c.relative_error(got[key], np.asarray(want[key], np.float64))
        if err >= MAX_RELATIVE_ERROR:
            c.fail(f"backward_propagation: {key} is wrong where a hidden pre-activation Z is exactly 0 "
                   f"(zero hidden biases and an all-zero example; hidden_activation='relu', layer sizes "
                   f"{c.dims_text(dims)}, m={m}; relative error {c.fmt(err)}): the notebook's "
                   "relu'(z) = [z > 0] is 0 at z = 0, so nothing flows back through a neuron with Z = 0")


def _no_missing_layer_gradients(value: dict, dims):
    """No dW<k> / db<k> for a layer k the network does not have (a layer loop off by one)."""
    L = len(dims) - 1
    extra = sorted(k for k in value if isinstance(k, str) and re.fullmatch(r"d[Wb]\d+", k)
                   and not 1 <= int(k[2:]) <= L)
    if extra:
        want = "dW1, db1" if L == 1 else f"dW1..dW{L}, db1..db{L}"
        c.fail(f"backward_propagation: the gradients have {', '.join(extra)}, but the network has no such "
               f"layer (layer sizes {c.dims_text(dims)}: expected {want})")


@pytest.mark.criterion("backward_gradients")
@pytest.mark.parametrize("case", range(len(BACKWARD_CASES)), ids=["relu", "tanh", "relu-small", "one-layer"])
def test_backward(student, ref, diagnosis, case):
    """The student's gradients against centered differences of J(θ) = cost(forward(θ)), where
    forward is the student's own (so a forward bug is not charged twice here).

    When the student's AL equals the reference's to rounding, J is the reference's, whose
    differences are computed once per process; otherwise they are taken through the student's
    forward pass, one call per perturbation. No gradients of layers that do not exist; case
    relu-small also checks ReLU's derivative at exactly 0."""
    dims, m, activation = BACKWARD_CASES[case]
    params, X, Y, ref_AL, numeric = _gradient_case(case, ref)
    fn = "forward_propagation"
    AL, cache = c.forward_output(student.call(fn, X, params, hidden_activation=activation), m)
    own_forward = False
    if float(np.max(np.abs(AL - ref_AL))) > 1e-13:
        own_forward = True

        def cost(p):
            AL_p, _ = c.forward_output(student.call(fn, X, p, hidden_activation=activation), m)
            return ref.compute_cost(AL_p, Y)

        numeric = c.numeric_gradients(cost, params, EPS)
    returned = student.call("backward_propagation", AL, Y, cache)
    got = c.grads("backward_propagation", returned, dims)
    where = f"hidden_activation={activation!r}, layer sizes {c.dims_text(dims)}, m={m}"
    for key in numeric:
        err = c.relative_error(got[key], numeric[key])
        if err >= MAX_RELATIVE_ERROR:
            note = (" (your forward_propagation gives a different AL, so the check used the slope "
                    "of the cost of your own forward pass)" if own_forward else "")
            c.fail(diagnosis.gradient_mistake("backward_propagation", key, got[key], numeric[key], m, err)
                   + f", limit {MAX_RELATIVE_ERROR:g}, for {where}{note}")
    _no_missing_layer_gradients(returned, dims)
    if case == KINK_CASE:
        _check_relu_at_zero(student, ref, dims, m)


# --------------------------------------------------------------------------- update

UPDATE_CASES = [([4, 5, 3, 1], 0.1, 501), ([3, 1], 1.5, 502), ([2, 10, 5, 1], 0.01, 503)]


@pytest.mark.criterion("update")
@pytest.mark.parametrize("dims,lr,seed", UPDATE_CASES, ids=["lr0.1", "lr1.5-one-layer", "lr0.01"])
def test_update(student, dims, lr, seed):
    params, _, _ = c.network(dims, seed, 1)
    rng = np.random.default_rng(seed + 1000)
    grads = {"d" + k: rng.standard_normal(v.shape) for k, v in params.items()}
    fn = "update_parameters"
    new = c.parameters(fn, student.call(fn, params, grads, lr), dims, float64=False)
    for key, P in params.items():
        want = P - lr * grads["d" + key]
        err = float(np.max(np.abs(new[key] - want)))
        if err > 1e-12 * max(1.0, float(np.max(np.abs(want)))):
            if np.allclose(new[key], P + lr * grads["d" + key], rtol=0, atol=1e-12):
                c.fail(f"{fn}: {key} moved along the gradient (you added learning_rate * d{key}; "
                       "gradient descent subtracts it)")
            if np.array_equal(new[key], P):
                c.fail(f"{fn}: {key} did not change (learning_rate={lr})")
            c.fail(f"{fn}: {key} differs from {key} - learning_rate * d{key} by up to {c.fmt(err)} "
                   f"(learning_rate={lr})")
