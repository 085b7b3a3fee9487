"""The element-wise stages of the packed forward, by name: what ``encode_packed`` runs between its matrix
products. Two sets compute the same formulas:

  * "numpy" (the default): NumPy operations written in place, a few passes per stage (below and
    ``ops.gelu_``). What the tests hold bit for bit across batch sizes (where BLAS rounds
    every row alike) and to the reference at 1e-5.
  * "numba": the same formulas as compiled loops, one pass per element (``fused.py``; optional,
    ``pip install "minilm-np[jit]"``). Not the same rounding: within the same tolerances of the reference.

The matrix products are NumPy's (BLAS) in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .ops import F32, gelu_

KERNELS = ("numpy", "numba")
INSTALL_HINT = 'pip install "minilm-np[jit]"'


@dataclass(frozen=True)
class Kernels:
    """One implementation of each element-wise stage; all write into their first argument."""
    name: str
    gelu_: Callable  # (x [R, F], bias [F]) -> x = gelu(x + bias)
    residual_layer_norm_: Callable  # (x [R, D], y [R, D], y_bias, g, b, eps) -> x = layer_norm(x + (y + y_bias))
    exp_columns_: Callable  # (p [h, n, m], sums [h, m]) -> p = exp(p - max down each column), sums its sums
    divide_heads_: Callable  # (x [m, H, K], sums [H, m]) -> x = x / sums, each head's row by its own sum


def layer_norm_(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """ops.layer_norm in place on the rows of x [N, D]."""
    x -= x.mean(axis=1, keepdims=True)
    var = np.einsum("nd,nd->n", x, x)[:, None]  # [N, 1] sum of squares
    var *= F32(1 / x.shape[1])
    var += F32(eps)
    np.sqrt(var, out=var)
    x /= var
    x *= g
    x += b
    return x


def residual_layer_norm_(x: np.ndarray, y: np.ndarray, y_bias: np.ndarray, g: np.ndarray, b: np.ndarray,
                         eps: float) -> np.ndarray:
    """x = layer_norm(x + (y + y_bias)) in place; y is overwritten.  x, y [R, D]"""
    y += y_bias
    x += y
    return layer_norm_(x, g, b, eps)


def exp_columns_(p: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """p = exp(p - its max down each column) in place; the column sums into sums.  p [h, n, m], sums [h, m]

    Columns, not rows: attention takes its scores transposed (keys down), so that the max and the sum reduce
    across whole rows, which NumPy vectorises (see ``packed.attention_``)."""
    p -= p.max(axis=1, keepdims=True)
    np.exp(p, out=p)
    return p.sum(axis=1, out=sums)


def divide_heads_(x: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """x /= sums, each head's row of x by its own sum: attention's late softmax denominators.  x [m, H, K],
    sums [H, m]"""
    x /= sums.T[:, :, None]
    return x


NUMPY = Kernels("numpy", gelu_, residual_layer_norm_, exp_columns_, divide_heads_)


def by_name(name: str) -> Kernels:
    """The kernels called ``name``, one of KERNELS. "numba" needs the jit extra and says so if it is absent."""
    if name == "numpy":
        return NUMPY
    if name != "numba":
        raise ValueError(f"kernels must be one of {', '.join(map(repr, KERNELS))}, not {name!r}")
    try:
        from . import fused
    except ImportError as e:
        if e.name not in ("numba", "llvmlite"):
            raise
        raise ImportError(f'kernels="numba" needs numba: {INSTALL_HINT}') from None
    return Kernels("numba", fused.gelu_, fused.residual_layer_norm_, fused.exp_columns_, fused.divide_heads_)
