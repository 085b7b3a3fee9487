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
    """A corpus: ``ids[i]`` names ``texts[i]`` (``Corpus``, ``EmbeddingIndex``)."""
    ids: Sequence[str]
    texts: Sequence[str]


def check_corpus(corpus: Passages) -> None:
    if len(corpus.texts) == 0:
        raise ValueError("the corpus has no passages")
