"""Matrix products spelled with np.einsum and np.matmul; the bias gradient as a product with a
column of ones; a cost written as two inner products."""

import numpy as np


def initialize_xavier(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    fans = list(zip(layer_dims[:-1], layer_dims[1:]))
    parameters = {}
    for l, (fan_in, fan_out) in enumerate(fans, start=1):
        parameters[f"W{l}"] = rng.normal(loc=0.0, scale=(2.0 / (fan_in + fan_out)) ** 0.5, size=(fan_out, fan_in))
        parameters[f"b{l}"] = np.zeros((fan_out, 1))
    return parameters


def forward_propagation(X, parameters, hidden_activation="relu"):
    if hidden_activation not in ("relu", "tanh"):
        raise ValueError(f"unknown hidden_activation {hidden_activation!r}")
    L = len(parameters) // 2
    A = X
    layers = []
    for l in range(1, L + 1):
        W = parameters[f"W{l}"]
        Z = np.einsum("ij,jk->ik", W, A) + parameters[f"b{l}"]
        A_prev = A
        if l == L:
            A = sigmoid(Z)
        elif hidden_activation == "relu":
            A = np.where(Z > 0, Z, 0.0)
        else:
            A = np.tanh(Z)
        layers.append((A_prev, W, Z, A))
    return A, {"layers": layers, "hidden_activation": hidden_activation}


def compute_cost(AL, Y):
    m = Y.shape[1]
    AL = np.clip(AL, 1e-15, 1 - 1e-15)
    cost = -(np.matmul(Y, np.log(AL).T) + np.matmul(1 - Y, np.log(1 - AL).T)) / m
    return float(cost[0, 0])


def backward_propagation(AL, Y, cache):
    layers = cache["layers"]
    L = len(layers)
    m = Y.shape[1]
    ones = np.ones((m, 1))
    grads = {}
    dZ = AL - Y
    for l in range(L, 0, -1):
        A_prev, W, Z, A = layers[l - 1]
        if l < L:
            if cache["hidden_activation"] == "relu":
                dZ = np.where(Z > 0, dA, 0.0)
            else:
                dZ = dA * (1.0 - np.tanh(Z) ** 2)
        grads[f"dW{l}"] = np.einsum("ik,jk->ij", dZ, A_prev) / m
        grads[f"db{l}"] = np.matmul(dZ, ones) / m
        dA = np.matmul(np.transpose(W), dZ)
    return grads
