"""Build the example submissions graded by `initkit demo`.

    python examples/signals_depth/make_examples.py           # (re)write its submitted/
    python examples/signals_depth/make_examples.py --check   # exit 1 if the committed files are stale

Each example is the release notebook with every answer filled in with the instructor's code
(initkit.examples, with initkit.solutions.make_submission), then some functions replaced by what
a student might write: one correct submission, one correct but written differently, a handful of
realistic mistakes, and one file that is not valid JSON. tests/test_cli.py checks the committed files are what this
script makes now, so they follow the release notebook.
"""

from __future__ import annotations

import sys
from pathlib import Path

from initkit import examples

HERE = Path(__file__).resolve().parent
OUT = HERE / "submitted"
ASSIGNMENT = "signals_depth"

# --------------------------------------------------------------------------- correct, written differently
# Loops instead of comprehensions, lists instead of arrays, other numpy calls, a dict for the
# gains, modified Gram-Schmidt instead of np.linalg.qr, in-place rescaling, float() everywhere.
ALTERNATIVE = {
    "layer_statistics": '''def layer_statistics(caches, grads):
    out = {"mean": [], "std": [], "grad_norm": [], "dead_fraction": []}
    for l, cache in enumerate(caches, start=1):
        A = cache["A"]
        mu = A.sum() / A.size
        out["mean"].append(float(mu))
        out["std"].append(float(np.sqrt(((A - mu) ** 2).mean())))
        out["grad_norm"].append(float(np.sqrt(np.sum(grads["dW" + str(l)] ** 2))))
        dead = 0
        for row in A:
            if not row.any():
                dead += 1
        out["dead_fraction"].append(dead / A.shape[0])
    return out
''',
    "calculate_gain": '''def calculate_gain(nonlinearity, param=None):
    if nonlinearity == "leaky_relu":
        negative_slope = 0.01 if param is None else param
        return np.sqrt(2.0 / (1.0 + negative_slope * negative_slope))
    gains = {"linear": 1, "sigmoid": 1, "tanh": 5.0 / 3.0, "relu": np.sqrt(2.0), "selu": 0.75}
    if nonlinearity not in gains:
        raise ValueError("no gain for " + str(nonlinearity))
    return gains[nonlinearity]
''',
    "initialize_orthogonal": '''def initialize_orthogonal(shape, gain=1.0, rng=None):
    if rng is None:
        rng = np.random.default_rng()
    rows, cols = shape
    M = rng.standard_normal((rows, cols))
    wide = rows < cols
    A = M.T if wide else M
    Q = np.zeros(A.shape)
    for j in range(A.shape[1]):  # modified Gram-Schmidt: R's diagonal is positive by design
        v = A[:, j].copy()
        for i in range(j):
            v -= (Q[:, i] @ v) * Q[:, i]
        Q[:, j] = v / np.linalg.norm(v)
    if wide:
        Q = Q.T
    return gain * Q
''',
    "lsuv_init": '''def lsuv_init(layer_dims, X, activation="tanh", rng=None, tol=0.1, max_iter=10):
    if rng is None:
        rng = np.random.default_rng()
    n_layers = len(layer_dims) - 1
    parameters = {}
    for l in range(1, n_layers + 1):
        parameters["W%d" % l] = initialize_orthogonal((layer_dims[l], layer_dims[l - 1]), 1.0, rng)
        parameters["b%d" % l] = np.zeros((layer_dims[l], 1))
    A = X
    for l in range(1, n_layers + 1):
        W = parameters["W%d" % l]
        it = 0
        while it < max_iter:
            Z = W @ A
            var = ((Z - Z.mean()) ** 2).mean()
            if var == 0:
                raise ValueError("layer %d: constant pre-activations, cannot rescale" % l)
            if abs(var - 1.0) <= tol:
                break
            W *= 1.0 / np.sqrt(var)
            it += 1
        A = activation_forward(W @ A + parameters["b%d" % l], activation)
    return parameters
''',
    "diagnose": '''def diagnose(stats, low=0.1, high=10.0):
    std = [float(s) for s in stats["std"]]
    norms = [float(n) for n in stats["grad_norm"]]
    if std[0] == 0:
        return "vanishing"
    activation_ratio = std[-1] / std[0]
    gradient_ratio = norms[0] / norms[-1]
    if min(activation_ratio, gradient_ratio) < low:
        return "vanishing"
    elif max(activation_ratio, gradient_ratio) > high:
        return "exploding"
    else:
        return "healthy"
''',
}

# --------------------------------------------------------------------------- realistic mistakes

STD_DDOF_1 = {  # the sample standard deviation (pandas' default)
    "layer_statistics": '''def layer_statistics(caches, grads):
    L = len(caches)
    return {"mean": np.array([c["A"].mean() for c in caches]),
            "std": np.array([c["A"].std(ddof=1) for c in caches]),
            "grad_norm": np.array([np.linalg.norm(grads[f"dW{l}"]) for l in range(1, L + 1)]),
            "dead_fraction": np.array([np.mean(np.all(c["A"] == 0, axis=1)) for c in caches])}
''',
}

SPECTRAL_NORM = {  # np.linalg.norm(dW, 2) is the largest singular value, not the Frobenius norm
    "layer_statistics": '''def layer_statistics(caches, grads):
    L = len(caches)
    return {"mean": np.array([np.mean(c["A"]) for c in caches]),
            "std": np.array([np.std(c["A"]) for c in caches]),
            "grad_norm": np.array([np.linalg.norm(grads[f"dW{l}"], 2) for l in range(1, L + 1)]),
            "dead_fraction": np.array([np.mean(np.all(c["A"] == 0, axis=1)) for c in caches])}
''',
}

DEAD_ANY = {  # a unit counted dead as soon as it is zero on one example
    "layer_statistics": '''def layer_statistics(caches, grads):
    L = len(caches)
    return {"mean": np.array([np.mean(c["A"]) for c in caches]),
            "std": np.array([np.std(c["A"]) for c in caches]),
            "grad_norm": np.array([np.linalg.norm(grads[f"dW{l}"]) for l in range(1, L + 1)]),
            "dead_fraction": np.array([np.mean(np.any(c["A"] == 0, axis=1)) for c in caches])}
''',
}

TANH_GAIN_SQRT2 = {  # "tanh is like relu": sqrt(2)
    "calculate_gain": '''def calculate_gain(nonlinearity, param=None):
    if nonlinearity in ("linear", "sigmoid"):
        return 1.0
    if nonlinearity in ("tanh", "relu"):
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 0.75
    raise ValueError(nonlinearity)
''',
}

NO_SIGN_CORRECTION = {
    "initialize_orthogonal": '''def initialize_orthogonal(shape, gain=1.0, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    rows, cols = shape
    M = rng.standard_normal((rows, cols))
    if rows < cols:
        Q, R = np.linalg.qr(M.T)
        return gain * Q.T
    Q, R = np.linalg.qr(M)
    return gain * Q
''',
}

LSUV_AFTER_ACTIVATION = {  # the variance of the layer's output A, not of its pre-activations Z
    "lsuv_init": '''def lsuv_init(layer_dims, X, activation="tanh", rng=None, tol=0.1, max_iter=10):
    rng = np.random.default_rng() if rng is None else rng
    L = len(layer_dims) - 1
    parameters = {}
    for l in range(1, L + 1):
        parameters[f"W{l}"] = initialize_orthogonal((layer_dims[l], layer_dims[l - 1]), rng=rng)
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    A = X
    for l in range(1, L + 1):
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        for _ in range(max_iter):
            var = np.var(activation_forward(W @ A + b, activation))
            if var == 0:
                raise ValueError(f"layer {l}: constant")
            if abs(var - 1) <= tol:
                break
            W = W / np.sqrt(var)
        parameters[f"W{l}"] = W
        A = activation_forward(W @ A + b, activation)
    return parameters
''',
}


def _lsuv_variant(init_b: str, rng_line: str, measured: str = "W @ A + b") -> str:
    return f'''def lsuv_init(layer_dims, X, activation="tanh", rng=None, tol=0.1, max_iter=10):
    {rng_line}
    L = len(layer_dims) - 1
    parameters = {{}}
    for l in range(1, L + 1):
        parameters[f"W{{l}}"] = initialize_orthogonal((layer_dims[l], layer_dims[l - 1]), rng=rng)
        parameters[f"b{{l}}"] = {init_b}
    A = X
    for l in range(1, L + 1):
        W, b = parameters[f"W{{l}}"], parameters[f"b{{l}}"]
        for _ in range(max_iter):
            var = np.var({measured})
            if var == 0:
                raise ValueError(f"layer {{l}}: constant pre-activations")
            if abs(var - 1) <= tol:
                break
            W = W / np.sqrt(var)
        parameters[f"W{{l}}"] = W
        A = activation_forward(W @ A + b, activation)
    return parameters
'''


LSUV_NONZERO_BIASES = {  # "a small positive bias keeps ReLUs alive" (and the variance of W A)
    "lsuv_init": _lsuv_variant("np.full((layer_dims[l], 1), 0.01)",
                               "rng = np.random.default_rng() if rng is None else rng", "W @ A"),
}

LSUV_IGNORES_RNG = {  # a new generator: the rng argument is never used
    "lsuv_init": _lsuv_variant("np.zeros((layer_dims[l], 1))", "rng = np.random.default_rng()"),
}

DIAGNOSE_WRONG_ENDS = {  # first over last instead of last over first (and the reverse for g)
    "diagnose": '''def diagnose(stats, low=0.1, high=10.0):
    std, grad_norm = stats["std"], stats["grad_norm"]
    if std[0] == 0:
        return "vanishing"
    r = std[0] / std[-1]
    g = grad_norm[-1] / grad_norm[0]
    if r < low or g < low:
        return "vanishing"
    if r > high or g > high:
        return "exploding"
    return "healthy"
''',
}

INFINITE_LOOP = {  # forgot to measure the variance again after rescaling: never ends
    "lsuv_init": '''def lsuv_init(layer_dims, X, activation="tanh", rng=None, tol=0.1, max_iter=10):
    rng = np.random.default_rng() if rng is None else rng
    L = len(layer_dims) - 1
    parameters = {}
    for l in range(1, L + 1):
        parameters[f"W{l}"] = initialize_orthogonal((layer_dims[l], layer_dims[l - 1]), rng=rng)
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    A = X
    for l in range(1, L + 1):
        var = np.var(parameters[f"W{l}"] @ A)
        if var == 0:
            raise ValueError(f"layer {l}: constant pre-activations")
        while abs(var - 1) > tol:
            parameters[f"W{l}"] = parameters[f"W{l}"] / np.sqrt(var)
        A = activation_forward(parameters[f"W{l}"] @ A, activation)
    return parameters
''',
}

UNTOUCHED_STUB = {
    "layer_statistics": '''def layer_statistics(caches, grads):
    # YOUR CODE HERE
    raise NotImplementedError()
''',
}

EXAMPLES: dict[str, dict[str, str]] = {
    "correct": {},
    "correct_written_differently": ALTERNATIVE,
    "std_with_ddof_1": STD_DDOF_1,
    "spectral_norm": SPECTRAL_NORM,
    "dead_units_any": DEAD_ANY,
    "tanh_gain_sqrt2": TANH_GAIN_SQRT2,
    "orthogonal_no_sign_correction": NO_SIGN_CORRECTION,
    "lsuv_after_activation": LSUV_AFTER_ACTIVATION,
    "lsuv_nonzero_biases": LSUV_NONZERO_BIASES,
    "lsuv_ignores_rng": LSUV_IGNORES_RNG,
    "diagnose_wrong_ends": DIAGNOSE_WRONG_ENDS,
    "infinite_loop": INFINITE_LOOP,
    "untouched_stub": UNTOUCHED_STUB,
}


def build() -> dict[str, bytes]:
    """Relative path under submitted/ -> file content (initkit check and the tests call it)."""
    return examples.build(HERE.parent.parent, ASSIGNMENT, EXAMPLES)


def stale(files: dict[str, bytes]) -> list[str]:
    """Paths under submitted/ that differ from `files`."""
    return examples.stale(OUT, files)


if __name__ == "__main__":
    sys.exit(examples.main(__file__, ASSIGNMENT, EXAMPLES))
