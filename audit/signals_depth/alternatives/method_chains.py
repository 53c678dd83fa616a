"""Array-method chains and one-liners: (A == 0).all(axis=1).mean() for dead units, the standard
deviation from its definition with .sum() / A.size, the Frobenius norm as np.sqrt(np.einsum(...));
the gains as a dict of lambdas (KeyError turned into ValueError); the orthogonal matrix from the
complete QR (np.linalg.qr(mode="complete")), its first columns kept, the signs applied with a
diagonal matrix product."""

import math

import numpy as np


def layer_statistics(caches, grads):
    activations = [cache["A"] for cache in caches]
    gradients = [grads[f"dW{l}"] for l in range(1, len(caches) + 1)]
    return {
        "mean": np.array([A.mean() for A in activations]),
        "std": np.array([np.sqrt(((A - A.mean()) ** 2).sum() / A.size) for A in activations]),
        "grad_norm": np.array([np.sqrt(np.einsum("ij,ij->", dW, dW)) for dW in gradients]),
        "dead_fraction": np.array([(A == 0).all(axis=1).mean() for A in activations]),
    }


def calculate_gain(nonlinearity, param=None):
    table = {
        "linear": lambda p: 1.0,
        "sigmoid": lambda p: 1.0,
        "tanh": lambda p: 5.0 / 3.0,
        "relu": lambda p: math.sqrt(2.0),
        "leaky_relu": lambda p: math.sqrt(2.0 / (1.0 + (0.01 if p is None else p) ** 2)),
        "selu": lambda p: 0.75,
    }
    try:
        rule = table[nonlinearity]
    except KeyError:
        raise ValueError(f"calculate_gain: {nonlinearity!r} is not supported") from None
    return rule(param)


def initialize_orthogonal(shape, gain=1.0, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    rows, cols = shape
    M = rng.standard_normal((rows, cols))
    A = M if rows >= cols else M.T
    k = A.shape[1]
    Q, R = np.linalg.qr(A, mode="complete")
    Q = Q[:, :k] @ np.diag(np.sign(np.diag(R[:k, :k])))
    return gain * (Q if rows >= cols else Q.T)
