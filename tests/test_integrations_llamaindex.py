"""minilm_np.integrations.llamaindex against the real llama-index-core: the adapters return what
Embedder.encode and CrossEncoder.rank return, and the reranker orders a query engine's sources
(with LlamaIndex's MockLLM, offline).

Tolerances: rerank scores and vectors from one call with the same texts are compared exactly; vectors
computed in other chunks, and the index's own similarities, to 1e-6."""

import asyncio
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llama_index.core", reason='needs pip install "minilm-np[llamaindex]"')

from llama_index.core import VectorStoreIndex  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402

from minilm_np.integrations.llamaindex import MiniLMEmbedding, MiniLMRerank  # noqa: E402
from helpers import KERNELS, assert_batch_invariant  # noqa: E402

MODELS = Path(__file__).parent / "fixtures" / "models"
QUERY = "How many people live in Berlin?"


def test_embedding_batches_by_embed_batch_size(cities, tiny_embedder, monkeypatch):
    embedding = MiniLMEmbedding(tiny_embedder, batch_size=4)
    assert (embedding.embed_batch_size, embedding.model_name) == (4, tiny_embedder.name)
    calls, encode, encode_document = [], tiny_embedder.encode, tiny_embedder.encode_document

    def spy(texts, batch_size):
        calls.append((len(texts), batch_size))
        return encode_document(texts, batch_size=batch_size)

    monkeypatch.setattr(tiny_embedder, "encode_document", spy)
    vectors = embedding.get_text_embedding_batch(cities)
    assert calls == [(4, 4), (4, 4), (1, 4)]  # 9 passages in LlamaIndex's chunks of 4, one call each
    np.testing.assert_allclose(vectors, encode(cities), atol=1e-6)
    assert asyncio.run(embedding.aget_text_embedding_batch(cities)) == vectors
    assert len(calls) == 6  # async: one call per chunk too
    monkeypatch.undo()

    assert embedding.get_query_embedding(QUERY) == encode(QUERY).tolist()
    assert embedding.get_text_embedding(QUERY) == encode(QUERY).tolist()
    assert asyncio.run(embedding.aget_query_embedding(QUERY)) == encode(QUERY).tolist()
    assert asyncio.run(embedding.aget_text_embedding(QUERY)) == encode(QUERY).tolist()


def test_adapters_load_a_directory_with_threads(cities, tiny_embedder, tiny_cross_encoder):
    embedding = MiniLMEmbedding(str(MODELS / "tiny-embedder"), threads=1)
    assert embedding.embedder.name == tiny_embedder.name
    np.testing.assert_allclose(embedding.get_text_embedding_batch(cities), tiny_embedder.encode(cities), atol=1e-6)
    rerank = MiniLMRerank(MODELS / "tiny-ce-1", threads=1)
    assert (rerank.model, rerank.cross_encoder.name) == (tiny_cross_encoder.name, tiny_cross_encoder.name)


def test_rerank_returns_the_best_nodes_with_scores(cities, tiny_cross_encoder):
    nodes = [NodeWithScore(node=TextNode(text=p, id_=f"n{i}"), score=0.5) for i, p in enumerate(cities)]
    out = MiniLMRerank(tiny_cross_encoder, top_n=4).postprocess_nodes(nodes, query_str=QUERY)
    expected = tiny_cross_encoder.rank(QUERY, cities, top_k=4)
    assert [(n.node.node_id, n.score) for n in out] == [(f"n{h['corpus_id']}", h["score"]) for h in expected]
    assert all(n.score == 0.5 for n in nodes)  # the inputs are left alone

    rerank = MiniLMRerank(tiny_cross_encoder, top_n=None, activation="sigmoid")
    everything = asyncio.run(rerank.apostprocess_nodes(nodes, QueryBundle(QUERY)))  # another thread calls it
    expected = tiny_cross_encoder.rank(QUERY, cities, activation="sigmoid")
    assert [n.node.node_id for n in everything] == [f"n{h['corpus_id']}" for h in expected]
    assert_batch_invariant([n.score for n in everything], [h["score"] for h in expected], atol=1e-5)
    with pytest.raises(ValueError, match="top_n must be positive, got 0"):  # its own name, not rank's top_k
        MiniLMRerank(tiny_cross_encoder, top_n=0).postprocess_nodes(nodes, query_str=QUERY)
    with pytest.raises(ValueError, match="needs the query"):
        rerank.postprocess_nodes(nodes)


def test_query_engine_reranks_what_the_index_retrieves(cities, tiny_embedder, tiny_cross_encoder):
    index = VectorStoreIndex(nodes=[TextNode(text=p) for p in cities], embed_model=MiniLMEmbedding(tiny_embedder))

    similarity = tiny_embedder.encode(cities) @ tiny_embedder.encode(QUERY)  # unit vectors: cosine
    first_stage = [cities[i] for i in np.argsort(-similarity, kind="stable")[:5]]
    found = index.as_retriever(similarity_top_k=5).retrieve(QUERY)
    assert [n.node.get_content() for n in found] == first_stage
    np.testing.assert_allclose([n.score for n in found], np.sort(similarity)[::-1][:5], atol=1e-6)

    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=5,
                                   node_postprocessors=[MiniLMRerank(tiny_cross_encoder, top_n=3)])
    expected = [(h["text"], h["score"]) for h in tiny_cross_encoder.rank(QUERY, first_stage, top_k=3)]
    for response in (engine.query(QUERY), asyncio.run(engine.aquery(QUERY))):
        assert [(n.node.get_content(), n.score) for n in response.source_nodes] == expected


@pytest.mark.parametrize("kernels", KERNELS)
def test_adapters_pass_kernels_to_the_model(kernels):
    assert MiniLMEmbedding(str(MODELS / "tiny-embedder"), kernels=kernels).embedder.kernels == kernels
    assert MiniLMRerank(MODELS / "tiny-ce-1", kernels=kernels).cross_encoder.kernels == kernels


def test_wrong_model_arguments_are_refused(tiny_embedder, tiny_cross_encoder):
    with pytest.raises(ValueError, match="already loaded"):
        MiniLMEmbedding(tiny_embedder, threads=2)
    with pytest.raises(ValueError, match="kernels='numba' has no effect on .*, which is already loaded"):
        MiniLMRerank(tiny_cross_encoder, kernels="numba")
    with pytest.raises(TypeError, match="loaded CrossEncoder; got Embedder"):
        MiniLMRerank(tiny_embedder)
