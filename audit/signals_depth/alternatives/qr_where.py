"""np.linalg.qr(mode="reduced") with the signs from np.where and applied to the rows of Q.T
(then transposed back); the wide case handled by transposing at the end only."""

import numpy as np


def initialize_orthogonal(shape, gain=1.0, rng=None):
    rng = rng if rng is not None else np.random.default_rng()
    rows, cols = shape
    M = rng.standard_normal(size=(rows, cols))
    wide = rows < cols
    Q, R = np.linalg.qr(M.T if wide else M, mode="reduced")
    signs = np.where(np.diagonal(R) < 0, -1.0, 1.0)
    Qt = signs[:, None] * Q.T          # row i of Q.T is column i of Q
    W = Qt if wide else Qt.T
    return W * gain
