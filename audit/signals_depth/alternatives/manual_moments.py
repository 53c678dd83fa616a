"""Moments written out: the standard deviation as np.sqrt(np.mean((A - A.mean())**2)), the
Frobenius norm as np.sqrt(np.sum(dW**2)), dead units as rows with no nonzero entry
(~np.any(A != 0, axis=1)); the gains looked up in a dict."""

import math

import numpy as np


def layer_statistics(caches, grads):
    means, stds, norms, dead = [], [], [], []
    for l, cache in enumerate(caches, start=1):
        A = cache["A"]
        centred = A - A.mean()
        means.append(A.mean())
        stds.append(np.sqrt(np.mean(centred ** 2)))
        dW = grads["dW%d" % l]
        norms.append(np.sqrt(np.sum(dW ** 2)))
        silent = ~np.any(A != 0, axis=1)
        dead.append(silent.sum() / A.shape[0])
    return {"mean": np.array(means, dtype=float), "std": np.array(stds, dtype=float),
            "grad_norm": np.array(norms, dtype=float), "dead_fraction": np.array(dead, dtype=float)}


def calculate_gain(nonlinearity, param=None):
    gains = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75}
    if nonlinearity in gains:
        return gains[nonlinearity]
    if nonlinearity == "leaky_relu":
        slope = param if param is not None else 0.01
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity}")
