"""LlamaIndex adapters (``pip install "minilm-np[llamaindex]"``, llama-index-core).

- ``MiniLMEmbedding``: ``llama_index.core.base.embeddings.base.BaseEmbedding`` over ``Embedder.encode``.
  LlamaIndex cuts a list of texts into chunks of ``embed_batch_size`` and hands each chunk to
  ``_get_text_embeddings``, which encodes it in one call with the same batch size.
- ``MiniLMRerank``: ``llama_index.core.postprocessor.types.BaseNodePostprocessor`` over
  ``CrossEncoder.rank``, for ``index.as_query_engine(node_postprocessors=[MiniLMRerank(...)])``: the best
  ``top_n`` nodes, best first, as new ``NodeWithScore`` objects carrying the cross-encoder's score.

The async methods run the model in a worker thread (``asyncio.to_thread``), so the event loop is not
blocked; a chunk is one call, never one call per text.
"""

from __future__ import annotations

import asyncio
import os

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from minilm_np import CrossEncoder, Embedder

from ._models import load, top_n


class MiniLMEmbedding(BaseEmbedding):
    """Unit-length embeddings (all-MiniLM-L6-v2 by default); queries through ``encode_query`` and texts
    through ``encode_document``, so a model's own query/document prompts apply (none: both alike).

    ``model``: a Hub id, a directory or a loaded ``Embedder``; ``batch_size`` becomes LlamaIndex's
    ``embed_batch_size``; ``threads`` and ``kernels`` as in ``Embedder.from_pretrained``. ``model_name`` reports the
    loaded model's name (its Hub id or directory).
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, model: str | os.PathLike | Embedder | None = None, *, batch_size: int = 32,
                 threads: int | None = None, kernels: str | None = None, **fields):
        embedder = load(Embedder, model, threads, kernels)
        super().__init__(model_name=embedder.name, embed_batch_size=batch_size, **fields)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.encode_document(list(texts), batch_size=self.embed_batch_size).tolist()

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.encode_query([query], batch_size=self.embed_batch_size)[0].tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_query_embedding, query)


class MiniLMRerank(BaseNodePostprocessor):
    """Reorders nodes by a MiniLM cross-encoder's score for the query and keeps the best ``top_n`` (all
    when None). Each node is read as LlamaIndex's own rerankers read it,
    ``get_content(metadata_mode=MetadataMode.EMBED)``.

    ``model``: a size ("L-6", the default), a Hub id, a directory or a loaded ``CrossEncoder``;
    ``activation``: None for raw logits, "sigmoid" for 0..1 scores; ``long_passages`` and ``stride``: how a
    node past the model's length is read (``CrossEncoder.predict``). The async ``apostprocess_nodes`` is
    LlamaIndex's own: this in a worker thread.
    """

    model: str
    top_n: int | None = 2
    batch_size: int = 32
    activation: str | None = None
    long_passages: str = "truncate"
    stride: int | None = None
    _cross_encoder: CrossEncoder = PrivateAttr()

    def __init__(self, model: str | os.PathLike | CrossEncoder | None = None, *, threads: int | None = None,
                 kernels: str | None = None, **fields):
        cross_encoder = load(CrossEncoder, model, threads, kernels)
        super().__init__(model=cross_encoder.name, **fields)
        self._cross_encoder = cross_encoder

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMRerank"

    @property
    def cross_encoder(self) -> CrossEncoder:
        return self._cross_encoder

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("MiniLMRerank needs the query: pass query_bundle or query_str")
        texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        hits = self._cross_encoder.rank(query_bundle.query_str, texts, top_k=top_n(self.top_n),
                                        batch_size=self.batch_size, activation=self.activation,
                                        long_passages=self.long_passages, stride=self.stride)
        return [NodeWithScore(node=nodes[h["corpus_id"]].node, score=h["score"]) for h in hits]
