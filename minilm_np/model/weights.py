"""The arrays the encoder reads, named by role. Which checkpoint tensor fills which field is decided in
one place only, ``minilm_np.checkpoint.names``. Every body of the family fills the same fields; the
optional ones are None where a body has no such array. E is the embedding width (D except in ELECTRA)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerWeights:
    q_w: np.ndarray  # [D, D] (out, in), as in the checkpoint
    q_b: np.ndarray  # [D]
    k_w: np.ndarray
    k_b: np.ndarray
    v_w: np.ndarray
    v_b: np.ndarray
    o_w: np.ndarray  # [D, D]
    o_b: np.ndarray
    ln1_g: np.ndarray  # [D] LayerNorm after attention
    ln1_b: np.ndarray
    ff1_w: np.ndarray  # [F, D]
    ff1_b: np.ndarray  # [F]
    ff2_w: np.ndarray  # [D, F]
    ff2_b: np.ndarray  # [D]
    ln2_g: np.ndarray  # [D] LayerNorm after the feed-forward
    ln2_b: np.ndarray


@dataclass(frozen=True)
class BertWeights:
    word: np.ndarray  # [V, E]
    position: np.ndarray  # [P, E]
    token_type: np.ndarray | None  # [Y, E]; None for DistilBERT, which has no token types
    ln_g: np.ndarray  # [E]
    ln_b: np.ndarray
    layers: tuple[LayerWeights, ...]
    project_w: np.ndarray | None = None  # [D, E] ELECTRA's embeddings_project, when E != D
    project_b: np.ndarray | None = None  # [D]
