"""The symmetry check built on np.allclose with explicit tolerances (rtol=0, atol=tol); the zero
and constant initializations built with np.zeros_like / np.full_like from one template."""

import numpy as np


def initialize_zeros(layer_dims):
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters[f"W{l}"] = np.zeros((layer_dims[l], layer_dims[l - 1]), dtype=np.float64)
        parameters[f"b{l}"] = np.zeros_like(parameters[f"W{l}"][:, :1])
    return parameters


def initialize_constant(layer_dims, value=0.5):
    parameters = {}
    for l in range(1, len(layer_dims)):
        template = np.empty((layer_dims[l], layer_dims[l - 1]))
        parameters[f"W{l}"] = np.full_like(template, value)
        parameters[f"b{l}"] = np.full_like(template[:, :1], value)
    return parameters


def is_layer_symmetric(parameters, l, tol=1e-10):
    W = parameters[f"W{l}"]
    b = parameters[f"b{l}"]
    same_weights = np.allclose(W, W[0], rtol=0.0, atol=tol)
    same_biases = np.allclose(b, b[0, 0], rtol=0.0, atol=tol)
    return bool(same_weights and same_biases)
