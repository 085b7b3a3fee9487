"""Embedder: sentence embeddings as sentence-transformers' SentenceTransformer.encode computes them,
following the model directory's modules.json (Transformer -> Pooling -> optional Normalize)."""

from __future__ import annotations

import os

import numpy as np

from ._encoder import Encoder, Progress, load, locate
from .checkpoint.family import DEFAULT_EMBEDDER
from .checkpoint.load import Checkpoint
from .checkpoint.pipeline import Pipeline, read_pipeline
from .explain.trace import Trace, trace_encoding
from .model.heads import l2_normalize, pool
from .model.packed import PackedBatch
from .text.tokenize import Tokenizer
from .validate import check_positive_int, check_text, check_texts


class Embedder(Encoder):
    """Sentence embeddings: ``encode(texts)`` -> float32 [n, dim]."""

    def __init__(self, checkpoint: Checkpoint, tokenizer: Tokenizer, pipeline: Pipeline, name: str,
                 threads: int | None = None):
        super().__init__(checkpoint, tokenizer, name, threads)
        self.pipeline = pipeline

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_EMBEDDER, *, revision: str | None = None,
                        cache_dir: str | None = None, local_files_only: bool | None = None,
                        threads: int | None = None) -> "Embedder":
        """A sentence-transformers directory (or a bare BertModel directory: mean pooling), or a Hub id.

        ``threads``: cores to use (default: all this process may use; 1 runs batches one at a time).
        """
        path, name = locate(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        pipeline = read_pipeline(path)
        checkpoint, tokenizer = load(pipeline.transformer_dir, head=False)
        return cls(checkpoint, tokenizer, pipeline, name, threads)

    @property
    def dim(self) -> int:
        return self.config.hidden_size * len(self.pipeline.pooling)

    def encode(self, texts, batch_size: int = 32, normalize: bool = True, progress: Progress = None) -> np.ndarray:
        """float32 [n, dim] embeddings; a single str gives [dim].

        ``normalize``: scale to unit length (sentence-transformers' ``normalize_embeddings``). A model
        whose modules.json ends in Normalize is normalised either way, as sentence-transformers does.
        """
        if isinstance(texts, str):
            return self.encode([texts], batch_size, normalize)[0]
        texts = check_texts(texts)
        check_positive_int(batch_size, "batch_size")
        out = self._run(self.tokenizer.encode_texts(texts), self._pooled, width=self.dim, batch_size=batch_size,
                        progress=progress)  # [n, dim]
        return l2_normalize(out) if normalize or self.pipeline.normalize else out

    def trace(self, text: str) -> Trace:
        """A look inside the pass over one text (cut as ``encode`` cuts it): every layer's attention
        probabilities [layers, H, T, T] and hidden states [layers + 1, T, D], as transformers'
        ``output_attentions`` / ``output_hidden_states``, and every intermediate by checkpoint name, computed
        on the plain reference path (model/reference.py); ``output`` is ``encode(text)``."""
        encoding = self.tokenizer.encode_texts([check_text(text, "text")])[0]
        return trace_encoding(self.checkpoint, self.tokenizer, encoding, head=lambda states: self.encode(text))

    def _pooled(self, states: np.ndarray, batch: PackedBatch) -> np.ndarray:
        """Pooled (not normalised) embeddings, the pipeline's modes concatenated.  [N, D] -> [B, dim]"""
        pooled = [pool(states, batch.spans, mode) for mode in self.pipeline.pooling]
        return np.concatenate(pooled, axis=1) if len(pooled) > 1 else pooled[0]

    def __repr__(self) -> str:
        return (f"Embedder({self.name!r}, layers={self.config.num_hidden_layers}, dim={self.dim}, "
                f"pooling={'+'.join(self.pipeline.pooling)}, max_length={self.max_length})")
