"""Inputs the hidden tests of signals_depth share: networks, batches, comparisons up to signs.

Computed here, in the grader, with numpy only (the given forward and backward passes come from
the reference: they are the notebook's given code, not an answer)."""

from __future__ import annotations

import numpy as np


def network(dims, seed: int, *, w_scale: float = 1.0, bias: float = 0.3, dead=(), zero_rows=()):
    """Parameters W ~ N(0, w_scale²/fan_in), b ~ N(0, bias²). `dead`: (layer, unit) pairs whose bias
    is -30 (Z < 0 on every example: a dead ReLU unit, a saturated negative tanh unit);
    `zero_rows`: (layer, unit) pairs with W row and bias exactly 0 (Z = 0, A = g(0))."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) * (w_scale / np.sqrt(dims[l - 1]))
        params[f"b{l}"] = rng.standard_normal((dims[l], 1)) * bias
    for l, unit in dead:
        params[f"b{l}"][unit, 0] = -30.0
    for l, unit in zero_rows:
        params[f"W{l}"][unit, :] = 0.0
        params[f"b{l}"][unit, 0] = 0.0
    return params


def batch(n: int, m: int, seed: int, *, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, m)) * scale + shift


def signs_to_match(W: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Q with each column (rows >= cols) or row (rows < cols) multiplied by ±1 to point like W's."""
    if Q.shape[0] >= Q.shape[1]:
        return Q * np.where(np.sum(W * Q, axis=0) < 0, -1.0, 1.0)
    return Q * np.where(np.sum(W * Q, axis=1) < 0, -1.0, 1.0)[:, None]


def equal_up_to_signs(W, Q, rtol: float = 1e-8) -> bool:
    """W = Q up to the signs of columns (rows when wide) and a positive scale? (Q orthonormal-ish)"""
    if not isinstance(W, np.ndarray) or W.shape != Q.shape or W.dtype.kind not in "fiu":
        return False
    W = W.astype(float)
    if not np.all(np.isfinite(W)):
        return False
    nw, nq = float(np.linalg.norm(W)), float(np.linalg.norm(Q))
    if nw == 0.0:
        return False
    W, Q = W / nw, Q / nq
    return float(np.max(np.abs(W - signs_to_match(W, Q)))) <= rtol * max(float(np.max(np.abs(Q))), 1e-300)


def flipped(W, Q) -> bool:
    """W equals Q up to signs but not with Q's own signs (after the same scaling)."""
    nw, nq = float(np.linalg.norm(W)), float(np.linalg.norm(Q))
    return bool(np.any(np.sign(np.sum(W.astype(float) / nw * Q / nq, axis=0 if Q.shape[0] >= Q.shape[1] else 1)) < 0))
