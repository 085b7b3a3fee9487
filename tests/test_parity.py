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

from helpers import MODELS, REFERENCE

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


@pytest.mark.parametrize("name", ["tiny-ce-1", "tiny-ce-3"])
def test_tiny_cross_encoders_match_transformers(name):
    ce = CrossEncoder.from_pretrained(MODELS / name)
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


def test_tiny_embedder_matches_sentence_transformers():
    emb = Embedder.from_pretrained(MODELS / "tiny-embedder")
    r = ref("tiny-embedder")
    texts = INPUTS["texts"]
    assert_same_tokens(emb.tokenizer.pad(emb.tokenizer.encode_texts(texts)).as_dict(), r)
    np.testing.assert_allclose(emb.encode(texts), r["st_embeddings"], atol=EMBEDDING_TOL, rtol=0)
    # the model's own Normalize module normalises even when the caller does not ask (as in ST)
    np.testing.assert_allclose(emb.encode(texts, normalize=False), r["st_embeddings_raw"], atol=EMBEDDING_TOL)


def test_real_all_minilm_l6_v2_matches_sentence_transformers(minilm_dir):
    meta = json.loads((REFERENCE / "all_minilm_l6_v2.json").read_text(encoding="utf-8"))
    r = ref("all_minilm_l6_v2")
    emb = Embedder.from_pretrained(minilm_dir)
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


def test_msmarco_shaped_l6_matches_transformers_on_cranfield_pairs(msmarco_shaped, cranfield_dir):
    from weights_tools.msmarco_shaped import cranfield_pairs
    path, meta = msmarco_shaped
    pairs = cranfield_pairs(cranfield_dir, meta["cranfield"]["refs"]) + [tuple(p) for p in meta["model_card_pairs"]]
    r = ref("msmarco_shaped_l6")
    ce = CrossEncoder.from_pretrained(path)
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


def test_a_pair_scores_the_same_alone_and_inside_a_padded_batch():
    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")
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
