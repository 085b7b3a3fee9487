"""What sits on top of the encoder: the sequence-classification head and sentence-embedding pooling."""

from __future__ import annotations

import numpy as np

from .ops import F32, linear


def classify(cls_states: np.ndarray, pooler_w, pooler_b, classifier_w, classifier_b) -> np.ndarray:
    """BERT's pooler (dense + tanh on the [CLS] state) then the linear classifier.  [B, D] -> [B, L]"""
    pooled = np.tanh(linear(cls_states, pooler_w, pooler_b))  # [B, D]
    return linear(pooled, classifier_w, classifier_b)  # [B, L]


def mean_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average of the real (mask 1) token states.  [B, T, D], [B, T] -> [B, D]"""
    m = mask.astype(np.float32)[:, :, None]  # [B, T, 1]
    return (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), F32(1e-9))


def max_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Element-wise max over real tokens (padding set to a large negative first).  [B, D]"""
    masked = np.where(mask[:, :, None] > 0, states, F32(-1e9))
    return masked.max(axis=1)


def cls_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The first ([CLS]) token's state.  [B, D]"""
    return states[:, 0]


def mean_sqrt_len_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sum of real token states divided by sqrt(count) (sentence-transformers' mean_sqrt_len_tokens)."""
    m = mask.astype(np.float32)[:, :, None]
    return (states * m).sum(axis=1) / np.sqrt(np.maximum(m.sum(axis=1), F32(1e-9)))


POOLING = {"mean": mean_pool, "max": max_pool, "cls": cls_pool, "mean_sqrt_len": mean_sqrt_len_pool}


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (a zero row stays zero).  [B, D]"""
    norm = np.sqrt(np.square(x).sum(axis=-1, keepdims=True))
    return x / np.maximum(norm, F32(1e-12))
