"""A corpus of submissions: correct ones written differently score 100; each faulty one loses
exactly the criteria it should (asserted per criterion).

Built from the release notebook with initkit.solutions.make_submission, graded mostly in-process
(fast; trusted code written here) and a representative subset through the sandbox.
"""

from __future__ import annotations

import nbformat
import pytest

from fakes import ASSIGNMENT, REPO
from initkit.course import Course
from initkit.grading.grade import grade_notebook as _grade_notebook
from initkit.sandbox.inprocess import InProcessStudent

COURSE = Course.open(REPO, ASSIGNMENT)
CRITERIA = COURSE.criteria


def grade_notebook(path, **kwargs):
    return _grade_notebook(path, COURSE, **kwargs)

# --------------------------------------------------------------------------- correct variants

LOOPS = {
    "initialize_zeros": '''def initialize_zeros(layer_dims):
    parameters = {}
    for l in range(1, len(layer_dims)):
        W = np.empty((layer_dims[l], layer_dims[l - 1]))
        for i in range(W.shape[0]):
            for j in range(W.shape[1]):
                W[i, j] = 0.0
        parameters["W" + str(l)] = W
        parameters["b" + str(l)] = np.zeros(shape=(layer_dims[l], 1), dtype=np.float64)
    return parameters
''',
    "initialize_constant": '''def initialize_constant(layer_dims, value=0.5):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W%d" % l] = value * np.ones((layer_dims[l], layer_dims[l - 1]))
        parameters["b%d" % l] = value * np.ones((layer_dims[l], 1))
    return parameters
''',
    "initialize_random": '''def initialize_random(layer_dims, scale=0.01, rng=None):
    if rng is None:
        rng = np.random.default_rng()
    parameters = {}
    for l in range(1, len(layer_dims)):
        rows = [rng.normal(0.0, scale, layer_dims[l - 1]) for _ in range(layer_dims[l])]
        parameters[f"W{l}"] = np.array(rows).reshape(layer_dims[l], layer_dims[l - 1])
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
''',
    "initialize_xavier": '''def initialize_xavier(layer_dims, rng=None):
    rng = rng if rng is not None else np.random.default_rng()
    parameters = {}
    for l in range(1, len(layer_dims)):
        fan_avg = (layer_dims[l - 1] + layer_dims[l]) / 2
        parameters[f"W{l}"] = rng.normal(0, np.sqrt(1 / fan_avg), (layer_dims[l], layer_dims[l - 1]))
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
''',
    "initialize_he": '''def initialize_he(layer_dims, rng=None):
    rng = rng if rng is not None else np.random.default_rng()
    parameters = {}
    for l in range(1, len(layer_dims)):
        W = rng.normal(size=(layer_dims[l], layer_dims[l - 1]))
        parameters[f"W{l}"] = W * (2 / layer_dims[l - 1]) ** 0.5
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
''',
    # Loops over layers with a list-of-tuples cache; a sigmoid of its own via logaddexp.
    "forward_propagation": '''def forward_propagation(X, parameters, hidden_activation="relu"):
    def stable_sigmoid(z):
        return np.exp(-np.logaddexp(0.0, -z))
    L = len(parameters) // 2
    caches = []
    A = X
    for l in range(1, L + 1):
        W, b = parameters["W" + str(l)], parameters["b" + str(l)]
        Z = np.dot(W, A) + b
        caches.append((A, W, Z))
        if l == L:
            A = stable_sigmoid(Z)
        elif hidden_activation == "relu":
            A = np.where(Z > 0, Z, 0.0)
        else:
            A = np.tanh(Z)
    caches.append(hidden_activation)
    return A, caches
''',
    "compute_cost": '''def compute_cost(AL, Y):
    m = Y.shape[1]
    losses = []
    for i in range(m):
        a, y = AL[0, i], Y[0, i]
        losses.append(-(y * np.log(a) + (1 - y) * np.log1p(-a)))
    return float(sum(losses) / m)
''',
    "backward_propagation": '''def backward_propagation(AL, Y, cache):
    activation = cache[-1]
    layers = cache[:-1]
    L = len(layers)
    m = AL.shape[1]
    grads = {}
    dZ = AL - Y
    for l in reversed(range(1, L + 1)):
        A_prev, W, Z = layers[l - 1]
        if l < L:
            if activation == "relu":
                dZ = dA * np.where(Z > 0, 1.0, 0.0)
            else:
                dZ = dA * (1 - np.tanh(Z) ** 2)
        grads["dW" + str(l)] = np.dot(dZ, A_prev.T) / m
        grads["db" + str(l)] = dZ.mean(axis=1, keepdims=True)
        dA = np.dot(W.T, dZ)
    return grads
''',
    "update_parameters": '''def update_parameters(parameters, grads, learning_rate):
    L = len(parameters) // 2
    for l in range(1, L + 1):
        parameters["W" + str(l)] -= learning_rate * grads["dW" + str(l)]
        parameters["b" + str(l)] -= learning_rate * grads["db" + str(l)]
    return parameters
''',
    "is_layer_symmetric": '''def is_layer_symmetric(parameters, l, tol=1e-10):
    W, b = parameters["W" + str(l)], parameters["b" + str(l)]
    return bool(np.allclose(W, W[0], atol=tol, rtol=0) and np.allclose(b, b[0, 0], atol=tol, rtol=0))
''',
}

# A dict cache, a class-instance cache (stays in the student process behind a handle), einsum, a
# ptp symmetry check, a clipped cost written with np.mean.
DICT_CACHE = {
    "forward_propagation": '''def forward_propagation(X, parameters, hidden_activation="relu"):
    L = len(parameters) // 2
    cache = {"A0": X, "activation": hidden_activation, "L": L}
    A = X
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        if l == L:
            A = 0.5 * (1 + np.tanh(0.5 * Z))
        else:
            A = np.maximum(Z, 0) if hidden_activation == "relu" else np.tanh(Z)
        cache[f"Z{l}"], cache[f"A{l}"], cache[f"W{l}"] = Z, A, parameters[f"W{l}"]
    return A, cache
''',
    "backward_propagation": '''def backward_propagation(AL, Y, cache):
    L, m = cache["L"], Y.shape[1]
    grads = {}
    dZ = AL - Y
    for l in range(L, 0, -1):
        if l < L:
            dZ = dA * ((cache[f"Z{l}"] > 0) if cache["activation"] == "relu" else 1 - cache[f"A{l}"] ** 2)
        grads[f"dW{l}"] = np.einsum("im,jm->ij", dZ, cache[f"A{l-1}"]) / m
        grads[f"db{l}"] = np.sum(dZ, axis=1).reshape(-1, 1) / m
        dA = np.einsum("ij,im->jm", cache[f"W{l}"], dZ)
    return grads
''',
    "compute_cost": '''def compute_cost(AL, Y):
    AL = np.clip(AL, 1e-12, 1 - 1e-12)
    return float(-np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)))
''',
    "is_layer_symmetric": '''def is_layer_symmetric(parameters, l, tol=1e-10):
    W, b = parameters[f"W{l}"], parameters[f"b{l}"]
    return bool(np.all(np.ptp(W, axis=0) <= tol) and np.ptp(b) <= tol)
''',
    "update_parameters": '''def update_parameters(parameters, grads, learning_rate):
    return {k: v - learning_rate * grads["d" + k] for k, v in parameters.items()}
''',
}

CLASS_CACHE = {
    "forward_propagation": '''class LayerCache:
    def __init__(self, A_prev, W, Z, A, activation):
        self.A_prev, self.W, self.Z, self.A, self.activation = A_prev, W, Z, A, activation


def forward_propagation(X, parameters, hidden_activation="relu"):
    L = len(parameters) // 2
    caches, A = [], X
    for l in range(1, L + 1):
        W = parameters[f"W{l}"]
        Z = W @ A + parameters[f"b{l}"]
        act = "sigmoid" if l == L else hidden_activation
        A_new = sigmoid(Z) if act == "sigmoid" else (relu(Z) if act == "relu" else np.tanh(Z))
        caches.append(LayerCache(A, W, Z, A_new, act))
        A = A_new
    return A, caches
''',
    "backward_propagation": '''def backward_propagation(AL, Y, cache):
    m, grads = Y.shape[1], {}
    dA = None
    for l in range(len(cache), 0, -1):
        c = cache[l - 1]
        if c.activation == "sigmoid":
            dZ = AL - Y
        elif c.activation == "relu":
            dZ = dA * (c.Z > 0)
        else:
            dZ = dA * (1 - c.A * c.A)
        grads[f"dW{l}"] = dZ @ c.A_prev.T / m
        grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True) / m
        dA = c.W.T @ dZ
    return grads
''',
}

# numpy scalars as results: np.bool_ from np.all, np.float64 / a 0-d array from a numpy cost.
NUMPY_SCALARS = {
    "is_layer_symmetric": '''def is_layer_symmetric(parameters, l, tol=1e-10):
    W, b = parameters[f"W{l}"], parameters[f"b{l}"]
    return np.all(np.abs(W - W[0]) <= tol) & np.all(np.abs(b - b[0]) <= tol)
''',
    "compute_cost": '''def compute_cost(AL, Y):
    m = Y.shape[1]
    return np.squeeze(-(Y @ np.log(AL).T + (1 - Y) @ np.log(1 - AL).T) / m)
''',
}

CORRECT = {"instructor": {}, "loops-tuple-cache": LOOPS, "dict-cache": DICT_CACHE,
           "class-cache": CLASS_CACHE, "numpy-scalars": NUMPY_SCALARS}

# --------------------------------------------------------------------------- faulty variants


def _init_variant(name: str, std_expr: str) -> str:
    return f'''def {name}(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {{}}
    for l in range(1, len(layer_dims)):
        fan_in, fan_out = layer_dims[l - 1], layer_dims[l]
        parameters[f"W{{l}}"] = rng.standard_normal((fan_out, fan_in)) * {std_expr}
        parameters[f"b{{l}}"] = np.zeros((fan_out, 1))
    return parameters
'''


BACKWARD_TEMPLATE = '''def backward_propagation(AL, Y, cache):
    layers, activation = cache["layers"], cache["hidden_activation"]
    L, m = len(layers), Y.shape[1]
    grads = {{}}
    dZ = {dZ_out}
    for l in range(L, 0, -1):
        A_prev, W, Z, A = layers[l - 1]
        if l < L:
            if activation == "relu":
                dZ = dA * {relu_prime}
            else:
                dZ = dA * {tanh_prime}
        grads[f"dW{{l}}"] = dZ @ A_prev.T {dW_scale}
        grads[f"db{{l}}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = W.T @ dZ
    return grads
'''


def _backward(dZ_out="AL - Y", relu_prime="(Z > 0)", tanh_prime="(1.0 - A**2)", dW_scale="/ m") -> str:
    return BACKWARD_TEMPLATE.format(dZ_out=dZ_out, relu_prime=relu_prime, tanh_prime=tanh_prime,
                                    dW_scale=dW_scale)


def _symmetric(body: str) -> str:
    return f'''def is_layer_symmetric(parameters, l, tol=1e-10):
    W, b = parameters[f"W{{l}}"], parameters[f"b{{l}}"]
    {body}
'''


FORWARD_TEMPLATE = '''def forward_propagation(X, parameters, hidden_activation="relu"):
    L = len(parameters) // 2
    A, layers = X, []
    for l in range(1, L + 1):
        A_prev, W = A, parameters[f"W{{l}}"]
        Z = W @ A_prev{bias}
        A = sigmoid(Z) if l == L else {hidden}
        layers.append((A_prev, W, Z, A))
    return A, {{"layers": layers, "hidden_activation": hidden_activation}}
'''


def _forward(bias=' + parameters[f"b{l}"]',
             hidden="(relu(Z) if hidden_activation == 'relu' else np.tanh(Z))") -> str:
    return FORWARD_TEMPLATE.format(bias=bias, hidden=hidden)


# name -> (overrides, criteria it must lose)
FAULTY = {
    "xavier-fan-in-only": ({"initialize_xavier": _init_variant("initialize_xavier", "np.sqrt(1 / fan_in)")},
                           {"xavier_variance"}),
    "xavier-fan-out-only": ({"initialize_xavier": _init_variant("initialize_xavier", "np.sqrt(1 / fan_out)")},
                            {"xavier_variance"}),
    "xavier-missing-2": ({"initialize_xavier": _init_variant("initialize_xavier",
                                                             "np.sqrt(1 / (fan_in + fan_out))")},
                         {"xavier_variance"}),
    "he-1-over-fan-in": ({"initialize_he": _init_variant("initialize_he", "np.sqrt(1 / fan_in)")},
                         {"he_variance"}),
    "he-fan-out": ({"initialize_he": _init_variant("initialize_he", "np.sqrt(2 / fan_out)")},
                   {"he_variance"}),
    "he-no-sqrt": ({"initialize_he": _init_variant("initialize_he", "(2 / fan_in)")}, {"he_variance"}),
    "he-fan-avg": ({"initialize_he": _init_variant("initialize_he", "np.sqrt(2 / (fan_in + fan_out))")},
                   {"he_variance"}),
    "he-first-layer-fan-for-all": ({"initialize_he": _init_variant("initialize_he",
                                                                   "np.sqrt(2 / layer_dims[0])")},
                                   {"he_variance"}),
    "dW-missing-1-over-m": ({"backward_propagation": _backward(dW_scale="")}, {"backward_gradients"}),
    "tanh-derivative-1-minus-A": ({"backward_propagation": _backward(tanh_prime="(1.0 - A)")},
                                  {"backward_gradients"}),
    "relu-derivative-is-A": ({"backward_propagation": _backward(relu_prime="A")}, {"backward_gradients"}),
    "sigmoid-derivative-in-hidden-layers": (
        {"backward_propagation": _backward(relu_prime="A * (1 - A)", tanh_prime="A * (1 - A)")},
        {"backward_gradients"}),
    "backward-sign-error": ({"backward_propagation": _backward(dZ_out="Y - AL")}, {"backward_gradients"}),
    # A forward pass with sigmoid hidden layers and the backward pass that matches it: forward is
    # wrong, but the gradients are right for that forward pass, so backward_gradients is kept.
    "consistent-sigmoid-network": ({"forward_propagation": _forward(hidden="sigmoid(Z)"),
                                    "backward_propagation": _backward(relu_prime="A * (1 - A)",
                                                                      tanh_prime="A * (1 - A)")},
                                   {"forward"}),
    # Forward ignores b; the backward pass (the instructor's) still reports db != 0 although the cost
    # of this forward pass does not depend on b: its gradients are wrong for its own forward pass.
    "forward-ignores-bias": ({"forward_propagation": _forward(bias="")}, {"forward", "backward_gradients"}),
    "tiled-random-rows": ({"initialize_random": '''def initialize_random(layer_dims, scale=0.01, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        row = rng.standard_normal((1, layer_dims[l - 1])) * scale
        parameters[f"W{l}"] = np.tile(row, (layer_dims[l], 1))
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
'''}, {"random", "symmetry_breaking"}),
    "random-ignores-scale": ({"initialize_random": '''def initialize_random(layer_dims, scale=0.01, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    return {k: v for l in range(1, len(layer_dims)) for k, v in
            ((f"W{l}", rng.standard_normal((layer_dims[l], layer_dims[l - 1])) * 0.01),
             (f"b{l}", np.zeros((layer_dims[l], 1))))}
'''}, {"random"}),
    "random-ignores-rng": ({"initialize_random": '''def initialize_random(layer_dims, scale=0.01, rng=None):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters[f"W{l}"] = np.random.randn(layer_dims[l], layer_dims[l - 1]) * scale
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
'''}, {"random"}),
    "symmetry-check-ignores-biases": ({"is_layer_symmetric": _symmetric(
        "return bool(np.all(np.abs(W - W[0]) <= tol))")}, {"symmetry_check"}),
    "symmetry-check-ignores-tol": ({"is_layer_symmetric": _symmetric(
        "return bool(np.all(W == W[0]) and np.all(b == b[0]))")}, {"symmetry_check"}),
    "symmetry-check-allclose-defaults": ({"is_layer_symmetric": _symmetric(
        "return bool(np.allclose(W, W[0]) and np.allclose(b, b[0]))")}, {"symmetry_check"}),
    "symmetry-check-always-layer-1": ({"is_layer_symmetric": _symmetric(
        "W, b = parameters['W1'], parameters['b1']\n"
        "    return bool(np.all(np.abs(W - W[0]) <= tol) and np.all(np.abs(b - b[0]) <= tol))")},
        {"symmetry_check"}),
    "update-adds-gradient": ({"update_parameters": '''def update_parameters(parameters, grads, learning_rate):
    return {k: v + learning_rate * grads["d" + k] for k, v in parameters.items()}
'''}, {"update"}),
    "update-ignores-learning-rate": ({"update_parameters": '''def update_parameters(parameters, grads, learning_rate):
    return {k: v - grads["d" + k] for k, v in parameters.items()}
'''}, {"update"}),
    "cost-without-mean": ({"compute_cost": '''def compute_cost(AL, Y):
    return float(-np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)))
'''}, {"cost"}),
    "cost-wrong-sign": ({"compute_cost": '''def compute_cost(AL, Y):
    return float(np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)))
'''}, {"cost"}),
    "constant-ignores-value": ({"initialize_constant": '''def initialize_constant(layer_dims, value=0.5):
    return {k: np.full(s, 0.5) for l in range(1, len(layer_dims))
            for k, s in ((f"W{l}", (layer_dims[l], layer_dims[l - 1])), (f"b{l}", (layer_dims[l], 1)))}
'''}, {"constant"}),
    "zeros-int-dtype": ({"initialize_zeros": '''def initialize_zeros(layer_dims):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters[f"W{l}"] = np.zeros((layer_dims[l], layer_dims[l - 1]), dtype=int)
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1), dtype=int)
    return parameters
'''}, {"zeros"}),
    "zeros-bias-shape-flat": ({"initialize_zeros": '''def initialize_zeros(layer_dims):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters[f"W{l}"] = np.zeros((layer_dims[l], layer_dims[l - 1]))
        parameters[f"b{l}"] = np.zeros(layer_dims[l])
    return parameters
'''}, {"zeros"}),
    "xavier-random-biases": ({"initialize_xavier": '''def initialize_xavier(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        fan_in, fan_out = layer_dims[l - 1], layer_dims[l]
        parameters[f"W{l}"] = rng.standard_normal((fan_out, fan_in)) * np.sqrt(2 / (fan_in + fan_out))
        parameters[f"b{l}"] = rng.standard_normal((fan_out, 1)) * 0.01
    return parameters
'''}, {"xavier_variance"}),
    # Noise in the update breaks the neurons' symmetry: the update is wrong, and training with the
    # student's own functions no longer keeps the gradients of identical neurons equal.
    "update-with-noise": ({"update_parameters": '''def update_parameters(parameters, grads, learning_rate):
    jitter = np.random.default_rng(0)
    return {k: v - learning_rate * grads["d" + k] + 1e-6 * jitter.standard_normal(v.shape)
            for k, v in parameters.items()}
'''}, {"update", "gradient_equality"}),
    # Always ReLU: the instructor's backward pass then applies tanh's derivative to ReLU outputs.
    "forward-ignores-activation": ({"forward_propagation": _forward(hidden="relu(Z)")},
                                   {"forward", "backward_gradients"}),
}


def lost(result: dict) -> set[str]:
    return {name for name, c in result["criteria"].items() if c["score"] < c["max_score"]}


def _failures(result: dict) -> str:
    return "\n".join(f"  {t['name']}: {t['outcome']}: {t['message'][:300]}"
                     for t in result["tests"] if t["outcome"] != "passed")


def _write(tmp_path, name: str, overrides: dict):
    from initkit.solutions import make_submission

    path = tmp_path / f"{name}.ipynb"
    nbformat.write(make_submission(COURSE, overrides), str(path))
    return path


def _grade_in_process(tmp_path, name, overrides):
    return grade_notebook(_write(tmp_path, name, overrides), student_factory=InProcessStudent)


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_variants_score_full_marks(tmp_path, name):
    result = _grade_in_process(tmp_path, name, CORRECT[name])
    assert result["status"] == "graded"
    assert result["score"] == 100, _failures(result)


@pytest.mark.parametrize("name", list(FAULTY))
def test_faulty_variant_loses_exactly_its_criteria(tmp_path, name):
    overrides, expected = FAULTY[name]
    assert expected <= set(CRITERIA)
    result = _grade_in_process(tmp_path, name, overrides)
    assert result["status"] == "graded"
    assert lost(result) == expected, _failures(result)
    for t in result["tests"]:
        if t["outcome"] != "passed":
            assert t["message"], t["name"]
            assert "def test_" not in t["message"] and "_checks" not in t["message"]


# The sandbox gives the same results as in-process (one correct variant per cache kind, faults of
# each part): class-instance caches cross as handles, gradients of a forward that differs go
# through many calls.
SANDBOX_SUBSET = ["class-cache", "dict-cache", "numpy-scalars", "he-1-over-fan-in", "tiled-random-rows",
                  "consistent-sigmoid-network", "symmetry-check-ignores-biases", "update-with-noise"]


@pytest.fixture(scope="module")
def host():
    from initkit.sandbox import SandboxHost

    with SandboxHost() as h:
        yield h


@pytest.mark.parametrize("name", SANDBOX_SUBSET)
def test_sandbox_agrees_with_in_process(tmp_path, host, name):
    overrides = CORRECT[name] if name in CORRECT else FAULTY[name][0]
    path = _write(tmp_path, name, overrides)
    sandboxed = grade_notebook(path, host=host)
    in_process = grade_notebook(path, student_factory=InProcessStudent)
    assert sandboxed["status"] == "graded"
    assert [(t["name"], t["outcome"], t["message"]) for t in sandboxed["tests"]] == \
        [(t["name"], t["outcome"], t["message"]) for t in in_process["tests"]]
    expected = set() if name in CORRECT else FAULTY[name][1]
    assert lost(sandboxed) == expected, _failures(sandboxed)
