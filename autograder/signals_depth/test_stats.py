"""Hidden tests, part 1: layer_statistics (criteria stats_mean_std, stats_grad_norm,
stats_dead_units), against the reference on one forward and backward pass of several networks.
Deterministic: the inputs come from fixed seeds, the comparison is to rounding (1e-9 relative)."""

import numpy as np
import pytest

from . import _inputs as net

# (layer sizes, activation, m, seed, dead (layer, unit) pairs, zero (layer, unit) rows). Deep tanh
# with saturated-negative units (Z < 0 on every example, A != 0: not dead) and an exactly-zero
# unit (Z = 0, tanh(0) = 0: dead); ReLU with dead units and units zero on some examples only;
# a linear single layer; a batch of one example; a deep sigmoid network.
CASES = {
    "tanh-deep": ([6, 8, 8, 8, 8, 3], "tanh", 20, 1101, [(1, 2), (3, 5)], [(2, 4)]),
    "relu-dead-units": ([5, 10, 10, 4], "relu", 12, 1102, [(1, 0), (1, 7), (2, 3)], []),
    "linear-one-layer": ([4, 3], "linear", 9, 1103, [], []),
    "relu-one-example": ([7, 6, 5, 2], "relu", 1, 1104, [(2, 1)], []),
    "sigmoid-deep": ([3, 5, 5, 5, 5, 5, 5, 1], "sigmoid", 6, 1105, [], []),
    "relu-deep": ([4, 12, 12, 12, 3], "relu", 16, 1106, [(2, 0), (3, 11)], []),
    "relu-wide": ([10, 30, 2], "relu", 5, 1107, [(1, 3), (1, 4), (1, 20)], []),
}
# Every network for mean, std and the gradient norms but the two extra ReLU ones; for dead units,
# the networks where "dead" can be told from "zero on some example" (ReLU, m > 1) and the tanh one
# (A == 0, not Z <= 0).
STATS_CASES = ["tanh-deep", "relu-dead-units", "linear-one-layer", "relu-one-example", "sigmoid-deep"]
DEAD_CASES = ["tanh-deep", "relu-dead-units", "relu-deep", "relu-wide"]


def _pass(ref, case):
    dims, activation, m, seed, dead, zero_rows = CASES[case]
    params = net.network(dims, seed, w_scale=1.5, bias=0.5, dead=dead, zero_rows=zero_rows)
    X = net.batch(dims[0], m, seed + 1)
    caches, grads = ref.probe_network(params, X, activation, rng=np.random.default_rng(seed + 2))
    return caches, grads, ref.layer_statistics(caches, grads)


def _check(student, ref, diagnosis, case, keys):
    caches, grads, want = _pass(ref, case)
    stats = student.call("layer_statistics", caches, grads)
    dims, activation = CASES[case][:2]
    for key in keys:
        problem = diagnosis.stats_problem(stats, key, want[key], caches, grads)
        if problem:
            raise AssertionError(f"{problem}, activation {activation!r}")


@pytest.mark.criterion("stats_mean_std")
@pytest.mark.parametrize("case", STATS_CASES)
def test_mean_std(student, ref, diagnosis, case):
    _check(student, ref, diagnosis, case, ("mean", "std"))


@pytest.mark.criterion("stats_grad_norm")
@pytest.mark.parametrize("case", STATS_CASES)
def test_grad_norm(student, ref, diagnosis, case):
    _check(student, ref, diagnosis, case, ("grad_norm",))


@pytest.mark.criterion("stats_dead_units")
@pytest.mark.parametrize("case", DEAD_CASES)
def test_dead_fraction(student, ref, diagnosis, case):
    _check(student, ref, diagnosis, case, ("dead_fraction",))
