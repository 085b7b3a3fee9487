"""A look inside one forward pass: every layer's attention probabilities and hidden states, and every other
array the plain reference path computed, under the checkpoint's own names.

The arrays come from ``minilm_np.model.reference`` (run with a ``trace`` dict), never from the fast packed
path, which stays as it is. What they equal: transformers' ``output_attentions`` and ``output_hidden_states``
(tests/test_trace.py holds them to 1e-5).

Names, as ``reference.py`` records them (batch axis dropped; letters as in ``minilm_np.model``):

    embeddings                                                  [T, D] hidden state 0
    encoder.layer.{i}.attention.self.query / key / value       [H, T, K]
    encoder.layer.{i}.attention.self.scores                     [H, T, T] q.k / sqrt(K) (+ mask)
    encoder.layer.{i}.attention.self.probs                      [H, T, T] softmax of the scores
    encoder.layer.{i}.attention.self.context                    [T, D] probs @ value, heads joined
    encoder.layer.{i}.attention.output.dense / .LayerNorm       [T, D]
    encoder.layer.{i}.intermediate                              [T, F] after GELU
    encoder.layer.{i}.output.dense / .LayerNorm                 [T, D] (.LayerNorm: hidden state i+1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..checkpoint.load import Checkpoint
from ..model import reference
from ..text.tokenize import Encoded, Tokenizer


@dataclass(frozen=True)
class Trace:
    """Everything the plain forward pass computed for one input of T tokens."""
    tokens: list[str]  # the T tokens, special ones included
    input_ids: np.ndarray  # int64 [T]
    token_type_ids: np.ndarray  # int64 [T]: 0 query (or the text), 1 passage
    attentions: np.ndarray  # float32 [layers, H, T, T]: row i, how much token i takes from each token
    hidden_states: np.ndarray  # float32 [layers + 1, T, D]: the embeddings, then each layer's output
    arrays: dict[str, np.ndarray]  # every intermediate by checkpoint name (see the module's doc)
    output: np.ndarray  # float32: the logits [L] of a cross-encoder, the embedding [dim] of an embedder

    @property
    def layers(self) -> int:
        return self.attentions.shape[0]


def trace_encoding(checkpoint: Checkpoint, tokenizer: Tokenizer, encoding: Encoded,
                   head: Callable[[np.ndarray], np.ndarray]) -> Trace:
    """The reference forward over one encoded sequence; ``head(last hidden states [T, D])`` gives ``output``
    (the scorers pass their own head, so it is the one they run)."""
    ids = np.array([encoding.ids], dtype=np.int64)  # [1, T]
    types = np.array([encoding.type_ids], dtype=np.int64)
    recorded: dict[str, np.ndarray] = {}
    reference.encode(checkpoint.weights, checkpoint.config, ids, np.ones_like(ids), types, trace=recorded)
    arrays = {name: a[0] for name, a in recorded.items()}  # the batch of one dropped
    layers = range(checkpoint.config.num_hidden_layers)
    hidden = np.stack([arrays["embeddings"]] + [arrays[f"encoder.layer.{i}.output.LayerNorm"] for i in layers])
    return Trace(
        tokens=[tokenizer.id_to_token(i) for i in encoding.ids], input_ids=ids[0], token_type_ids=types[0],
        attentions=np.stack([arrays[f"encoder.layer.{i}.attention.self.probs"] for i in layers]),  # [layers, H, T, T]
        hidden_states=hidden,  # [layers + 1, T, D]
        arrays=arrays, output=head(hidden[-1]))
