"""Array methods and np.count_nonzero: A.mean(), np.sqrt(A.var()), np.linalg.norm(dW, "fro"),
dead units counted with np.count_nonzero of the per-unit nonzero counts; grads read by sorted
key; the diagnosis with its ratios in a tuple tested with any()."""

import numpy as np


def layer_statistics(caches, grads):
    L = len(caches)
    stats = {key: np.empty(L) for key in ("mean", "std", "grad_norm", "dead_fraction")}
    for index, cache in enumerate(caches):
        A = cache["A"]
        stats["mean"][index] = A.mean()
        stats["std"][index] = np.sqrt(A.var())
        stats["grad_norm"][index] = np.linalg.norm(grads["dW" + str(index + 1)], "fro")
        active_per_unit = np.count_nonzero(A, axis=1)
        stats["dead_fraction"][index] = np.count_nonzero(active_per_unit == 0) / A.shape[0]
    return stats


def diagnose(stats, low=0.1, high=10.0):
    std = np.asarray(stats["std"], dtype=float)
    grad_norm = np.asarray(stats["grad_norm"], dtype=float)
    if std[0] == 0.0:
        return "vanishing"
    ratios = (std[-1] / std[0], grad_norm[0] / grad_norm[-1])
    if any(ratio < low for ratio in ratios):
        return "vanishing"
    if any(ratio > high for ratio in ratios):
        return "exploding"
    return "healthy"
