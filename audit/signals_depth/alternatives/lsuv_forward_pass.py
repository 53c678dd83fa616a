"""LSUV that reruns the given forward_pass on the layers already rescaled to get each layer's
input, rescales in place (W *= 1/sqrt(var)) and uses for/else; the diagnosis as a dict of
conditions checked in order."""

import numpy as np


def lsuv_init(layer_dims, X, activation="tanh", rng=None, tol=0.1, max_iter=10):
    rng = np.random.default_rng() if rng is None else rng
    L = len(layer_dims) - 1
    weights = [initialize_orthogonal((n_out, n_in), rng=rng)
               for n_in, n_out in zip(layer_dims[:-1], layer_dims[1:])]
    biases = [np.zeros((n_out, 1)) for n_out in layer_dims[1:]]
    parameters = {}
    for l in range(1, L + 1):
        if l == 1:
            A_prev = X
        else:
            A_prev = forward_pass(X, parameters, activation)[-1]["A"]
        W = weights[l - 1].copy()
        for _ in range(max_iter):
            var = (W @ A_prev + biases[l - 1]).var()
            if var == 0.0:
                raise ValueError("layer %d: constant pre-activations (variance 0)" % l)
            if abs(var - 1.0) <= tol:
                break
            W *= 1.0 / np.sqrt(var)
        parameters["W%d" % l] = W
        parameters["b%d" % l] = biases[l - 1]
    return parameters


def diagnose(stats, low=0.1, high=10.0):
    std = stats["std"]
    norms = stats["grad_norm"]
    if std[0] == 0:
        return "vanishing"
    r = std[len(std) - 1] / std[0]
    g = norms[0] / norms[len(norms) - 1]
    verdicts = {"vanishing": r < low or g < low, "exploding": r > high or g > high}
    for name, holds in verdicts.items():
        if holds:
            return name
    return "healthy"
