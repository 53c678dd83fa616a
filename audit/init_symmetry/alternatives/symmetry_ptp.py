"""The symmetry check by spread: np.ptp (max - min) of every column of [W | b]; the random
initializations by rng.standard_normal of the full shape, scaled afterwards."""

import numpy as np


def initialize_random(layer_dims, scale=0.01, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        W = rng.standard_normal(size=(layer_dims[l], layer_dims[l - 1]))
        W *= scale
        parameters[f"W{l}"] = W
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters


def initialize_xavier(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        variance = 2.0 / (layer_dims[l - 1] + layer_dims[l])
        parameters[f"W{l}"] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) * np.sqrt(variance)
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters


def is_layer_symmetric(parameters, l, tol=1e-10):
    neurons = np.hstack([parameters[f"W{l}"], parameters[f"b{l}"]])
    spread = np.ptp(neurons, axis=0)
    return bool(np.all(spread <= tol))
