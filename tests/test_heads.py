import json
import shutil

import numpy as np
import pytest

from minilm_np import ConfigError, Embedder
from minilm_np.checkpoint.pipeline import read_pipeline
from minilm_np.model.heads import l2_normalize, pool

from helpers import MODELS

SPANS = [(0, 3), (3, 4), (4, 9)]


@pytest.fixture
def states():
    return np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)


def test_pooling_modes_on_packed_states(states):
    per_seq = [states[s:e] for s, e in SPANS]
    np.testing.assert_allclose(pool(states, SPANS, "mean"), [x.mean(0) for x in per_seq], rtol=1e-6)
    np.testing.assert_array_equal(pool(states, SPANS, "max"), [x.max(0) for x in per_seq])
    np.testing.assert_array_equal(pool(states, SPANS, "cls"), [x[0] for x in per_seq])
    np.testing.assert_allclose(pool(states, SPANS, "mean_sqrt_len"), [x.sum(0) / np.sqrt(len(x)) for x in per_seq],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="weighted"):
        pool(states, SPANS, "weighted")


def test_l2_normalize_keeps_zero_rows():
    x = np.float32([[3, 4], [0, 0]])
    np.testing.assert_allclose(l2_normalize(x), [[0.6, 0.8], [0, 0]])


def _st_dir(tmp_path, modules, pooling=None):
    d = shutil.copytree(MODELS / "tiny-embedder", tmp_path / "m")
    (d / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (d / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return d


def test_concatenated_pooling_and_no_normalize(tmp_path):
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    d = _st_dir(tmp_path, modules, {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True})
    emb = Embedder.from_pretrained(d)
    assert emb.pipeline.pooling == ("cls", "mean") and not emb.pipeline.normalize and emb.dim == 64
    raw = emb.encode(["the city", "a"], normalize=False)
    assert raw.shape == (2, 64) and not np.allclose(np.linalg.norm(raw, axis=1), 1)
    np.testing.assert_allclose(np.linalg.norm(emb.encode(["the city", "a"]), axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("modules, pooling, words", [
    ([{"path": "", "type": "sentence_transformers.models.Transformer"},
      {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}], None, "Dense"),
    ([{"path": "", "type": "sentence_transformers.models.Transformer"},
      {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}],
     {"pooling_mode": "attention"}, "pooling mode attention is not supported"),
    ([{"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}], None, "no sentence_transformers"),
])
def test_unsupported_pipelines_are_refused_by_name(tmp_path, modules, pooling, words):
    with pytest.raises(ConfigError, match=words):
        read_pipeline(_st_dir(tmp_path, modules, pooling))


def _masked_reference(states, spans, mode, skip):
    """sentence-transformers' padded Pooling, written out per sequence with the prompt masked."""
    out = []
    for s, e in spans:
        x = states[s:e]
        keep = np.arange(e - s) >= skip
        w = (np.arange(e - s) + 1) * keep
        if mode == "cls":
            out.append(x[skip] if keep.any() else x[0])
        elif mode == "lasttoken":
            out.append(x[-1] if keep.any() else np.zeros_like(x[0]))
        elif mode == "max":
            out.append(np.where(keep[:, None], x, -np.inf).max(0))
        elif mode == "weightedmean":
            out.append((x * w[:, None]).sum(0) / max(w.sum(), 1e-9))
        else:
            total = (x * keep[:, None]).sum(0)
            out.append(total / (max(keep.sum(), 1e-9) if mode == "mean" else np.sqrt(max(keep.sum(), 1e-9))))
    return np.array(out)


@pytest.mark.parametrize("mode", ["cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken"])
@pytest.mark.parametrize("skip", [0, 2, 4])
def test_every_pooling_mode_with_and_without_the_prompt(states, mode, skip):
    got = pool(states, SPANS, mode, skip)  # SPANS has a 1-token sequence: nothing left after a skip
    np.testing.assert_allclose(got, _masked_reference(states, SPANS, mode, skip), rtol=1e-6, atol=1e-7)
    assert got.dtype == np.float32


def test_dense_module():
    from minilm_np.model.heads import Dense
    x = np.float32([[1, 2], [3, 4]])
    w, b = np.float32([[1, 0], [0, -1], [1, 1]]), np.float32([0, 1, -3])
    np.testing.assert_allclose(Dense(w, b, "tanh")(x), np.tanh(x @ w.T + b), rtol=1e-6)
    np.testing.assert_allclose(Dense(w, None, "identity")(x), x @ w.T)


def test_quantize_embeddings_formulas():
    from minilm_np import quantize_embeddings
    x = np.float32([[-1.0, 0.0, 0.5, 2.0, 0.1, -0.1, 0.3, 0.2, 1.0], [1.0, 0.0, -0.5, -2.0, 0.1, 0.1, 0.3, -0.2, 1.0]])
    # each dimension's minimum -> 0, its maximum -> 255 or (float32 rounding of (max - min) / step) 254, as
    # sentence-transformers' formula gives; a constant dimension -> 0
    assert quantize_embeddings(x, "uint8").tolist() == [[0, 0, 254, 254, 0, 0, 0, 255, 0],
                                                        [254, 0, 0, 0, 0, 255, 0, 0, 0]]
    assert np.array_equal(quantize_embeddings(x, "int8"), (quantize_embeddings(x, "uint8").astype(int) - 128))
    ranges = np.float32([[-2] * 9, [2] * 9])
    assert quantize_embeddings(x[:1], "uint8", ranges=ranges)[0, :4].tolist() == [63, 127, 159, 254]
    assert quantize_embeddings(x, "ubinary").tolist() == [[0b00111011, 0b10000000], [0b10001110, 0b10000000]]
    assert quantize_embeddings(x, "binary").tolist() == [[0b00111011 - 128, 0], [0b10001110 - 128, 0]]
    with pytest.raises(ValueError, match="single embedding"):
        quantize_embeddings(x[:1], "int8")
    with pytest.raises(ValueError, match="precision must be one of"):
        quantize_embeddings(x, "int4")


@pytest.mark.parametrize("precision, width, dtype", [("int8", 9, np.int8), ("uint8", 9, np.uint8),
                                                     ("binary", 2, np.int8), ("ubinary", 2, np.uint8)])
def test_quantize_embeddings_edge_cases(precision, width, dtype):
    from minilm_np import quantize_embeddings
    x = np.float32([[-1.0, 0.0, 0.5, 2.0, 0.1, -0.1, 0.3, 0.2, 1.0], [1.0, 0.0, -0.5, -2.0, 0.1, 0.1, 0.3, -0.2, 1.0]])
    none = quantize_embeddings(x[:0], precision)  # no embeddings: none back, of the precision's type and width
    assert none.shape == (0, width) and none.dtype == dtype
    assert np.array_equal(quantize_embeddings(x.tolist(), precision), quantize_embeddings(x, precision))
    bad = x.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="embeddings contain NaN or infinite values"):
        quantize_embeddings(bad, precision)
    with pytest.raises(ValueError, match="embeddings must be a 1-D or 2-D array of numbers, got 3-D"):
        quantize_embeddings(x[None], precision)


def test_quantize_embeddings_ranges_and_calibration_must_fit():
    from minilm_np import quantize_embeddings
    x = np.float32([[-1.0, 0.0, 0.5], [1.0, 0.5, -0.5]])
    with pytest.raises(ValueError, match=r"ranges must be \[2, 3\] .* got \[2, 2\]"):
        quantize_embeddings(x, "int8", ranges=np.float32([[0, 0], [1, 1]]))
    with pytest.raises(ValueError, match=r"calibration_embeddings must be \[m, 3\] with m >= 1, got \[4\]"):
        quantize_embeddings(x, "uint8", calibration_embeddings=np.float32([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"calibration_embeddings must be \[m, 3\] with m >= 1, got \[0, 3\]"):
        quantize_embeddings(x, "uint8", calibration_embeddings=x[:0])
    ranges = np.stack([x.min(axis=0), x.max(axis=0)])  # what calibrating on x means
    assert np.array_equal(quantize_embeddings(x[:1], "uint8", calibration_embeddings=x),
                          quantize_embeddings(x[:1], "uint8", ranges=ranges))
