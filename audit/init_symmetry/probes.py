"""Random inputs for the audit's screening of equivalent mutants (initkit audit, docs/audit.md).

probe_<function>(rng, fns) -> (args, kwargs): one call of <function>, drawn from `rng` (a seeded
numpy Generator: the original and the mutant each get inputs made from the same seed). `fns` holds
the solution's own functions (e.g. its forward_propagation, to make the cache that its
backward_propagation reads). A `rng=` argument is a Generator seeded from `rng`, so both sides
draw the same numbers; when it is left out, the screening seeds the function's own
np.random.default_rng() the same way for both sides. Shapes follow the assignment's docstrings; edge cases (one neuron, one
example, a one-layer network, exact ties with tol, predictions of exactly 0 or 1) come up often.
"""

import numpy as np


def _dims(rng, low=1, high=6, layers=(1, 4)):
    return [int(d) for d in rng.integers(low, high + 1, size=int(rng.integers(layers[0], layers[1] + 1)) + 1)]


def _network(rng, dims, m, bias=0.5):
    """Random parameters and data; one time in five with zero biases and a zero example, so
    some pre-activations are exactly 0 (the ReLU kink)."""
    kink = rng.random() < 0.2
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) * (1.5 / np.sqrt(dims[l - 1]))
        params[f"b{l}"] = rng.standard_normal((dims[l], 1)) * (0.0 if kink else bias)
    X = rng.standard_normal((dims[0], m))
    if kink:
        X[:, int(rng.integers(m))] = 0.0
    Y = (rng.random((1, m)) < 0.5).astype(np.float64)
    return params, X, Y


def _output_dims(rng):
    dims = _dims(rng)
    dims[-1] = 1
    return dims


def _generator(rng):
    """A seeded Generator, or (one time in five) None: the function's own np.random.default_rng(),
    which the screening seeds the same way for the original and the mutant."""
    return np.random.default_rng(int(rng.integers(2**32))) if rng.random() < 0.8 else None


def _with_rng(rng, kwargs):
    generator = _generator(rng)
    return {**kwargs, "rng": generator} if generator is not None else kwargs


def probe_initialize_zeros(rng, fns):
    return (_dims(rng),), {}


def probe_initialize_constant(rng, fns):
    kind = rng.integers(4)
    if kind == 0:
        return (_dims(rng),), {}
    value = [float(rng.normal(0, 2)), int(rng.integers(-3, 4)), 0.0][kind - 1]
    return (_dims(rng),), {"value": value}


def probe_initialize_random(rng, fns):
    dims = _dims(rng, high=30)
    if rng.random() < 0.3:
        return (dims,), _with_rng(rng, {})
    return (dims,), _with_rng(rng, {"scale": float(rng.choice([0.01, 0.1, 1.0, 3.0, rng.uniform(0.001, 5)]))})


def probe_initialize_xavier(rng, fns):
    return (_dims(rng, high=30),), _with_rng(rng, {})


def probe_initialize_he(rng, fns):
    return (_dims(rng, high=30),), _with_rng(rng, {})


def probe_forward_propagation(rng, fns):
    dims = _output_dims(rng)
    params, X, _ = _network(rng, dims, int(rng.integers(1, 7)))
    activation = rng.choice(["relu", "tanh", "default", "relu", "tanh", "sigmoid"])
    if activation == "default":
        return (X, params), {}
    return (X, params), {"hidden_activation": str(activation)}


def probe_compute_cost(rng, fns):
    m = int(rng.integers(1, 9))
    AL = rng.uniform(0.01, 0.99, (1, m))
    if rng.random() < 0.3:                 # saturated predictions: exactly 0 or 1, or nearly
        AL.flat[int(rng.integers(m))] = float(rng.choice([0.0, 1.0, 1e-17, 1 - 1e-16]))
    Y = (rng.random((1, m)) < 0.5).astype(np.float64)
    return (AL, Y), {}


def probe_backward_propagation(rng, fns):
    dims = _output_dims(rng)
    m = int(rng.integers(1, 7))
    params, X, Y = _network(rng, dims, m)
    activation = str(rng.choice(["relu", "tanh"]))
    AL, cache = fns.forward_propagation(X, params, hidden_activation=activation)
    return (AL, Y, cache), {}


def probe_update_parameters(rng, fns):
    dims = _dims(rng)
    params, _, _ = _network(rng, dims, 1)
    grads = {"d" + k: rng.standard_normal(v.shape) for k, v in params.items()}
    return (params, grads, float(rng.choice([0.1, 1.0, 1.5, rng.uniform(0.001, 2)]))), {}


def probe_is_layer_symmetric(rng, fns):
    """A layer whose neurons are copies, then (often) made to differ by about tol: well below,
    just below, exactly at, just above or well above it, in W or in b."""
    dims = _dims(rng, layers=(1, 3))
    params, _, _ = _network(rng, dims, 1)
    l = int(rng.integers(1, len(dims)))
    tol = None if rng.random() < 0.5 else float(10.0 ** rng.uniform(-8, -1))
    limit = 1e-10 if tol is None else tol
    n, k = params[f"W{l}"].shape
    scale = float(rng.choice([0.0, 1.0, 1.0, 1.0, 100.0]))
    params[f"W{l}"] = np.repeat(rng.standard_normal((1, k)) * scale, n, axis=0)
    params[f"b{l}"] = np.full((n, 1), float(rng.choice([0.0, 0.3, -0.7, 50.0])))
    for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
        what = f"{rng.choice(['W', 'W', 'b'])}{l}"
        M = params[what]
        i, j = int(rng.integers(M.shape[0])), int(rng.integers(M.shape[1]))
        if rng.random() < 0.25:             # exactly tol away from the first row (a tie)
            M[:, j] = 0.0
            M[i, j] = limit
        else:
            M[i, j] += float(rng.choice([-1, 1])) * limit * float(rng.choice([1e-3, 0.5, 0.99, 1.01, 2.0, 1e3]))
    args = (params, l)
    if tol is None:
        return args, {}
    return (args + (tol,), {}) if rng.random() < 0.5 else (args, {"tol": tol})
