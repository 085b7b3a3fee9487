"""What code written for sentence-transformers calls: its keyword names (minilm_np/st_names.py), its
constructors', ``similarity`` and ``similarity_pairwise``. The calls sentence-transformers made to produce the
committed references (reference/st_api.npz, ``python -m weights_tools make-st-api-reference``; and the tiny
models' references), made here with the same keywords, give the same numbers; what cannot be honoured is a
ValueError naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minilm_np import CrossEncoder, Embedder, progress
from minilm_np.model.heads import SIMILARITIES, similarity, similarity_pairwise

from helpers import MODELS, REFERENCE, pipeline_dir

INPUTS = json.loads((REFERENCE / "tiny_inputs.json").read_text(encoding="utf-8"))
TEXTS, PAIRS = INPUTS["texts"], [tuple(p) for p in INPUTS["pairs"]]


class Sigmoid:
    """Stands in for torch.nn.Sigmoid (torch is not a test dependency): activation_fn is read by class name."""


class Softmax:
    """Stands in for torch.nn.Softmax."""


class Tanh:
    """A torch activation minilm-np does not apply."""


class Identity:
    """Stands in for torch.nn.Identity: the logits, predict's default here."""


def ref(name: str):
    return np.load(REFERENCE / f"{name}.npz")


@pytest.fixture(scope="module")
def tiny_ce_3():
    return CrossEncoder.from_pretrained(MODELS / "tiny-ce-3")


def test_encode_with_the_keywords_sentence_transformers_was_called_with(tiny_embedder):
    # weights_tools/make_fixtures.py: st.encode(texts, normalize_embeddings=..., batch_size=len(texts),
    # convert_to_numpy=True); the model has a Normalize module, so False normalises too (as there)
    r = ref("tiny-embedder")
    for normalize_embeddings, expected in ((True, r["st_embeddings"]), (False, r["st_embeddings_raw"])):
        got = tiny_embedder.encode(TEXTS, normalize_embeddings=normalize_embeddings, batch_size=len(TEXTS),
                                   convert_to_numpy=True, convert_to_tensor=False, device="cpu",
                                   output_value="sentence_embedding", show_progress_bar=False)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    # and the name means what normalize means, bit for bit, on a model without Normalize
    assert np.array_equal(tiny_embedder.encode_query(TEXTS, normalize_embeddings=False),
                          tiny_embedder.encode_query(TEXTS, normalize=False))


def test_predict_with_sentence_transformers_activation(tiny_cross_encoder, tiny_ce_3):
    # sentence-transformers scored tiny-ce-1 with its default activation_fn, Sigmoid (reference notes)
    got = tiny_cross_encoder.predict(PAIRS, activation_fn=Sigmoid(), batch_size=len(PAIRS), show_progress_bar=False)
    np.testing.assert_allclose(got, ref("tiny-ce-1")["st_scores"], atol=1e-6, rtol=0)
    assert np.array_equal(tiny_ce_3.predict(PAIRS, apply_softmax=True), tiny_ce_3.predict(PAIRS, activation="softmax"))
    assert np.array_equal(tiny_ce_3.predict(PAIRS, activation_fct=Softmax()),
                          tiny_ce_3.predict(PAIRS, activation="softmax"))
    # one label: sentence-transformers applies no softmax, and neither does this
    assert np.array_equal(tiny_cross_encoder.predict(PAIRS, apply_softmax=True), tiny_cross_encoder.predict(PAIRS))


def test_apply_softmax_and_rank_as_sentence_transformers_ran_them(tiny_cross_encoder, tiny_ce_3):
    r = ref("st_api")
    np.testing.assert_allclose(tiny_ce_3.predict(PAIRS, apply_softmax=True), r["ce3_apply_softmax"], atol=1e-6, rtol=0)
    # tiny-ce-1's default activation_fn there is Sigmoid (st_api.json); ours is the logits, so it is named here
    np.testing.assert_allclose(tiny_cross_encoder.predict(PAIRS, apply_softmax=True, activation="sigmoid"),
                               r["ce1_apply_softmax"], atol=1e-6, rtol=0)
    query = json.loads((REFERENCE / "st_api.json").read_text(encoding="utf-8"))["rank_query"]
    ranked = tiny_cross_encoder.rank(query, [p for _, p in PAIRS], return_documents=False, activation_fn=Sigmoid())
    theirs = dict(zip(r["rank_ids"].tolist(), r["rank_scores"].tolist()))
    assert sorted(theirs) == sorted(x["corpus_id"] for x in ranked) and all("text" not in x for x in ranked)
    np.testing.assert_allclose([x["score"] for x in ranked], [theirs[x["corpus_id"]] for x in ranked], atol=1e-6)
    in_our_order = [theirs[x["corpus_id"]] for x in ranked]  # non-increasing, but for ties within float32 noise
    assert all(later <= earlier + 1e-6 for earlier, later in zip(in_our_order, in_our_order[1:]))


@pytest.mark.parametrize("function", SIMILARITIES)
def test_similarity_functions_match_sentence_transformers(function):
    r = ref("st_api")  # a's row 2 is zero: cosine 0 there, as torch's normalize makes it
    np.testing.assert_allclose(similarity(r["a"], r["b"], function), r[f"similarity_{function}"], rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("function", SIMILARITIES)
def test_pairwise_similarity_matches_sentence_transformers(function):
    r = ref("st_api")  # a[:4] against b, row by row; a's row 2 is zero
    np.testing.assert_allclose(similarity_pairwise(r["a"][:4], r["b"], function), r[f"similarity_pairwise_{function}"],
                               rtol=1e-6, atol=1e-6)
    assert similarity_pairwise(r["a"][0], r["b"][0], function).shape == (1,)


def test_embedder_pairwise_similarity_and_dimension(tiny_embedder, tmp_path):
    vectors = tiny_embedder.encode(TEXTS)
    np.testing.assert_allclose(tiny_embedder.similarity_pairwise(vectors, vectors[::-1]),
                               np.diag(tiny_embedder.similarity(vectors, vectors[::-1])), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="a has 5 rows and b 4: pairwise similarity takes as many of each"):
        tiny_embedder.similarity_pairwise(vectors[:5], vectors[:4])
    with pytest.raises(ValueError, match="similarity function must be one of"):
        similarity_pairwise(vectors, vectors, "cos")
    dimension = json.loads((REFERENCE / "st_api.json").read_text(encoding="utf-8"))["embedding_dimension"]
    assert tiny_embedder.get_embedding_dimension() == tiny_embedder.get_sentence_embedding_dimension() == \
        dimension["as loaded"]
    truncated = Embedder(MODELS / "tiny-embedder", truncate_dim=8)
    assert truncated.get_embedding_dimension() == dimension["truncate_dim=8"] == truncated.encode(TEXTS[:1]).shape[1]


def test_embedder_similarity(tiny_embedder, tmp_path):
    vectors = tiny_embedder.encode(TEXTS)
    assert tiny_embedder.similarity_fn_name == "cosine"
    np.testing.assert_allclose(tiny_embedder.similarity(vectors, vectors), ref("st_api")["texts_similarity"],
                               atol=1e-6, rtol=0)
    assert tiny_embedder.similarity(vectors[0], vectors).shape == (1, len(TEXTS))
    d = pipeline_dir(tmp_path, "mean-dense-normalize")
    config = d / "config_sentence_transformers.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "similarity_fn_name": "manhattan"}))
    dense = Embedder.from_pretrained(d)
    v = dense.encode(TEXTS[:3], normalize=False)
    assert dense.similarity_fn_name == "manhattan"
    np.testing.assert_allclose(dense.similarity(v, v)[0], -np.abs(v - v[0]).sum(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="a has 32 dimensions and b 16"):
        tiny_embedder.similarity(vectors, vectors[:, :16])
    with pytest.raises(ValueError, match="b must be a 1-D or 2-D array of numbers"):
        tiny_embedder.similarity(vectors, [["x"]])


def test_rank_return_documents(tiny_cross_encoder, cities):
    ranked = tiny_cross_encoder.rank("berlin", cities, top_k=3)
    without = tiny_cross_encoder.rank("berlin", cities, top_k=3, return_documents=False, convert_to_numpy=True)
    assert [r["corpus_id"] for r in without] == [r["corpus_id"] for r in ranked]
    assert all("text" not in r for r in without) and all("text" in r for r in ranked)
    assert tiny_cross_encoder.rank("berlin", cities, top_k=3, return_documents=True) == ranked


def test_show_progress_bar_draws_a_bar_on_stderr(tiny_embedder, tiny_cross_encoder, cities, capsys, monkeypatch):
    monkeypatch.setattr(progress, "PROGRESS_DELAY", 0.0)
    tiny_embedder.encode(cities, show_progress_bar=True)
    tiny_cross_encoder.predict([("berlin", c) for c in cities], show_progress_bar=True)
    err = capsys.readouterr().err  # the bars, cleared when done (leave=False), with the call's size as total
    n = len(cities)
    assert f"embedding:   0%|          | 0/{n}" in err and f"reranking:   0%|          | 0/{n}" in err


@pytest.mark.parametrize("keywords, message", [
    ({"convert_to_tensor": True}, "convert_to_tensor=True: minilm-np returns NumPy arrays"),
    ({"convert_to_numpy": False}, "convert_to_numpy=False"),
    ({"device": "cuda"}, "device='cuda': minilm-np runs on the CPU"),
    ({"output_value": "token_embeddings"}, "output_value='token_embeddings'"),
    ({"pool": {"processes": []}}, "the model's threads="),
])
def test_what_cannot_be_honoured_is_a_value_error(tiny_embedder, keywords, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        tiny_embedder.encode(TEXTS, **keywords)


def test_misuse_is_a_type_error(tiny_embedder, tiny_cross_encoder, cities):
    with pytest.raises(TypeError, match="unexpected keyword argument 'normalise_embeddings'"):
        tiny_embedder.encode(TEXTS, normalise_embeddings=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'normalize_embeddings'"):
        tiny_cross_encoder.predict(PAIRS, normalize_embeddings=True)  # an embedder's name
    with pytest.raises(TypeError, match="not both"):
        tiny_cross_encoder.predict(PAIRS, activation="sigmoid", activation_fn=Sigmoid())
    with pytest.raises(TypeError, match="not both"):
        tiny_cross_encoder.rank("berlin", cities, progress=print, show_progress_bar=True)
    with pytest.raises(ValueError, match="activation_fn=Tanh"):
        tiny_cross_encoder.predict(PAIRS, activation_fn=Tanh())
    with pytest.raises(TypeError, match="give it by name: prompt_name='query'"):
        tiny_embedder.encode(TEXTS, "query")  # sentence-transformers 3+: encode(sentences, prompt_name, ...)
    with pytest.raises(ValueError, match="cross-encoder prompts"):
        tiny_cross_encoder.predict(PAIRS, prompt_name="query")


def test_the_constructors_load_by_name_as_sentence_transformers_does(tmp_path):
    """CrossEncoder("...") and Embedder("...") (sentence-transformers' SentenceTransformer("...")) with its
    constructor keywords, against what its own constructors gave with the same ones."""
    r = ref("st_api")
    short = CrossEncoder(str(MODELS / "tiny-ce-1"), device="cpu", local_files_only=True, max_length=12,
                         activation_fn=Identity(), backend="torch", trust_remote_code=False, num_labels=1)
    assert short.max_length == 12 and short.max_seq_length == 12
    np.testing.assert_allclose(short.predict(PAIRS), r["ce1_max_length_12"], atol=1e-6, rtol=0)
    prompted = Embedder(str(MODELS / "tiny-embedder"), device="cpu", local_files_only=True,
                        prompts={"query": "query: "}, default_prompt_name="query")
    assert prompted.prompts["query"] == "query: "
    np.testing.assert_allclose(prompted.encode(TEXTS), r["texts_default_prompt"], atol=1e-6, rtol=0)
    plain = Embedder(MODELS / "tiny-embedder", cache_folder=str(tmp_path), similarity_fn_name="dot")
    plain.max_seq_length = 8  # set after loading, as sentence-transformers' users do
    np.testing.assert_allclose(plain.encode(TEXTS), r["texts_max_seq_length_8"], atol=1e-6, rtol=0)
    assert plain.similarity_fn_name == "dot"
    np.testing.assert_allclose(plain.similarity(r["a"], r["b"]), r["similarity_dot"], atol=1e-6, rtol=1e-6)
    loaded = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1")  # from loaded parts, as before
    again = CrossEncoder(loaded.checkpoint, loaded.tokenizer, loaded.name)
    np.testing.assert_array_equal(again.predict(PAIRS), loaded.predict(PAIRS))


@pytest.mark.parametrize("cls, keywords, error, message", [
    (CrossEncoder, {"num_labels": 3}, ValueError, "num_labels=3: .* has 1 label"),
    (CrossEncoder, {"max_length": 65}, ValueError, "max_length=65: the model takes 4 to 64 tokens"),
    (CrossEncoder, {"max_length": 0}, ValueError, "max_length must be positive"),
    (CrossEncoder, {"activation_fn": Sigmoid()}, ValueError, "activation_fn=Sigmoid: .*activation='sigmoid'"),
    (CrossEncoder, {"backend": "onnx"}, ValueError, "backend='onnx': minilm-np is its own NumPy backend"),
    (CrossEncoder, {"trust_remote_code": True}, ValueError, "runs no code from a model repository"),
    (CrossEncoder, {"token": "hf_x", "use_auth_token": "hf_x"}, TypeError, "not both"),
    (CrossEncoder, {"device": "cuda"}, ValueError, "runs on the CPU"),
    (CrossEncoder, {"model_kwargs": {"torch_dtype": "float16"}}, ValueError, "model_kwargs="),
    (CrossEncoder, {"prompts": {"query": "q: "}}, ValueError, "cross-encoder prompts are not supported"),
    (CrossEncoder, {"cache_folder": "a", "cache_dir": "b"}, TypeError, "not both"),
    (CrossEncoder, {"truncate_dim": 8}, TypeError, "unexpected keyword argument 'truncate_dim'"),
    (Embedder, {"similarity_fn_name": "cos"}, ValueError, "similarity_fn_name 'cos' is not one of cosine, dot"),
    (Embedder, {"default_prompt_name": "passage"}, ValueError, "default_prompt_name 'passage' is not one of"),
    (Embedder, {"prompts": {"query": 1}}, ValueError, "prompts must map names to strings"),
    (Embedder, {"modules": []}, ValueError, r"modules=\[\]: minilm-np builds the modules"),
    (Embedder, {"num_labels": 1}, TypeError, "unexpected keyword argument 'num_labels'"),
])
def test_constructor_keywords_that_cannot_be_honoured(cls, keywords, error, message):
    model = MODELS / ("tiny-ce-1" if cls is CrossEncoder else "tiny-embedder")
    with pytest.raises(error, match=message):
        cls(model, **keywords)


def test_loaded_parts_and_max_seq_length_misuse(tiny_cross_encoder):
    with pytest.raises(TypeError, match=r"takes loaded parts; load a model by its name or path"):
        CrossEncoder(tiny_cross_encoder.checkpoint)
    with pytest.raises(TypeError, match=r"takes loaded parts"):
        CrossEncoder(tiny_cross_encoder.checkpoint, tiny_cross_encoder.tokenizer, "x", max_length=12)
    model = CrossEncoder(MODELS / "tiny-ce-1")
    with pytest.raises(ValueError, match="max_seq_length=3: the model takes 4 to 64 tokens"):
        model.max_seq_length = 3
    with pytest.raises(ValueError, match="max_seq_length must be an int, got str"):
        model.max_seq_length = "32"
    assert model.max_seq_length == 64
    with pytest.raises(ValueError, match="max_length=65: the model takes 4 to 64 tokens"):
        model.max_length = 65
    model.max_length = 12  # sentence-transformers' CrossEncoder keeps this older name settable too
    assert model.max_seq_length == 12
    np.testing.assert_allclose(model.predict(PAIRS), ref("st_api")["ce1_max_length_12"], atol=1e-6, rtol=0)


class CpuDevice:
    """Stands in for torch.device("cpu"), whose str is "cpu"."""

    def __str__(self) -> str:
        return "cpu"


@pytest.mark.parametrize("cls", [CrossEncoder, Embedder])
def test_device_and_to_as_sentence_transformers_code_uses_them(cls):
    model = cls(MODELS / ("tiny-ce-1" if cls is CrossEncoder else "tiny-embedder"))
    assert model.device == "cpu"
    assert model.to("cpu") is model and model.to(CpuDevice()) is model  # model = SentenceTransformer(...).to(device)
    with pytest.raises(ValueError, match="device='cuda': minilm-np runs on the CPU"):
        model.to("cuda")
