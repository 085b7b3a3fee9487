"""What sits on top of the encoder: the sequence-classification heads, sentence-embedding pooling, the
sentence-transformers Dense layer, normalisation and quantization.

Pooling works on packed hidden states [N, D] (the real tokens of a batch, see packed.py) with each
sequence's (start, end) span, so padding can never leak into an average. Shape letters as in
``minilm_np.model``; O is a Dense layer's output width.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from .ops import F32, gelu, linear

HEAD_ACTIVATIONS = {"tanh": np.tanh, "gelu": gelu, "relu": lambda x: np.maximum(x, 0)}


@dataclass(frozen=True)
class ClassifierHead:
    """A sequence classifier's head on the first token's state: dense, activation, classifier.

    The four bodies share this shape and differ in the activation and the names of the two layers:
    BERT ``pooler.dense`` + tanh + ``classifier``; RoBERTa/XLM-R ``classifier.dense`` + tanh +
    ``classifier.out_proj``; ELECTRA the same with GELU; DistilBERT ``pre_classifier`` + ReLU + ``classifier``.
    """
    dense_w: np.ndarray  # [D, D] (out, in)
    dense_b: np.ndarray  # [D]
    classifier_w: np.ndarray  # [L, D]
    classifier_b: np.ndarray  # [L]
    activation: str = "tanh"  # one of HEAD_ACTIVATIONS

    @property
    def num_labels(self) -> int:
        return self.classifier_w.shape[0]

    def in_float64(self) -> "ClassifierHead":
        """The same head in float64, converted once (``classify`` runs in float64)."""
        return replace(self, **{f.name: np.asarray(getattr(self, f.name), dtype=np.float64)
                                for f in fields(self) if f.name != "activation"})


def classify(cls_states: np.ndarray, head: ClassifierHead) -> np.ndarray:
    """The head on each sequence's first state ([CLS] / <s>).  [B, D] -> [B, L]

    Computed in float64 and returned as float32: the classifier sums D products, and its float32
    rounding alone reached ~3e-6 on logits of a few units. At [B, D] this costs nothing; pass
    ``head.in_float64()`` (CrossEncoder does, once at load) and nothing is converted per call.
    """
    hidden = HEAD_ACTIVATIONS[head.activation](linear(_f64(cls_states), _f64(head.dense_w), _f64(head.dense_b)))
    return linear(hidden, _f64(head.classifier_w), _f64(head.classifier_b)).astype(np.float32)  # [B, L]


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)  # no copy when already float64


# sentence-transformers' Pooling modes, by our names (its "mean_sqrt_len_tokens" is "mean_sqrt_len").
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken")


def pool(states: np.ndarray, spans: list[tuple[int, int]], mode: str, skip: int = 0) -> np.ndarray:
    """One vector per sequence from packed token states, as sentence-transformers' Pooling.  [N, D] -> [B, D]

    mode: "mean" (average of the tokens), "max" (element-wise max), "cls" (the first token),
    "mean_sqrt_len" (sum / sqrt(count)), "weightedmean" (weights 1, 2, 3, ... by position),
    "lasttoken" (the last token).
    skip: leading tokens of each sequence left out ([CLS] and the prompt, for ``include_prompt: false``);
    as sentence-transformers masks them: "cls" takes the first token after them, and a sequence with
    nothing left gives zeros (-inf for "max").
    """
    if mode not in POOLING_MODES:
        raise ValueError(f"unknown pooling mode {mode!r} (known: {', '.join(POOLING_MODES)})")
    starts = np.array([s for s, _ in spans], dtype=np.intp)  # [B]
    lengths = np.array([e - s for s, e in spans], dtype=np.intp)  # [B], each >= 1
    left = lengths > skip  # [B] sequences with tokens left after the skipped ones
    if mode == "cls":
        return states[starts + np.where(left, skip, 0)]
    if mode == "lasttoken":
        return np.where(left[:, None], states[starts + lengths - 1], F32(0))
    index = None  # [N] each token's index within its sequence, only when needed
    if skip or mode == "weightedmean":
        index = np.arange(states.shape[0]) - np.repeat(starts, lengths)
    kept = None if not skip else index >= skip  # [N]
    if mode == "max":
        x = states if kept is None else np.where(kept[:, None], states, F32(-np.inf))
        return np.maximum.reduceat(x, starts, axis=0)
    if mode == "weightedmean":
        w = (index + 1).astype(np.float32) * (1 if kept is None else kept)  # [N] weights 1, 2, ...
        sums = np.add.reduceat(states * w[:, None], starts, axis=0)  # [B, D]
        return sums / np.maximum(np.add.reduceat(w, starts), F32(1e-9))[:, None]
    x = states if kept is None else states * kept[:, None]
    sums = np.add.reduceat(x, starts, axis=0)  # [B, D]
    counts = np.maximum(lengths - skip, 0).astype(np.float32)[:, None]  # [B, 1]
    counts = np.maximum(counts, F32(1e-9))
    return sums / (counts if mode == "mean" else np.sqrt(counts))


@dataclass(frozen=True)
class Dense:
    """sentence-transformers' Dense module: activation(x W^T + b)."""
    weight: np.ndarray  # [O, D] (out, in)
    bias: np.ndarray | None  # [O]
    activation: str = "tanh"  # "tanh" | "identity"

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """[B, D] -> [B, O]"""
        y = x @ self.weight.T
        if self.bias is not None:
            y += self.bias
        return np.tanh(y) if self.activation == "tanh" else y


def l2_normalize(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rows scaled to unit L2 norm (a zero row stays zero), as torch's F.normalize(eps=1e-12); into ``out``
    if given (x itself, say).  [B, D]"""
    norm = np.sqrt(np.einsum("bd,bd->b", x, x))[:, None]
    return np.divide(x, np.maximum(norm, F32(1e-12)), out=out)


SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")  # sentence-transformers' SimilarityFunction values


def similarity(a, b, function: str = "cosine") -> np.ndarray:
    """Every row of ``a`` against every row of ``b``, as sentence-transformers' ``similarity``: cosine, dot
    product, or the euclidean or manhattan distance negated (larger is closer, for every function). A 1-D
    argument is one row; a zero row has cosine 0.  [n, d], [m, d] -> float32 [n, m]"""
    a, b = _similarity_operands(a, b, function)
    if function == "cosine":
        return l2_normalize(a) @ l2_normalize(b).T
    if function == "dot":
        return a @ b.T
    out = np.empty((a.shape[0], b.shape[0]), np.float32)  # distances a block of a's rows at a time: [rows, m, d]
    rows = max(1, (1 << 22) // max(1, b.size))
    for start in range(0, a.shape[0], rows):
        difference = a[start:start + rows, None, :] - b[None, :, :]  # [rows, m, d]
        out[start:start + rows] = -(np.sqrt(np.einsum("rmd,rmd->rm", difference, difference))
                                    if function == "euclidean" else np.abs(difference).sum(axis=2))
    return out


def similarity_pairwise(a, b, function: str = "cosine") -> np.ndarray:
    """Row i of ``a`` against row i of ``b`` alone, by the same functions as ``similarity`` (sentence-transformers'
    ``similarity_pairwise``).  [n, d], [n, d] -> float32 [n]"""
    a, b = _similarity_operands(a, b, function)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a has {a.shape[0]} rows and b {b.shape[0]}: pairwise similarity takes as many of each")
    if function == "cosine":
        return np.einsum("nd,nd->n", l2_normalize(a), l2_normalize(b))
    if function == "dot":
        return np.einsum("nd,nd->n", a, b)
    difference = a - b  # [n, d]
    return -(np.sqrt(np.einsum("nd,nd->n", difference, difference)) if function == "euclidean"
             else np.abs(difference).sum(axis=1))


def _similarity_operands(a, b, function: str) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as float32 [rows, d] of the same d (a 1-D argument is one row), for ``function``."""
    if function not in SIMILARITIES:
        raise ValueError(f"similarity function must be one of {', '.join(SIMILARITIES)}; got {function!r}")
    a, b = (np.atleast_2d(_embeddings(x, name)).astype(np.float32) for x, name in ((a, "a"), (b, "b")))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a has {a.shape[1]} dimensions and b {b.shape[1]}: they must match")
    return a, b


PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")


def quantize_embeddings(embeddings: np.ndarray, precision: str, ranges: np.ndarray | None = None,
                        calibration_embeddings: np.ndarray | None = None) -> np.ndarray:
    """sentence-transformers' ``quantize_embeddings``, formula for formula.  [n, D] float32 ->

    "float32": unchanged; "int8" / "uint8": [n, D], each dimension cut into 256 equal buckets between
    its minimum and maximum over ``calibration_embeddings`` (default: ``embeddings`` themselves, which
    needs at least two), or the given ``ranges`` [2, D]; "binary" / "ubinary": [n, ceil(D / 8)], the
    signs packed 8 to a byte (int8 = the uint8 value - 128). A list is taken as an array; no embeddings
    ([0, D]) give none, of the precision's type; NaN or infinite values are refused (but for "float32").
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "float32":
        return np.asarray(embeddings).astype(np.float32)
    embeddings = _embeddings(embeddings, "embeddings")
    if precision in ("int8", "uint8"):
        dtype = np.uint8 if precision == "uint8" else np.int8
        if embeddings.size == 0 and ranges is None and calibration_embeddings is None:
            return np.empty(embeddings.shape, dtype)  # nothing to calibrate on, nothing to quantize
        if ranges is None:
            calibration = embeddings if calibration_embeddings is None else \
                _embeddings(calibration_embeddings, "calibration_embeddings")
            if calibration_embeddings is None and (embeddings.ndim == 1 or embeddings.shape[0] == 1):
                raise ValueError(f"cannot compute {precision} quantization ranges from a single embedding; "
                                 f"pass ranges or calibration_embeddings")
            if calibration.ndim != 2 or calibration.shape[0] == 0 or calibration.shape[1] != embeddings.shape[-1]:
                raise ValueError(f"calibration_embeddings must be [m, {embeddings.shape[-1]}] with m >= 1, "
                                 f"got {list(calibration.shape)}")
            ranges = np.vstack((np.min(calibration, axis=0), np.max(calibration, axis=0)))  # [2, D]
        ranges = _embeddings(ranges, "ranges")
        if ranges.shape != (2, embeddings.shape[-1]):
            raise ValueError(f"ranges must be [2, {embeddings.shape[-1]}] (each dimension's minimum and maximum) "
                             f"for {embeddings.shape[-1]}-dimensional embeddings, got {list(ranges.shape)}")
        ranges = ranges.astype(np.float32, copy=False)
        starts = ranges[0, :]
        steps = (ranges[1, :] - starts) / 255
        steps = np.where(steps == 0, 1, steps)
        q_vals = np.clip(np.floor((embeddings - starts) / steps), 0, 255)
        return q_vals.astype(np.uint8) if precision == "uint8" else (q_vals - 128).astype(np.int8)
    packed = np.packbits(embeddings > 0, axis=-1)  # [n, ceil(D / 8)] uint8
    return (packed - 128).astype(np.int8) if precision == "binary" else packed


def _embeddings(values, name: str) -> np.ndarray:
    """``values`` as a 1-D or 2-D array of finite floats, or a ValueError naming ``name``."""
    array = np.asarray(values)
    if array.dtype.kind not in "fiu" or array.ndim not in (1, 2):
        raise ValueError(f"{name} must be a 1-D or 2-D array of numbers, got {array.ndim}-D of {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return array
