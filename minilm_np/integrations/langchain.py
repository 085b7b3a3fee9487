"""LangChain adapters (``pip install "minilm-np[langchain]"``, langchain-core).

- ``MiniLMEmbeddings``: ``langchain_core.embeddings.Embeddings`` over ``Embedder.encode``.
- ``MiniLMRerank``: ``langchain_core.documents.BaseDocumentCompressor`` over ``CrossEncoder.rank``; the
  best ``top_n`` documents, best first, each with its score in ``metadata["relevance_score"]`` (as
  langchain-community's ``FlashrankRerank``). It goes into langchain-classic's
  ``ContextualCompressionRetriever(base_compressor=..., base_retriever=...)``.

The async methods are langchain-core's own: they run the sync ones in a thread pool, so the event loop
is not blocked while the model runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, PrivateAttr

from minilm_np import CrossEncoder, Embedder

from ._models import load, top_n


class MiniLMEmbeddings(Embeddings):
    """Unit-length embeddings (all-MiniLM-L6-v2 by default) as lists of floats.

    ``model``: a Hub id, a directory or a loaded ``Embedder``; ``batch_size``, ``threads`` and ``kernels`` as in
    ``Embedder.from_pretrained`` / ``encode``. Queries go through ``encode_query`` and documents through
    ``encode_document``, so a model whose files define query/document prompts gets them (as
    sentence-transformers applies them); a model without prompts embeds both alike.
    """

    def __init__(self, model: str | os.PathLike | Embedder | None = None, *, batch_size: int = 32,
                 threads: int | None = None, kernels: str | None = None):
        self.embedder = load(Embedder, model, threads, kernels)
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.encode_document(list(texts), batch_size=self.batch_size).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.encode_query([text], batch_size=self.batch_size)[0].tolist()


class MiniLMRerank(BaseDocumentCompressor):
    """Reorders documents by a MiniLM cross-encoder's score for the query and keeps the best ``top_n``
    (all when None); each returned document is a copy with ``metadata["relevance_score"]`` set.

    ``model``: a size ("L-6", the default), a Hub id, a directory or a loaded ``CrossEncoder``;
    ``activation``: None for raw logits, "sigmoid" for 0..1 scores; ``long_passages`` ("truncate", "maxp",
    "firstp", "meanp") and ``stride``: how a document past the model's length is read (``CrossEncoder.predict``).
    """

    model_config = ConfigDict(extra="forbid")

    top_n: int | None = 3
    batch_size: int = 32
    activation: str | None = None
    long_passages: str = "truncate"
    stride: int | None = None
    _cross_encoder: CrossEncoder = PrivateAttr()

    def __init__(self, model: str | os.PathLike | CrossEncoder | None = None, *, threads: int | None = None,
                 kernels: str | None = None, **fields):
        super().__init__(**fields)
        self._cross_encoder = load(CrossEncoder, model, threads, kernels)

    @property
    def cross_encoder(self) -> CrossEncoder:
        return self._cross_encoder

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        hits = self._cross_encoder.rank(query, [d.page_content for d in documents], top_k=top_n(self.top_n),
                                        batch_size=self.batch_size, activation=self.activation,
                                        long_passages=self.long_passages, stride=self.stride)
        ranked = []
        for hit in hits:
            document = documents[hit["corpus_id"]]
            metadata = {**document.metadata, "relevance_score": hit["score"]}
            ranked.append(document.model_copy(update={"metadata": metadata}))
        return ranked
