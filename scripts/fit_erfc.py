"""Fit the rational approximation of erfc(z) * exp(z^2) used by minilm_np.ops.gelu.

Weighted least squares on the linearised problem P(z) - y(z) Q(z) = 0 (Q(0) = 1), iterated so the
weights settle on the relative error (Sanathanan-Koerner steps with Lawson re-weighting towards the
minimax error). Reference values come from math.erfc in float64. Prints the coefficients and the
float32 GELU error they give. Run: python scripts/fit_erfc.py [num_degree den_degree]
"""

import math
import sys

import numpy as np

Z_MAX = 4.5


def fit(n_num: int, n_den: int, z: np.ndarray, y: np.ndarray, steps: int = 80):
    q_at = np.ones_like(z)
    w = np.ones_like(z)
    for _ in range(steps):
        basis = np.hstack([z[:, None] ** np.arange(n_num), -(y[:, None] * z[:, None] ** np.arange(1, n_den))])
        a = basis / q_at[:, None] / y[:, None]  # relative error
        sol, *_ = np.linalg.lstsq(a * w[:, None], w / q_at, rcond=None)
        p, q = sol[:n_num], np.concatenate([[1.0], sol[n_num:]])
        q_at = np.polyval(q[::-1], z)
        err = (np.polyval(p[::-1], z) / q_at - y) / y
        w = w * np.sqrt(np.abs(err) + 1e-300)
        w /= w.max()
    return p, q, np.abs(err).max()


def main() -> None:
    n_num, n_den = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (4, 5)
    z = np.linspace(0, Z_MAX, 40001)
    y = np.array([math.erfc(v) * math.exp(v * v) for v in z])
    p, q, rel = fit(n_num, n_den, z, y)
    print(f"P (z^0..) = {tuple(float(c) for c in p)}")
    print(f"Q (z^0..) = {tuple(float(c) for c in q)}")
    print(f"max relative error in float64: {rel:.2e}")


if __name__ == "__main__":
    main()
