"""Hidden tests, part 5: diagnose (criterion diagnosis), on made-up statistics close to the
thresholds and exactly at them (strict < and >, as the notebook says: ties are "healthy"), and on the statistics of real runs (computed by the reference, so a mistake in
layer_statistics is not charged here). Deterministic."""

import numpy as np
import pytest

from . import _inputs as net

FN = "diagnose"


def _stats(std, grad_norm):
    std, grad_norm = np.array(std, dtype=float), np.array(grad_norm, dtype=float)
    L = len(std)
    return {"mean": np.linspace(0.0, 0.1, L), "std": std, "grad_norm": grad_norm,
            "dead_fraction": np.zeros(L)}


# (std per layer, grad_norm per layer, low, high or None for the defaults): r = std[-1]/std[0],
# g = grad_norm[0]/grad_norm[-1], each within 10% of a threshold on the side that decides.
MADE_UP = {
    "r-just-below-low": [([1.0, 0.5, 0.3, 0.091], [1.2, 1.1, 1.05, 1.0], None, None),
                         ([2.0, 3.0, 0.19], [0.5, 0.4, 0.5], None, None)],
    "r-just-above-low": [([1.0, 0.5, 0.3, 0.109], [0.9, 1.1, 1.2, 1.0], None, None)],
    "g-just-below-low": [([0.8, 0.8, 0.8], [0.0093, 0.05, 0.1], None, None)],
    "g-just-above-high": [([1.0, 2.0, 9.4], [10.8, 3.0, 1.0], None, None)],
    "r-just-above-high": [([0.5, 2.0, 5.3], [2.0, 1.5, 1.0], None, None)],
    "r-low-and-g-high": [([2.0, 1.0, 0.15], [40.0, 2.0, 1.0], None, None)],
    "healthy-near-both": [([1.0, 9.3], [9.2, 1.0], None, None), ([1.0, 0.108], [0.107, 1.0], None, None)],
    "given-low-high": [([1.0, 0.46], [1.3, 1.3], 0.5, 2.0), ([1.0, 2.2], [1.3, 1.3], 0.5, 2.0),
                       ([1.0, 1.9], [0.54, 1.0], 0.5, 2.0), ([0.8, 0.8], [0.003, 0.1], 0.05, 3.0)],
    "g-needs-the-last-layer": [([1.0, 1.0, 1.0], [0.2, 0.5, 0.01], None, None),
                               ([1.0, 1.0], [4.0, 8.0], None, None)],
    # Exactly at a threshold (exact in floating point: ratios of the threshold by powers of two):
    # the notebook's strict < and > make every one "healthy".
    "exactly-at-a-threshold": [([2.0, 1.0, 0.2], [1.0, 1.0, 1.0], None, None),
                               ([1.0, 3.0, 10.0], [1.0, 1.0, 1.0], None, None),
                               ([1.0, 1.0], [0.1, 1.0], None, None),
                               ([1.0, 1.0], [10.0, 1.0], None, None),
                               ([2.0, 1.0], [1.0, 1.0], 0.5, 2.0)],
    "one-layer": [([0.3], [2.0], None, None)],
    "first-std-zero": [([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], None, None)],
}


def _label(r, g, low, high, exploding_first=False):
    if exploding_first and (r > high or g > high):
        return "exploding"
    if r < low or g < low:
        return "vanishing"
    if r > high or g > high:
        return "exploding"
    return "healthy"


def _mistake(stats, low, high, got, want):
    """Which typical mistake returns what the student returned on these stats, if one does."""
    std, gn = stats["std"], stats["grad_norm"]
    if std[0] == 0 or len(std) < 2:
        return None
    r, g = std[-1] / std[0], gn[0] / gn[-1]
    # keys of the diagnosis cell's DIAGNOSE_MISTAKES, which words them
    options = [(_label(1 / r, 1 / g, low, high), "wrong_ends"),
               (_label(r, g, low, high, exploding_first=True), "exploding_first"),
               (_label(1 / r, g, low, high), "wrong_std_ends"),
               (_label(r, 1 / g, low, high), "wrong_grad_ends"),
               (_label(r, 1.0, low, high), "g_ignored"),
               (_label(1.0, g, low, high), "r_ignored")]
    for label, mistake in options:
        if label == got and label != want:
            return mistake
    return None


def _check(student, ref, diagnosis, stats, low, high, where=""):
    kwargs = {} if low is None else {"low": low, "high": high}
    got = student.call(FN, stats, **kwargs)
    want = ref.diagnose(stats, **kwargs)
    low, high = (0.1, 10.0) if low is None else (low, high)
    if isinstance(got, str) and got == want:
        return
    std, gn = stats["std"], stats["grad_norm"]
    r = float(std[-1] / std[0]) if std[0] != 0 else float("nan")
    g = float(gn[0] / gn[-1])
    mistake = _mistake(stats, low, high, got, want) if isinstance(got, str) else None
    message = diagnosis.diagnose_message(got, want, r, g, low, high, mistake)
    if std[0] == 0:
        message += " (std[0] = 0: the first layer's activations are constant, which counts as vanishing)"
    raise AssertionError(message + where)


@pytest.mark.criterion("diagnosis")
@pytest.mark.parametrize("case", list(MADE_UP))
def test_made_up_stats(student, ref, diagnosis, case):
    for std, gn, low, high in MADE_UP[case]:
        _check(student, ref, diagnosis, _stats(std, gn), low, high,
               f"; stats with std {std} and grad_norm {gn}")


# Real runs: (layer sizes, activation, weight scale (None: orthogonal with gain 5/3), seed, m).
# The reference's r and g, far from every threshold: vanishing r = 3.0e-4, g = 1.11; exploding
# r = 93.9, g = 0.81; healthy r = 0.87, g = 1.87.
REAL_RUNS = {
    "tanh-small-weights-vanishing": ([20] * 13, "tanh", 0.5, 3401, 40),
    "relu-large-weights-exploding": ([20] * 11, "relu", 2.5, 3402, 40),
    "tanh-orthogonal-healthy": ([20] * 7, "tanh", None, 3403, 40),
}


@pytest.mark.criterion("diagnosis")
@pytest.mark.parametrize("case", list(REAL_RUNS))
def test_real_runs(student, ref, diagnosis, case):
    dims, activation, w_scale, seed, m = REAL_RUNS[case]
    if w_scale is None:
        rng = np.random.default_rng(seed)
        params = {}
        for l in range(1, len(dims)):
            params[f"W{l}"] = ref.initialize_orthogonal((dims[l], dims[l - 1]), gain=5 / 3, rng=rng)
            params[f"b{l}"] = np.zeros((dims[l], 1))
    else:
        params = net.network(dims, seed, w_scale=w_scale, bias=0.0)
    X = net.batch(dims[0], m, seed + 1)
    caches, grads = ref.probe_network(params, X, activation, rng=np.random.default_rng(seed + 2))
    stats = ref.layer_statistics(caches, grads)
    _check(student, ref, diagnosis, stats, None, None,
           f"; a {len(dims) - 1}-layer {activation} network ({case.split('-', 1)[1].replace('-', ' ')})")
