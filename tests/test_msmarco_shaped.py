"""weights_tools.msmarco_shaped: the MS MARCO L-6-shaped checkpoint and the Cranfield pairs behind
tests/fixtures/reference/msmarco_shaped_l6.*. No torch: the builder runs at test time."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from weights_tools.msmarco_shaped import build_msmarco_shaped, cranfield_pairs, first_sentence, weights_digest

REFERENCE_JSON = Path(__file__).parent / "fixtures" / "reference" / "msmarco_shaped_l6.json"


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE_JSON.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built(minilm_dir, tmp_path_factory) -> Path:
    return build_msmarco_shaped(minilm_dir, tmp_path_factory.mktemp("msmarco") / "model", seed=0)


def test_same_seed_gives_identical_bytes(built, minilm_dir, tmp_path):
    again = build_msmarco_shaped(minilm_dir, tmp_path / "again", seed=0)
    for name in ("model.safetensors", "config.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt"):
        assert (again / name).read_bytes() == (built / name).read_bytes(), name


def test_other_seed_changes_only_the_classifier(built, minilm_dir, tmp_path):
    other = load_file(str(build_msmarco_shaped(minilm_dir, tmp_path / "seed1", seed=1) / "model.safetensors"))
    base = load_file(str(built / "model.safetensors"))
    changed = sorted(k for k in base if not np.array_equal(base[k], other[k]))
    assert changed == ["classifier.weight"]  # the bias is zero for every seed


def test_tensor_names_and_shapes(built, minilm_dir):
    tensors = load_file(str(built / "model.safetensors"))
    source = load_file(str(minilm_dir / "model.safetensors"))
    body = {k for k in tensors if k.startswith("bert.")}
    assert body == {"bert." + k for k in source if k != "embeddings.position_ids"}
    assert set(tensors) - body == {"classifier.weight", "classifier.bias"}
    assert tensors["classifier.weight"].shape == (1, 384)
    assert tensors["classifier.bias"].shape == (1,)
    assert all(t.dtype == np.float32 for t in tensors.values())
    assert np.array_equal(tensors["bert.pooler.dense.weight"], source["pooler.dense.weight"])


def test_cross_encoder_layout(built):
    config = json.loads((built / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "LABEL_0"} and config["label2id"] == {"LABEL_0": 0}
    assert json.loads((built / "tokenizer_config.json").read_text())["model_max_length"] == 512
    for name in ("tokenizer.json", "vocab.txt", "special_tokens_map.json"):
        assert (built / name).is_file(), name
    for name in ("modules.json", "sentence_bert_config.json", "1_Pooling", "config_sentence_transformers.json"):
        assert not (built / name).exists(), f"{name}: a cross-encoder directory has no sentence-transformers files"


def test_weights_are_those_the_reference_was_computed_from(built, reference):
    assert reference["seed"] == 0
    assert weights_digest(built / "model.safetensors") == reference["weights_digest"]


def test_cranfield_pairs_rebuild_the_reference_strings(cranfield_dir, reference):
    refs = reference["cranfield"]["refs"]
    pairs = cranfield_pairs(cranfield_dir, refs)
    assert len(pairs) == len(refs) >= 30
    for ref, (query, passage) in zip(refs, pairs):
        assert hashlib.sha256(query.encode("utf-8")).hexdigest() == ref["query_sha256"], ref
        assert hashlib.sha256(passage.encode("utf-8")).hexdigest() == ref["passage_sha256"], ref
        assert query and passage


def test_cranfield_pairs_refuse_an_unknown_passage_kind(cranfield_dir):
    with pytest.raises(ValueError, match="passage"):
        cranfield_pairs(cranfield_dir, [{"query": 1, "doc": 1, "passage": "title"}])


def test_first_sentence():
    assert first_sentence("a wing in a slipstream . an experimental study .") == "a wing in a slipstream ."
    assert first_sentence("mach 2.5 flow . more") == "mach 2.5 flow ."  # "2.5" is not a sentence end
    assert first_sentence("no full stop") == "no full stop"
    assert first_sentence("ends here .") == "ends here ."
