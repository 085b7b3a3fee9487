import json
import tracemalloc

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from minilm_np import CrossEncoder, Embedder, ModelNotFoundError, WeightsError
from minilm_np.model.config import BertConfig
from minilm_np.checkpoint.load import load_checkpoint
from minilm_np.checkpoint.names import canonical_name
from minilm_np.checkpoint.safetensors import read_safetensors

from helpers import MODELS, TINY_CONFIG, make_checkpoint

CFG = BertConfig.from_dict(TINY_CONFIG)
PAIRS = [("how many people live in berlin", "berlin is the city"), ("", "abc")]


def test_canonical_names():
    assert canonical_name("bert.encoder.layer.0.output.dense.weight") == "encoder.layer.0.output.dense.weight"
    assert canonical_name("bert.embeddings.LayerNorm.gamma") == "embeddings.LayerNorm.weight"
    assert canonical_name("encoder.layer.3.attention.output.LayerNorm.beta") == \
        "encoder.layer.3.attention.output.LayerNorm.bias"
    assert canonical_name("classifier.weight") == "classifier.weight"


def test_three_spellings_of_one_checkpoint_score_identically(tmp_path):
    plain = make_checkpoint(tmp_path / "plain")
    bare = make_checkpoint(tmp_path / "bare", prefix="")
    legacy = make_checkpoint(tmp_path / "legacy",
                             rename=lambda n: n.replace("LayerNorm.weight", "LayerNorm.gamma")
                             .replace("LayerNorm.bias", "LayerNorm.beta"))
    scores = [CrossEncoder.from_pretrained(d).predict(PAIRS) for d in (plain, bare, legacy)]
    assert np.array_equal(scores[0], scores[1]) and np.array_equal(scores[0], scores[2])


def test_float32_weights_are_views_of_the_mapped_file(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    w = load_checkpoint(d, head=True).weights
    assert isinstance(w.word.base, np.ndarray) and not w.word.flags.owndata
    assert not w.word.flags.writeable  # read-only mapping, never a private copy


def test_loading_does_not_copy_the_file(minilm_dir):
    """The reader maps the file and copies nothing (a check's temporaries aside); the model then copies its
    layers' weights alone (to the layout its products run fastest in: minilm_np/model/packed.py), and the
    embeddings stay mapped."""
    def peak_allocation(load) -> tuple[int, object]:
        tracemalloc.start()
        loaded = load()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak, loaded

    size = (minilm_dir / "model.safetensors").stat().st_size
    peak, checkpoint = peak_allocation(lambda: load_checkpoint(minilm_dir, head=False))
    assert peak < size / 4, f"peak Python allocation {peak} vs file {size}: the reader copied weights"
    dense = sum(getattr(layer, name).nbytes for layer in checkpoint.weights.layers
                for name in ("q_w", "k_w", "v_w", "o_w", "ff1_w", "ff2_w"))  # 56% of all-MiniLM-L6-v2's file
    peak, _ = peak_allocation(lambda: Embedder.from_pretrained(minilm_dir))
    assert peak < dense + size / 4, f"peak Python allocation {peak} vs the layers' weights {dense}: more was copied"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_other_float_dtypes_load_as_float32(tmp_path, dtype):
    d = make_checkpoint(tmp_path / "m")
    tensors = load_file(str(d / "model.safetensors"))
    if dtype == "bfloat16":  # write bf16 by hand: numpy has no bfloat16
        raw = {k: (v.view(np.uint32) >> 16).astype(np.uint16) for k, v in tensors.items()}
        _write_bf16(d / "model.safetensors", raw)
        expected = {k: (v.view(np.uint32) & 0xFFFF0000).view(np.float32) for k, v in tensors.items()}
    else:
        cast = {k: v.astype(dtype) for k, v in tensors.items()}
        save_file(cast, str(d / "model.safetensors"))
        expected = {k: v.astype(np.float32) for k, v in cast.items()}
    checkpoint = load_checkpoint(d, head=True)
    w = checkpoint.weights
    assert w.word.dtype == np.float32
    assert np.array_equal(w.word, expected["bert.embeddings.word_embeddings.weight"])
    assert np.array_equal(checkpoint.head.classifier_w, expected["classifier.weight"])


def _write_bf16(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        b = a.tobytes()
        header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    path.write_bytes(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def test_every_missing_and_misshaped_tensor_is_named_at_once(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    t = load_file(str(d / "model.safetensors"))
    del t["bert.encoder.layer.1.output.dense.bias"]
    del t["classifier.weight"]
    t["bert.embeddings.position_embeddings.weight"] = np.zeros((16, 16), np.float32)
    save_file(t, str(d / "model.safetensors"))
    with pytest.raises(WeightsError, match="missing tensor") as e:
        CrossEncoder.from_pretrained(d)
    msg = str(e.value)
    assert "encoder.layer.1.output.dense.bias" in msg and "classifier.weight" in msg
    assert "embeddings.position_embeddings.weight has shape [16, 16], expected [32, 16]" in msg
    assert "model.safetensors" in msg


def test_integer_tensor_where_float_expected(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    t = load_file(str(d / "model.safetensors"))
    t["bert.embeddings.LayerNorm.bias"] = np.zeros(16, np.int32)
    save_file(t, str(d / "model.safetensors"))
    with pytest.raises(WeightsError, match="embeddings.LayerNorm.bias has dtype int32"):
        CrossEncoder.from_pretrained(d)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, bad):
    d = make_checkpoint(tmp_path / "m")
    t = load_file(str(d / "model.safetensors"))
    t["bert.encoder.layer.0.intermediate.dense.weight"][3, 2] = bad
    save_file(t, str(d / "model.safetensors"))
    with pytest.raises(WeightsError, match="encoder.layer.0.intermediate.dense.weight contains NaN or Inf"):
        CrossEncoder.from_pretrained(d)


def test_embedder_ignores_classifier_and_buffers(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    t = load_file(str(d / "model.safetensors"))
    t["bert.embeddings.position_ids"] = np.arange(32, dtype=np.int64)[None]
    save_file(t, str(d / "model.safetensors"))
    with pytest.warns(UserWarning, match="not a sentence-transformers model .* mean-pooled.* is a cross-encoder"):
        emb = Embedder.from_pretrained(d)  # as sentence-transformers warns, and more: it is a reranker
    assert emb.encode(["abc"]).shape == (1, 16)


def test_tensors_the_config_does_not_describe_are_warned_about(tmp_path, recwarn):
    d = make_checkpoint(tmp_path / "m")
    CrossEncoder.from_pretrained(d)
    assert not recwarn.list  # a checkpoint that matches its config loads quietly
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "num_hidden_layers": config["num_hidden_layers"] - 1}))
    last = config["num_hidden_layers"] - 1
    with pytest.warns(UserWarning, match=rf"16 tensor\(s\) that the config does not describe were left out "
                                         rf"\(encoder\.layer\.{last}\..*num_hidden_layers"):
        CrossEncoder.from_pretrained(d)  # one layer fewer: a different model, as transformers warns


def test_only_a_directory_without_modules_json_is_warned_about(tmp_path, recwarn):
    Embedder.from_pretrained(MODELS / "tiny-embedder")
    assert not recwarn.list
    bare = make_checkpoint(tmp_path / "bare", config={"architectures": ["BertModel"]}, head=False, prefix="")
    with pytest.warns(UserWarning, match="no modules.json") as caught:
        Embedder.from_pretrained(bare)
    assert "cross-encoder" not in str(caught[0].message)
    with pytest.warns(UserWarning, match="no modules.json") as by_name:
        Embedder(bare)  # as sentence-transformers' SentenceTransformer(...)
    assert caught[0].filename == by_name[0].filename == __file__  # the warning points at the line that loaded


def test_missing_weights_file_is_named(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    (d / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="model.safetensors"):
        CrossEncoder.from_pretrained(d)


def _with_header(path, edit):
    """Rewrite a safetensors file's JSON header with ``edit(header)``, keeping its data bytes."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + n:])


def _first(header):
    """The entry whose data starts the file."""
    return min((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])


@pytest.mark.parametrize("edit, words", [
    (lambda h: h[_first(h)].update(data_offsets=[o + 4 for o in h[_first(h)]["data_offsets"]]),
     "starts at byte 4 of the data, where byte 0 was expected: a hole"),  # its shape still fits its offsets
    (lambda h: h.update(extra={"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}),
     "overlaps the tensor before it"),
    (lambda h: h.pop(max((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][1])),
     r"the tensors end at byte \d+ of \d+ data bytes"),
    (lambda h: h[_first(h)].update(data_offsets=[False, h[_first(h)]["data_offsets"][1]]), "is malformed"),
])
def test_a_header_that_does_not_tile_the_data_is_refused(tmp_path, edit, words):
    """safetensors requires the tensors to cover the data back to back; an entry moved onto other bytes
    would load as garbage (a fuzzed header moved by one byte gave NaN scores)."""
    d = make_checkpoint(tmp_path / "m")
    _with_header(d / "model.safetensors", edit)
    with pytest.raises(WeightsError, match="model.safetensors: not a valid safetensors file .*" + words):
        CrossEncoder.from_pretrained(d)


def test_garbage_and_truncated_files_name_the_file(tmp_path):
    d = make_checkpoint(tmp_path / "m")
    data = (d / "model.safetensors").read_bytes()
    for blob in (b"", b"\x00" * 7, b"garbage!" * 100, data[:100], data[: len(data) // 2], data[:-1]):
        (d / "model.safetensors").write_bytes(blob)
        with pytest.raises(WeightsError, match="model.safetensors"):
            read_safetensors(d / "model.safetensors")


def test_each_architecture_names_its_tensors_in_one_table():
    from minilm_np.checkpoint.names import expected_shapes
    assert canonical_name("roberta.encoder.layer.0.attention.self.query.weight", "xlm-roberta") == \
        "encoder.layer.0.attention.self.query.weight"
    assert canonical_name("distilbert.transformer.layer.1.sa_layer_norm.weight", "distilbert") == \
        "transformer.layer.1.sa_layer_norm.weight"
    assert canonical_name("electra.embeddings.LayerNorm.gamma", "electra") == "embeddings.LayerNorm.weight"
    roberta = BertConfig.from_dict({**TINY_CONFIG, "architectures": ["RobertaForSequenceClassification"],
                                    "model_type": "roberta", "pad_token_id": 1})
    assert {"classifier.dense.weight", "classifier.out_proj.weight"} <= set(expected_shapes(roberta, head=True))
    assert "pooler.dense.weight" not in expected_shapes(roberta, head=True)
    electra = BertConfig.from_dict({**TINY_CONFIG, "architectures": ["ElectraModel"], "model_type": "electra",
                                    "embedding_size": 8})
    shapes = expected_shapes(electra, head=False)
    assert shapes["embeddings.word_embeddings.weight"] == (40, 8) and shapes["embeddings_project.weight"] == (16, 8)
    same = BertConfig.from_dict({**TINY_CONFIG, "model_type": "electra", "architectures": [], "embedding_size": 16})
    assert "embeddings_project.weight" not in expected_shapes(same, head=False)
    distil = BertConfig.from_dict({**TINY_CONFIG, "architectures": ["DistilBertForSequenceClassification"],
                                   "model_type": "distilbert"})
    shapes = expected_shapes(distil, head=True)
    assert "transformer.layer.1.ffn.lin2.weight" in shapes and "pre_classifier.weight" in shapes
    assert not any("token_type" in n for n in shapes)


@pytest.mark.parametrize("name, stored, canonical", [
    ("roberta-nli-3", "roberta.encoder.layer.1.output.dense.bias", "encoder.layer.1.output.dense.bias"),
    ("electra-ce-1", "electra.embeddings_project.weight", "embeddings_project.weight"),
    ("distilbert-ce-2", "pre_classifier.weight", "pre_classifier.weight"),
    ("xlmr-ce-1", "classifier.out_proj.bias", "classifier.out_proj.bias"),
])
def test_a_missing_tensor_of_another_body_is_named(tmp_path, name, stored, canonical):
    import shutil
    from helpers import ARCHS
    d = shutil.copytree(ARCHS / "models" / name, tmp_path / name)
    t = load_file(str(d / "model.safetensors"))
    del t[stored]
    save_file(t, str(d / "model.safetensors"))
    with pytest.raises(WeightsError, match=f"missing tensor.s.: {canonical}$"):
        CrossEncoder.from_pretrained(d)
