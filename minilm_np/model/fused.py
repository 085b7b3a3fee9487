"""The element-wise stages of the packed forward as compiled loops: one pass per element instead of NumPy's one
pass per operation. Optional: numba (``pip install "minilm-np[jit]"``) is imported by this module alone, and
``kernels.py`` imports this module only when asked for ``kernels="numba"``.

Same formulas as the NumPy kernels (``kernels.py``), float32 throughout, but not the same rounding: the loops
are compiled with fused multiply-adds (``contract``), reductions may be reordered into vector lanes
(``reassoc``, LayerNorm's two row sums and nothing else), and exp is our own (``_exp_parts``) because LLVM
cannot vectorise a call to the C library's expf. tests/test_kernels.py holds each kernel to its float64 form
and the whole forward to the reference fixtures at the NumPy kernels' tolerances.

Every loop runs along a row (the contiguous axis), so a row's result does not depend on which other rows
share its batch: batch invariance holds as it does for the NumPy kernels.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
from numba.extending import intrinsic

from .ops import _A_MAX, _PA, _QA

F32 = np.float32
_JIT = dict(nogil=True, error_model="numpy", boundscheck=False)  # nogil: worker threads run at once
_EXACT_ORDER = _JIT | dict(fastmath={"contract"})
_LANES = _JIT | dict(fastmath={"contract", "reassoc"})
NO_CACHE = ("numba cannot write its cache here (a read-only filesystem?): the kernels compile in each process "
            "(about 3 s at the first call). Set NUMBA_CACHE_DIR to a writable directory to keep them.")


def _jit(**options):
    """numba.njit, its machine code cached on disk where numba finds a place it can write (beside this file, in
    NUMBA_CACHE_DIR or the user's cache directory). Where it finds none, numba refuses ``cache=True`` outright
    (RuntimeError: "no locator available"), so the kernels are compiled without the cache, with a warning."""
    def decorate(function):
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError as e:
            if "no locator available" not in str(e):
                raise
            warnings.warn(NO_CACHE, RuntimeWarning, stacklevel=3)
            return numba.njit(**options)(function)
    return decorate

ZERO, ONE, HALF = F32(0), F32(1), F32(0.5)

# exp(t) = 2^n exp(r), n = round(t / ln 2), r = t - n ln 2 in [-ln2/2, ln2/2]. ln 2 split in two so that
# n * _LN2_HI is exact for |n| < 2^12 (Cody and Waite's reduction). exp(r) as 1 + r + r^2 P(r), P of degree 5:
# the minimax coefficients of Cephes' expf (S. L. Moshier, Cephes Math Library, expf.c), about 1 ulp.
_LOG2E = F32(1.4426950408889634)
_LN2_HI, _LN2_LO = F32(0.693145751953125), F32(1.428606765330187e-06)
_E = tuple(F32(c) for c in (5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3,
                            1.3981999507e-3, 1.9875691500e-4))
E0, E1, E2, E3, E4, E5 = _E
# Below -80, exp(t) < 2e-35: a softmax weight that cannot move a sum of at least 1 (the row's max gives 1).
# The clamp keeps 2^n a normal float (n >= -116) so the bit trick below stays valid.
_T_MIN = F32(-80.0)

PA0, PA1, PA2, PA3 = (F32(c) for c in _PA)  # ops.gelu_'s rational erfc fit, in a = |x|, 1/2 folded into P
QA0, QA1, QA2, QA3, QA4 = (F32(c) for c in _QA)
A_MAX = F32(_A_MAX)


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float32 whose bit pattern is the int32 ``bits`` (C's memcpy between the two; no instruction at all)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(numba.types.float32))
    return numba.types.float32(numba.types.int32), codegen


@_jit(inline="always", **_EXACT_ORDER)
def _exp_parts(t):
    """exp(t) as (m, 2^n): exp(t) = m * 2^n with m in [0.7, 1.42], for t below 88 (softmax and GELU ask for
    t <= 0). 2^n is made from its bits, so a loop that calls this stays free of calls and vectorises."""
    t = max(t, _T_MIN)
    n = np.floor(t * _LOG2E + HALF)
    r = t - n * _LN2_HI - n * _LN2_LO
    m = (((((E5 * r + E4) * r + E3) * r + E2) * r + E1) * r + E0) * r * r + r + ONE
    return m, _float_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


@_jit(**_EXACT_ORDER)
def _gelu_rows(x, bias):
    rows, cols = x.shape
    for i in range(rows):
        row = x[i]
        for j in range(cols):
            v = row[j] + bias[j]
            a = min(abs(v), A_MAX)
            p = ((PA3 * a + PA2) * a + PA1) * a + PA0
            q = (((QA4 * a + QA3) * a + QA2) * a + QA1) * a + QA0
            m, two_n = _exp_parts(-HALF * a * a)
            row[j] = max(v, ZERO) - m * p / q * a * two_n  # max(v, 0) - |v| Phi(-|v|)
    return x


def gelu_(x: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """gelu(x + bias) written into x, a C-contiguous float32 [..., F] array; returns x (ops.gelu_'s formula)."""
    _gelu_rows(x.reshape(-1, x.shape[-1]), bias)
    return x


@_jit(**_LANES)
def _residual_layer_norm(x, y, y_bias, g, b, eps):
    rows, d = x.shape
    inv_d = ONE / F32(d)
    for i in range(rows):
        xi, yi = x[i], y[i]
        total = ZERO
        for j in range(d):
            v = xi[j] + (yi[j] + y_bias[j])
            xi[j] = v
            total += v
        mean = total * inv_d
        squares = ZERO
        for j in range(d):
            c = xi[j] - mean
            squares += c * c
        std = np.sqrt(squares * inv_d + eps)
        for j in range(d):
            xi[j] = (xi[j] - mean) / std * g[j] + b[j]
    return x


def residual_layer_norm_(x: np.ndarray, y: np.ndarray, y_bias: np.ndarray, g: np.ndarray, b: np.ndarray,
                         eps: float) -> np.ndarray:
    """x = layer_norm(x + (y + y_bias)) in place, one pass over each row.  x, y [R, D]"""
    return _residual_layer_norm(x, y, y_bias, g, b, F32(eps))


@_jit(**_EXACT_ORDER)
def _exp_columns(p, sums):
    heads, n, m = p.shape
    top = np.empty(m, np.float32)  # [m] the column's max
    for h in range(heads):
        ph, s = p[h], sums[h]
        top[:] = ph[0]
        for i in range(1, n):
            for j in range(m):
                top[j] = max(top[j], ph[i, j])
        s[:] = ZERO
        for i in range(n):
            row = ph[i]
            for j in range(m):
                mant, two_n = _exp_parts(row[j] - top[j])
                e = mant * two_n
                row[j] = e
                s[j] += e
    return sums


def exp_columns_(p: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """p = exp(p - its max down each column) in place; the column sums into sums.  p [h, n, m], sums [h, m]"""
    return _exp_columns(p, sums)


@_jit(**_EXACT_ORDER)
def _divide_heads(x, sums):
    m, heads, k = x.shape
    for i in range(m):
        for h in range(heads):
            row, d = x[i, h], sums[h, i]
            for j in range(k):
                row[j] /= d
    return x


def divide_heads_(x: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """x /= sums, each head's row of x by its own sum.  x [m, H, K] C-contiguous, sums [H, m]"""
    return _divide_heads(x, sums)
