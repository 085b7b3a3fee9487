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
