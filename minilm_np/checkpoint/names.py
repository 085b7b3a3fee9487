"""The only module that knows the checkpoint's tensor names: the table below, and ``arrange``, which turns
a file's tensors into the model's arrays (``BertWeights``, ``ClassifierHead``) as float32.

float32 tensors stay views of the memory-mapped file, never a second copy; float16/bfloat16/float64
ones are converted to float32 once, at load.

Names are mapped in one table (``_EMBEDDINGS``, ``_LAYER``, ``_HEAD``). Checkpoints spell them three
ways, all accepted:
  * bare ``BertModel`` / sentence-transformers:  ``encoder.layer.0.attention.self.query.weight``
  * ``BertForSequenceClassification``:          ``bert.encoder.layer.0...`` plus ``classifier.*``
  * legacy TF-era LayerNorm names:               ``...LayerNorm.gamma`` / ``...LayerNorm.beta``
Linear weights keep the checkpoint's (out, in) layout; ``ops.linear`` multiplies by the transpose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import WeightsError
from ..model.config import BertConfig
from ..model.heads import ClassifierHead
from ..model.weights import BertWeights, LayerWeights
from .dtypes import is_bf16, to_float32

# --------------------------------------------------------------------------------------------------
# The name table: field -> (checkpoint name, shape as a function of the config).
# Letters: V vocab, P max positions, Y token types, D hidden, F intermediate, L labels.
# --------------------------------------------------------------------------------------------------

_EMBEDDINGS = {
    "word": ("embeddings.word_embeddings.weight", lambda c: (c.vocab_size, c.hidden_size)),  # [V, D]
    "position": ("embeddings.position_embeddings.weight",
                 lambda c: (c.max_position_embeddings, c.hidden_size)),  # [P, D]
    "token_type": ("embeddings.token_type_embeddings.weight",
                   lambda c: (c.type_vocab_size, c.hidden_size)),  # [Y, D]
    "ln_g": ("embeddings.LayerNorm.weight", lambda c: (c.hidden_size,)),
    "ln_b": ("embeddings.LayerNorm.bias", lambda c: (c.hidden_size,)),
}

_LAYER = {  # under "encoder.layer.{i}."
    "q_w": ("attention.self.query.weight", lambda c: (c.hidden_size, c.hidden_size)),  # [D, D]
    "q_b": ("attention.self.query.bias", lambda c: (c.hidden_size,)),
    "k_w": ("attention.self.key.weight", lambda c: (c.hidden_size, c.hidden_size)),
    "k_b": ("attention.self.key.bias", lambda c: (c.hidden_size,)),
    "v_w": ("attention.self.value.weight", lambda c: (c.hidden_size, c.hidden_size)),
    "v_b": ("attention.self.value.bias", lambda c: (c.hidden_size,)),
    "o_w": ("attention.output.dense.weight", lambda c: (c.hidden_size, c.hidden_size)),
    "o_b": ("attention.output.dense.bias", lambda c: (c.hidden_size,)),
    "ln1_g": ("attention.output.LayerNorm.weight", lambda c: (c.hidden_size,)),
    "ln1_b": ("attention.output.LayerNorm.bias", lambda c: (c.hidden_size,)),
    "ff1_w": ("intermediate.dense.weight", lambda c: (c.intermediate_size, c.hidden_size)),  # [F, D]
    "ff1_b": ("intermediate.dense.bias", lambda c: (c.intermediate_size,)),
    "ff2_w": ("output.dense.weight", lambda c: (c.hidden_size, c.intermediate_size)),  # [D, F]
    "ff2_b": ("output.dense.bias", lambda c: (c.hidden_size,)),
    "ln2_g": ("output.LayerNorm.weight", lambda c: (c.hidden_size,)),
    "ln2_b": ("output.LayerNorm.bias", lambda c: (c.hidden_size,)),
}

_HEAD = {  # only for sequence-classification checkpoints
    "pooler_w": ("pooler.dense.weight", lambda c: (c.hidden_size, c.hidden_size)),
    "pooler_b": ("pooler.dense.bias", lambda c: (c.hidden_size,)),
    "classifier_w": ("classifier.weight", lambda c: (c.num_labels, c.hidden_size)),  # [L, D]
    "classifier_b": ("classifier.bias", lambda c: (c.num_labels,)),
}

# Buffers and heads that checkpoints carry but inference never reads.
_IGNORED = re.compile(r"^(embeddings\.position_ids|cls\.predictions\..*|cls\.seq_relationship\..*)$")

_LEGACY = (("LayerNorm.gamma", "LayerNorm.weight"), ("LayerNorm.beta", "LayerNorm.bias"))


def canonical_name(name: str) -> str:
    """A checkpoint's tensor name in the bare BertModel spelling used by the table."""
    if name.startswith("bert."):
        name = name[len("bert."):]
    for old, new in _LEGACY:
        if name.endswith(old):
            name = name[: -len(old)] + new
    return name


def expected_shapes(config: BertConfig, head: bool) -> dict[str, tuple[int, ...]]:
    """Every tensor the forward pass reads, canonical name -> shape."""
    shapes = {name: shape(config) for name, shape in _EMBEDDINGS.values()}
    for i in range(config.num_hidden_layers):
        shapes.update({f"encoder.layer.{i}.{name}": shape(config) for name, shape in _LAYER.values()})
    if head:
        shapes.update({name: shape(config) for name, shape in _HEAD.values()})
    return shapes


@dataclass(frozen=True)
class Check:
    """What a set of tensors lacks or has too much of, against a config (canonical names)."""
    missing: list[str]
    unexpected: list[str]
    misshaped: list[tuple[str, tuple, tuple]]  # (name, found, expected)
    not_float: list[tuple[str, str]]  # (name, dtype)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.misshaped or self.not_float)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append("missing tensor(s): " + ", ".join(self.missing))
        for name, found, want in self.misshaped:
            parts.append(f"tensor {name} has shape {list(found)}, expected {list(want)}")
        for name, dtype in self.not_float:
            parts.append(f"tensor {name} has dtype {dtype}, expected a floating-point type")
        return "; ".join(parts)


def check_tensors(tensors: dict[str, np.ndarray], config: BertConfig, head: bool) -> Check:
    by_canonical = {canonical_name(k): v for k, v in tensors.items()}
    want = expected_shapes(config, head)
    missing = [n for n in want if n not in by_canonical]
    unexpected = sorted(n for n in by_canonical if n not in want and not _IGNORED.match(n)
                        and not (not head and n in {name for name, _ in _HEAD.values()}))
    misshaped = [(n, tuple(by_canonical[n].shape), want[n]) for n in want
                 if n in by_canonical and tuple(by_canonical[n].shape) != want[n]]
    not_float = [(n, str(by_canonical[n].dtype)) for n in want
                 if n in by_canonical and by_canonical[n].dtype.kind != "f" and not is_bf16(by_canonical[n])]
    return Check(missing, unexpected, misshaped, not_float)


def arrange(tensors: dict[str, np.ndarray], config: BertConfig, head: bool,
            source: str) -> tuple[BertWeights, ClassifierHead | None]:
    """Check ``tensors`` against the table (everything wrong reported at once, naming ``source``) and
    arrange them as float32 model arrays. ``head``: also the pooler and classifier."""
    check = check_tensors(tensors, config, head)
    if not check.ok:
        raise WeightsError(f"{source}: {check.describe()}")
    by_canonical = {canonical_name(k): v for k, v in tensors.items()}
    arrays = {}
    for name in expected_shapes(config, head):
        a = to_float32(by_canonical[name])
        if not np.isfinite(a).all():
            raise WeightsError(f"{source}: tensor {name} contains NaN or Inf")
        arrays[name] = a
    layers = tuple(
        LayerWeights(**{f: arrays[f"encoder.layer.{i}.{name}"] for f, (name, _) in _LAYER.items()})
        for i in range(config.num_hidden_layers)
    )
    body = BertWeights(layers=layers, **{f: arrays[name] for f, (name, _) in _EMBEDDINGS.items()})
    classifier = ClassifierHead(**{f: arrays[name] for f, (name, _) in _HEAD.items()}) if head else None
    return body, classifier
