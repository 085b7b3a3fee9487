import math

import numpy as np
import pytest

from minilm_np.model.ops import gelu, layer_norm, linear, softmax


def erf_gelu64(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])


def test_gelu_is_exact_erf_gelu_within_1e6_everywhere():
    x = np.concatenate([np.linspace(-12, 12, 400_001), [-1e4, -50, 0.0, 1e-30, 50, 1e4]]).astype(np.float32)
    got = gelu(x)
    assert got.dtype == np.float32
    assert np.abs(got - erf_gelu64(x)).max() < 1e-6


def test_gelu_is_not_the_tanh_approximation():
    x = np.float32([-3.0, -1.5, 1.0, 2.5])
    tanh_gelu = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    assert np.abs(gelu(x) - tanh_gelu).max() > 1e-4  # the two differ by ~1e-4..1e-3 here
    assert np.abs(gelu(x) - erf_gelu64(x)).max() < 1e-6


def test_layer_norm_matches_float64_definition():
    rng = np.random.default_rng(0)
    x = rng.normal(3, 5, size=(4, 7, 384)).astype(np.float32)
    g, b = rng.normal(size=384).astype(np.float32), rng.normal(size=384).astype(np.float32)
    got = layer_norm(x, g, b, 1e-12)
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-12) * g + b
    assert got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5


def test_softmax_is_shift_invariant_and_survives_huge_values():
    x = np.float32([[1e30, 1e30, -1e30], [0.0, 1.0, 2.0]])
    p = softmax(x)
    assert np.allclose(p.sum(-1), 1)
    assert np.allclose(p[0], [0.5, 0.5, 0.0])
    assert np.allclose(softmax(x[1:] + 100), p[1:], atol=1e-7)


def test_linear_uses_checkpoint_layout_and_stays_float32():
    rng = np.random.default_rng(1)
    x, w, b = (rng.normal(size=s).astype(np.float32) for s in ((5, 3), (2, 3), (2,)))
    y = linear(x, w, b)
    assert y.shape == (5, 2) and y.dtype == np.float32
    assert np.allclose(y, x.astype(np.float64) @ w.T.astype(np.float64) + b, atol=1e-6)


@pytest.mark.parametrize("shape", [(0, 16), (3, 0, 16)])
def test_ops_accept_empty_arrays(shape):
    x = np.zeros(shape, np.float32)
    assert gelu(x).shape == shape
    assert layer_norm(x, np.ones(16, np.float32), np.zeros(16, np.float32), 1e-12).shape == shape
