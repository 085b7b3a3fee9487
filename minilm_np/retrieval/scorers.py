"""What retrieval needs of its models and corpora, as protocols: retrieval never imports the model
classes, so any object with these methods (a CrossEncoder, an Embedder, a test fake, a remote client)
can be searched with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

Progress = Callable[[int], None] | None


class TextEmbedder(Protocol):
    name: str

    def encode(self, texts: list[str], batch_size: int = ..., normalize: bool = ...,
               progress: Progress = ...) -> np.ndarray:
        """float32 [n, d] (unit rows when normalize)."""


class PairScorer(Protocol):
    name: str

    def predict(self, pairs: list[tuple[str, str]], batch_size: int = ..., activation: str | None = ...,
                progress: Progress = ...) -> np.ndarray:
        """float32 [n] scores, higher is more relevant."""


class Passages(Protocol):
    """A corpus: ``ids[i]`` names ``texts[i]`` (``Corpus``, ``EmbeddingIndex``). Read-only here, so that a frozen
    dataclass or a property meets it."""
    @property
    def ids(self) -> Sequence[str]: ...

    @property
    def texts(self) -> Sequence[str]: ...


# What the retrieval functions take as a corpus: Passages, or a list of str (ids "1", "2", ...) or of (id, text)
# pairs, made into a Corpus by ``corpus.as_passages``.
CorpusLike = Passages | Sequence[str] | Sequence[tuple[str, str]]


def check_corpus(corpus: Passages) -> None:
    if not (hasattr(corpus, "ids") and hasattr(corpus, "texts")):
        raise TypeError(f"the corpus must have ids and texts (a Corpus or an EmbeddingIndex; "
                        f"corpus_from_texts makes one of a list of str), got {type(corpus).__name__}")
    if len(corpus.texts) == 0:
        raise ValueError("the corpus has no passages")


def check_is_embedder(embedder: TextEmbedder) -> None:
    """An argument that can play the embedder (arguments given in another order fail here, by name)."""
    if not (callable(getattr(embedder, "encode", None)) and hasattr(embedder, "name")):
        raise TypeError(f"the embedder must have encode() and a name (an Embedder), got {type(embedder).__name__}")


def check_is_reranker(reranker: PairScorer) -> None:
    if not (callable(getattr(reranker, "predict", None)) and hasattr(reranker, "name")):
        raise TypeError(f"the reranker must have predict() and a name (a CrossEncoder), got "
                        f"{type(reranker).__name__}")
