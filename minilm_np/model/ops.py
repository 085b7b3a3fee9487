"""Pure array maths for the forward pass: no config, no checkpoint names, float32 in and out.

NumPy 2 promotes ``float32 op python-float`` to float32 but ``float32 op np.float64`` to float64, so
every constant here is a ``np.float32``.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x @ w.T + b with w in the checkpoint's (out, in) layout.  [..., in] -> [..., out]"""
    y = x @ w.T
    y += b
    return y


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """Normalise the last axis to zero mean, unit variance (biased), then scale and shift.  [..., D]"""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(np.square(centred), axis=-1, keepdims=True)
    return centred / np.sqrt(var + F32(eps)) * g + b


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), written with tanh so that no exp can overflow; float32 in, float32 out."""
    return F32(0.5) * (F32(1) + np.tanh(F32(0.5) * x))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the row max so exp never overflows."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# GELU(x) = x * Phi(x), Phi the standard normal CDF. Written as
#     GELU(x) = max(x, 0) - |x|/2 * erfc(|x|/sqrt 2)
# the correction term is small exactly where x is large, so float32 rounding of "1 + erf" near 1 never
# multiplies a large x (the naive form loses ~1e-6 at |x| ~ 5). erfc(z) = exp(-z^2) * P(z)/Q(z) on
# z in [0, 4.5] (beyond, the term is below 1e-9 and is clamped). P, Q: our own weighted least-squares
# rational fit of erfc(z)*exp(z^2) (scripts/fit_erfc.py), relative error 7e-8 in float64; in float32
# the GELU stays within 2.4e-7 of the float64 erf-GELU for all x (tests/test_ops.py checks 1e-6).
_ERFC_Z_MAX = F32(4.5)
_P = (0.9999999275266934, 0.9525666045075629, 0.42252212896005054, 0.07853123612753105)  # z^0 .. z^3
_Q = (1.0, 2.080939809366175, 1.7706900436013668, 0.7474426304070221, 0.1392677763585772)  # z^0 .. z^4


def _horner(coefs: tuple[float, ...], z: np.ndarray) -> np.ndarray:
    """sum(c_i z^i), evaluated in place in one buffer."""
    acc = np.full_like(z, F32(coefs[-1]))
    for c in coefs[-2::-1]:
        acc *= z
        acc += F32(c)
    return acc


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, BERT's "gelu" -- not the tanh approximation. Same shape as x."""
    a = np.abs(x)
    z = a * F32(1 / np.sqrt(2))
    np.minimum(z, _ERFC_Z_MAX, out=z)
    tail = np.square(z)
    np.negative(tail, out=tail)
    np.exp(tail, out=tail)  # exp(-z^2)
    tail *= _horner(_P, z)
    tail /= _horner(_Q, z)  # erfc(z)
    tail *= a
    tail *= F32(0.5)  # |x|/2 * erfc(|x|/sqrt 2) = min(Phi(x), Phi(-x)) * |x|
    return np.maximum(x, F32(0.0)) - tail


# The same formula in fewer passes, for the fast path: the polynomials are re-expressed in a = |x|
# (coefficient i divided by sqrt(2)^i, 1/2 folded into P), a is clamped at 4.5 * sqrt(2) before use
# (the term it drops is below 1e-9), and x is overwritten block by block so each block stays in cache.
_A_MAX = F32(4.5 * np.sqrt(2))
_PA = tuple(F32(0.5 * c / np.sqrt(2) ** i) for i, c in enumerate(_P))
_QA = tuple(F32(c / np.sqrt(2) ** i) for i, c in enumerate(_Q))
_BLOCK = 1 << 16  # elements per block: 256 KiB of float32


def _horner_into(coefs: tuple, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.multiply(a, coefs[-1], out=out)
    for c in coefs[-2:0:-1]:
        out += c
        out *= a
    out += coefs[0]
    return out


def gelu_(x: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """gelu(x + bias) written into x, a C-contiguous float32 [..., F] array; returns x.

    The bias is added block by block too, while the block is in cache, instead of in a pass of its own.
    """
    rows = x.reshape(-1, x.shape[-1])  # [R, F]
    step = max(1, _BLOCK // max(1, rows.shape[1]))  # rows per block
    a, tail, q = (np.empty((min(step, rows.shape[0]), rows.shape[1]), np.float32) for _ in range(3))
    for start in range(0, rows.shape[0], step):
        v = rows[start:start + step]
        m = v.shape[0]
        av, tv, qv = a[:m], tail[:m], q[:m]
        if bias is not None:
            v += bias
        np.abs(v, out=av)
        np.minimum(av, _A_MAX, out=av)
        np.square(av, out=tv)
        tv *= F32(-0.5)
        np.exp(tv, out=tv)  # exp(-a^2 / 2)
        tv *= _horner_into(_PA, av, qv)
        tv /= _horner_into(_QA, av, qv)
        tv *= av  # |x| Phi(-|x|)
        np.maximum(v, F32(0.0), out=v)
        v -= tv
    return x
