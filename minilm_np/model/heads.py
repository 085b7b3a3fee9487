"""What sits on top of the encoder: the sequence-classification head and sentence-embedding pooling.

Pooling works on packed hidden states [N, D] (the real tokens of a batch, see packed.py) with each
sequence's (start, end) span, so padding can never leak into an average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ops import F32, linear


@dataclass(frozen=True)
class ClassifierHead:
    """BertForSequenceClassification's head: the pooler and the classifier."""
    pooler_w: np.ndarray  # [D, D] (out, in)
    pooler_b: np.ndarray  # [D]
    classifier_w: np.ndarray  # [L, D]
    classifier_b: np.ndarray  # [L]

    @property
    def num_labels(self) -> int:
        return self.classifier_w.shape[0]

    def in_float64(self) -> "ClassifierHead":
        """The same head in float64, converted once (``classify`` runs in float64)."""
        return ClassifierHead(*(np.asarray(a, dtype=np.float64) for a in
                                (self.pooler_w, self.pooler_b, self.classifier_w, self.classifier_b)))


def classify(cls_states: np.ndarray, head: ClassifierHead) -> np.ndarray:
    """BERT's pooler (dense + tanh on the [CLS] state) then the linear classifier.  [B, D] -> [B, L]

    Computed in float64 and returned as float32: the classifier sums D products, and its float32
    rounding alone reached ~3e-6 on logits of a few units. At [B, D] this costs nothing; pass
    ``head.in_float64()`` (CrossEncoder does, once at load) and nothing is converted per call.
    """
    pooled = np.tanh(linear(_f64(cls_states), _f64(head.pooler_w), _f64(head.pooler_b)))  # [B, D]
    return linear(pooled, _f64(head.classifier_w), _f64(head.classifier_b)).astype(np.float32)  # [B, L]


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)  # no copy when already float64


def pool(states: np.ndarray, spans: list[tuple[int, int]], mode: str) -> np.ndarray:
    """One vector per sequence from packed token states.  [N, D] -> [B, D]

    mode: "mean" (average of the tokens), "max" (element-wise max), "cls" (the first token),
    "mean_sqrt_len" (sum / sqrt(count)) -- sentence-transformers' Pooling modes.
    """
    starts = np.array([s for s, _ in spans], dtype=np.intp)
    counts = np.array([e - s for s, e in spans], dtype=np.float32)[:, None]  # [B, 1], each >= 1
    if mode == "cls":
        return states[starts]
    if mode == "max":
        return np.maximum.reduceat(states, starts, axis=0)
    sums = np.add.reduceat(states, starts, axis=0)  # [B, D]
    if mode == "mean":
        return sums / counts
    if mode == "mean_sqrt_len":
        return sums / np.sqrt(counts)
    raise ValueError(f"unknown pooling mode {mode!r}")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (a zero row stays zero), as torch's F.normalize(eps=1e-12).  [B, D]"""
    norm = np.sqrt(np.einsum("bd,bd->b", x, x))[:, None]
    return x / np.maximum(norm, F32(1e-12))
