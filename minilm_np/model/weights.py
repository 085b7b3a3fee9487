"""The arrays the encoder reads, named by role. Which checkpoint tensor fills which field is decided in
one place only, ``minilm_np.checkpoint.names``."""

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
    word: np.ndarray  # [V, D]
    position: np.ndarray  # [P, D]
    token_type: np.ndarray  # [Y, D]
    ln_g: np.ndarray  # [D]
    ln_b: np.ndarray
    layers: tuple[LayerWeights, ...]
