"""Checkpoint files -> named float32 arrays. The only module that knows the checkpoint's tensor names.

A ``model.safetensors`` file is parsed here (8-byte header length, JSON header, raw little-endian data)
and memory-mapped: float32 tensors are read-only views into the mapped file, never a second copy.
float16/bfloat16/float64 tensors are converted to float32 on load.

Names are mapped in one table, ``_LAYOUT``. Checkpoints spell them three ways, all accepted:
  * bare ``BertModel`` / sentence-transformers:  ``encoder.layer.0.attention.self.query.weight``
  * ``BertForSequenceClassification``:          ``bert.encoder.layer.0...`` plus ``classifier.*``
  * legacy TF-era LayerNorm names:               ``...LayerNorm.gamma`` / ``...LayerNorm.beta``
Linear weights keep the checkpoint's (out, in) layout; ``ops.linear`` multiplies by the transpose.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import BertConfig
from .errors import ModelNotFoundError, WeightsError

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


# --------------------------------------------------------------------------------------------------
# The arrays the forward pass reads.
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerWeights:
    q_w: np.ndarray  # [D, D] (out, in), as in the checkpoint
    q_b: np.ndarray  # [D]
    k_w: np.ndarray
    k_b: np.ndarray
    v_w: np.ndarray
    v_b: np.ndarray
    o_w: np.ndarray  # [D, D]
    o_b: np.ndarray
    ln1_g: np.ndarray  # [D] LayerNorm after attention
    ln1_b: np.ndarray
    ff1_w: np.ndarray  # [F, D]
    ff1_b: np.ndarray  # [F]
    ff2_w: np.ndarray  # [D, F]
    ff2_b: np.ndarray  # [D]
    ln2_g: np.ndarray  # [D] LayerNorm after the feed-forward
    ln2_b: np.ndarray


@dataclass(frozen=True)
class BertWeights:
    word: np.ndarray  # [V, D]
    position: np.ndarray  # [P, D]
    token_type: np.ndarray  # [Y, D]
    ln_g: np.ndarray  # [D]
    ln_b: np.ndarray
    layers: tuple[LayerWeights, ...]
    pooler_w: np.ndarray | None = None  # [D, D]; None for embedders
    pooler_b: np.ndarray | None = None
    classifier_w: np.ndarray | None = None  # [L, D]
    classifier_b: np.ndarray | None = None


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


def load_weights(model_dir: str | Path, config: BertConfig, head: bool) -> BertWeights:
    """Read, check and arrange a checkpoint's tensors. ``head``: also read the pooler and classifier."""
    path = weights_file(model_dir)
    tensors = read_tensors(path)
    check = check_tensors(tensors, config, head)
    if not check.ok:
        raise WeightsError(f"{path}: {check.describe()}")
    by_canonical = {canonical_name(k): v for k, v in tensors.items()}
    arrays = {}
    for name in expected_shapes(config, head):
        a = _as_float32(by_canonical[name])
        if not np.isfinite(a).all():
            raise WeightsError(f"{path}: tensor {name} contains NaN or Inf")
        arrays[name] = a
    layers = tuple(
        LayerWeights(**{f: arrays[f"encoder.layer.{i}.{name}"] for f, (name, _) in _LAYER.items()})
        for i in range(config.num_hidden_layers)
    )
    fields = {f: arrays[name] for f, (name, _) in _EMBEDDINGS.items()}
    if head:
        fields.update({f: arrays[name] for f, (name, _) in _HEAD.items()})
    return BertWeights(layers=layers, **fields)


def weights_file(model_dir: str | Path) -> Path:
    model_dir = Path(model_dir)
    path = model_dir / "model.safetensors"
    if path.is_file():
        return path
    if (model_dir / "pytorch_model.bin").is_file():
        return model_dir / "pytorch_model.bin"
    raise ModelNotFoundError(f"no weights file in {model_dir}: expected model.safetensors (or pytorch_model.bin)")


def read_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a checkpoint file by their stored names, in their stored dtypes."""
    path = Path(path)
    if path.name.endswith(".bin"):
        from .torch_pickle import read_torch_bin  # the restricted, never-executing pickle reader
        return read_torch_bin(path)
    return read_safetensors(path)


# --------------------------------------------------------------------------------------------------
# safetensors, parsed and memory-mapped.
# --------------------------------------------------------------------------------------------------

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file as read-only views of the memory-mapped file.

    bfloat16 tensors come back as uint16 arrays tagged by ``BF16_DTYPE`` (numpy has no bfloat16);
    ``_as_float32`` widens them. Any inconsistency names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"weights file not found: {path}")
    size = path.stat().st_size
    bad = f"{path}: not a valid safetensors file"
    if size < 8:
        raise WeightsError(f"{bad} ({size} bytes, too short for a header)")
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > size - 8 or header_len > 100_000_000:
            raise WeightsError(f"{bad} (header length {header_len} exceeds the file size {size})")
        raw = f.read(header_len)
    try:
        header = json.loads(raw)
        assert isinstance(header, dict)
    except (ValueError, AssertionError):
        raise WeightsError(f"{bad} (its header is not a JSON object)") from None
    header.pop("__metadata__", None)
    data_start = 8 + header_len
    data_len = size - data_start
    mapped = np.memmap(path, dtype=np.uint8, mode="r") if data_len > 0 else np.zeros(0, np.uint8)
    tensors = {}
    for name, info in header.items():
        try:
            dtype = np.dtype(_ST_DTYPES[info["dtype"]])
            shape = tuple(int(n) for n in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{bad} (entry for tensor {name} is malformed or has an unknown dtype)") from None
        nbytes = math.prod(shape) * dtype.itemsize
        if any(n < 0 for n in shape) or not 0 <= begin <= end <= data_len or end - begin != nbytes:
            raise WeightsError(f"{bad} (tensor {name}: offsets {begin}..{end} do not fit shape {list(shape)} "
                               f"of {info['dtype']} in {data_len} data bytes; truncated?)")
        start = data_start + begin
        if start % dtype.itemsize:  # unaligned: views would be legal but slow; copy instead
            a = np.frombuffer(bytes(mapped[start:start + nbytes]), dtype=dtype).reshape(shape)
        else:
            a = mapped[start:start + nbytes].view(dtype).reshape(shape)
        if info["dtype"] == "BF16":
            a = a.view(BF16_DTYPE)
        tensors[name] = a
    return tensors


# numpy has no bfloat16: such tensors are kept as uint16 bits under this tagged dtype until widened.
BF16_DTYPE = np.dtype(np.uint16, metadata={"bfloat16": True})


def is_bf16(a: np.ndarray) -> bool:
    """A bfloat16 tensor as read here: uint16 bits under BF16_DTYPE."""
    return a.dtype.metadata is not None and a.dtype.metadata.get("bfloat16", False)


def _as_float32(a: np.ndarray) -> np.ndarray:
    """float32 view or copy; bfloat16 bits are the top half of a float32's."""
    if is_bf16(a):
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a if a.dtype == np.float32 and a.dtype.isnative else a.astype(np.float32)
