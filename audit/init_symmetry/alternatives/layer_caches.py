"""A list of per-layer caches (one ((A_prev, W, b), (Z, activation)) tuple per layer), as in many
course notes, and initializations built from pairs of consecutive layer sizes."""

import numpy as np


def initialize_random(layer_dims, scale=0.01, rng=None):
    if rng is None:
        rng = np.random.default_rng()
    parameters = {}
    for l, (n_in, n_out) in enumerate(zip(layer_dims[:-1], layer_dims[1:]), start=1):
        parameters[f"W{l}"] = rng.normal(0.0, scale, size=(n_out, n_in))
        parameters[f"b{l}"] = np.zeros((n_out, 1))
    return parameters


def forward_propagation(X, parameters, hidden_activation="relu"):
    if hidden_activation not in ("relu", "tanh"):
        raise ValueError("hidden_activation must be 'relu' or 'tanh'")
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L + 1):
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        Z = np.dot(W, A) + b
        activation = "sigmoid" if l == L else hidden_activation
        caches.append(((A, W, b), (Z, activation)))
        if activation == "sigmoid":
            A = sigmoid(Z)
        elif activation == "relu":
            A = relu(Z)
        else:
            A = np.tanh(Z)
    return A, caches


def backward_propagation(AL, Y, cache):
    grads = {}
    L = len(cache)
    m = AL.shape[1]
    dA = None
    for l in reversed(range(1, L + 1)):
        (A_prev, W, b), (Z, activation) = cache[l - 1]
        if activation == "sigmoid":
            dZ = AL - Y
        elif activation == "relu":
            dZ = np.array(dA, copy=True)
            dZ[Z <= 0] = 0
        else:
            dZ = dA * (1 - np.tanh(Z) ** 2)
        grads[f"dW{l}"] = np.dot(dZ, A_prev.T) / m
        grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = np.dot(W.T, dZ)
    return grads
