"""Haystack components (``pip install "minilm-np[haystack]"``, haystack-ai's ``@component`` API).

- ``MiniLMTextEmbedder``: ``run(text) -> {"embedding": list[float]}``, for a query.
- ``MiniLMDocumentEmbedder``: ``run(documents) -> {"documents"}``, copies with ``Document.embedding`` set
  from ``Document.content``.
- ``MiniLMRanker``: ``run(query, documents, top_k=None) -> {"documents"}``, the best ``top_k``, best first,
  copies with ``Document.score`` set to the cross-encoder's score.

Each loads its model in ``warm_up`` (which a pipeline calls before it runs; ``run`` calls it too), so a
pipeline can be built and saved without loading anything; ``run_async`` runs ``run`` in a worker thread.
``to_dict`` saves the model's name or directory (a loaded model is saved by its ``name`` and ``kernels``),
``batch_size``, ``threads``, ``kernels`` and the rest, and ``from_dict`` reads them back.

Loading a saved pipeline: haystack-ai refuses classes from modules outside its allowlist
(``haystack``, ``haystack_integrations``, ...), so allow this module in one of the ways it offers:
``Pipeline.loads(text, allowed_modules=["minilm_np.integrations.haystack"])``, the environment variable
``HAYSTACK_DESERIALIZATION_ALLOWLIST=minilm_np.integrations.haystack`` (comma-separated patterns), or
``haystack.core.serialization.allow_deserialization_module("minilm_np.integrations.haystack")``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from minilm_np import CrossEncoder, Embedder

from ._models import load


def _reference(model) -> str | None:
    """How ``to_dict`` names ``model``: a loaded model by its ``name``, a path as a string."""
    if isinstance(model, (CrossEncoder, Embedder)):
        return model.name
    return None if model is None else os.fspath(model)


class _ModelComponent:
    """What the three components share: the ``model`` argument, loading in ``warm_up``, serialisation.

    Subclasses call ``_ModelComponent.__init__(self, ...)``, not ``super().__init__``: ``@component``
    rebuilds the class, and zero-argument ``super()`` still names the class it replaced.
    """

    _kind: type[CrossEncoder] | type[Embedder]

    def __init__(self, model: str | os.PathLike | CrossEncoder | Embedder | None = None, *, batch_size: int = 32,
                 threads: int | None = None, kernels: str | None = None):
        """``model``: a Hub id, a directory or a loaded model (``Embedder`` for the embedders, ``CrossEncoder``
        for the ranker); None for the library's default. ``batch_size``, ``threads``, ``kernels``: as in
        ``from_pretrained`` and ``encode`` / ``rank``. A model given loaded is checked here; one given by
        name loads on the first ``warm_up``."""
        self.model = model
        self.batch_size = batch_size
        self.threads = threads
        self.kernels = kernels
        loaded = isinstance(model, (CrossEncoder, Embedder))
        self._loaded = load(self._kind, model, threads, kernels) if loaded else None

    def warm_up(self) -> None:
        if self._loaded is None:
            self._loaded = load(self._kind, self.model, self.threads, self.kernels)

    def _settings(self) -> dict[str, Any]:
        loaded = isinstance(self.model, (CrossEncoder, Embedder))  # saved by name, so its kernels go with it
        return {"model": _reference(self.model), "batch_size": self.batch_size, "threads": self.threads,
                "kernels": self.model.kernels if loaded else self.kernels}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._settings())

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return default_from_dict(cls, data)


@component
class MiniLMTextEmbedder(_ModelComponent):
    """Embeds one text (a query) with a MiniLM embedder (all-MiniLM-L6-v2 by default), unit length, through
    ``encode_query``: the model's query prompt, when its files define one."""

    _kind = Embedder

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        if not isinstance(text, str):
            raise TypeError(f"MiniLMTextEmbedder embeds one str, got {type(text).__name__}; "
                            f"for a list of Documents use MiniLMDocumentEmbedder")
        self.warm_up()
        return {"embedding": self._loaded.encode_query([text], batch_size=self.batch_size)[0].tolist()}

    @component.output_types(embedding=list[float])
    async def run_async(self, text: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.run, text)


@component
class MiniLMDocumentEmbedder(_ModelComponent):
    """Sets ``Document.embedding`` from each document's ``content`` (None is embedded as ""), through
    ``encode_document``: the model's document prompt, when its files define one."""

    _kind = Embedder

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError("MiniLMDocumentEmbedder embeds a list of Documents; for one str use MiniLMTextEmbedder")
        self.warm_up()
        vectors = self._loaded.encode_document([d.content or "" for d in documents], batch_size=self.batch_size)
        return {"documents": [replace(d, embedding=v.tolist()) for d, v in zip(documents, vectors, strict=True)]}

    @component.output_types(documents=list[Document])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        return await asyncio.to_thread(self.run, documents)


@component
class MiniLMRanker(_ModelComponent):
    """Orders documents by a MiniLM cross-encoder's score for the query and keeps the best ``top_k``
    (10 by default; all when None), each a copy with ``Document.score`` set.

    ``model``: a size ("L-6", the default), a Hub id, a directory or a loaded ``CrossEncoder``; ``batch_size``,
    ``threads``, ``kernels`` as for the embedders; ``activation``: None for raw logits, "sigmoid" for 0..1 scores;
    ``long_passages`` and ``stride``: how a document past the model's length is read (``CrossEncoder.predict``).
    """

    _kind = CrossEncoder

    def __init__(self, model: str | os.PathLike | CrossEncoder | None = None, *, top_k: int | None = 10,
                 batch_size: int = 32, threads: int | None = None, kernels: str | None = None,
                 activation: str | None = None, long_passages: str = "truncate", stride: int | None = None):
        _ModelComponent.__init__(self, model, batch_size=batch_size, threads=threads, kernels=kernels)
        self.top_k = top_k
        self.activation = activation
        self.long_passages = long_passages
        self.stride = stride

    def _settings(self) -> dict[str, Any]:
        return {**_ModelComponent._settings(self), "top_k": self.top_k, "activation": self.activation,
                "long_passages": self.long_passages, "stride": self.stride}

    @component.output_types(documents=list[Document])
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        """``top_k``: overrides the constructor's for this call."""
        self.warm_up()
        hits = self._loaded.rank(query, [d.content or "" for d in documents],
                                 top_k=self.top_k if top_k is None else top_k, batch_size=self.batch_size,
                                 activation=self.activation, long_passages=self.long_passages, stride=self.stride)
        return {"documents": [replace(documents[h["corpus_id"]], score=h["score"]) for h in hits]}

    @component.output_types(documents=list[Document])
    async def run_async(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self.run, query, documents, top_k)
