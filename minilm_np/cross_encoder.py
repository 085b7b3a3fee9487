"""CrossEncoder: score (query, passage) pairs with a BERT-family sequence classifier (BERT, RoBERTa, XLM-R,
ELECTRA, DistilBERT), as sentence-transformers' CrossEncoder does, in NumPy."""

from __future__ import annotations

import os

import numpy as np

from ._encoder import Encoder, Progress, load, locate
from .checkpoint.family import DEFAULT_RERANKER
from .checkpoint.load import Checkpoint
from .model.heads import classify
from .model.ops import softmax
from .model.packed import PackedBatch
from .text.tokenize import Tokenizer
from .validate import check_pairs, check_positive_int, check_query, check_text, check_texts, is_single_pair

ACTIVATIONS = (None, "sigmoid", "softmax")


class CrossEncoder(Encoder):
    """A reranker: ``predict`` scores pairs, ``rank`` orders documents for one query."""

    def __init__(self, checkpoint: Checkpoint, tokenizer: Tokenizer, name: str, threads: int | None = None):
        if checkpoint.head is None:
            raise ValueError(f"{name}: a CrossEncoder needs a checkpoint loaded with its classifier head")
        super().__init__(checkpoint, tokenizer, name, threads)
        self.head = checkpoint.head.in_float64()  # the head runs in float64 (heads.classify); converted once

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_RERANKER, *, revision: str | None = None,
                        cache_dir: str | None = None, local_files_only: bool | None = None,
                        threads: int | None = None) -> "CrossEncoder":
        """A local directory, a Hub id, or a family size "L-2" | "L-4" | "L-6" | "L-12" | "TinyBERT-L-2".

        ``threads``: cores to use (default: all this process may use; 1 runs batches one at a time).
        """
        path, name = locate(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        checkpoint, tokenizer = load(path, head=True)
        return cls(checkpoint, tokenizer, name, threads)

    @property
    def num_labels(self) -> int:
        return self.config.num_labels

    @property
    def labels(self) -> tuple[str, ...]:
        """Label names by id: config.json's id2label (e.g. an NLI model's "contradiction", "entailment",
        "neutral"), else LABEL_0, LABEL_1, ... as transformers names them."""
        return self.config.id2label or tuple(f"LABEL_{i}" for i in range(self.num_labels))

    def predict(self, pairs, batch_size: int = 32, activation: str | None = None,
                progress: Progress = None, return_labels: bool = False):
        """Scores for (query, passage) pairs: float32 [n] for one label, [n, L] otherwise.

        ``activation``: None for raw logits, "sigmoid" (e.g. MS MARCO scores -> 0..1) or "softmax" over
        labels (the natural choice for a 3-label NLI model). ``return_labels``: the name of each pair's
        highest-scoring label instead (a list of str; a model with several labels only). One pair given
        alone, ("query", "passage"), returns one score (or one name). ``progress``, if given, is called
        with the number of pairs in each finished batch.
        """
        if is_single_pair(pairs):
            return self.predict([pairs], batch_size, activation, return_labels=return_labels)[0]
        pairs = check_pairs(pairs)
        check_positive_int(batch_size, "batch_size")
        if activation == "softmax" and self.num_labels == 1:  # softmax over one label is 1.0 for every pair
            raise ValueError(f"activation 'softmax' over the one label of {self.name} is 1.0 for every pair; "
                             f"use 'sigmoid' for scores in 0..1 or None for raw logits")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if return_labels and self.num_labels == 1:
            raise ValueError(f"return_labels needs a model with several labels; {self.name} has one")
        logits = self._run(self.tokenizer.encode_pairs(pairs), self._logits, width=self.num_labels,
                           batch_size=batch_size, progress=progress)  # [n, L]
        if return_labels:
            return [self.labels[i] for i in np.argmax(logits, axis=1)]
        scores = _activate(logits, activation)
        return scores[:, 0] if self.num_labels == 1 else scores

    def _logits(self, states: np.ndarray, batch: PackedBatch) -> np.ndarray:
        """The classifier head on each sequence's first state ([CLS] / <s>).  [N, D] -> [B, L]"""
        return classify(states[batch.starts], self.head)

    def rank(self, query: str, documents, top_k: int | None = None, batch_size: int = 32,
             activation: str | None = None, progress: Progress = None) -> list[dict]:
        """Documents ordered by score for ``query``, best first: ``[{"corpus_id", "score", "text"}]``.

        ``top_k`` keeps the best k (all when None or larger than the list). Ties keep input order.
        ``corpus_id`` is the document's 0-based position in ``documents``, as in sentence-transformers. An
        empty (or blank) query is a ``ValueError``, as in ``retrieval``'s searches.
        """
        check_query(query)
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
        return (f"CrossEncoder({self.name!r}, {c.model_type}, layers={c.num_hidden_layers}, hidden={c.hidden_size}, "
                f"labels={c.num_labels}, max_length={self.max_length})")


def _activate(logits: np.ndarray, activation: str | None) -> np.ndarray:
    """[n, L] logits -> scores; float32 in, float32 out."""
    if activation == "sigmoid":
        return np.float32(0.5) * (np.float32(1) + np.tanh(np.float32(0.5) * logits))  # no exp overflow
    if activation == "softmax":
        return softmax(logits)
    return logits
