"""The model's hyper-parameters, as config.json names them, checked before any weight is touched.

Only the fields the engine uses are kept, named as in config.json. Anything the engine does not implement
(another position embedding type, an activation other than exact GELU) is refused here, by name, so it
cannot silently compute something else.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

SUPPORTED_ACTIVATIONS = ("gelu",)  # transformers' "gelu" is the exact erf form
SUPPORTED_POSITION_EMBEDDINGS = ("absolute",)


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int  # D
    num_hidden_layers: int
    num_attention_heads: int  # H; head size K = D / H (32 for MiniLM-L-*-H384, not BERT's 64)
    intermediate_size: int  # F
    max_position_embeddings: int  # the longest sequence the position table covers
    type_vocab_size: int
    layer_norm_eps: float
    num_labels: int  # L, rows of the classifier; only read for sequence-classification checkpoints
    hidden_act: str = "gelu"
    position_embedding_type: str = "absolute"
    pad_token_id: int = 0

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d: dict, source: str = "config.json") -> "BertConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(d).__name__}")
        required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings")
        missing = [k for k in required if k not in d]
        if missing:
            raise ConfigError(f"{source}: missing field(s) {', '.join(missing)}")
        model_type = d.get("model_type", "bert")
        if model_type not in ("bert",):
            raise ConfigError(f"{source}: model_type {model_type!r} is not supported (only 'bert')")
        # transformers derives num_labels from id2label when it is present, else defaults to 2.
        num_labels = len(d["id2label"]) if isinstance(d.get("id2label"), dict) else d.get("num_labels", 2)
        try:
            cfg = cls(
                vocab_size=int(d["vocab_size"]),
                hidden_size=int(d["hidden_size"]),
                num_hidden_layers=int(d["num_hidden_layers"]),
                num_attention_heads=int(d["num_attention_heads"]),
                intermediate_size=int(d["intermediate_size"]),
                max_position_embeddings=int(d["max_position_embeddings"]),
                type_vocab_size=int(d.get("type_vocab_size", 2)),
                layer_norm_eps=float(d.get("layer_norm_eps", 1e-12)),
                num_labels=int(num_labels),
                hidden_act=str(d.get("hidden_act", "gelu")),
                position_embedding_type=str(d.get("position_embedding_type", "absolute")),
                pad_token_id=int(d.get("pad_token_id") or 0),
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{source}: a field has the wrong type ({e})") from None
        cfg._validate(source)
        return cfg


    def _validate(self, source: str) -> None:
        positive = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings", "type_vocab_size", "num_labels")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{source}: {name} must be positive, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"{source}: hidden_size {self.hidden_size} is not divisible by "
                              f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ConfigError(f"{source}: hidden_act {self.hidden_act!r} is not supported "
                              f"(supported: {', '.join(SUPPORTED_ACTIVATIONS)})")
        if self.position_embedding_type not in SUPPORTED_POSITION_EMBEDDINGS:
            raise ConfigError(f"{source}: position_embedding_type {self.position_embedding_type!r} is not "
                              f"supported (supported: {', '.join(SUPPORTED_POSITION_EMBEDDINGS)})")
        if not self.layer_norm_eps > 0:
            raise ConfigError(f"{source}: layer_norm_eps must be positive, got {self.layer_norm_eps}")
