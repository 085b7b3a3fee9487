"""minilm-np against transformers / sentence-transformers, on outputs they produced and we committed
(tests/fixtures/reference, made by `python -m weights_tools make-fixtures`; versions in versions.json).

Tolerances: logits 1e-5 absolute, normalised embeddings 1e-6 absolute, hidden states 1e-5 absolute.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from minilm_np import CrossEncoder, Embedder, HubError
from minilm_np.model import reference

from helpers import ARCH_INPUTS, ARCHS, KERNELS, MODELS, REFERENCE, pipeline_dir

LOGIT_TOL, EMBEDDING_TOL, HIDDEN_TOL = 1e-5, 1e-6, 1e-5
INPUTS = json.loads((REFERENCE / "tiny_inputs.json").read_text(encoding="utf-8"))
TINY_PAIRS = [tuple(p) for p in INPUTS["pairs"]]


def ref(name: str):
    return np.load(REFERENCE / f"{name}.npz")


def assert_same_tokens(ours: dict, theirs) -> None:
    """Same ids, types and mask on real tokens (padding widths may differ)."""
    t = ours["input_ids"].shape[1]
    assert theirs["attention_mask"][:, t:].sum() == 0
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        mask = theirs["attention_mask"][:, :t].astype(bool)
        assert np.array_equal(ours[key][mask], theirs[key][:, :t][mask]), key
    assert np.array_equal(ours["attention_mask"], theirs["attention_mask"][:, :t])


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("name", ["tiny-ce-1", "tiny-ce-3"])
def test_tiny_cross_encoders_match_transformers(name, kernels):
    ce = CrossEncoder.from_pretrained(MODELS / name, kernels=kernels)
    r = ref(name)
    batch = ce.tokenizer.pad(ce.tokenizer.encode_pairs(TINY_PAIRS)).as_dict()
    assert_same_tokens(batch, r)
    # every stage, on the plain reference path: embeddings, each layer
    states = reference.encode(ce.checkpoint.weights, ce.config, batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"], all_layers=True)
    t = batch["input_ids"].shape[1]
    mask = batch["attention_mask"].astype(bool)
    for i, s in enumerate(states):
        np.testing.assert_allclose(s[mask], r["hidden_states"][i][:, :t][mask], atol=HIDDEN_TOL, rtol=0,
                                   err_msg=f"hidden state {i}")
    # the fast path, end to end
    scores = ce.predict(TINY_PAIRS)
    logits = r["logits"][:, 0] if ce.num_labels == 1 else r["logits"]
    assert scores.dtype == np.float32 and scores.shape == logits.shape
    np.testing.assert_allclose(scores, logits, atol=LOGIT_TOL, rtol=0)


def test_sigmoid_activation_matches_sentence_transformers_cross_encoder():
    # sentence-transformers applies Sigmoid to one-label cross-encoders by default (versions.json notes)
    scores = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1").predict(TINY_PAIRS, activation="sigmoid")
    np.testing.assert_allclose(scores, ref("tiny-ce-1")["st_scores"], atol=1e-6, rtol=0)


@pytest.mark.parametrize("kernels", KERNELS)
def test_tiny_embedder_matches_sentence_transformers(kernels):
    emb = Embedder.from_pretrained(MODELS / "tiny-embedder", kernels=kernels)
    r = ref("tiny-embedder")
    texts = INPUTS["texts"]
    assert_same_tokens(emb.tokenizer.pad(emb.tokenizer.encode_texts(texts)).as_dict(), r)
    np.testing.assert_allclose(emb.encode(texts), r["st_embeddings"], atol=EMBEDDING_TOL, rtol=0)
    # the model's own Normalize module normalises even when the caller does not ask (as in ST)
    np.testing.assert_allclose(emb.encode(texts, normalize=False), r["st_embeddings_raw"], atol=EMBEDDING_TOL)


@pytest.mark.parametrize("kernels", KERNELS)
def test_real_all_minilm_l6_v2_matches_sentence_transformers(minilm_dir, kernels):
    meta = json.loads((REFERENCE / "all_minilm_l6_v2.json").read_text(encoding="utf-8"))
    r = ref("all_minilm_l6_v2")
    emb = Embedder.from_pretrained(minilm_dir, kernels=kernels)
    texts = meta["texts"]
    assert emb.max_length == meta["max_seq_length"] == 256
    assert_same_tokens(emb.tokenizer.pad(emb.tokenizer.encode_texts(texts)).as_dict(),
                       {**r, "token_type_ids": np.zeros_like(r["input_ids"])})
    got = emb.encode(texts, batch_size=7)
    np.testing.assert_allclose(got, r["embeddings"], atol=EMBEDDING_TOL, rtol=0)


@pytest.fixture(scope="module")
def msmarco_shaped(minilm_dir, tmp_path_factory):
    """MS MARCO L-6-shaped cross-encoder: the real MiniLM body with the seeded classifier head."""
    from weights_tools.msmarco_shaped import build_msmarco_shaped, weights_digest
    path = build_msmarco_shaped(minilm_dir, tmp_path_factory.mktemp("msmarco-l6"), seed=0)
    meta = json.loads((REFERENCE / "msmarco_shaped_l6.json").read_text(encoding="utf-8"))
    assert weights_digest(path / "model.safetensors") == meta["weights_digest"]
    return path, meta


@pytest.mark.parametrize("kernels", KERNELS)
def test_msmarco_shaped_l6_matches_transformers_on_cranfield_pairs(msmarco_shaped, cranfield_dir, kernels):
    from weights_tools.msmarco_shaped import cranfield_pairs
    path, meta = msmarco_shaped
    pairs = cranfield_pairs(cranfield_dir, meta["cranfield"]["refs"]) + [tuple(p) for p in meta["model_card_pairs"]]
    r = ref("msmarco_shaped_l6")
    ce = CrossEncoder.from_pretrained(path, kernels=kernels)
    assert ce.max_length == 512
    assert_same_tokens(ce.tokenizer.pad(ce.tokenizer.encode_pairs(pairs)).as_dict(), r)
    scores = ce.predict(pairs)
    # The float64 run of the same model is the truth we are held to, at 1e-5.
    np.testing.assert_allclose(scores, r["logits_float64"][:, 0], atol=LOGIT_TOL, rtol=0)
    # transformers' float32 logits are themselves up to 6.8e-6 from that truth here (the seeded head,
    # |w| ~ 79, multiplies float32 noise of the pooled vector), so two correct float32 engines can
    # differ by twice that: the bound against torch is torch's own error plus ours.
    torch_error = np.abs(r["logits"][:, 0] - r["logits_float64"][:, 0]).max()
    assert torch_error < LOGIT_TOL
    np.testing.assert_allclose(scores, r["logits"][:, 0], atol=torch_error + LOGIT_TOL, rtol=0)


@pytest.mark.parametrize("kernels", KERNELS)
def test_a_pair_scores_the_same_alone_and_inside_a_padded_batch(kernels):
    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", kernels=kernels)
    together = ce.predict(TINY_PAIRS, batch_size=len(TINY_PAIRS))
    alone = np.array([ce.predict([p])[0] for p in TINY_PAIRS])
    np.testing.assert_allclose(alone, together, atol=LOGIT_TOL, rtol=0)


BERLIN = "How many people live in Berlin?"
PUBLISHED = {  # printed on the model card of cross-encoder/ms-marco-MiniLM-L-6-v2
    "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.": 8.607138,
    "Berlin is well known for its museums.": -4.3200774,
}


def test_published_model_card_scores():
    try:
        ce = CrossEncoder.from_pretrained("cross-encoder/ms-marco-MiniLM-L-6-v2", local_files_only=True)
    except HubError:
        pytest.skip("cross-encoder/ms-marco-MiniLM-L-6-v2 is not in the local Hugging Face cache "
                    "(download it once where there is internet to run this check)")
    scores = ce.predict([(BERLIN, doc) for doc in PUBLISHED])
    np.testing.assert_allclose(scores, list(PUBLISHED.values()), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------------
# The other BERT-family bodies and heads, and sentence-transformers pipelines (tests/fixtures/archs, made by
# `python -m weights_tools make-arch-fixtures`): transformers logits and sentence-transformers embeddings.
# --------------------------------------------------------------------------------------------------

ARCH_IN = json.loads(ARCH_INPUTS.read_text(encoding="utf-8"))
ARCH_PAIRS = [tuple(p) for p in ARCH_IN["pairs"]]
ARCH_TEXTS = ARCH_IN["texts"]


def arch_ref(name: str):
    return np.load(ARCHS / "reference" / f"{name}.npz")


def assert_close_embeddings(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Unit vectors within EMBEDDING_TOL; vectors of other lengths within EMBEDDING_TOL times their norm
    (float32 keeps the same relative precision at any scale)."""
    scale = np.maximum(np.linalg.norm(want, axis=1, keepdims=True), 1.0)
    assert got.shape == want.shape and got.dtype == np.float32, what
    np.testing.assert_array_less(np.abs(got - want) / scale, EMBEDDING_TOL, err_msg=what)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("name", ["roberta-nli-3", "xlmr-ce-1", "electra-ce-1", "distilbert-ce-2"])
def test_other_bodies_and_heads_match_transformers(name, kernels):
    ce = CrossEncoder.from_pretrained(ARCHS / "models" / name, kernels=kernels)
    r = arch_ref(name)
    batch = ce.tokenizer.pad(ce.tokenizer.encode_pairs(ARCH_PAIRS)).as_dict()
    if ce.config.body.token_types != "segments":  # transformers passes no type ids to these bodies
        batch["token_type_ids"] = np.zeros_like(batch["token_type_ids"])
    assert_same_tokens(batch, r)
    assert batch["attention_mask"].sum(1).max() == ce.max_length == ce.config.max_tokens  # the table's last row
    # the plain padded path, last layer
    states = reference.encode(ce.checkpoint.weights, ce.config, batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"])
    mask = batch["attention_mask"].astype(bool)
    t = mask.shape[1]
    np.testing.assert_allclose(states[mask], r["last_hidden_state"][:, :t][mask], atol=HIDDEN_TOL, rtol=0)
    scores = ce.predict(ARCH_PAIRS, batch_size=5)
    logits = r["logits"][:, 0] if ce.num_labels == 1 else r["logits"]
    np.testing.assert_allclose(scores, logits, atol=LOGIT_TOL, rtol=0)


def test_multi_label_heads_keep_their_label_names():
    nli = CrossEncoder.from_pretrained(ARCHS / "models" / "roberta-nli-3")
    logits = arch_ref("roberta-nli-3")["logits"]
    assert nli.labels == ("contradiction", "entailment", "neutral")
    assert nli.predict(ARCH_PAIRS, return_labels=True) == [nli.labels[i] for i in logits.argmax(1)]
    assert nli.predict(ARCH_PAIRS[0], return_labels=True) == nli.labels[logits[0].argmax()]
    probs = nli.predict(ARCH_PAIRS, activation="softmax")
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)
    assert CrossEncoder.from_pretrained(ARCHS / "models" / "distilbert-ce-2").labels == ("NEGATIVE", "POSITIVE")
    assert CrossEncoder.from_pretrained(MODELS / "tiny-ce-3").labels == ("LABEL_0", "LABEL_1", "LABEL_2")


EMBEDDER_CALLS = {  # reference key -> what minilm-np calls for it
    "encode": lambda e, t: e.encode(t, normalize=False),
    "encode_normalized": lambda e, t: e.encode(t),
    "prompt_query": lambda e, t: e.encode(t, normalize=False, prompt_name="query"),
    "prompt_document": lambda e, t: e.encode(t, normalize=False, prompt_name="document"),
    "prompt_free": lambda e, t: e.encode(t, normalize=False, prompt=ARCH_IN["free_prompt"]),
    "prompt_empty": lambda e, t: e.encode(t, normalize=False, prompt=""),
    "encode_query": lambda e, t: e.encode_query(t, normalize=False),
    "encode_document": lambda e, t: e.encode_document(t, normalize=False),
}


@pytest.mark.parametrize("name", ["bert-embedder", "roberta-embedder", "xlmr-embedder", "electra-embedder",
                                  "distilbert-embedder", "bert-unigram-embedder"])
@pytest.mark.parametrize("kernels", KERNELS)
def test_other_bodies_as_embedders_match_sentence_transformers(name, kernels):
    emb = Embedder.from_pretrained(ARCHS / "models" / name, threads=1, kernels=kernels)
    r = arch_ref(name)
    for key, call in EMBEDDER_CALLS.items():
        assert_close_embeddings(call(emb, ARCH_TEXTS), r[key], f"{name} {key}")


@pytest.mark.parametrize("variant", sorted(p.name for p in (ARCHS / "pipelines").iterdir()))
def test_every_pooling_mode_dense_normalize_and_prompt_matches_sentence_transformers(tmp_path, variant):
    emb = Embedder.from_pretrained(pipeline_dir(tmp_path, variant), threads=1)
    r = np.load(ARCHS / "reference" / "pipelines.npz")
    for key, call in EMBEDDER_CALLS.items():
        assert_close_embeddings(call(emb, ARCH_TEXTS), r[f"{variant}/{key}"], f"{variant} {key}")


@pytest.fixture(scope="module")
def real_outputs(minilm_dir):
    with np.load(ARCHS / "reference" / "all_minilm_l6_v2_outputs.npz") as z:
        return {**{k: z[k] for k in z.files}, "embedder": Embedder.from_pretrained(minilm_dir)}


@pytest.mark.parametrize("dim", [384, 128])
@pytest.mark.parametrize("normalize", [False, True])
def test_real_truncated_and_quantized_embeddings_match_sentence_transformers(real_outputs, dim, normalize):
    """truncate_dim after Normalize, then normalize_embeddings, then quantization, as sentence-transformers.
    binary/ubinary equal bit for bit. int8/uint8: the formula equals bit for bit on sentence-transformers'
    own floats; from ours (within 5e-7 of theirs) an element can land one bucket over only where it lies
    within float noise of a bucket edge."""
    from minilm_np import quantize_embeddings

    texts = json.loads((REFERENCE / "all_minilm_l6_v2.json").read_text(encoding="utf-8"))["texts"]
    emb = real_outputs["embedder"]
    key = f"dim{dim}_{'normalized' if normalize else 'raw'}"
    floats = emb.encode(texts, normalize=normalize, truncate_dim=dim)
    st_floats = real_outputs[f"{key}/float32"]
    np.testing.assert_allclose(floats, st_floats, atol=EMBEDDING_TOL, rtol=0)
    norms = np.linalg.norm(floats, axis=1)
    assert np.allclose(norms, 1, atol=1e-6) == (normalize or dim == 384)  # cut after Normalize: not unit
    for precision in ("int8", "uint8", "binary", "ubinary"):
        want = real_outputs[f"{key}/{precision}"]
        assert np.array_equal(quantize_embeddings(st_floats, precision), want), precision
        if precision in ("int8", "ubinary"):  # through encode; the other two as encode computes them
            got = emb.encode(texts, normalize=normalize, truncate_dim=dim, precision=precision)
        else:
            got = quantize_embeddings(floats, precision)
        assert got.dtype == want.dtype and got.shape == want.shape, precision
        if precision.endswith("binary"):
            assert np.array_equal(got, want), precision
            continue
        off = got.astype(int) - want.astype(int)
        lo, hi = st_floats.min(0), st_floats.max(0)
        buckets = (st_floats - lo) / np.where(hi > lo, (hi - lo) / 255, 1)
        edge = np.abs(buckets - np.round(buckets))
        assert np.abs(off).max() <= 1 and (edge[off != 0] < 1e-3).all(), precision
        assert (off != 0).mean() < 0.005, precision
