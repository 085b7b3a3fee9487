import json

import pytest

from minilm_np import ConfigError, ModelLoadError, ModelNotFoundError
from minilm_np.checkpoint.load import read_config
from minilm_np.model.config import BertConfig

from helpers import TINY_CONFIG


def test_reads_every_dimension_from_the_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**TINY_CONFIG, "layer_norm_eps": 1e-7}))
    c = read_config(tmp_path / "config.json")
    assert (c.hidden_size, c.num_attention_heads, c.head_size, c.num_hidden_layers) == (16, 4, 4, 2)
    assert (c.intermediate_size, c.max_position_embeddings, c.num_labels, c.layer_norm_eps) == (24, 32, 1, 1e-7)


def test_num_labels_follows_id2label_like_transformers():
    assert BertConfig.from_dict({**TINY_CONFIG, "id2label": {"0": "a", "1": "b", "2": "c"}}).num_labels == 3
    no_labels = {k: v for k, v in TINY_CONFIG.items() if k != "id2label"}
    assert BertConfig.from_dict(no_labels).num_labels == 2
    assert BertConfig.from_dict({**no_labels, "num_labels": 1}).num_labels == 1


@pytest.mark.parametrize("change, words", [
    ({"hidden_act": "gelu_new"}, "hidden_act 'gelu_new'"),
    ({"hidden_act": "relu"}, "hidden_act 'relu'"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ({"hidden_size": 30}, "not divisible"),
    ({"model_type": "roberta"}, "model_type 'roberta'"),
    ({"num_hidden_layers": 0}, "num_hidden_layers must be positive"),
    ({"hidden_size": "big"}, "wrong type"),
])
def test_unsupported_or_invalid_configs_are_refused_by_name(change, words):
    with pytest.raises(ConfigError, match=words):
        BertConfig.from_dict({**TINY_CONFIG, **change})


def test_missing_fields_are_named():
    with pytest.raises(ConfigError, match="vocab_size"):
        BertConfig.from_dict({k: v for k, v in TINY_CONFIG.items() if k != "vocab_size"})


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ModelNotFoundError, match="config.json"):
        read_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="config.json is not valid JSON"):
        read_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="JSON object"):
        read_config(tmp_path / "config.json")
