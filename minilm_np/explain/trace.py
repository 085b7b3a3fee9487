"""A look inside one forward pass: every layer's attention probabilities and hidden states, and every other
array the plain reference path computed, under the checkpoint's own names.

The arrays come from ``minilm_np.model.reference`` (run with a ``trace`` dict), never from the fast packed
path, which stays as it is. What they equal: transformers' ``output_attentions`` and ``output_hidden_states``
(tests/test_trace.py holds them to 1e-5).

Names, as ``reference.py`` records them (batch axis dropped; letters as in ``minilm_np.model``):

    embeddings.word_embeddings / position_embeddings / token_type_embeddings   [T, D] the three looked-up rows
    embeddings.LayerNorm                                                       [T, D] hidden state 0
    encoder.layer.{i}.attention.self.query / key / value                      [H, T, K]
    encoder.layer.{i}.attention.self.scores                                    [H, T, T] q.k / sqrt(K) (+ mask)
    encoder.layer.{i}.attention.self.probs                                     [H, T, T] softmax of the scores
    encoder.layer.{i}.attention.self.context                                   [T, D] probs @ value, heads joined
    encoder.layer.{i}.attention.output.dense / .LayerNorm                      [T, D]
    encoder.layer.{i}.intermediate                                             [T, F] after GELU
    encoder.layer.{i}.output.dense / .LayerNorm                                [T, D] (.LayerNorm: hidden state i+1)
    pooler, classifier                                                         [D], [L] (cross-encoders)
    pooling, embedding                                                         [dim] (embedders)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checkpoint.load import Checkpoint
from ..model import reference
from ..model.heads import classify, l2_normalize, pool
from ..model.ops import linear
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


def _run(checkpoint: Checkpoint, encoding: Encoded) -> dict[str, np.ndarray]:
    """The reference forward on one unpadded sequence: its named arrays, without the batch axis."""
    ids = np.array([encoding.ids], dtype=np.int64)  # [1, T]
    types = np.array([encoding.type_ids], dtype=np.int64)
    recorded: dict[str, np.ndarray] = {}
    reference.encode(checkpoint.weights, checkpoint.config, ids, np.ones_like(ids), types, trace=recorded)
    return {name: a[0] for name, a in recorded.items()}


def _trace(checkpoint: Checkpoint, tokenizer: Tokenizer, encoding: Encoded, arrays: dict, output: np.ndarray) -> Trace:
    layers = range(checkpoint.config.num_hidden_layers)
    return Trace(
        tokens=[tokenizer.id_to_token(i) for i in encoding.ids],
        input_ids=np.array(encoding.ids, dtype=np.int64), token_type_ids=np.array(encoding.type_ids, dtype=np.int64),
        attentions=np.stack([arrays[f"encoder.layer.{i}.attention.self.probs"] for i in layers]),  # [layers, H, T, T]
        hidden_states=np.stack([arrays["embeddings.LayerNorm"]] +
                               [arrays[f"encoder.layer.{i}.output.LayerNorm"] for i in layers]),  # [layers+1, T, D]
        arrays=arrays, output=output)


def trace_pair(checkpoint: Checkpoint, tokenizer: Tokenizer, encoding: Encoded) -> Trace:
    """A cross-encoder's pass over one encoded pair, through its pooler and classifier (in float64, as
    ``heads.classify`` computes them; ``output`` is classify's logits)."""
    arrays = _run(checkpoint, encoding)
    head = checkpoint.head
    cls_state = arrays[f"encoder.layer.{checkpoint.config.num_hidden_layers - 1}.output.LayerNorm"][:1]  # [1, D]
    pooled = np.tanh(linear(cls_state.astype(np.float64), head.pooler_w.astype(np.float64),
                            head.pooler_b.astype(np.float64)))  # [1, D], as classify computes it
    logits = classify(cls_state, head)[0]  # [L]
    arrays.update(pooler=pooled[0].astype(np.float32), classifier=logits)
    return _trace(checkpoint, tokenizer, encoding, arrays, logits)


def trace_text(checkpoint: Checkpoint, tokenizer: Tokenizer, encoding: Encoded, *, pooling: tuple[str, ...],
               normalize: bool) -> Trace:
    """An embedder's pass over one encoded text, through its pooling (and normalisation)."""
    arrays = _run(checkpoint, encoding)
    last = arrays[f"encoder.layer.{checkpoint.config.num_hidden_layers - 1}.output.LayerNorm"]  # [T, D]
    pooled = np.concatenate([pool(last, [(0, len(last))], mode)[0] for mode in pooling])  # [dim]
    embedding = l2_normalize(pooled[None])[0] if normalize else pooled
    arrays.update(pooling=pooled, embedding=embedding)
    return _trace(checkpoint, tokenizer, encoding, arrays, embedding)
