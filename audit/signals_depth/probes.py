"""Random inputs for the audit's screening of equivalent mutants (initkit audit, docs/audit.md).

probe_<function>(rng, fns) -> (args, kwargs): one call of <function>, drawn from `rng` (a seeded
numpy Generator: the original and the mutant each get inputs made from the same seed). `fns` holds
the solution's own answer functions (lsuv_init's probe uses its initialize_orthogonal to aim a
batch at a dead ReLU layer). A `rng=` argument is a Generator seeded from `rng`, so both sides
draw the same numbers; when it is left out, the screening seeds the function's own
np.random.default_rng() the same way for both sides.

Shapes and semantics follow the notebook's docstrings. Edge cases come up often: one layer, one
unit, one example, ReLU networks with dead units (and a whole dead layer), exact zeros, wide, tall
and square matrices, ratios exactly at diagnose's thresholds and one ulp either side, leaky_relu
with and without a slope, unknown nonlinearity names, LSUV batches that make a layer's
pre-activations exactly 0 (the ValueError), max_iter 0 or 1, tolerances that stop at once.
Degenerate inputs on which the notebook's own numbers are rounding noise (pre-activations constant
but not 0, where np.var gives 0 or 1e-33 by chance) are left out, and so are stats outside
diagnose's precondition (grad_norm[L-1] = 0, where g is not defined).
"""

import numpy as np

ACTIVATIONS = ["tanh", "relu", "linear", "sigmoid", "relu", "tanh"]


# --------------------------------------------------------------------------- the given network

def _g(Z, activation):
    if activation == "linear":
        return Z.copy()
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "relu":
        return np.maximum(Z, 0.0)
    return 0.5 * (1.0 + np.tanh(0.5 * Z))


def _dg(Z, activation):
    if activation == "linear":
        return np.ones_like(Z)
    if activation == "tanh":
        return 1.0 - np.tanh(Z) ** 2
    if activation == "relu":
        return (Z > 0).astype(float)
    s = 0.5 * (1.0 + np.tanh(0.5 * Z))
    return s * (1.0 - s)


def _passes(params, X, activation, rng):
    """The notebook's forward_pass and backward_pass (a standard normal dAL): (caches, grads)."""
    L = len(params) // 2
    A, caches = X, []
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        caches.append({"A_prev": A, "Z": Z, "A": _g(Z, activation)})
        A = caches[-1]["A"]
    m = X.shape[1]
    dA = rng.standard_normal(A.shape)
    if rng.random() < 0.1:
        dA[:, 0] = 0.0                      # an example with no upstream gradient
    grads = {}
    for l in range(L, 0, -1):
        cache = caches[l - 1]
        dZ = dA * _dg(cache["Z"], activation)
        grads[f"dW{l}"] = dZ @ cache["A_prev"].T / m
        grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = params[f"W{l}"].T @ dZ
    return caches, grads


def _dims(rng, low=1, high=6, layers=(1, 5)):
    n = int(rng.integers(layers[0], layers[1] + 1))
    return [int(d) for d in rng.integers(low, high + 1, size=n + 1)]


def _generator(rng):
    """A seeded Generator, or (one time in five) None: the function's own np.random.default_rng(),
    which the screening seeds the same way for the original and the mutant."""
    return np.random.default_rng(int(rng.integers(2**32))) if rng.random() < 0.8 else None


# --------------------------------------------------------------------------- probes

def probe_layer_statistics(rng, fns):
    """One forward and backward pass of a random network: weights of very different scales per
    layer (so the statistics differ from layer to layer), ReLU units killed by a large negative
    bias, zero examples, sometimes a whole dead layer or a zero batch."""
    dims = _dims(rng)
    m = int(rng.choice([1, 2, 3, 5, 8, 20]))
    activation = str(rng.choice(ACTIVATIONS))
    kind = int(rng.integers(5))
    params = {}
    for l in range(1, len(dims)):
        scale = float(rng.choice([0.2, 1.0, 1.0, 3.0, 10.0]))
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) * scale / np.sqrt(dims[l - 1])
        params[f"b{l}"] = rng.standard_normal((dims[l], 1)) * (0.0 if kind == 0 else float(rng.choice([0.1, 1.0])))
        if kind in (1, 2) and rng.random() < 0.7:
            dead = rng.random(dims[l]) < 0.4
            params[f"b{l}"][dead] = -100.0          # dead under ReLU (and saturated otherwise)
        if kind == 2 and rng.random() < 0.3:
            params[f"b{l}"][:] = -100.0            # a whole dead layer
    X = rng.standard_normal((dims[0], m)) * float(rng.choice([0.5, 1.0, 3.0]))
    if kind == 3:
        X[:, int(rng.integers(m))] = 0.0
    if kind == 4 and rng.random() < 0.3:
        X[:] = 0.0
    caches, grads = _passes(params, X, activation, rng)
    return (caches, grads), {}


GAIN_NAMES = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu", "leaky_relu", "selu",
              "unknown"]
UNKNOWN = ["conv2d", "Tanh", "ReLU", "leaky relu", "elu", "gelu", "", "softplus", "identity",
           "sigmoid ", "leaky_relu_"]


def probe_calculate_gain(rng, fns):
    name = str(rng.choice(GAIN_NAMES))
    if name == "unknown":
        name = str(rng.choice(UNKNOWN))
    kind = int(rng.integers(5))
    param = float(rng.choice([0.0, 0.01, 0.1, 0.2, -0.3, 1.0, 2.0, 5.0, rng.uniform(-3, 3)]))
    if kind == 0:
        return (name,), {}
    if kind == 1:
        return (name, None), {}
    if kind == 2:
        return (name,), {"param": None}
    if kind == 3:
        return (name, param), {}
    return (name,), {"param": param}


def _shape(rng, high=8):
    kind = int(rng.integers(6))
    if kind == 0:                              # square
        n = int(rng.integers(1, high + 1))
        return n, n
    if kind == 1:                              # one row or one column
        n = int(rng.integers(1, high + 1))
        return (1, n) if rng.random() < 0.5 else (n, 1)
    rows, cols = int(rng.integers(1, high + 1)), int(rng.integers(1, high + 1))
    return rows, cols                          # wide, tall or square


def probe_initialize_orthogonal(rng, fns):
    shape = _shape(rng)
    if rng.random() < 0.3:
        shape = list(shape)                    # "shape" as a list works too
    kwargs = {}
    generator = _generator(rng)
    if generator is not None:
        kwargs["rng"] = generator
    gain = float(rng.choice([0.5, 2.0, 5.0 / 3.0, np.sqrt(2.0), 3.0, -1.0]))
    kind = int(rng.integers(3))
    if kind == 0:
        return (shape,), kwargs
    if kind == 1:
        return (shape,), {**kwargs, "gain": gain}
    return (shape, gain), kwargs


def probe_lsuv_init(rng, fns):
    """Random batches of very different scales (several rescalings, or none), tol and max_iter
    varied; sometimes X = 0 (layer 1 raises) or a batch aimed at layer 1's orthogonal rows so that
    a ReLU layer is dead and the next one raises."""
    dims = _dims(rng, high=7, layers=(1, 4))
    m = int(rng.choice([1, 2, 4, 10, 30]))
    activation = str(rng.choice(ACTIVATIONS))
    X = rng.standard_normal((dims[0], m)) * float(rng.choice([0.01, 0.3, 1.0, 5.0, 100.0]))
    if rng.random() < 0.3:
        X = X + float(rng.choice([-2.0, 3.0]))      # a batch with a mean
    seed = int(rng.integers(2**32))
    kind = int(rng.integers(10))
    if kind == 0:
        X = np.zeros_like(X)
    elif kind == 1 and len(dims) > 2:
        # dead ReLU layer 1: X = -W1^T P with P > 0, W1 with orthonormal rows (n_1 <= n_0)
        activation = "relu"
        dims[1] = int(rng.integers(1, dims[0] + 1))
        W1 = fns.initialize_orthogonal((dims[1], dims[0]), rng=np.random.default_rng(seed))
        m = max(m, 2)
        X = -W1.T @ rng.uniform(0.5, 2.0, (dims[1], m))
    kwargs = {}
    if kind == 2:
        # a tie: layer 1 is 1 -> 1 (W1 = +-1), var(Z1) = c**2 exactly, tol = |c**2 - 1| exactly
        # (or, with the default tol, var(Z1) just outside 0.1 of 1: 1.1025 or 0.893)
        c = float(rng.choice([0.5, 1.5, 2.0, 0.75, 3.0, 1.05, 0.945]))
        dims = [1, 1] + dims[2:]
        m = int(rng.choice([2, 4]))
        X = np.tile([[c, -c]], (1, m // 2))
        if c not in (1.05, 0.945):
            kwargs["tol"] = abs(c * c - 1.0)
    if rng.random() < 0.85 or kind == 1:
        kwargs["rng"] = np.random.default_rng(seed)
    if rng.random() < 0.8:
        kwargs["activation"] = activation
    if rng.random() < 0.4 and "tol" not in kwargs:
        kwargs["tol"] = float(rng.choice([1e-3, 0.01, 0.05, 0.3, 0.9, 2.0]))
    if rng.random() < 0.4:
        kwargs["max_iter"] = int(rng.choice([0, 1, 2, 3, 25]))
    return (dims, X), kwargs


def _ratio_pair(rng, threshold):
    """(top, bottom) whose ratio is exactly the threshold (often), one ulp either side, or 5%, 50%
    off (between the default thresholds and theirs 10% off, or far)."""
    bottom = float(rng.choice([1.0, 2.0, 0.5, 4.0]))   # powers of two: the ratio stays exact
    top = threshold * bottom
    kind = int(rng.integers(8))
    if kind == 3:
        top = float(np.nextafter(top, np.inf))
    elif kind == 4:
        top = float(np.nextafter(top, -np.inf))
    elif kind == 5:
        top = top * float(rng.choice([0.95, 1.05]))
    elif kind == 6:
        top = top * float(rng.choice([0.5, 2.0]))
    return top, bottom                          # kinds 0, 1, 2, 7: exactly at the threshold


def probe_diagnose(rng, fns):
    L = int(rng.choice([1, 2, 3, 3, 4, 5]))
    std = np.abs(rng.standard_normal(L)) * 10.0 ** rng.uniform(-1.5, 1.5, L) + 0.01
    grad_norm = np.abs(rng.standard_normal(L)) * 10.0 ** rng.uniform(-1.5, 1.5, L) + 0.01
    kwargs = {}
    args_extra = ()
    low, high = 0.1, 10.0
    kind = int(rng.integers(4))
    if kind >= 2:
        low = float(rng.choice([0.05, 0.2, 0.5, 0.25]))
        high = float(rng.choice([2.0, 4.0, 20.0, 1.5]))
        if kind == 2:
            kwargs = {"low": low, "high": high} if rng.random() < 0.7 else {"high": high}
            if "low" not in kwargs:
                low = 0.1
        else:
            args_extra = (low, high) if rng.random() < 0.7 else (low,)
            if len(args_extra) == 1:
                high = 10.0
    # often one of the two ratios near a threshold (r or g, low or high), the other healthy
    case = int(rng.integers(12))
    if L > 1 and case < 8:
        threshold = low if case % 2 == 0 else high
        top, bottom = _ratio_pair(rng, threshold)
        if case % 4 < 2:
            std[-1], std[0] = top, bottom
            grad_norm[0] = grad_norm[-1] = float(rng.choice([1.0, 0.3]))
        else:
            grad_norm[0], grad_norm[-1] = top, bottom
            std[0] = std[-1] = float(rng.choice([1.0, 0.3]))
    elif case == 8:
        std[0] = 0.0                                  # vanishing whatever else
    elif case == 9 and L > 1:
        # the last layer's activations constant (r = 0); grad_norm[L-1] > 0 (the notebook's
        # precondition: g is always defined), the first layer's possibly 0
        std[-1] = 0.0
        if rng.random() < 0.5:
            grad_norm[0] = 0.0
    elif case == 10:
        std[0] = 1.0                                  # exactly 1 (an index or constant slip)
        grad_norm[0] = 1.0
    stats = {"mean": rng.standard_normal(L), "std": std, "grad_norm": grad_norm,
             "dead_fraction": rng.integers(0, 3, L) / 2.0}
    if rng.random() < 0.15:
        stats = {k: [float(x) for x in v] for k, v in stats.items()}   # lists of floats
    return (stats,) + args_extra, kwargs
