"""The same forward pass as ``reference.py``, arranged for speed: this is what CrossEncoder and Embedder
run. tests/test_packed.py holds it to reference.py.

What changes, and what each change preserves:
  * Packing. The real tokens of a batch are packed into one [N, D] matrix: embeddings, every dense
    layer, GELU and LayerNorm run on real tokens only (no FLOPs on padding). Attention, the only
    place where tokens of one sequence meet, runs per sequence on its own slice. Padding never
    influenced real tokens in the padded path (masked keys get exactly zero weight), so this
    computes the same values.
  * Fused QKV. Query, key and value projections are one [D, 3D] matrix product, built once at load;
    1/sqrt(K) is folded into the query weights and bias (scores = (xWq/sqrt K)(xWk)^T, the same
    product up to float32 rounding).
  * Weights in (in, out) layout, copied once at load: x @ W with W C-contiguous [in, out], not a transposed view
    of the checkpoint's (out, in) array. The same values; with OpenBLAS's AVX-512 (SkylakeX) kernels a product
    of tens to hundreds of rows runs 1.4-2.7x as fast that way (a request of one pair: 1.15-1.26x), and costs
    the dense weights' size in memory once more (32 MB for L-6).
  * A layer a block at a time. The batch's sequences are grouped into blocks of about ``_BLOCK_ROWS``
    rows, whole sequences each (``PackedBatch.blocks``), and a layer runs all of its steps on one block
    before the next: the block's arrays are still in cache from one step to the next. Every row's values
    are the same as for the whole batch at once (attention stays within a sequence; the rest is row by row).
  * Work arrays allocated once per batch, one block in size. Every product writes into its own work array
    (``np.matmul(..., out=)``), reused by every block of every layer: a fresh array per product per layer
    cost about 5 % (fresh arrays come back from the allocator as untouched pages, 3.5x the page faults on
    short pairs), and beyond the [N, D] states a batch's memory does not grow with its size.
  * In-place element-wise work. Bias adds, residuals, LayerNorm, softmax and GELU write into
    existing buffers; GELU (with the first feed-forward bias fused in) runs on row blocks small enough
    to stay in cache, and a long sequence's attention scores are taken a few heads at a time for the
    same reason.
  * Softmax normalised late: exp(scores - max) @ V is divided by the row sums, on [n, H, K] instead of
    [H, n, n] (the same value up to float32 rounding), once per sequence for all of its heads.
  * The last layer for the first tokens alone (``first_only``, what the cross-encoder asks for): it needs
    every token's keys and values, but its queries and all that follows attention only on the rows that
    are read. The other rows' last-layer outputs are not computed at all.
Nothing here is approximate: GELU is the exact erf form of ops.gelu, float32 throughout. The element-wise
stages (GELU, residual + LayerNorm, the softmax's exp and division) are the model's ``kernels``: NumPy's by
default, compiled loops on request (``kernels.py``). Every body of the family runs here (the embeddings differ,
see ``position_rows`` and ``reference.embed``; the layers do not).
Shape letters as in ``minilm_np.model``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import BertConfig
from .kernels import NUMPY, Kernels, layer_norm_
from .ops import F32
from .weights import BertWeights


@dataclass(frozen=True)
class FusedLayer:
    """One layer's arrays as ``encode_packed`` reads them: QKV fused, weights in C-contiguous (in, out) layout."""
    qkv_w: np.ndarray  # [D, 3D]: (query / sqrt K | key | value) weights, transposed to (in, out)
    qkv_b: np.ndarray  # [3D]
    o_w: np.ndarray  # [D, D] (in, out): the checkpoint's (out, in) array, transposed
    o_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    ff1_w: np.ndarray  # [D, F] (in, out)
    ff1_b: np.ndarray
    ff2_w: np.ndarray  # [F, D] (in, out)
    ff2_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def fuse_layers(w: BertWeights, cfg: BertConfig) -> tuple[FusedLayer, ...]:
    """Per-layer arrays for ``encode_packed``: the weights copied to (in, out) layout (the fused QKV matrix built),
    the biases and LayerNorm parameters the checkpoint's own."""
    scale = F32(1 / np.sqrt(cfg.head_size))
    return tuple(
        FusedLayer(
            qkv_w=np.ascontiguousarray(np.concatenate([lw.q_w * scale, lw.k_w, lw.v_w]).T),
            qkv_b=np.concatenate([lw.q_b * scale, lw.k_b, lw.v_b]),
            o_w=np.ascontiguousarray(lw.o_w.T), o_b=lw.o_b, ln1_g=lw.ln1_g, ln1_b=lw.ln1_b,
            ff1_w=np.ascontiguousarray(lw.ff1_w.T), ff1_b=lw.ff1_b, ff2_w=np.ascontiguousarray(lw.ff2_w.T),
            ff2_b=lw.ff2_b, ln2_g=lw.ln2_g, ln2_b=lw.ln2_b,
        )
        for lw in w.layers
    )


@dataclass(frozen=True)
class PackedBatch:
    """The real tokens of a batch, one after another (TEI's batch layout: no padding anywhere).

    Sequence b occupies rows ``spans[b] = (start, end)`` of every [N, ...] array.
    """
    input_ids: np.ndarray  # int [N]
    positions: np.ndarray  # int [N]: 0, 1, ... within each sequence
    token_type_ids: np.ndarray  # int [N]
    spans: list[tuple[int, int]]  # B of them, in order, covering 0..N

    @classmethod
    def from_sequences(cls, sequences) -> "PackedBatch":
        """From encoded sequences, each with ``.ids`` and ``.type_ids`` (lists of int)."""
        lengths = np.array([len(s.ids) for s in sequences], dtype=np.int64)  # [B]
        ends = np.cumsum(lengths)
        starts = ends - lengths
        ids = np.array([i for s in sequences for i in s.ids], dtype=np.int64)  # [N]
        types = np.array([t for s in sequences for t in s.type_ids], dtype=np.int64)  # [N]
        positions = np.arange(ids.size) - np.repeat(starts, lengths)  # [N]
        return cls(ids, positions, types, list(zip(starts.tolist(), ends.tolist())))

    @classmethod
    def from_padded(cls, input_ids: np.ndarray, attention_mask: np.ndarray,
                    token_type_ids: np.ndarray) -> "PackedBatch":
        """From right-padded [B, T] arrays (attention_mask 1 on real tokens)."""
        lengths = attention_mask.sum(axis=1)
        real = attention_mask.astype(bool)
        positions = np.broadcast_to(np.arange(input_ids.shape[1]), input_ids.shape)[real]  # [N]
        ends = np.cumsum(lengths)
        spans = list(zip((ends - lengths).tolist(), ends.tolist()))
        return cls(input_ids[real], positions, token_type_ids[real], spans)

    def blocks(self, rows: int) -> list[tuple[int, int, list[tuple[int, int]]]]:
        """Consecutive sequences grouped into blocks of at most ``rows`` rows (a longer sequence alone), as
        (start, end, the block's spans counted from its start)."""
        blocks, first = [], 0
        for i, (_, end) in enumerate(self.spans):
            if i + 1 == len(self.spans) or self.spans[i + 1][1] - self.spans[first][0] > rows:
                start = self.spans[first][0]
                blocks.append((start, end, [(a - start, b - start) for a, b in self.spans[first:i + 1]]))
                first = i + 1
        return blocks

    @property
    def starts(self) -> list[int]:
        """Row of each sequence's first token ([CLS])."""
        return [start for start, _ in self.spans]


@dataclass(frozen=True)
class PackedModel:
    """What ``encode_packed`` needs: the embeddings, the fused layers, the config and the kernels to run."""
    weights: BertWeights
    layers: tuple[FusedLayer, ...]
    config: BertConfig
    project_w: np.ndarray | None = None  # [E, D] (in, out) view of ELECTRA's embeddings_project, if any
    kernels: Kernels = NUMPY

    @classmethod
    def build(cls, weights: BertWeights, config: BertConfig, kernels: Kernels = NUMPY) -> "PackedModel":
        project = None if weights.project_w is None else weights.project_w.T
        return cls(weights, fuse_layers(weights, config), config, project, kernels)


def attention_(qkv: np.ndarray, spans, heads: int, out: np.ndarray, kernels: Kernels = NUMPY) -> np.ndarray:
    """Self-attention of each sequence over its own tokens; writes the context into out [N, D].

    qkv: [N, 3D] from the fused projection, queries already scaled by 1/sqrt(K). The scores are taken
    transposed, keys down and queries across ([h, n_key, n_query]): the softmax's max and sum then reduce
    over the middle axis, which NumPy does as whole-row vector operations (about twice as fast as
    reducing many short rows). The softmax denominator divides the [n, H, K] context rather than the
    [H, n, n] weights (same value, one pass over n^2 fewer), once for all of a sequence's heads, and the
    context is written straight into out.
    """
    d = out.shape[1]
    k_size = d // heads
    for start, end in spans:
        n = end - start
        blk = qkv[start:end].reshape(n, 3, heads, k_size)
        q = blk[:, 0].transpose(1, 2, 0)  # [H, K, n]
        k, v = blk[:, 1].transpose(1, 0, 2), blk[:, 2].transpose(1, 0, 2)  # [H, n, K]
        ctx = out[start:end].reshape(n, heads, k_size)
        context = ctx.transpose(1, 0, 2)  # [H, n, K], a view of out
        sums = np.empty((heads, n), np.float32)  # [H, n] each query's softmax denominator, per head
        group = max(1, min(heads, _SCORES_BYTES // (4 * n * n)))  # heads whose scores fit in cache
        for h in range(0, heads, group):
            hs = slice(h, h + group)
            attend_(q[hs], k[hs], v[hs], context[hs], sums[hs], kernels)
        kernels.divide_heads_(ctx, sums)
    return out


def attend_(q: np.ndarray, k: np.ndarray, v: np.ndarray, out: np.ndarray, sums: np.ndarray,
            kernels: Kernels = NUMPY) -> np.ndarray:
    """softmax(q . k) v for m queries of one sequence, each query's row times its softmax denominator, written
    into out; the denominators into sums.  q [h, K, m], k, v [h, n, K] -> out [h, m, K], sums [h, m]

    The scores are taken transposed, keys down and queries across ([h, n, m]), and normalised late: the caller
    divides out by sums (``kernels.divide_heads_``).
    """
    p = k @ q  # [h, n_key, m] scores, transposed
    kernels.exp_columns_(p, sums)  # p: unnormalised softmax weights
    return np.matmul(p.transpose(0, 2, 1), v, out=out)


# Layers run on blocks of about 1,024 rows: the feed-forward's [rows, F] activations (6 MB for F = 1536) are then
# still in cache when GELU and the second product read them (the feed-forward alone in such blocks: 1.11x on long
# pairs with the compiled GELU; 512-2,048 rows measured, 1,024 best), and so are the block's queries, keys and
# values when attention reads them (whole layers in blocks: another 1.03-1.04x on long texts, level on short).
_BLOCK_ROWS = 1024

# Scores of one sequence are [H, n, n]: for long sequences (n ~ 200+: 2 MB) they are processed a few
# heads at a time so that max, exp and sum run in L2 cache.
_SCORES_BYTES = 512 * 1024


def position_rows(config: BertConfig, batch: PackedBatch) -> np.ndarray:
    """Rows of the position table for packed tokens, as ``reference.position_ids`` on padded ones.  [N]"""
    if not config.body.positions_after_padding:
        return batch.positions
    real = batch.input_ids != config.pad_token_id  # [N]
    if real.all():  # no pad id inside the texts: every token counts
        return batch.positions + config.position_offset
    counted = np.cumsum(real)  # [N] real tokens so far, over the whole batch
    first = np.arange(real.size) - batch.positions  # [N] row of each token's sequence start
    within = counted - counted[first] + real[first]  # [N] real tokens so far within the sequence
    return np.where(real, within + config.pad_token_id, config.pad_token_id)


def add_position_rows_(x: np.ndarray, table: np.ndarray, rows: np.ndarray, batch: PackedBatch) -> np.ndarray:
    """x += table[rows].  x [N, E], table [P, E], rows [N] from ``position_rows``

    Where every sequence's rows run on from one offset (all but a RoBERTa batch with its pad id inside a text),
    each sequence adds a slice of the table: the table stays in cache and no [N, E] copy is gathered first
    (32 long pairs: 1.0 against 4.6 ms).
    """
    shift = rows - batch.positions  # [N]
    if shift.size and (shift == shift[0]).all():
        offset = int(shift[0])
        for start, end in batch.spans:
            x[start:end] += table[offset:offset + end - start]
    else:
        x += table[rows]
    return x


def encode_packed(model: PackedModel, batch: PackedBatch, *, first_only: bool = False) -> np.ndarray:
    """Last hidden states of the batch's tokens, packed.  [N] ids -> [N, D]

    ``first_only``: each sequence's first state only, [B, D] (all a [CLS] classifier reads). The last layer
    then takes keys and values from every token, as it must, and the rest of its work (queries, attention,
    output projection, feed-forward, LayerNorms) on the B first tokens alone: see ``first_token_layer``.
    """
    w, eps, token_types = model.weights, model.config.layer_norm_eps, model.config.body.token_types
    x = w.word[batch.input_ids]  # [N, E]
    add_position_rows_(x, w.position, position_rows(model.config, batch), batch)
    if token_types == "segments":
        x += w.token_type[batch.token_type_ids]
    elif token_types == "first":  # RoBERTa: row 0 for every token
        x += w.token_type[0]
    layer_norm_(x, w.ln_g, w.ln_b, eps)
    if model.project_w is not None:  # ELECTRA
        x = x @ model.project_w  # [N, E] -> [N, D]
        x += w.project_b
    d, heads = x.shape[1], model.config.num_attention_heads
    blocks = batch.blocks(_BLOCK_ROWS)
    rows = max((end - start for start, end, _ in blocks), default=0)
    qkv = np.empty((rows, 3 * d), np.float32)  # the work arrays, for one block, written by every block in turn
    context, y = np.empty((rows, d), np.float32), np.empty((rows, d), np.float32)  # [r, D]
    h = np.empty((rows, model.config.intermediate_size), np.float32)  # [r, F]
    for lw in model.layers[:-1] if first_only else model.layers:
        for start, end, spans in blocks:
            r = end - start
            np.matmul(x[start:end], lw.qkv_w, out=qkv[:r])  # [r, 3D]
            qkv[:r] += lw.qkv_b
            attention_(qkv[:r], spans, heads, context[:r], model.kernels)
            rows_after_attention_(lw, x[start:end], context[:r], y[:r], h[:r], eps, model.kernels)
    if first_only:
        return first_token_layer(model.layers[-1], x, batch, blocks, heads, eps, model.kernels)
    return x


def rows_after_attention_(lw: FusedLayer, x: np.ndarray, context: np.ndarray, y: np.ndarray, h: np.ndarray,
                          eps: float, kernels: Kernels = NUMPY) -> np.ndarray:
    """The rest of a layer, row by row, in place on x: output projection and residual, LayerNorm,
    feed-forward and residual, LayerNorm.  x, context, y (work) [R, D]; h (work) [R, F]"""
    product_(context, lw.o_w, y)  # [R, D]
    kernels.residual_layer_norm_(x, y, lw.o_b, lw.ln1_g, lw.ln1_b, eps)  # x = LN(x + y + o_b)
    product_(x, lw.ff1_w, h)  # [R, F]
    kernels.gelu_(h, lw.ff1_b)  # h = gelu(h + b)
    product_(h, lw.ff2_w, y)  # [R, D]
    return kernels.residual_layer_norm_(x, y, lw.ff2_b, lw.ln2_g, lw.ln2_b, eps)


def first_token_layer(lw: FusedLayer, x: np.ndarray, batch: PackedBatch, blocks: list, heads: int, eps: float,
                      kernels: Kernels = NUMPY) -> np.ndarray:
    """One layer's output for each sequence's first token only.  x [N, D] -> [B, D]; ``blocks``: batch.blocks(...)

    A token's output depends on the other tokens only through the keys and values it attends to, so those
    are taken for every row; queries and everything after attention are row by row, and are taken for the
    B first rows alone. In the last layer this skips 10 of the 12 D x D products per token (of 3 for QKV,
    1 for the output, 8 for the feed-forward), all of the GELU and LayerNorm, and all but one query row of
    the attention: for the 6-layer models, about a seventh of the whole forward.
    """
    d = x.shape[1]
    k_size = d // heads
    first = x[batch.starts]  # [B, D]
    q = product_(first, lw.qkv_w[:, :d], np.empty_like(first))  # [B, D], already scaled by 1/sqrt K
    q += lw.qkv_b[:d]
    context = np.empty_like(first)  # [B, D]
    sums = np.empty((heads, first.shape[0]), np.float32)  # [H, B] softmax denominators
    i = 0  # the sequence
    for start, end, spans in blocks:
        kv_block = product_(x[start:end], lw.qkv_w[:, d:], np.empty((end - start, 2 * d), np.float32))  # keys | values
        kv_block += lw.qkv_b[d:]
        for s, e in spans:
            kv_i = kv_block[s:e].reshape(e - s, 2, heads, k_size)
            attend_(q[i].reshape(heads, k_size, 1), kv_i[:, 0].transpose(1, 0, 2), kv_i[:, 1].transpose(1, 0, 2),
                    context[i].reshape(heads, 1, k_size), sums[:, i:i + 1], kernels)
            i += 1
    kernels.divide_heads_(context.reshape(-1, heads, k_size), sums)
    y, h = np.empty_like(first), np.empty((first.shape[0], lw.ff1_w.shape[1]), np.float32)  # [B, D], [B, F]
    return rows_after_attention_(lw, first, context, y, h, eps, kernels)


def product_(a: np.ndarray, w: np.ndarray, out: np.ndarray) -> np.ndarray:
    """a @ w written into out, rounded as a product of many rows is even when a is one row.  [R, I] @ [I, O]

    NumPy hands a one-row product to gemv, which sums in another order than gemm: a batch of one would
    then score its sequence a few ulps away from the same sequence in a larger batch. The row goes in twice.
    """
    if a.shape[0] > 1:
        return np.matmul(a, w, out=out)
    out[:] = (np.concatenate([a, a]) @ w)[:1]
    return out
