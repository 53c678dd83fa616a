"""LSUV in one pass over the layers: each layer's orthogonal draw is followed at once by its
rescaling (the same order of draws from rng), a while loop counting rescalings, the variance as
np.mean(Z**2) - np.mean(Z)**2, the activation written inline."""

import numpy as np


def lsuv_init(layer_dims, X, activation="tanh", rng=None, tol=0.1, max_iter=10):
    if rng is None:
        rng = np.random.default_rng()
    parameters = {}
    A = X
    for l in range(1, len(layer_dims)):
        W = initialize_orthogonal((layer_dims[l], layer_dims[l - 1]), rng=rng)
        b = np.zeros((layer_dims[l], 1))
        rescalings = 0
        while rescalings < max_iter:
            Z = np.dot(W, A)
            var = np.mean(Z ** 2) - np.mean(Z) ** 2
            if var == 0:
                raise ValueError(f"layer {l}: every pre-activation is the same, cannot rescale")
            if abs(var - 1.0) <= tol:
                break
            W = W / var ** 0.5
            rescalings += 1
        Z = np.dot(W, A) + b
        if activation == "tanh":
            A = np.tanh(Z)
        elif activation == "relu":
            A = np.maximum(Z, 0)
        elif activation == "sigmoid":
            A = 1 / (1 + np.exp(-Z))
        else:
            A = Z
        parameters["W" + str(l)] = W
        parameters["b" + str(l)] = b
    return parameters
