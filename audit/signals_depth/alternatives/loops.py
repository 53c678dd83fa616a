"""Explicit loops over layers, units and examples with math.sqrt and running sums (a two-pass
population variance); the gains as an if/elif chain with ** 0.5; the diagnosis from a computed
pair of flags instead of early returns."""

import math

import numpy as np


def layer_statistics(caches, grads):
    L = len(caches)
    means = np.zeros(L)
    stds = np.zeros(L)
    grad_norms = np.zeros(L)
    dead = np.zeros(L)
    for l in range(1, L + 1):
        A = caches[l - 1]["A"]
        n, m = A.shape
        total = 0.0
        for i in range(n):
            for j in range(m):
                total += A[i, j]
        mean = total / (n * m)
        squares = 0.0
        for i in range(n):
            for j in range(m):
                squares += (A[i, j] - mean) ** 2
        dW = grads["dW" + str(l)]
        norm2 = 0.0
        for i in range(dW.shape[0]):
            for j in range(dW.shape[1]):
                norm2 += dW[i, j] * dW[i, j]
        dead_units = 0
        for i in range(n):
            silent = True
            for j in range(m):
                if A[i, j] != 0:
                    silent = False
                    break
            if silent:
                dead_units += 1
        means[l - 1] = mean
        stds[l - 1] = math.sqrt(squares / (n * m))
        grad_norms[l - 1] = math.sqrt(norm2)
        dead[l - 1] = dead_units / n
    return {"mean": means, "std": stds, "grad_norm": grad_norms, "dead_fraction": dead}


def calculate_gain(nonlinearity, param=None):
    if nonlinearity == "linear" or nonlinearity == "sigmoid":
        gain = 1.0
    elif nonlinearity == "tanh":
        gain = 5 / 3
    elif nonlinearity == "relu":
        gain = 2 ** 0.5
    elif nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        else:
            negative_slope = param
        gain = (2 / (1 + negative_slope * negative_slope)) ** 0.5
    elif nonlinearity == "selu":
        gain = 0.75
    else:
        raise ValueError("no gain for " + repr(nonlinearity))
    return gain


def diagnose(stats, low=0.1, high=10.0):
    std = stats["std"]
    grad_norm = stats["grad_norm"]
    last = len(std) - 1
    if std[0] == 0:
        vanishing, exploding = True, False
    else:
        r = std[last] / std[0]
        g = grad_norm[0] / grad_norm[last]
        vanishing = r < low or g < low
        exploding = r > high or g > high
    if vanishing:
        result = "vanishing"
    elif exploding:
        result = "exploding"
    else:
        result = "healthy"
    return result
