"""minilm_np.explain.trace: attentions and hidden states of one pair or text, against transformers'
output_attentions / output_hidden_states (tests/fixtures/reference/trace.*, made by
`python -m weights_tools make-explain-fixtures`), and the named intermediates against the forward pass."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minilm_np import CrossEncoder, Embedder

from helpers import MODELS, REFERENCE

TOL = 1e-5
META = json.loads((REFERENCE / "trace.json").read_text(encoding="utf-8"))


def reference(name: str) -> dict[str, np.ndarray]:
    with np.load(REFERENCE / "trace.npz") as z:
        return {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(name + "/")}


def assert_matches(trace, ref: dict, layers: int, heads: int) -> None:
    t = len(ref["input_ids"])
    assert trace.input_ids.tolist() == ref["input_ids"].tolist()
    assert trace.token_type_ids.tolist() == ref["token_type_ids"].tolist()
    assert trace.attentions.shape == (layers, heads, t, t) == ref["attentions"].shape
    assert trace.hidden_states.shape == ref["hidden_states"].shape
    assert trace.attentions.dtype == trace.hidden_states.dtype == np.float32
    np.testing.assert_allclose(trace.attentions, ref["attentions"], atol=TOL, rtol=0)
    np.testing.assert_allclose(trace.hidden_states, ref["hidden_states"], atol=TOL, rtol=0)
    np.testing.assert_allclose(trace.attentions.sum(-1), 1, atol=1e-5)  # each row a distribution


@pytest.mark.parametrize("name,layers,heads", [("tiny-ce-1", 2, 4), ("tiny-ce-3", 3, 3)])
def test_tiny_cross_encoders_match_transformers(name, layers, heads):
    ce = CrossEncoder.from_pretrained(MODELS / name)
    trace = ce.trace(*META["pairs"]["museums"])
    ref = reference(name)
    assert_matches(trace, ref, layers, heads)
    np.testing.assert_allclose(trace.output, ref["logits"], atol=TOL, rtol=0)
    assert trace.tokens[0] == "[CLS]" and trace.tokens.count("[SEP]") == 2


def test_tiny_embedder_matches_transformers():
    emb = Embedder.from_pretrained(MODELS / "tiny-embedder")
    trace = emb.trace(META["text"])
    assert_matches(trace, reference("tiny-embedder"), 2, 4)
    np.testing.assert_allclose(trace.output, emb.encode(META["text"]), atol=1e-6, rtol=0)


def test_l6_cross_encoder_matches_transformers_on_the_berlin_pair(msmarco_l6):
    ce = CrossEncoder.from_pretrained(msmarco_l6)
    trace = ce.trace(*META["pairs"]["berlin"])
    assert_matches(trace, reference("l6"), 6, 12)
    assert abs(float(trace.output[0]) - float(ce.predict(tuple(META["pairs"]["berlin"])))) < TOL


def test_all_minilm_l6_v2_matches_transformers(minilm_dir):
    emb = Embedder.from_pretrained(minilm_dir)
    trace = emb.trace(META["text"])
    assert_matches(trace, reference("all-minilm-l6-v2"), 6, 12)
    np.testing.assert_allclose(trace.output, emb.encode(META["text"]), atol=1e-6, rtol=0)


def test_named_intermediates_compose_into_the_forward_pass():
    from minilm_np.model.ops import gelu, layer_norm, linear, softmax
    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")
    a = ce.trace("how many people live in berlin?", "berlin is a city.").arrays
    w, cfg = ce.checkpoint.weights, ce.config
    lw = w.layers[1]
    x = a["encoder.layer.0.output.LayerNorm"]  # layer 1 reads layer 0's output
    heads, t = cfg.num_attention_heads, x.shape[0]
    q = linear(x, lw.q_w, lw.q_b).reshape(t, heads, -1).transpose(1, 0, 2)
    np.testing.assert_allclose(a["encoder.layer.1.attention.self.query"], q, atol=1e-6)
    probs = a["encoder.layer.1.attention.self.probs"]
    np.testing.assert_allclose(probs, softmax(a["encoder.layer.1.attention.self.scores"]), atol=1e-7)
    context = (probs @ a["encoder.layer.1.attention.self.value"]).transpose(1, 0, 2).reshape(t, -1)
    np.testing.assert_allclose(a["encoder.layer.1.attention.self.context"], context, atol=1e-6)
    after = layer_norm(x + a["encoder.layer.1.attention.output.dense"], lw.ln1_g, lw.ln1_b, cfg.layer_norm_eps)
    np.testing.assert_allclose(a["encoder.layer.1.attention.output.LayerNorm"], after, atol=1e-6)
    np.testing.assert_allclose(a["encoder.layer.1.intermediate"], gelu(linear(after, lw.ff1_w, lw.ff1_b)), atol=1e-6)
    np.testing.assert_array_equal(a["embeddings"], ce.trace("how many people live in berlin?",
                                                            "berlin is a city.").hidden_states[0])
    assert len(a) == 1 + cfg.num_hidden_layers * 11 and all(not k.startswith(".") for k in a)


def test_trace_checks_its_arguments():
    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")
    with pytest.raises(TypeError, match="passage must be a str, got int"):
        ce.trace("q", 3)
    with pytest.raises(TypeError, match="text must be a str, got list"):
        Embedder.from_pretrained(MODELS / "tiny-embedder").trace(["a"])
