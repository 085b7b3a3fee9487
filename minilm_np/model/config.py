"""The model's hyper-parameters, as config.json names them, checked before any weight is touched.

Only the fields the engine uses are kept, named as in a BERT config.json (DistilBERT's own keys -- ``dim``,
``n_layers``, ``n_heads``, ``hidden_dim``, ``activation`` -- are read into the same fields). Anything the
engine does not implement (an architecture outside the BERT family, another position embedding type, an
activation other than exact GELU) is refused here, by name, so it cannot silently compute something else.

The architecture is read from ``architectures`` and ``model_type``; the bodies differ from BERT only in
what ``BODIES`` says (positions, token types, the classifier head's activation). Tensor names are not
here: they are in ``minilm_np.checkpoint.names``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import ConfigError

SUPPORTED_ACTIVATIONS = ("gelu",)  # transformers' "gelu" is the exact erf form
SUPPORTED_POSITION_EMBEDDINGS = ("absolute",)


@dataclass(frozen=True)
class Body:
    """What a model_type does differently from BERT, as transformers computes it."""
    positions_after_padding: bool  # RoBERTa: position = pad_token_id + 1 + index among non-pad tokens
    token_types: str  # "segments": the template's type ids; "first": row 0 for every token; "none": no table
    head_activation: str  # between the classifier head's two linear layers: "tanh" | "gelu" | "relu"
    fixed_layer_norm_eps: float | None = None  # DistilBERT hard-codes 1e-12 instead of reading the config
    default_embedding_size: int | None = None  # ELECTRA's config class defaults embedding_size to 128


# model_type -> its body; the architecture class prefix that goes with it (BertModel, XLMRobertaFor...).
BODIES = {
    "bert": Body(False, "segments", "tanh"),  # pooler: tanh(dense(h[CLS])), then the classifier
    "roberta": Body(True, "first", "tanh"),  # classifier.out_proj(tanh(classifier.dense(h[<s>])))
    "xlm-roberta": Body(True, "first", "tanh"),
    "electra": Body(False, "segments", "gelu", default_embedding_size=128),  # classifier.out_proj(gelu(...dense(h)))
    "distilbert": Body(False, "none", "relu", fixed_layer_norm_eps=1e-12),  # classifier(relu(pre_classifier(h)))
}
ARCHITECTURE_PREFIXES = {"Bert": "bert", "Roberta": "roberta", "XLMRoberta": "xlm-roberta", "Electra": "electra",
                         "DistilBert": "distilbert"}
SUPPORTED_NAMES = "BERT, RoBERTa, XLM-RoBERTa, ELECTRA and DistilBERT"


@dataclass(frozen=True)
class BertConfig:
    """A BERT-family encoder. Shape letters as in ``minilm_np.model``; E is ELECTRA's embedding size."""
    vocab_size: int
    hidden_size: int  # D
    num_hidden_layers: int
    num_attention_heads: int  # H; head size K = D / H (32 for MiniLM-L-*-H384, not BERT's 64)
    intermediate_size: int  # F
    max_position_embeddings: int  # rows of the position table
    type_vocab_size: int  # rows of the token-type table (0 for DistilBERT, which has none)
    layer_norm_eps: float
    num_labels: int  # L, rows of the classifier; only read for sequence-classification checkpoints
    hidden_act: str = "gelu"
    position_embedding_type: str = "absolute"
    pad_token_id: int = 0
    model_type: str = "bert"
    architecture: str | None = None  # architectures[0] of config.json, when it names one
    embedding_size: int | None = None  # E, ELECTRA's embedding width; None: = hidden_size
    id2label: tuple[str, ...] = ()  # label names by id, when config.json has them

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def body(self) -> Body:
        return BODIES[self.model_type]

    @property
    def embedding_width(self) -> int:
        """E: the width of the embedding tables (ELECTRA projects it to D)."""
        return self.embedding_size or self.hidden_size

    @property
    def position_offset(self) -> int:
        """Row of the position table used by a sequence's first token (RoBERTa: pad_token_id + 1)."""
        return self.pad_token_id + 1 if self.body.positions_after_padding else 0

    @property
    def max_tokens(self) -> int:
        """The longest sequence the position table covers (RoBERTa's 514 rows give 512 tokens)."""
        return self.max_position_embeddings - self.position_offset

    @classmethod
    def from_dict(cls, d: dict, source: str = "config.json") -> "BertConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(d).__name__}")
        model_type, architecture = _architecture(d, source)
        d = _distilbert_keys(d) if model_type == "distilbert" else d
        required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings")
        missing = [k for k in required if k not in d]
        if missing:
            raise ConfigError(f"{source}: missing field(s) {', '.join(missing)}")
        id2label = d.get("id2label")
        # transformers derives num_labels from id2label when it is present, else defaults to 2.
        num_labels = len(id2label) if isinstance(id2label, dict) else d.get("num_labels", 2)
        body = BODIES[model_type]

        def size(key: str, default: int | None = None) -> int:  # a required size, or one with a default
            return json_integer(d[key] if default is None else d.get(key, default), key, source)

        try:
            labels = tuple(str(id2label[k]) for k in sorted(id2label, key=int)) if isinstance(id2label, dict) else ()
            cfg = cls(
                vocab_size=size("vocab_size"),
                hidden_size=size("hidden_size"),
                num_hidden_layers=size("num_hidden_layers"),
                num_attention_heads=size("num_attention_heads"),
                intermediate_size=size("intermediate_size"),
                max_position_embeddings=size("max_position_embeddings"),
                type_vocab_size=0 if body.token_types == "none" else size("type_vocab_size", 2),
                layer_norm_eps=_number(body.fixed_layer_norm_eps or d.get("layer_norm_eps", 1e-12), "layer_norm_eps",
                                       source),
                num_labels=json_integer(num_labels, "num_labels", source),
                hidden_act=str(d.get("hidden_act", "gelu")),
                position_embedding_type=str(d.get("position_embedding_type", "absolute")),
                pad_token_id=optional_json_integer(d.get("pad_token_id"), "pad_token_id", source) or 0,
                model_type=model_type,
                architecture=architecture,
                embedding_size=optional_json_integer(d.get("embedding_size", body.default_embedding_size),
                                                     "embedding_size", source),
                id2label=labels,
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{source}: a field has the wrong type ({e})") from None
        cfg._validate(source)
        return cfg

    def _validate(self, source: str) -> None:
        positive = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings", "num_labels")
        if self.body.token_types != "none":
            positive += ("type_vocab_size",)
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
        if self.embedding_size is not None and self.embedding_size <= 0:
            raise ConfigError(f"{source}: embedding_size must be positive, got {self.embedding_size}")
        if self.max_tokens < 4:
            raise ConfigError(f"{source}: max_position_embeddings {self.max_position_embeddings} leaves "
                              f"{self.max_tokens} positions after pad_token_id {self.pad_token_id}")


def _architecture(d: dict, source: str) -> tuple[str, str | None]:
    """(model_type, architectures[0] or None), both checked: a supported family, and in agreement."""
    archs = d.get("architectures") or []
    archs = [str(a) for a in archs] if isinstance(archs, list) else [str(archs)]
    model_type = d.get("model_type")
    from_arch = None
    for arch in archs:
        family = arch.split("For")[0].removesuffix("Model")
        if family not in ARCHITECTURE_PREFIXES:
            raise ConfigError(f"{source}: architecture {arch!r}"
                              + (f" (model_type {model_type!r})" if model_type else "")
                              + f" is not supported; supported: {SUPPORTED_NAMES} encoders with absolute positions")
        from_arch = from_arch or ARCHITECTURE_PREFIXES[family]
    if model_type is None:
        model_type = from_arch or "bert"
    if not isinstance(model_type, str) or model_type not in BODIES:
        raise ConfigError(f"{source}: model_type {model_type!r} is not supported; supported: "
                          f"{', '.join(BODIES)} ({SUPPORTED_NAMES})")
    if from_arch is not None and from_arch != model_type:
        raise ConfigError(f"{source}: model_type {model_type!r} does not match architecture {archs[0]!r}")
    return model_type, (archs[0] if archs else None)


def json_integer(value, name: str, source: str) -> int:
    """A JSON integer, as transformers' modules need it: not a bool, a fraction or a numeric string, which
    int() would quietly turn into another model (``"num_attention_heads": true`` is one head)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source}: {name} must be an integer, got {json.dumps(value)}")
    return value


def optional_json_integer(value, name: str, source: str) -> int | None:
    return None if value is None else json_integer(value, name, source)


def _number(value, name: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{source}: {name} must be a number, got {json.dumps(value)}")
    return float(value)


# DistilBERT's config.json names -> the BERT names used above.
_DISTILBERT_KEYS = {"dim": "hidden_size", "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
                    "hidden_dim": "intermediate_size", "activation": "hidden_act"}


def _distilbert_keys(d: dict) -> dict:
    renamed = {new: d[old] for old, new in _DISTILBERT_KEYS.items() if old in d}
    return {**d, **renamed}
