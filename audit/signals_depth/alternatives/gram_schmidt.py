"""The orthogonal matrix by modified Gram-Schmidt on the columns of the same single draw (of its
transpose when rows < cols): Gram-Schmidt's R has a positive diagonal, so no sign correction is
needed; the gains with a match statement."""

import math

import numpy as np


def initialize_orthogonal(shape, gain=1.0, rng=None):
    if rng is None:
        rng = np.random.default_rng()
    rows, cols = shape
    M = rng.standard_normal((rows, cols))
    transposed = rows < cols
    V = np.array(M.T if transposed else M, dtype=float)
    for j in range(V.shape[1]):
        for i in range(j):
            V[:, j] -= np.dot(V[:, i], V[:, j]) * V[:, i]
        V[:, j] /= np.linalg.norm(V[:, j])
    if transposed:
        V = V.T
    return gain * V


def calculate_gain(nonlinearity, param=None):
    match nonlinearity:
        case "linear" | "sigmoid":
            return 1.0
        case "tanh":
            return 5.0 / 3.0
        case "relu":
            return math.sqrt(2)
        case "leaky_relu":
            slope = 0.01 if param is None else float(param)
            return math.sqrt(2 / (1 + slope * slope))
        case "selu":
            return 3 / 4
        case _:
            raise ValueError(f"{nonlinearity!r} has no recommended gain")
