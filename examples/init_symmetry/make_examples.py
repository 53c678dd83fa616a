"""Build the example submissions graded by `initkit demo`.

    python examples/init_symmetry/make_examples.py           # (re)write its submitted/
    python examples/init_symmetry/make_examples.py --check   # exit 1 if the committed files are stale

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
ASSIGNMENT = "init_symmetry"

# --------------------------------------------------------------------------- correct, written differently
# Loops instead of comprehensions, rng.normal / rng.standard_normal instead of the instructor's call,
# f-string keys, a tuple cache carrying the activation, a float-returning mean-based cost.
ALTERNATIVE = {
    "initialize_zeros": '''def initialize_zeros(layer_dims):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = np.zeros((layer_dims[l], layer_dims[l - 1]), dtype=float)
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters
''',
    "initialize_constant": '''def initialize_constant(layer_dims, value=0.5):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters[f"W{l}"] = np.full((layer_dims[l], layer_dims[l - 1]), value, dtype=np.float64)
        parameters[f"b{l}"] = np.full((layer_dims[l], 1), value, dtype=np.float64)
    return parameters
''',
    "initialize_random": '''def initialize_random(layer_dims, scale=0.01, rng=None):
    if rng is None:
        rng = np.random.default_rng()
    parameters = {}
    for l, (n_prev, n) in enumerate(zip(layer_dims[:-1], layer_dims[1:]), start=1):
        W = np.empty((n, n_prev))
        for i in range(n):  # one neuron (row) at a time
            W[i] = rng.normal(0.0, scale, size=n_prev)
        parameters[f"W{l}"] = W
        parameters[f"b{l}"] = np.zeros((n, 1))
    return parameters
''',
    "initialize_xavier": '''def initialize_xavier(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        fan_in, fan_out = layer_dims[l - 1], layer_dims[l]
        std = np.sqrt(2.0 / (fan_in + fan_out))
        parameters[f"W{l}"] = rng.normal(0.0, std, (fan_out, fan_in))
        parameters[f"b{l}"] = np.zeros((fan_out, 1))
    return parameters
''',
    "initialize_he": '''def initialize_he(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        fan_in = layer_dims[l - 1]
        parameters[f"W{l}"] = rng.standard_normal((layer_dims[l], fan_in)) * np.sqrt(2.0 / fan_in)
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
''',
    "forward_propagation": '''def forward_propagation(X, parameters, hidden_activation="relu"):
    L = len(parameters) // 2
    A = X
    layers = []
    for l in range(1, L + 1):
        A_prev, W = A, parameters[f"W{l}"]
        Z = W @ A_prev + parameters[f"b{l}"]
        if l == L:
            A = 1.0 / (1.0 + np.exp(-Z))
        elif hidden_activation == "relu":
            A = np.maximum(Z, 0.0)
        elif hidden_activation == "tanh":
            A = np.tanh(Z)
        else:
            raise ValueError(f"unknown activation {hidden_activation!r}")
        layers.append((A_prev, W, Z, A))
    return A, (hidden_activation, tuple(layers))
''',
    "compute_cost": '''def compute_cost(AL, Y):
    losses = Y * np.log(AL) + (1 - Y) * np.log1p(-AL)
    return float(-np.mean(losses))
''',
    "backward_propagation": '''def backward_propagation(AL, Y, cache):
    hidden_activation, layers = cache
    m = AL.shape[1]
    L = len(layers)
    grads = {}
    dZ = (AL - Y) / m  # sigmoid output with cross-entropy
    for l in range(L, 0, -1):
        A_prev, W, Z, A = layers[l - 1]
        if l < L:
            if hidden_activation == "relu":
                dZ = dA * (Z > 0)
            else:
                dZ = dA * (1.0 - A ** 2)
        grads[f"dW{l}"] = dZ @ A_prev.T
        grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True)
        dA = W.T @ dZ
    return grads
''',
    "update_parameters": '''def update_parameters(parameters, grads, learning_rate):
    return {name: value - learning_rate * grads["d" + name] for name, value in parameters.items()}
''',
    "is_layer_symmetric": '''def is_layer_symmetric(parameters, l, tol=1e-10):
    W, b = parameters[f"W{l}"], parameters[f"b{l}"]
    for i in range(1, W.shape[0]):
        if np.max(np.abs(W[i] - W[0])) > tol or abs(b[i, 0] - b[0, 0]) > tol:
            return False
    return True
''',
}

# --------------------------------------------------------------------------- realistic mistakes

HE_FAN_IN = {  # LeCun's variance: "He" with 1/fan_in
    "initialize_he": '''def initialize_he(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters[f"W{l}"] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) * np.sqrt(1.0 / layer_dims[l - 1])
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
''',
}

COST_WITHOUT_1_OVER_M = {
    "compute_cost": '''def compute_cost(AL, Y):
    cost = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    return float(cost)
''',
}


def _zeros_init(name: str, signature: str) -> str:
    return f'''def {name}({signature}):
    # everything starts at zero: simplest and "unbiased"
    parameters = {{}}
    for l in range(1, len(layer_dims)):
        parameters[f"W{{l}}"] = np.zeros((layer_dims[l], layer_dims[l - 1]))
        parameters[f"b{{l}}"] = np.zeros((layer_dims[l], 1))
    return parameters
'''


ZERO_INIT_ONLY = {
    "initialize_random": _zeros_init("initialize_random", "layer_dims, scale=0.01, rng=None"),
    "initialize_xavier": _zeros_init("initialize_xavier", "layer_dims, rng=None"),
    "initialize_he": _zeros_init("initialize_he", "layer_dims, rng=None"),
}


def _tiled_init(name: str, signature: str, std: str) -> str:
    return f'''def {name}({signature}):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {{}}
    for l in range(1, len(layer_dims)):
        row = rng.standard_normal((1, layer_dims[l - 1])) * {std}
        parameters[f"W{{l}}"] = np.tile(row, (layer_dims[l], 1))  # one random row, copied
        parameters[f"b{{l}}"] = np.zeros((layer_dims[l], 1))
    return parameters
'''


TILED_ROWS = {
    "initialize_random": _tiled_init("initialize_random", "layer_dims, scale=0.01, rng=None", "scale"),
    "initialize_xavier": _tiled_init("initialize_xavier", "layer_dims, rng=None",
                                     "np.sqrt(2.0 / (layer_dims[l - 1] + layer_dims[l]))"),
    "initialize_he": _tiled_init("initialize_he", "layer_dims, rng=None",
                                 "np.sqrt(2.0 / layer_dims[l - 1])"),
}

SYMMETRY_IGNORES_BIAS = {
    "is_layer_symmetric": '''def is_layer_symmetric(parameters, l, tol=1e-10):
    W = parameters["W" + str(l)]
    return bool(np.all(np.abs(W - W[0]) <= tol))
''',
}

INFINITE_LOOP = {  # forgot `i += 1`: never returns on a symmetric layer
    "is_layer_symmetric": '''def is_layer_symmetric(parameters, l, tol=1e-10):
    W, b = parameters["W" + str(l)], parameters["b" + str(l)]
    i = 1
    while i < W.shape[0]:
        if np.max(np.abs(W[i] - W[0])) > tol or abs(b[i, 0] - b[0, 0]) > tol:
            return False
    return True
''',
}

UNTOUCHED_STUB = {
    "backward_propagation": '''def backward_propagation(AL, Y, cache):
    # YOUR CODE HERE
    raise NotImplementedError()
''',
}

EXAMPLES: dict[str, dict[str, str]] = {
    "correct": {},
    "correct_written_differently": ALTERNATIVE,
    "he_uses_1_over_fan_in": HE_FAN_IN,
    "cost_missing_1_over_m": COST_WITHOUT_1_OVER_M,
    "zero_init_only": ZERO_INIT_ONLY,
    "tiled_random_rows": TILED_ROWS,
    "symmetry_check_ignores_bias": SYMMETRY_IGNORES_BIAS,
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
