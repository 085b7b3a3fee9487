"""The forward's element-wise kernels (minilm_np/model/kernels.py): each set against the float64 form of what it
computes, and the compiled set (fused.py) against the properties the forward relies on. End-to-end parity of
both sets with transformers is in test_parity.py.

Tolerances: GELU 1e-6 absolute (as tests/test_ops.py), LayerNorm 2e-6 absolute on unit-variance rows, softmax
weights 1e-6 relative to the column sum.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from minilm_np import CrossEncoder
from minilm_np.model import kernels as kernel_sets

from helpers import KERNELS, MODELS, NEEDS_NUMBA

F32 = np.float32


@pytest.fixture(params=KERNELS)
def k(request) -> kernel_sets.Kernels:
    return kernel_sets.by_name(request.param)


def erf_gelu64(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64).ravel()]).reshape(x.shape)


def test_gelu_with_bias_is_the_erf_gelu_within_1e6(k):
    grid = np.concatenate([np.linspace(-12, 12, 160 * 1536 - 6), [-1e4, -50, 0.0, 1e-30, 50, 1e4]]).astype(F32)
    x = grid.reshape(-1, 1536)  # [R, F]
    bias = np.linspace(-0.5, 0.5, 1536, dtype=F32)  # [F]
    want = erf_gelu64(x.astype(np.float64) + bias)
    got = k.gelu_(x.copy(), bias)
    assert got.dtype == F32
    assert np.abs(got - want).max() < 1e-6


def test_residual_layer_norm_is_the_float64_definition(k):
    rng = np.random.default_rng(0)
    x, y = (rng.normal(0.3, 2.0, (37, 384)).astype(F32) for _ in range(2))
    y_bias, g, b = (rng.normal(0, 1, 384).astype(F32) for _ in range(3))
    s = x.astype(np.float64) + (y.astype(np.float64) + y_bias)
    want = (s - s.mean(1, keepdims=True)) / np.sqrt(s.var(1, keepdims=True) + 1e-12) * g + b
    got = k.residual_layer_norm_(x.copy(), y.copy(), y_bias, g, b, 1e-12)
    assert got.dtype == F32
    np.testing.assert_allclose(got, want, atol=2e-6 * np.abs(g).max() * 4, rtol=0)


@pytest.mark.parametrize("shape", [(12, 54, 54), (3, 200, 7), (12, 54, 1), (2, 1, 5)])
def test_exp_columns_give_the_softmax_down_each_column(k, shape):
    rng = np.random.default_rng(1)
    p = (rng.normal(0, 4, shape)).astype(F32)  # [h, n, m]
    p[0, 0, 0] = -1e30  # a masked-out score: weight 0, no overflow, no NaN
    want = np.exp(p - p.max(axis=1, keepdims=True).astype(np.float64))
    want /= want.sum(axis=1, keepdims=True)
    got, sums = p.copy(), np.full((shape[0], shape[2]), np.nan, F32)  # [h, m]
    k.exp_columns_(got, sums)
    assert np.isfinite(got).all() and np.isfinite(sums).all()
    np.testing.assert_allclose(got / sums[:, None, :], want, atol=1e-6, rtol=0)


def test_divide_heads_divides_each_heads_rows_by_their_own_sums(k):
    """Attention's late softmax denominators: the context [m, H, K] of query i, head h, over sums[h, i]."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, (7, 12, 32)).astype(F32)  # [m, H, K]
    sums = rng.uniform(0.5, 40, (12, 7)).astype(F32)  # [H, m]
    want = x / sums.T[:, :, None]  # a float32 division is correctly rounded: the same bits whoever divides
    np.testing.assert_array_equal(k.divide_heads_(x, sums), want)
    np.testing.assert_array_equal(x, want)  # in place


@NEEDS_NUMBA
def test_compiled_rows_do_not_depend_on_their_batch():
    """What makes a pair score the same alone and in a batch, bit for bit: each row is computed alone."""
    fused = kernel_sets.by_name("numba")
    rng = np.random.default_rng(2)
    h = rng.normal(0, 2, (9, 1536)).astype(F32)
    bias = rng.normal(0, 1, 1536).astype(F32)
    whole = fused.gelu_(h.copy(), bias)
    assert all(np.array_equal(fused.gelu_(h[i:i + 1].copy(), bias), whole[i:i + 1]) for i in range(9))
    x, y = rng.normal(0, 1, (2, 9, 384)).astype(F32)
    g, b = rng.normal(0, 1, (2, 384)).astype(F32)
    whole = fused.residual_layer_norm_(x.copy(), y.copy(), b, g, b, 1e-12)
    assert all(np.array_equal(fused.residual_layer_norm_(x[i:i + 1].copy(), y[i:i + 1].copy(), b, g, b, 1e-12),
                              whole[i:i + 1]) for i in range(9))
    p = rng.normal(0, 3, (4, 30, 17)).astype(F32)  # the last layer's [CLS] query alone is a column of one
    whole, sums = p.copy(), np.empty((4, 17), F32)
    fused.exp_columns_(whole, sums)
    for j in range(17):
        one, one_sums = np.ascontiguousarray(p[:, :, j:j + 1]), np.empty((4, 1), F32)
        fused.exp_columns_(one, one_sums)
        assert np.array_equal(one_sums, sums[:, j:j + 1]) and np.array_equal(one, whole[:, :, j:j + 1])


@NEEDS_NUMBA
def test_compiled_exp_is_within_2_ulp_down_to_the_clamp():
    fused = kernel_sets.by_name("numba")
    t = np.linspace(-80, 0, 16 * 20_001, dtype=F32).reshape(16, 20_001, 1)  # [h, n, 1]: one column per head
    got = t.copy()
    fused.exp_columns_(got, np.empty((16, 1), F32))  # the max of each column is its last value, so got = exp(t - t[-1])
    want = np.exp(t.astype(np.float64) - t[:, -1:].astype(np.float64))
    assert (np.abs(got - want) / want).max() < 2 * 2.0 ** -23


def test_unknown_kernels_are_named_in_the_error():
    with pytest.raises(ValueError, match=r"kernels must be one of 'numpy', 'numba', not 'cuda'"):
        CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", kernels="cuda")


def test_numba_kernels_without_numba_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "minilm_np.model.fused", raising=False)
    monkeypatch.delattr(sys.modules["minilm_np.model"], "fused", raising=False)
    with pytest.raises(ImportError, match=r'kernels="numba" needs numba: pip install "minilm-np\[jit\]"'):
        kernel_sets.by_name("numba")


@pytest.mark.parametrize("kernels", KERNELS)
def test_a_scorer_reports_its_kernels_and_runs_them_on_worker_threads(kernels):
    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", kernels=kernels, threads=2)
    assert ce.kernels == kernels
    pairs = [("q", "a passage " * i) for i in range(40)]
    np.testing.assert_array_equal(ce.predict(pairs, batch_size=4), CrossEncoder.from_pretrained(
        MODELS / "tiny-ce-1", kernels=kernels, threads=1).predict(pairs, batch_size=4))


@NEEDS_NUMBA
def test_where_numba_cannot_cache_the_kernels_compile_and_say_so(tmp_path):
    """A read-only filesystem (a container's, a serverless function's) leaves numba nowhere to write its cache,
    and it then refuses ``cache=True`` with a RuntimeError. Made here by a cache locator that finds no place
    (numba's NUMBA_CACHE_LOCATOR_CLASSES), in a fresh process: the kernels still load and compute, with a warning
    that names the way out."""
    import os
    import subprocess
    from pathlib import Path

    (tmp_path / "nowhere.py").write_text("class Nowhere:\n    @classmethod\n    def from_function(cls, f, path):\n"
                                         "        return None\n")
    script = ("import numpy as np\n"
              "from minilm_np.model import kernels\n"
              "x = np.ones((1, 4), np.float32)\n"
              "kernels.by_name('numba').gelu_(x, np.zeros(4, np.float32))\n"
              "print(x[0, 0])\n")
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "nowhere.Nowhere",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert abs(float(result.stdout) - 0.8413447) < 1e-6  # gelu(1) = Phi(1)
    assert "Set NUMBA_CACHE_DIR to a writable directory" in result.stderr
