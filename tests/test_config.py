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
    ({"hidden_size": "big"}, 'hidden_size must be an integer, got "big"'),
    # what int() would quietly turn into another model
    ({"num_attention_heads": True}, "num_attention_heads must be an integer, got true"),
    ({"num_hidden_layers": 1.5}, "num_hidden_layers must be an integer, got 1.5"),
    ({"hidden_size": "32"}, 'hidden_size must be an integer, got "32"'),
    ({"layer_norm_eps": True}, "layer_norm_eps must be a number, got true"),
    ({"pad_token_id": []}, r"pad_token_id must be an integer, got \[\]"),
    ({"model_type": ["bert"]}, r"model_type \['bert'\] is not supported"),
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


@pytest.mark.parametrize("architecture, model_type", [
    ("BertModel", "bert"), ("BertForMaskedLM", "bert"), ("RobertaForSequenceClassification", "roberta"),
    ("XLMRobertaModel", "xlm-roberta"), ("ElectraForSequenceClassification", "electra"),
    ("DistilBertModel", "distilbert"),
])
def test_the_architecture_picks_the_body(architecture, model_type):
    c = BertConfig.from_dict({**TINY_CONFIG, "architectures": [architecture], "model_type": model_type})
    assert (c.model_type, c.architecture) == (model_type, architecture)
    assert BertConfig.from_dict({**TINY_CONFIG, "architectures": [architecture], "model_type": None}).model_type \
        == model_type  # no model_type: read from the architecture


def test_roberta_positions_start_after_the_pad_id():
    c = BertConfig.from_dict({**TINY_CONFIG, "architectures": ["XLMRobertaForSequenceClassification"],
                              "model_type": "xlm-roberta", "pad_token_id": 1, "max_position_embeddings": 514,
                              "type_vocab_size": 1, "layer_norm_eps": 1e-5})
    assert (c.position_offset, c.max_tokens, c.layer_norm_eps, c.body.token_types) == (2, 512, 1e-5, "first")
    bert = BertConfig.from_dict(TINY_CONFIG)
    assert (bert.position_offset, bert.max_tokens) == (0, 32)


def test_electra_and_distilbert_configs():
    electra = BertConfig.from_dict({**TINY_CONFIG, "architectures": ["ElectraModel"], "model_type": "electra"})
    assert electra.embedding_width == 128  # ElectraConfig's default when the file has no embedding_size
    distil = {"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
              "vocab_size": 40, "dim": 16, "n_layers": 3, "n_heads": 2, "hidden_dim": 24, "activation": "gelu",
              "max_position_embeddings": 32, "id2label": {"1": "POSITIVE", "0": "NEGATIVE"}}
    c = BertConfig.from_dict(distil)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (16, 3, 2, 24)
    assert (c.type_vocab_size, c.layer_norm_eps, c.id2label) == (0, 1e-12, ("NEGATIVE", "POSITIVE"))
    with pytest.raises(ConfigError, match="hidden_act 'relu'"):
        BertConfig.from_dict({**distil, "activation": "relu"})


@pytest.mark.parametrize("change, words", [
    ({"architectures": ["NomicBertModel"], "model_type": "nomic_bert"}, "architecture 'NomicBertModel'"),
    ({"architectures": ["JinaBertForMaskedLM"], "model_type": "bert"}, "architecture 'JinaBertForMaskedLM'"),
    ({"architectures": ["NewModel"], "model_type": "new"}, "architecture 'NewModel' .model_type 'new'. is not"),
    ({"architectures": ["ModernBertModel"], "model_type": "modernbert"}, "architecture 'ModernBertModel'"),
    ({"architectures": ["DebertaV2ForSequenceClassification"], "model_type": "deberta-v2"},
     "architecture 'DebertaV2ForSequenceClassification'"),
    ({"architectures": None, "model_type": "deberta-v2"}, "model_type 'deberta-v2' is not supported"),
])
def test_other_architectures_are_refused_in_one_line_naming_them(change, words):
    with pytest.raises(ConfigError, match=words) as e:
        BertConfig.from_dict({**TINY_CONFIG, **change})
    assert "\n" not in str(e.value) and "not supported" in str(e.value)
