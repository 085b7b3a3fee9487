"""A sentence-transformers directory's pipeline, read from its files: modules.json names the modules
(Transformer -> Pooling -> optional Normalize) and 1_Pooling/config.json the pooling modes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

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
