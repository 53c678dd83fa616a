"""Explicit loops: every entry, every example, every key written out one at a time."""

import math

import numpy as np


def initialize_zeros(layer_dims):
    parameters = {}
    for l in range(1, len(layer_dims)):
        W = np.empty((layer_dims[l], layer_dims[l - 1]))
        for i in range(layer_dims[l]):
            for j in range(layer_dims[l - 1]):
                W[i, j] = 0.0
        b = np.empty((layer_dims[l], 1))
        for i in range(layer_dims[l]):
            b[i, 0] = 0.0
        parameters["W" + str(l)] = W
        parameters["b" + str(l)] = b
    return parameters


def initialize_constant(layer_dims, value=0.5):
    parameters = {}
    for l in range(1, len(layer_dims)):
        W = np.empty((layer_dims[l], layer_dims[l - 1]))
        b = np.empty((layer_dims[l], 1))
        for i in range(layer_dims[l]):
            for j in range(layer_dims[l - 1]):
                W[i, j] = value
            b[i, 0] = value
        parameters["W" + str(l)] = W
        parameters["b" + str(l)] = b
    return parameters


def compute_cost(AL, Y):
    m = Y.shape[1]
    total = 0.0
    for i in range(m):
        a = min(max(float(AL[0, i]), 1e-15), 1 - 1e-15)
        if Y[0, i] == 1:
            total += math.log(a)
        else:
            total += math.log(1 - a)
    return -total / m


def update_parameters(parameters, grads, learning_rate):
    updated = {}
    for key in parameters:
        updated[key] = parameters[key] - learning_rate * grads["d" + key]
    return updated


def is_layer_symmetric(parameters, l, tol=1e-10):
    W = parameters["W" + str(l)]
    b = parameters["b" + str(l)]
    for i in range(1, W.shape[0]):
        for j in range(W.shape[1]):
            if abs(W[i, j] - W[0, j]) > tol:
                return False
        if abs(b[i, 0] - b[0, 0]) > tol:
            return False
    return True
