"""A model directory -> config, weights and tokenizer, each checked; shared by CrossEncoder and Embedder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import BertConfig
from .errors import ModelNotFoundError
from .tokenize import Tokenizer
from .weights import BertWeights, load_weights


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: BertConfig
    weights: BertWeights
    tokenizer: Tokenizer


def load_checkpoint(model_dir: str | Path, head: bool) -> Checkpoint:
    """Load a BERT directory. ``head``: it is a sequence classifier (needs pooler and classifier)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"model directory not found: {model_dir}")
    config = BertConfig.from_file(model_dir / "config.json")
    tokenizer = Tokenizer.from_dir(model_dir, config.max_position_embeddings)
    weights = load_weights(model_dir, config, head=head)
    return Checkpoint(model_dir, config, weights, tokenizer)
