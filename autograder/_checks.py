"""Shared checks for the hidden tests: result validation, statistical bands, clear messages.

Runs in the trusted grader process. Every failure is an AssertionError whose message speaks to
the student (what was wrong, in terms of their function); nothing here ever prints test code.
"""

from __future__ import annotations

import functools

import numpy as np

# Total tail probability of every statistical acceptance band (variance and mean checks): a
# correct implementation fails one such check with probability at most this.
ALPHA = 1e-9


def fail(message: str):
    raise AssertionError(message)


def fmt(x: float) -> str:
    return f"{x:.3g}"


def dims_text(dims) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


# --------------------------------------------------------------------------- returned values

def array(fn: str, what: str, value, shape=None, *, float64=False) -> np.ndarray:
    """`value` as a finite numeric ndarray (of `shape`), else a failure naming `what`."""
    if not isinstance(value, np.ndarray):
        kind = "nothing (None)" if value is None else f"a {type(value).__name__}"
        if hasattr(value, "type_name"):
            kind = f"a {value.type_name} object"
        fail(f"{fn}: {what} should be a numpy array, got {kind}")
    if value.dtype.kind not in "fiub":
        fail(f"{fn}: {what} should hold numbers, got dtype {value.dtype}")
    if shape is not None and value.shape != tuple(shape):
        fail(f"{fn}: {what} has shape {value.shape}, expected {tuple(shape)}")
    if float64 and value.dtype != np.float64:
        fail(f"{fn}: {what} has dtype {value.dtype}, expected float64 (e.g. np.zeros(shape) or "
             "np.full(shape, float(value)))")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        fail(f"{fn}: {what} contains NaN or infinity")
    return value


def number(fn: str, what: str, value) -> float:
    """A real scalar (Python or numpy number, or a 0-d array)."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.ndarray)):
        fail(f"{fn}: {what} should be a number (a float), got {type(value).__name__}")
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "fiu":
            fail(f"{fn}: {what} should be a single number (a float), got an array of shape "
                 f"{value.shape}; use float(...) or np.sum/np.mean over all entries")
        value = value[()]
    value = float(value)
    if not np.isfinite(value):
        fail(f"{fn}: {what} is {value}")
    return value


def boolean(fn: str, value) -> bool:
    """True/False, also as a numpy bool (np.all(...) returns one)."""
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0 and value.dtype == np.bool_:
        return bool(value)
    if isinstance(value, bool):
        return value
    fail(f"{fn} should return True or False, got {value!r}"[:300])


def layer_keys(dims, prefix: str = "") -> list[str]:
    L = len(dims) - 1
    return [f"{prefix}{k}{l}" for l in range(1, L + 1) for k in ("W", "b")]


def parameters(fn: str, value, dims, *, float64=True, exact_keys=True) -> dict:
    """A parameters dict for `dims`: keys W1..WL, b1..bL with the right shapes."""
    if not isinstance(value, dict):
        kind = value.type_name if hasattr(value, "type_name") else type(value).__name__
        fail(f"{fn} should return a dict of parameters, got a {kind}")
    want = layer_keys(dims)
    missing = [k for k in want if k not in value]
    if missing:
        fail(f"{fn}: the result has no {', '.join(missing)} (layer sizes {dims_text(dims)}; "
             f"expected keys {', '.join(want)})")
    extra = sorted(set(value) - set(want))
    if exact_keys and extra:
        fail(f"{fn}: unexpected keys {', '.join(map(str, extra))} (layer sizes {dims_text(dims)}; "
             f"expected exactly {', '.join(want)})")
    out = {}
    for l in range(1, len(dims)):
        out[f"W{l}"] = array(fn, f"W{l}", value[f"W{l}"], (dims[l], dims[l - 1]), float64=float64)
        out[f"b{l}"] = array(fn, f"b{l}", value[f"b{l}"], (dims[l], 1), float64=float64)
    return out


def grads(fn: str, value, dims) -> dict:
    """A gradients dict for `dims`: dW1..dWL, db1..dbL (other keys are allowed)."""
    if not isinstance(value, dict):
        kind = value.type_name if hasattr(value, "type_name") else type(value).__name__
        fail(f"{fn} should return a dict of gradients, got a {kind}")
    out = {}
    for l in range(1, len(dims)):
        for k, shape in ((f"dW{l}", (dims[l], dims[l - 1])), (f"db{l}", (dims[l], 1))):
            if k not in value:
                fail(f"{fn}: the gradients have no {k} (layer sizes {dims_text(dims)})")
            out[k] = array(fn, k, value[k], shape).astype(np.float64)
    return out


def forward_output(value, m: int):
    """(AL, cache) from forward_propagation, AL checked as a (1, m) array."""
    fn = "forward_propagation"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        fail(f"{fn} should return a pair (AL, cache), got "
             f"{getattr(value, 'type_name', type(value).__name__)}")
    AL, cache = value
    return array(fn, "AL", AL, (1, m)).astype(np.float64), cache


# --------------------------------------------------------------------------- statistics

@functools.lru_cache(maxsize=None)
def chi2_band(n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """(lo, hi) with P(chi2(n) < lo) = P(chi2(n) > hi) = alpha/2.

    scipy.stats.chi2's ppf and isf are exactly these functions of scipy.special (the same
    floats; tests/grading/test_statistics.py compares them): importing scipy.stats cost every
    grading worker a second and 47 MB."""
    from scipy.special import gammainccinv, gammaincinv

    return float(2 * gammaincinv(n / 2, alpha / 2)), float(2 * gammainccinv(n / 2, alpha / 2))


@functools.lru_cache(maxsize=None)
def normal_z(alpha: float = ALPHA) -> float:
    """z with P(|N(0,1)| > z) = alpha (scipy.stats.norm.isf(alpha / 2), computed as it does)."""
    from scipy.special import ndtri

    return float(-ndtri(alpha / 2))


def variance_accepts(W: np.ndarray, variance: float) -> bool:
    """Is mean(W**2) consistent with i.i.d. N(0, variance) entries? n*mean(W²)/var ~ chi2(n)."""
    n = W.size
    lo, hi = chi2_band(n)
    stat = float(np.dot(W.ravel(), W.ravel())) / variance
    return lo <= stat <= hi


def mean_accepts(W: np.ndarray, variance: float) -> bool:
    """Is mean(W) consistent with zero? mean ~ N(0, variance/n)."""
    return abs(float(W.mean())) <= normal_z() * np.sqrt(variance / W.size)


# --------------------------------------------------------------------------- comparisons

def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a-b|| / (||a|| + ||b||), 0 when both are zero."""
    den = float(np.linalg.norm(a) + np.linalg.norm(b))
    return 0.0 if den == 0.0 else float(np.linalg.norm(a - b)) / den


def row_spread(M: np.ndarray) -> float:
    """Largest difference of any row from the first row."""
    return float(np.max(np.abs(M - M[:1]))) if M.shape[0] > 1 else 0.0


def min_row_distance(M: np.ndarray) -> tuple[float, int, int]:
    """Smallest max-abs difference between two distinct rows, and the rows."""
    best = (np.inf, 0, 0)
    for i in range(M.shape[0]):
        d = np.max(np.abs(M[i + 1:] - M[i]), axis=1) if i + 1 < M.shape[0] else np.array([])
        if d.size and d.min() < best[0]:
            j = int(np.argmin(d))
            best = (float(d[j]), i, i + 1 + j)
    return best


# --------------------------------------------------------------------------- test inputs

def network(dims, seed: int, m: int, *, bias=0.5):
    """Parameters with nonzero biases and data X (n_x, m), Y (1, m) in 0/1 with both classes."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) * (1.5 / np.sqrt(dims[l - 1]))
        params[f"b{l}"] = rng.standard_normal((dims[l], 1)) * bias
    X = rng.standard_normal((dims[0], m))
    Y = (np.arange(m) % 2 == 0).astype(np.float64)[None, :]
    rng.shuffle(Y, axis=1)
    return params, X, Y


def hidden_preactivations(params: dict, X: np.ndarray, activation: str) -> list[np.ndarray]:
    """Z of every hidden layer (computed here, independent of any submission's code)."""
    L = len(params) // 2
    A, out = X, []
    for l in range(1, L):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        out.append(Z)
        A = np.maximum(Z, 0.0) if activation == "relu" else np.tanh(Z)
    return out


def kink_free_network(dims, m: int, activation: str, margin: float = 1e-3, first_seed: int = 0):
    """The first seed's network whose hidden pre-activations all stay `margin` away from 0 (the
    ReLU kink), so centered differences of the cost are exact up to rounding."""
    for seed in range(first_seed, first_seed + 10_000):
        params, X, Y = network(dims, seed, m)
        Zs = hidden_preactivations(params, X, activation)
        if all(np.min(np.abs(Z)) > margin for Z in Zs):
            return params, X, Y
    raise RuntimeError(f"no kink-free input found for {dims}")


def numeric_gradients(cost, params: dict, eps: float = 1e-6) -> dict:
    """Centered differences of cost(params) for every parameter entry."""
    out = {}
    for key, P in params.items():
        G = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][idx] += eps
            minus[key][idx] -= eps
            G[idx] = (cost(plus) - cost(minus)) / (2 * eps)
        out["d" + key] = G
    return out
