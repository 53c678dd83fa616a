"""The update edits the parameters dict and its arrays in place (and returns it); the He
initialization fills one dict with dict.update."""

import numpy as np


def initialize_he(layer_dims, rng=None):
    rng = rng if rng is not None else np.random.default_rng()
    parameters = {}
    for l in range(1, len(layer_dims)):
        shape = (layer_dims[l], layer_dims[l - 1])
        parameters.update({f"W{l}": rng.normal(0.0, np.sqrt(2.0 / shape[1]), shape),
                           f"b{l}": np.zeros((shape[0], 1))})
    return parameters


def update_parameters(parameters, grads, learning_rate):
    for key in list(parameters):
        parameters[key] -= learning_rate * grads["d" + key]
    return parameters
