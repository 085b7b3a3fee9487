"""minilm_np.integrations.haystack against the real haystack-ai: the components return what
Embedder.encode and CrossEncoder.rank return, run in a retrieval pipeline (sync and async), and a saved
pipeline loads again once our module is on Haystack's deserialisation allowlist.

Tolerances: vectors and rerank scores from one call with the same texts are compared exactly; the
document store's similarities (its own dot product) to 1e-6."""

import asyncio
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("haystack", reason='needs pip install "minilm-np[haystack]"')

from haystack import Document, Pipeline  # noqa: E402
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever  # noqa: E402
from haystack.components.writers import DocumentWriter  # noqa: E402
from haystack.core.errors import DeserializationError  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402

from minilm_np.integrations.haystack import MiniLMDocumentEmbedder, MiniLMRanker, MiniLMTextEmbedder  # noqa: E402
from helpers import KERNELS, assert_batch_invariant  # noqa: E402

MODELS = Path(__file__).parent / "fixtures" / "models"
QUERY = "How many people live in Berlin?"
OUR_MODULE = "minilm_np.integrations.haystack"


def test_embedders_are_encode_as_lists(cities, tiny_embedder):
    text_embedder = MiniLMTextEmbedder(tiny_embedder)
    assert text_embedder.run(QUERY) == {"embedding": tiny_embedder.encode(QUERY).tolist()}
    assert asyncio.run(text_embedder.run_async(QUERY)) == text_embedder.run(QUERY)

    documents = [Document(content=p, meta={"line": i}) for i, p in enumerate(cities)]
    out = MiniLMDocumentEmbedder(tiny_embedder, batch_size=4).run(documents)["documents"]
    assert [d.embedding for d in out] == tiny_embedder.encode(cities, batch_size=4).tolist()
    assert [(d.id, d.content, d.meta) for d in out] == [(d.id, d.content, d.meta) for d in documents]
    assert all(d.embedding is None for d in documents)  # the inputs are left alone
    assert asyncio.run(MiniLMDocumentEmbedder(tiny_embedder, batch_size=4).run_async(documents)) == {"documents": out}

    with pytest.raises(TypeError, match="for a list of Documents use MiniLMDocumentEmbedder"):
        text_embedder.run(cities)
    with pytest.raises(TypeError, match="for one str use MiniLMTextEmbedder"):
        MiniLMDocumentEmbedder(tiny_embedder).run(QUERY)


def test_ranker_returns_the_best_copies_with_scores(cities, tiny_cross_encoder):
    documents = [Document(content=p, meta={"line": i}, score=0.5) for i, p in enumerate(cities)]
    ranker = MiniLMRanker(tiny_cross_encoder, top_k=4)
    expected = tiny_cross_encoder.rank(QUERY, cities, top_k=4)
    out = ranker.run(QUERY, documents)["documents"]
    assert [(d.id, d.score) for d in out] == [(documents[h["corpus_id"]].id, h["score"]) for h in expected]
    assert all(d.score == 0.5 for d in documents)  # the inputs are left alone
    assert len(ranker.run(QUERY, documents, top_k=2)["documents"]) == 2
    in_a_thread = asyncio.run(ranker.run_async(QUERY, documents))["documents"]  # another thread calls the model
    assert [d.id for d in in_a_thread] == [d.id for d in out]
    assert_batch_invariant([d.score for d in in_a_thread], [d.score for d in out], atol=1e-5)

    everything = MiniLMRanker(tiny_cross_encoder, top_k=None, activation="sigmoid").run(QUERY, documents)["documents"]
    assert [d.score for d in everything] == [h["score"] for h in tiny_cross_encoder.rank(QUERY, cities,
                                                                                     activation="sigmoid")]
    assert ranker.run(QUERY, [])["documents"] == []
    with pytest.raises(ValueError, match="top_k"):
        ranker.run(QUERY, documents, top_k=0)


def build_pipelines(embedder_model, reranker_model):
    """An indexing pipeline (document tiny_embedder -> writer) and a query pipeline (text tiny_embedder ->
    in-memory retriever, top 5 -> ranker, top 3), sharing a fresh in-memory store."""
    store = InMemoryDocumentStore()
    indexing = Pipeline()
    indexing.add_component("embed", MiniLMDocumentEmbedder(embedder_model))
    indexing.add_component("write", DocumentWriter(store))
    indexing.connect("embed.documents", "write.documents")
    query = Pipeline()
    query.add_component("embed", MiniLMTextEmbedder(embedder_model))
    query.add_component("retrieve", InMemoryEmbeddingRetriever(store, top_k=5))
    query.add_component("rank", MiniLMRanker(reranker_model, top_k=3))
    query.connect("embed.embedding", "retrieve.query_embedding")
    query.connect("retrieve.documents", "rank.documents")
    return indexing, query


def run_query(pipeline):
    return pipeline.run({"embed": {"text": QUERY}, "rank": {"query": QUERY}}, include_outputs_from={"retrieve"})


def test_pipeline_retrieves_then_reranks(cities, tiny_embedder, tiny_cross_encoder):
    indexing, query = build_pipelines(tiny_embedder, tiny_cross_encoder)
    indexing.run({"embed": {"documents": [Document(content=p) for p in cities]}})
    out = run_query(query)

    similarity = tiny_embedder.encode(cities) @ tiny_embedder.encode(QUERY)  # unit vectors: cosine
    first_stage = [cities[i] for i in np.argsort(-similarity, kind="stable")[:5]]
    assert [d.content for d in out["retrieve"]["documents"]] == first_stage
    np.testing.assert_allclose([d.score for d in out["retrieve"]["documents"]], np.sort(similarity)[::-1][:5],
                               atol=1e-6)
    expected = [(h["text"], h["score"]) for h in tiny_cross_encoder.rank(QUERY, first_stage, top_k=3)]
    assert [(d.content, d.score) for d in out["rank"]["documents"]] == expected

    async_out = asyncio.run(query.run_async({"embed": {"text": QUERY}, "rank": {"query": QUERY}}))
    assert async_out["rank"]["documents"] == out["rank"]["documents"]


def test_saved_pipeline_loads_once_our_module_is_allowed(cities, monkeypatch):
    indexing, query = build_pipelines(str(MODELS / "tiny-embedder"), str(MODELS / "tiny-ce-1"))
    indexing.run({"embed": {"documents": [Document(content=p) for p in cities]}})
    expected = run_query(query)["rank"]["documents"]
    saved = query.dumps()
    assert query.to_dict()["components"]["rank"]["init_parameters"] == {
        "model": str(MODELS / "tiny-ce-1"), "batch_size": 32, "threads": None, "kernels": None, "top_k": 3,
        "activation": None, "long_passages": "truncate", "stride": None}

    monkeypatch.delenv("HAYSTACK_DESERIALIZATION_ALLOWLIST", raising=False)
    with pytest.raises(DeserializationError, match=f"'{OUR_MODULE}': the module is not on the trusted"):
        Pipeline.loads(saved)
    # The saved store is in-memory and shared by its index name, so the loaded retriever sees its documents.
    loaded = Pipeline.loads(saved, allowed_modules=[OUR_MODULE])
    assert run_query(loaded)["rank"]["documents"] == expected
    monkeypatch.setenv("HAYSTACK_DESERIALIZATION_ALLOWLIST", "minilm_np.*")
    assert run_query(Pipeline.loads(saved))["rank"]["documents"] == expected


def test_a_loaded_model_is_saved_by_its_name(tiny_embedder, tiny_cross_encoder):
    ranker = MiniLMRanker(tiny_cross_encoder, top_k=None, batch_size=8, activation="sigmoid")
    data = ranker.to_dict()
    assert data == {"type": f"{OUR_MODULE}.MiniLMRanker", "init_parameters": {
        "model": tiny_cross_encoder.name, "batch_size": 8, "threads": None, "kernels": "numpy", "top_k": None,
        "activation": "sigmoid", "long_passages": "truncate", "stride": None}}
    assert MiniLMRanker.from_dict(data).to_dict() == data
    data = MiniLMTextEmbedder(tiny_embedder, batch_size=4).to_dict()
    assert data["init_parameters"] == {"model": tiny_embedder.name, "batch_size": 4, "threads": None,
                                       "kernels": "numpy"}
    assert MiniLMDocumentEmbedder.from_dict(MiniLMDocumentEmbedder(tiny_embedder).to_dict()).model == tiny_embedder.name


@pytest.mark.parametrize("kernels", KERNELS)
def test_kernels_reach_the_model_and_are_saved(kernels):
    ranker = MiniLMRanker(str(MODELS / "tiny-ce-1"), kernels=kernels)
    embedder = MiniLMTextEmbedder(str(MODELS / "tiny-embedder"), kernels=kernels)
    for component in (ranker, embedder):
        component.warm_up()
        assert component._loaded.kernels == kernels
        assert component.to_dict()["init_parameters"]["kernels"] == kernels
    assert MiniLMRanker.from_dict(ranker.to_dict()).kernels == kernels


def test_wrong_model_arguments_are_refused(tiny_embedder, tiny_cross_encoder):
    with pytest.raises(ValueError, match="already loaded"):
        MiniLMTextEmbedder(tiny_embedder, threads=2)
    with pytest.raises(ValueError, match="kernels='numba' has no effect on .*, which is already loaded"):
        MiniLMRanker(tiny_cross_encoder, kernels="numba")
    with pytest.raises(TypeError, match="loaded CrossEncoder; got Embedder"):
        MiniLMRanker(tiny_embedder)
