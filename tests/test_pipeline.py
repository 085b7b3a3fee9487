"""checkpoint/pipeline.py: a sentence-transformers directory's modules, pooling, Dense, Normalize and prompts,
in the classic format and the one sentence-transformers 6 writes."""

import json

import numpy as np
import pytest

from minilm_np import Embedder, ModelLoadError, WeightsError
from minilm_np.checkpoint.pipeline import read_pipeline

from helpers import ARCHS, MODELS, pipeline_dir


def test_sentence_transformers_6_files():
    p = read_pipeline(pipeline_dir_ro("mean-dense-normalize"))
    assert p.pooling == ("mean",) and p.include_prompt and p.normalize and p.embedding_dimension == 32
    assert [(d.weight.shape, d.bias.shape, d.activation) for d in p.dense] == [((16, 32), (16,), "tanh")]
    assert p.steps[-1] == "normalize"
    assert p.prompts == {"query": "query: ", "document": "passage: "} and p.default_prompt_name is None
    assert read_pipeline(pipeline_dir_ro("mean-default-prompt")).default_prompt_name == "query"
    assert read_pipeline(pipeline_dir_ro("cls+mean")).pooling == ("cls", "mean")
    assert read_pipeline(pipeline_dir_ro("cls-dense-identity")).dense[0].bias is None


def pipeline_dir_ro(variant):
    """The variant's own files (read_pipeline does not need the body's weights)."""
    return ARCHS / "pipelines" / variant


def test_classic_files_and_defaults():
    p = read_pipeline(MODELS / "tiny-embedder")
    assert p.pooling == ("mean",) and p.normalize and p.prompts == {"query": "", "document": ""}
    bare = read_pipeline(ARCHS / "models" / "roberta-nli-3")  # no modules.json: mean pooling, nothing after
    assert (bare.pooling, bare.steps) == (("mean",), ())


@pytest.mark.parametrize("variant, flags", [
    ("weightedmean-no-prompt", {"pooling_mode_weightedmean_tokens": True, "include_prompt": False}),
    ("lasttoken", {"pooling_mode_lasttoken": True}),
    ("mean_sqrt_len_tokens", {"pooling_mode_mean_sqrt_len_tokens": True}),
    ("cls+mean", {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True}),
    ("mean", {"pooling_mode_mean_tokens": False}),  # no mode set: mean, as sentence-transformers 6 reads it
])
def test_the_classic_pooling_flags_give_what_the_new_format_gives(tmp_path, variant, flags):
    new = pipeline_dir(tmp_path / "new", variant)
    old = pipeline_dir(tmp_path / "old", variant)
    (old / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **flags}))
    texts = ["query: what is the boundary layer?", "a", ""]
    a, b = (Embedder.from_pretrained(d).encode_query(texts) for d in (new, old))
    assert np.array_equal(a, b)


def _edit(path, **changes):
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


def _edit_module(d, i, **changes):
    modules = json.loads((d / "modules.json").read_text())
    modules[i].update(changes)
    (d / "modules.json").write_text(json.dumps(modules))


@pytest.mark.parametrize("change, words", [
    (lambda d: _edit(d / "1_Pooling" / "config.json", pooling_mode=["mean", "attention"]),
     "pooling mode attention is not supported"),
    (lambda d: _edit(d / "1_Pooling" / "config.json", pooling_mode_attention_tokens=True),
     "pooling mode pooling_mode_attention_tokens is not supported"),
    (lambda d: (d / "modules.json").write_text(json.dumps(
        json.loads((d / "modules.json").read_text()) + [
            {"idx": 4, "name": "4", "path": "", "type": "sentence_transformers.models.WeightedLayerPooling"}])),
     "module sentence_transformers.models.WeightedLayerPooling is not supported"),
    (lambda d: (d / "modules.json").write_text(json.dumps(
        json.loads((d / "modules.json").read_text())[:1] + [
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "my_package.Pooling"}])),
     "module my_package.Pooling is not supported"),
    (lambda d: _edit(d / "2_Dense" / "config.json", activation_function="torch.nn.modules.activation.GELU"),
     "Dense activation_function torch.nn.modules.activation.GELU is not supported"),
    (lambda d: _edit(d / "config_sentence_transformers.json", default_prompt_name="search"),
     "default_prompt_name 'search' is not one of the prompts"),
    (lambda d: (d / "2_Dense" / "model.safetensors").unlink(), "no weights file in .*2_Dense"),
    # files that are JSON but not the shape sentence-transformers writes (found by fuzzing them)
    (lambda d: _edit_module(d, 1, path=["1_Pooling"]), r"module path \['1_Pooling'\] is not a folder inside"),
    (lambda d: _edit_module(d, 1, path="../1_Pooling"), "module path '../1_Pooling' is not a folder inside"),
    (lambda d: _edit_module(d, 1, path="/etc"), "module path '/etc' is not a folder inside"),
    (lambda d: _edit(d / "1_Pooling" / "config.json", embedding_dimension="x"),
     'the embedding dimension must be an integer, got "x"'),
    (lambda d: (d / "2_Dense" / "config.json").write_text("[16, 32]"), "2_Dense/config.json: expected a JSON object"),
    (lambda d: _edit(d / "2_Dense" / "config.json", activation_function=["tanh"]),
     r"Dense activation_function \['tanh'\] is not supported"),
    (lambda d: _edit(d / "config_sentence_transformers.json", default_prompt_name={"query": 1}),
     "default_prompt_name {'query': 1} is not one of the prompts"),
    (lambda d: _edit(d / "config_sentence_transformers.json", similarity_fn_name="jaccard"),
     "similarity_fn_name 'jaccard' is not one of cosine, dot, euclidean, manhattan"),
])
def test_what_the_engine_does_not_know_is_refused_in_one_line(tmp_path, change, words):
    d = pipeline_dir(tmp_path, "mean-dense-normalize")
    change(d)
    with pytest.raises(ModelLoadError, match=words) as e:
        Embedder.from_pretrained(d)
    assert "\n" not in str(e.value)


def test_a_dense_config_that_disagrees_with_its_weights_is_named(tmp_path):
    d = pipeline_dir(tmp_path, "mean-dense-normalize")
    _edit(d / "2_Dense" / "config.json", in_features=64)
    with pytest.raises(WeightsError, match=r"2_Dense/model.safetensors: tensor linear.weight has shape \[16, 32\], "
                                           r"expected \[16, 64\]"):
        Embedder.from_pretrained(d)
