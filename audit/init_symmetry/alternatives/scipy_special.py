"""scipy.special.expit for the sigmoid and np.log1p for log(1 - a); the Xavier and He weights
scaled by math.sqrt of the fans."""

import math

import numpy as np
from scipy.special import expit


def initialize_he(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        std = math.sqrt(2 / layer_dims[l - 1])
        parameters[f"W{l}"] = std * rng.standard_normal(size=(layer_dims[l], layer_dims[l - 1]))
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters


def forward_propagation(X, parameters, hidden_activation="relu"):
    if hidden_activation not in ("relu", "tanh"):
        raise ValueError(hidden_activation)
    L = len(parameters) // 2
    A = X
    layers = []
    for l in range(1, L + 1):
        A_prev, W = A, parameters[f"W{l}"]
        Z = W @ A_prev + parameters[f"b{l}"]
        if l == L:
            A = expit(Z)
        elif hidden_activation == "tanh":
            A = 2.0 * expit(2.0 * Z) - 1.0
        else:
            A = np.maximum(Z, 0.0)
        layers.append((A_prev, W, Z, A))
    return A, {"layers": layers, "hidden_activation": hidden_activation}


def compute_cost(AL, Y):
    AL = np.clip(AL, 1e-15, 1 - 1e-15)
    losses = Y * np.log(AL) + (1 - Y) * np.log1p(-AL)
    return float(-np.mean(losses))
