"""A model directory -> its config, body weights and (for a cross-encoder) classifier head, each checked.

The tokenizer is read beside it by ``minilm_np.text.tokenize``; ``hub.py`` turns names into directories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelNotFoundError
from ..model.config import BertConfig
from ..model.heads import ClassifierHead
from ..model.weights import BertWeights
from .names import arrange
from .safetensors import read_safetensors
from .torch_bin import read_torch_bin

# Files a model directory may carry besides its weights (sentence-transformers module folders such as
# 1_Pooling/ come on top). The Hub download fetches them and ``weights_tools`` copies them.
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
               "added_tokens.json", "modules.json", "sentence_bert_config.json",
               "config_sentence_transformers.json", "README.md")
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")  # in order of preference


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: BertConfig
    weights: BertWeights
    head: ClassifierHead | None  # the pooler and classifier of a sequence classifier; None for embedders


def load_checkpoint(model_dir: str | Path, head: bool) -> Checkpoint:
    """Load a BERT directory. ``head``: it is a sequence classifier (needs pooler and classifier)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"model directory not found: {model_dir}")
    config = read_config(model_dir / "config.json")
    path = weights_file(model_dir)
    body, classifier = arrange(read_tensors(path), config, head=head, source=str(path))
    return Checkpoint(model_dir, config, body, classifier)


def read_config(path: str | Path) -> BertConfig:
    """config.json -> a validated BertConfig; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"config.json not found: {path}")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: config.json is not valid JSON ({e})") from None
    return BertConfig.from_dict(d, source=str(path))


def weights_file(model_dir: str | Path) -> Path:
    model_dir = Path(model_dir)
    for name in WEIGHTS_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelNotFoundError(f"no weights file in {model_dir}: expected model.safetensors (or pytorch_model.bin)")


def read_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a checkpoint file by their stored names, in their stored dtypes."""
    path = Path(path)
    if path.name.endswith(".bin"):
        return read_torch_bin(path)  # the restricted, never-executing pickle reader
    return read_safetensors(path)


def plain_model_note(model_dir: str | Path) -> str | None:
    """What to tell someone embedding with a directory that has no modules.json, or None when it has one.
    sentence-transformers warns then too ("No sentence-transformers model found ... Creating a new one with
    mean pooling"); a cross-encoder's body pooled that way was never trained to give comparable vectors."""
    model_dir = Path(model_dir)
    if (model_dir / "modules.json").is_file():
        return None
    note = ("is not a sentence-transformers model (no modules.json), so its body is mean-pooled, as "
            "sentence-transformers does")
    try:
        architectures = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("architectures")
    except (OSError, ValueError, AttributeError):  # unreadable: loading will say so
        architectures = None
    if any("ForSequenceClassification" in str(a) for a in architectures or []):
        note += ("; it is a cross-encoder (a reranker): its classifier is left out, and its vectors were not "
                 "trained to be compared")
    return note
