"""The BERT encoder forward pass (Devlin et al. 2019, section 3; Vaswani et al. 2017 for attention).

Arrays in, arrays out: no files, no tokenizer. Shape letters as in ``minilm_np.model`` (B, T, D, H, K, F).
RoBERTa, XLM-R, ELECTRA and DistilBERT run the same layers; they differ only in the embeddings (``embed``):
where positions start, whether token types are read, and ELECTRA's projection from E to D.

This module is the plain reference: every sequence padded to T, padding masked in attention only.
It is written to be read against the papers; ``packed.py`` computes the same numbers faster and is
what runs (tests/test_packed.py holds the two together).
"""

from __future__ import annotations

import numpy as np

from .config import BertConfig
from .ops import F32, gelu, layer_norm, linear, softmax
from .weights import BertWeights, LayerWeights

# Added to the attention scores of padding keys. Finite, so a row can never become all -inf (NaN);
# large enough that exp() of it is exactly 0 in float32. transformers uses finfo(float32).min too.
MASK_VALUE = np.finfo(np.float32).min

# Tracing (minilm_np.explain.trace): given a ``trace`` dict, each stage also keeps what it computed under the
# checkpoint's name of the module that computes it (``encoder.layer.3.attention.output.dense``: that Linear's
# output; ``encoder.layer.3.output.LayerNorm``: the layer's; ``embeddings``: hidden state 0), and attention's
# inside under its module (``encoder.layer.3.attention.self.probs``). Without one, nothing is kept.
Trace = dict[str, np.ndarray] | None  # checkpoint name -> array


def keep(trace: Trace, scope: str, **arrays: np.ndarray) -> None:
    """Record ``arrays`` under ``scope.name`` when tracing."""
    if trace is not None:
        trace.update({f"{scope}.{name}": a for name, a in arrays.items()})


def embed(w: BertWeights, cfg: BertConfig, input_ids: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
    """Word + position + token type embeddings, then LayerNorm (then ELECTRA's projection).  [B, T] -> [B, T, D]"""
    x = w.word[input_ids] + w.position[position_ids(cfg, input_ids)]  # [B, T, E]
    if cfg.body.token_types == "segments":
        x += w.token_type[token_type_ids]
    elif cfg.body.token_types == "first":  # RoBERTa: transformers passes no type ids, so row 0 everywhere
        x += w.token_type[0]
    x = layer_norm(x, w.ln_g, w.ln_b, cfg.layer_norm_eps)
    if w.project_w is not None:
        x = linear(x, w.project_w, w.project_b)  # [B, T, E] -> [B, T, D]
    return x


def position_ids(cfg: BertConfig, input_ids: np.ndarray) -> np.ndarray:
    """Rows of the position table.  [B, T] -> [B, T]

    BERT, ELECTRA, DistilBERT: 0, 1, 2, ... RoBERTa and XLM-R (transformers'
    ``create_position_ids_from_input_ids``): pad_token_id + 1, + 2, ... counting only tokens that are not
    the pad id; pad tokens themselves get row pad_token_id.
    """
    if not cfg.body.positions_after_padding:
        return np.broadcast_to(np.arange(input_ids.shape[1]), input_ids.shape)
    real = (input_ids != cfg.pad_token_id).astype(np.int64)
    return np.cumsum(real, axis=1) * real + cfg.pad_token_id


def attention(x: np.ndarray, mask_bias: np.ndarray, lw: LayerWeights, heads: int, trace: Trace = None,
              scope: str = "attention") -> np.ndarray:
    """Multi-head scaled dot-product self-attention.  [B, T, D] -> [B, T, D]

    mask_bias: [B, 1, 1, T], 0 for real keys and MASK_VALUE for padding keys.
    """
    b, t, d = x.shape
    k_size = d // heads

    def split_heads(y):  # [B, T, D] -> [B, H, T, K]
        return y.reshape(b, t, heads, k_size).transpose(0, 2, 1, 3)

    q = split_heads(linear(x, lw.q_w, lw.q_b))
    k = split_heads(linear(x, lw.k_w, lw.k_b))
    v = split_heads(linear(x, lw.v_w, lw.v_b))
    scores = q @ k.transpose(0, 1, 3, 2) / F32(np.sqrt(k_size)) + mask_bias  # [B, H, T, T]
    probs = softmax(scores)  # [B, H, T, T]: row i, how much token i takes from each token
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, d)  # [B, H, T, K] -> [B, T, D]
    out = linear(context, lw.o_w, lw.o_b)
    keep(trace, f"{scope}.self", query=q, key=k, value=v, scores=scores, probs=probs, context=context)
    keep(trace, f"{scope}.output", dense=out)
    return out


def feed_forward(x: np.ndarray, lw: LayerWeights, trace: Trace = None, scope: str = "layer") -> np.ndarray:
    """Position-wise two-layer MLP with exact GELU.  [..., D] -> [..., F] -> [..., D]"""
    h = gelu(linear(x, lw.ff1_w, lw.ff1_b))  # [..., F]
    out = linear(h, lw.ff2_w, lw.ff2_b)
    keep(trace, scope, intermediate=h, **{"output.dense": out})
    return out


def layer(x: np.ndarray, mask_bias: np.ndarray, lw: LayerWeights, cfg: BertConfig, trace: Trace = None,
          scope: str = "layer") -> np.ndarray:
    """One post-LN transformer layer: residual, then LayerNorm, after each sub-block.  [B, T, D]"""
    x = layer_norm(x + attention(x, mask_bias, lw, cfg.num_attention_heads, trace, f"{scope}.attention"),
                   lw.ln1_g, lw.ln1_b, cfg.layer_norm_eps)
    keep(trace, f"{scope}.attention.output", LayerNorm=x)
    x = layer_norm(x + feed_forward(x, lw, trace, scope), lw.ln2_g, lw.ln2_b, cfg.layer_norm_eps)
    keep(trace, f"{scope}.output", LayerNorm=x)
    return x


def encode(w: BertWeights, cfg: BertConfig, input_ids: np.ndarray, attention_mask: np.ndarray,
           token_type_ids: np.ndarray, all_layers: bool = False, trace: Trace = None):
    """The encoder's last hidden states [B, T, D]; with all_layers, a list of L+1 of them
    (the embeddings first), as transformers' ``output_hidden_states``. ``trace``: see ``Trace`` above."""
    mask_bias = np.where(attention_mask[:, None, None, :] > 0, F32(0.0), MASK_VALUE)  # [B, 1, 1, T]
    x = embed(w, cfg, input_ids, token_type_ids)
    if trace is not None:
        trace["embeddings"] = x
    states = [x]
    for i, lw in enumerate(w.layers):
        x = layer(x, mask_bias, lw, cfg, trace, f"encoder.layer.{i}")
        states.append(x)
    return states if all_layers else x
