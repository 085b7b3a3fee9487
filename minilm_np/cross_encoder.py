"""CrossEncoder: score (query, passage) pairs with a BERT sequence classifier, as sentence-transformers'
CrossEncoder does, in NumPy."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from . import fast
from .batching import run_sorted
from .checkpoint import Checkpoint, load_checkpoint
from .family import DEFAULT_RERANKER
from .heads import classify
from .hub import model_name, resolve
from .inputs import check_pairs, check_positive_int, check_text, check_texts, is_single_pair
from .threads import worker_count
from .tokenize import Batch

_ACTIVATIONS = (None, "sigmoid", "softmax")


class CrossEncoder:
    """A reranker: ``predict`` scores pairs, ``rank`` orders documents for one query."""

    def __init__(self, checkpoint: Checkpoint, name: str, threads: int | None = None):
        self.checkpoint = checkpoint
        self.config = checkpoint.config
        self.tokenizer = checkpoint.tokenizer
        self.name = name
        self.workers = worker_count(threads)  # batches run at once; see threads.py
        self._layers = fast.prepare(checkpoint.weights, checkpoint.config)
        w = checkpoint.weights  # the head runs in float64 (heads.classify); convert it once
        self._head = tuple(a.astype(np.float64) for a in (w.pooler_w, w.pooler_b, w.classifier_w, w.classifier_b))

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_RERANKER, *, revision: str | None = None,
                        cache_dir: str | None = None, local_files_only: bool | None = None,
                        threads: int | None = None) -> "CrossEncoder":
        """A local directory, a Hub id, or a family size "L-2" | "L-4" | "L-6" | "L-12" | "TinyBERT-L-2".

        ``threads``: cores to use (default: all this process may use; 1 runs batches one at a time).
        """
        path = resolve(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        return cls(load_checkpoint(path, head=True), model_name(name_or_path, path), threads)

    @property
    def num_labels(self) -> int:
        return self.config.num_labels

    @property
    def max_length(self) -> int:
        return self.tokenizer.max_length

    def predict(self, pairs, batch_size: int = 32, activation: str | None = None,
                progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Scores for (query, passage) pairs: float32 [n] for one label, [n, L] otherwise.

        ``activation``: None for raw logits, "sigmoid" (e.g. MS MARCO scores -> 0..1) or "softmax" over
        labels. One pair given alone, ("query", "passage"), returns one score. ``progress``, if given, is
        called with the number of pairs in each finished batch.
        """
        if is_single_pair(pairs):
            return self.predict([pairs], batch_size, activation)[0]
        pairs = check_pairs(pairs)
        check_positive_int(batch_size, "batch_size")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        labels = self.num_labels
        logits = run_sorted(self.tokenizer.encode_pairs(pairs), batch_size, self.logits,
                            self.tokenizer.pad_id, (labels,), progress, self.workers)  # [n, L]
        scores = _activate(logits, activation)
        return scores[:, 0] if labels == 1 else scores

    def logits(self, batch: Batch) -> np.ndarray:
        """The classifier's raw output for one padded batch.  [B, T] arrays -> [B, L]"""
        w = self.checkpoint.weights
        states, spans = fast.encode_packed(w, self._layers, self.config, batch.input_ids,
                                           batch.attention_mask, batch.token_type_ids)  # [N, D]
        cls = states[[start for start, _ in spans]]  # [B, D]
        return classify(cls, *self._head)

    def rank(self, query: str, documents, top_k: int | None = None, batch_size: int = 32,
             activation: str | None = None, progress: Callable[[int], None] | None = None) -> list[dict]:
        """Documents ordered by score for ``query``, best first: ``[{"corpus_id", "score", "text"}]``.

        ``top_k`` keeps the best k (all when None or larger than the list). Ties keep input order.
        """
        check_text(query, "query")
        documents = check_texts(documents, "documents")
        if top_k is not None:
            check_positive_int(top_k, "top_k")
        if self.num_labels != 1:
            raise ValueError(f"rank needs a one-label model; {self.name} has {self.num_labels} labels")
        scores = self.predict([(query, d) for d in documents], batch_size, activation, progress)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"corpus_id": int(i), "score": float(scores[i]), "text": documents[i]} for i in order]

    def tokenize(self, query: str, documents) -> dict[str, np.ndarray]:
        """The batch the model sees for ``query`` against each document, in the given order:
        ``input_ids``, ``attention_mask``, ``token_type_ids`` as int64 [len(documents), T]."""
        check_text(query, "query")
        documents = check_texts(documents, "documents")
        encodings = self.tokenizer.encode_pairs([(query, d) for d in documents])
        return self.tokenizer.pad(encodings).as_dict()

    def __repr__(self) -> str:
        c = self.config
        return (f"CrossEncoder({self.name!r}, layers={c.num_hidden_layers}, hidden={c.hidden_size}, "
                f"labels={c.num_labels}, max_length={self.max_length})")


def _activate(logits: np.ndarray, activation: str | None) -> np.ndarray:
    if activation == "sigmoid":
        return np.float32(0.5) * (np.float32(1) + np.tanh(np.float32(0.5) * logits))  # no exp overflow
    if activation == "softmax":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return logits
