"""minilm_np.integrations.langchain against the real langchain-core: the adapters return what
Embedder.encode and CrossEncoder.rank return, and the reranker works inside a retrieval pipeline.

Tolerances: vectors and rerank scores that come from one call with the same texts are compared exactly;
the vector store's similarities (its own cosine) to 1e-6."""

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("langchain_core", reason='needs pip install "minilm-np[langchain]"')

from langchain_core.documents import Document  # noqa: E402
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402

from minilm_np import Embedder  # noqa: E402
from minilm_np.integrations.langchain import MiniLMEmbeddings, MiniLMRerank  # noqa: E402
from helpers import KERNELS  # noqa: E402

MODELS = Path(__file__).parent / "fixtures" / "models"
QUERY = "How many people live in Berlin?"


def test_embeddings_are_encode_as_lists(cities, tiny_embedder):
    embeddings = MiniLMEmbeddings(tiny_embedder, batch_size=4)
    assert embeddings.embed_documents(cities) == tiny_embedder.encode(cities, batch_size=4).tolist()
    assert embeddings.embed_query(QUERY) == tiny_embedder.encode(QUERY).tolist()
    assert asyncio.run(embeddings.aembed_documents(cities)) == embeddings.embed_documents(cities)
    assert asyncio.run(embeddings.aembed_query(QUERY)) == embeddings.embed_query(QUERY)
    assert embeddings.embed_documents([]) == []


def test_adapters_load_a_directory_with_threads(cities, tiny_embedder, tiny_cross_encoder):
    embeddings = MiniLMEmbeddings(str(MODELS / "tiny-embedder"), threads=1)
    assert embeddings.embedder.name == tiny_embedder.name
    np.testing.assert_allclose(embeddings.embed_documents(cities), tiny_embedder.encode(cities), atol=1e-6)
    rerank = MiniLMRerank(MODELS / "tiny-ce-1", threads=1)
    assert rerank.cross_encoder.name == tiny_cross_encoder.name


def test_rerank_returns_the_best_copies_with_relevance_score(cities, tiny_cross_encoder):
    documents = [Document(page_content=p, metadata={"line": i}, id=f"d{i}") for i, p in enumerate(cities)]
    out = MiniLMRerank(tiny_cross_encoder, top_n=4).compress_documents(documents, QUERY)
    expected = tiny_cross_encoder.rank(QUERY, cities, top_k=4)
    assert [(d.page_content, d.metadata, d.id) for d in out] == [
        (h["text"], {"line": h["corpus_id"], "relevance_score": h["score"]}, f"d{h['corpus_id']}") for h in expected]
    assert all(d.metadata.keys() == {"line"} for d in documents)  # the inputs are left alone

    everything = MiniLMRerank(tiny_cross_encoder, top_n=None, activation="sigmoid").compress_documents(documents, QUERY)
    assert [d.metadata["relevance_score"] for d in everything] == \
        [h["score"] for h in tiny_cross_encoder.rank(QUERY, cities, activation="sigmoid")]
    assert MiniLMRerank(tiny_cross_encoder).compress_documents([], QUERY) == []
    with pytest.raises(ValueError, match="top_n must be positive, got 0"):  # its own name, not rank's top_k
        MiniLMRerank(tiny_cross_encoder, top_n=0).compress_documents(documents, QUERY)


def test_retrieve_then_rerank_in_contextual_compression_retriever(cities, tiny_embedder, tiny_cross_encoder):
    classic = pytest.importorskip("langchain_classic.retrievers",
                                  reason="ContextualCompressionRetriever is in langchain-classic")
    store = InMemoryVectorStore(embedding=MiniLMEmbeddings(tiny_embedder))
    store.add_texts(cities)
    retriever = store.as_retriever(search_kwargs={"k": 5})
    pipeline = classic.ContextualCompressionRetriever(base_compressor=MiniLMRerank(tiny_cross_encoder, top_n=3),
                                                      base_retriever=retriever)

    similarity = tiny_embedder.encode(cities) @ tiny_embedder.encode(QUERY)  # unit vectors: cosine
    first_stage = [cities[i] for i in np.argsort(-similarity, kind="stable")[:5]]
    found = store.similarity_search_with_score(QUERY, k=5)
    assert [d.page_content for d, _ in found] == first_stage
    np.testing.assert_allclose([s for _, s in found], np.sort(similarity)[::-1][:5], atol=1e-6)

    expected = [(h["text"], h["score"]) for h in tiny_cross_encoder.rank(QUERY, first_stage, top_k=3)]
    for out in (pipeline.invoke(QUERY), asyncio.run(pipeline.ainvoke(QUERY))):
        assert [(d.page_content, d.metadata["relevance_score"]) for d in out] == expected


@pytest.mark.parametrize("kernels", KERNELS)
def test_adapters_pass_kernels_to_the_model(kernels):
    assert MiniLMEmbeddings(str(MODELS / "tiny-embedder"), kernels=kernels).embedder.kernels == kernels
    assert MiniLMRerank(MODELS / "tiny-ce-1", kernels=kernels).cross_encoder.kernels == kernels


def test_wrong_model_arguments_are_refused(tiny_embedder, tiny_cross_encoder):
    with pytest.raises(ValueError, match="already loaded"):
        MiniLMRerank(tiny_cross_encoder, threads=2)
    with pytest.raises(ValueError, match="kernels='numba' has no effect on .*, which is already loaded"):
        MiniLMEmbeddings(tiny_embedder, kernels="numba")
    with pytest.raises(ValueError, match="kernels must be one of 'numpy', 'numba', not 'cuda'"):
        MiniLMEmbeddings(str(MODELS / "tiny-embedder"), kernels="cuda")
    with pytest.raises(TypeError, match="loaded CrossEncoder; got Embedder"):
        MiniLMRerank(tiny_embedder)
    with pytest.raises(TypeError, match="loaded Embedder; got CrossEncoder"):
        MiniLMEmbeddings(tiny_cross_encoder)


def test_queries_and_documents_get_the_models_own_prompts(tmp_path):
    """A model whose config_sentence_transformers.json defines query/document prompts gets them, as
    sentence-transformers' encode_query / encode_document apply them."""
    model_dir = shutil.copytree(MODELS / "tiny-embedder", tmp_path / "prompted")
    (model_dir / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": "passage: "}, "default_prompt_name": None}))
    emb = Embedder.from_pretrained(model_dir)
    embeddings = MiniLMEmbeddings(emb)
    texts = ["Berlin is a city.", "Paris is in France."]
    assert embeddings.embed_query(texts[0]) == emb.encode(["query: " + texts[0]])[0].tolist()
    assert embeddings.embed_documents(texts) == emb.encode(["passage: " + t for t in texts]).tolist()
    assert embeddings.embed_query(texts[0]) != emb.encode([texts[0]])[0].tolist()  # the prompt made a difference


def test_the_reranker_reads_long_passages_as_asked(tiny_cross_encoder):
    long = "berlin city people " * 200
    docs = [Document(page_content=t) for t in (long, "short text")]
    rerank = MiniLMRerank(tiny_cross_encoder, top_n=None, long_passages="maxp", stride=50)
    got = {d.page_content: d.metadata["relevance_score"] for d in rerank.compress_documents(docs, "berlin people")}
    expected = tiny_cross_encoder.predict([("berlin people", d.page_content) for d in docs], long_passages="maxp",
                                          stride=50)
    assert [got[d.page_content] for d in docs] == expected.tolist()
