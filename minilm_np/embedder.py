"""Embedder: sentence embeddings as sentence-transformers' SentenceTransformer.encode computes them,
following the model directory's modules.json (Transformer -> Pooling -> optional Normalize)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import fast
from .batching import run_sorted
from .checkpoint import Checkpoint, load_checkpoint
from .errors import ConfigError
from .family import DEFAULT_EMBEDDER
from .heads import l2_normalize, pool
from .hub import model_name, resolve
from .inputs import check_positive_int, check_texts
from .threads import worker_count
from .tokenize import Batch

# sentence-transformers' Pooling config flags, in the order it concatenates the pooled vectors.
_POOLING_FLAGS = (("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"),
                  ("pooling_mode_mean_tokens", "mean"), ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"))
_UNSUPPORTED_POOLING = ("pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")


@dataclass(frozen=True)
class Pipeline:
    """What follows the transformer: pooling modes (concatenated in this order) and normalisation."""
    transformer_dir: Path
    pooling: tuple[str, ...] = ("mean",)
    normalize: bool = False


class Embedder:
    """Sentence embeddings: ``encode(texts)`` -> float32 [n, dim]."""

    def __init__(self, checkpoint: Checkpoint, pipeline: Pipeline, name: str, threads: int | None = None):
        self.checkpoint = checkpoint
        self.config = checkpoint.config
        self.tokenizer = checkpoint.tokenizer
        self.pipeline = pipeline
        self.name = name
        self.workers = worker_count(threads)  # batches run at once; see threads.py
        self._layers = fast.prepare(checkpoint.weights, checkpoint.config)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_EMBEDDER, *, revision: str | None = None,
                        cache_dir: str | None = None, local_files_only: bool | None = None,
                        threads: int | None = None) -> "Embedder":
        """A sentence-transformers directory (or a bare BertModel directory: mean pooling), or a Hub id.

        ``threads``: cores to use (default: all this process may use; 1 runs batches one at a time).
        """
        path = resolve(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        pipeline = read_pipeline(path)
        return cls(load_checkpoint(pipeline.transformer_dir, head=False), pipeline, model_name(name_or_path, path),
                   threads)

    @property
    def dim(self) -> int:
        return self.config.hidden_size * len(self.pipeline.pooling)

    @property
    def max_length(self) -> int:
        return self.tokenizer.max_length

    def encode(self, texts, batch_size: int = 32, normalize: bool = True,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """float32 [n, dim] embeddings; a single str gives [dim].

        ``normalize``: scale to unit length (sentence-transformers' ``normalize_embeddings``). A model
        whose modules.json ends in Normalize is normalised either way, as sentence-transformers does.
        """
        if isinstance(texts, str):
            return self.encode([texts], batch_size, normalize)[0]
        texts = check_texts(texts)
        check_positive_int(batch_size, "batch_size")
        out = run_sorted(self.tokenizer.encode_texts(texts), batch_size, self.embed_batch,
                         self.tokenizer.pad_id, (self.dim,), progress, self.workers)
        return l2_normalize(out) if normalize or self.pipeline.normalize else out

    def embed_batch(self, batch: Batch) -> np.ndarray:
        """Pooled (not normalised) embeddings of one padded batch.  [B, T] arrays -> [B, dim]"""
        states, spans = fast.encode_packed(self.checkpoint.weights, self._layers, self.config, batch.input_ids,
                                           batch.attention_mask, batch.token_type_ids)  # [N, D]
        pooled = [pool(states, spans, mode) for mode in self.pipeline.pooling]
        return np.concatenate(pooled, axis=1) if len(pooled) > 1 else pooled[0]

    def __repr__(self) -> str:
        return (f"Embedder({self.name!r}, layers={self.config.num_hidden_layers}, dim={self.dim}, "
                f"pooling={'+'.join(self.pipeline.pooling)}, max_length={self.max_length})")


def read_pipeline(model_dir: Path) -> Pipeline:
    """modules.json -> Pipeline. No modules.json: a bare transformer, mean pooling (what
    sentence-transformers builds for a plain Hugging Face model)."""
    modules_file = model_dir / "modules.json"
    if not modules_file.is_file():
        return Pipeline(model_dir)
    modules = _read_json(modules_file)
    if not isinstance(modules, list):
        raise ConfigError(f"{modules_file}: expected a list of modules")
    transformer_dir, pooling, normalize = None, ("mean",), False
    for m in modules:
        kind = str(m.get("type", "")).rsplit(".", 1)[-1] if isinstance(m, dict) else ""
        sub = model_dir / m.get("path", "") if isinstance(m, dict) else model_dir
        if kind == "Transformer":
            transformer_dir = sub
        elif kind == "Pooling":
            pooling = _read_pooling(sub / "config.json")
        elif kind == "Normalize":
            normalize = True
        else:
            raise ConfigError(f"{modules_file}: module {m.get('type') if isinstance(m, dict) else m!r} "
                              f"is not supported (supported: Transformer, Pooling, Normalize)")
    if transformer_dir is None:
        raise ConfigError(f"{modules_file}: no sentence_transformers.models.Transformer module")
    return Pipeline(transformer_dir, pooling, normalize)


def _read_pooling(path: Path) -> tuple[str, ...]:
    cfg = _read_json(path)
    for flag in _UNSUPPORTED_POOLING:
        if cfg.get(flag):
            raise ConfigError(f"{path}: {flag} is not supported (supported: cls, max, mean, mean_sqrt_len)")
    modes = tuple(mode for flag, mode in _POOLING_FLAGS if cfg.get(flag))
    if not modes:
        raise ConfigError(f"{path}: no pooling mode is enabled")
    return modes


def _read_json(path: Path):
    if not path.is_file():
        raise ConfigError(f"{path} not found (named by modules.json)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
