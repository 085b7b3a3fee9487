"""``inspect DIR``: what a model directory holds, and whether the engine can load it.

Prints the config summary, every tensor (name, shape, dtype), the parameter count, the weights file's
size, and the tensors the architecture expects but the file lacks (or has with the wrong shape or a
non-float dtype) and those it has beyond them -- judged by ``minilm_np.checkpoint.names.check_tensors``, so
``bert.``-prefixed and bare names, and legacy ``LayerNorm.gamma``/``beta``, are all understood.
Exit status 0 when the checkpoint would load, 3 when it would not.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minilm_np.checkpoint.dtypes import dtype_name, is_floating
from minilm_np.checkpoint.load import read_config, read_tensors, weights_file
from minilm_np.checkpoint.names import TABLES, Check, check_tensors
from minilm_np.checkpoint.pipeline import Pipeline, read_pipeline
from minilm_np.errors import ConfigError, ModelLoadError, ModelNotFoundError
from minilm_np.model.config import BertConfig

CHECK_FAILED = 3


@dataclass
class Report:
    model_dir: Path
    weights_path: Path
    tensors: dict[str, np.ndarray]
    config: BertConfig | None
    config_problem: str | None  # why config.json could not be read, if it could not
    architectures: list[str]
    head: bool
    head_reason: str
    check: Check | None  # None without a config
    notes: list[str] = field(default_factory=list)
    pipeline: Pipeline | None = None  # the sentence-transformers pipeline, when modules.json is there
    pipeline_problem: str | None = None  # why it could not be read

    @property
    def loadable(self) -> bool:
        return self.check is not None and self.check.ok


def add_arguments(parser) -> None:
    parser.add_argument("model_dir", type=Path, help="model directory (config.json + model.safetensors or "
                                                     "pytorch_model.bin)")


def run(args) -> int:
    report = inspect_dir(args.model_dir)
    print(format_report(report))
    return 0 if report.loadable else CHECK_FAILED


def inspect_dir(model_dir: Path) -> Report:
    """Read a model directory's config and tensors and check them against each other."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"model directory not found: {model_dir}")
    path = weights_file(model_dir)
    tensors = read_tensors(path)
    config, problem, architectures = None, None, []
    try:
        config = read_config(model_dir / "config.json")
        architectures = _architectures(model_dir / "config.json")
    except (ConfigError, ModelNotFoundError) as e:
        problem = str(e)
    head, reason = decide_head(architectures, tensors)
    check = check_tensors(tensors, config, head) if config else None
    pipeline, pipeline_problem = None, None
    if (model_dir / "modules.json").is_file() or (model_dir / "config_sentence_transformers.json").is_file():
        try:
            pipeline = read_pipeline(model_dir)
        except ModelLoadError as e:
            pipeline_problem = str(e)
    prefix = TABLES[config.model_type].prefix if config else "bert."
    return Report(model_dir, path, tensors, config, problem, architectures, head, reason, check,
                  _name_notes(tensors, prefix), pipeline, pipeline_problem)


def decide_head(architectures: list[str], tensors: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Whether to expect a pooler + classifier: the config says so, or the tensors include one."""
    for arch in architectures:
        if "ForSequenceClassification" in arch:
            return True, f"config architectures: {arch}"
    classifier = [n for n in tensors if "classifier." in n]
    if classifier:
        return True, f"tensor {classifier[0]}"
    return False, "no ForSequenceClassification architecture and no classifier tensor"


def is_cross_encoder(model_dir: Path) -> bool:
    """What the engine should load: a CrossEncoder when config.json names a ForSequenceClassification
    architecture, an Embedder otherwise."""
    config_path = Path(model_dir) / "config.json"
    if not config_path.is_file():
        raise ModelNotFoundError(f"config.json not found: {config_path}")
    try:
        return any("ForSequenceClassification" in a for a in _architectures(config_path))
    except (ValueError, AttributeError) as e:
        raise ConfigError(f"{config_path}: not a readable config ({e})") from None


def _architectures(config_path: Path) -> list[str]:
    arch = json.loads(config_path.read_text(encoding="utf-8")).get("architectures") or []
    return [str(a) for a in arch] if isinstance(arch, list) else [str(arch)]


def _name_notes(tensors: dict[str, np.ndarray], prefix: str) -> list[str]:
    names = list(tensors)
    notes = []
    prefixed = sum(n.startswith(prefix) for n in names)
    if prefixed:
        notes.append(f"{prefixed} of {len(names)} names carry the '{prefix}' prefix "
                     f"(*ForSequenceClassification layout)")
    else:
        notes.append("names are bare (base model / sentence-transformers layout)")
    legacy = sum(n.endswith(("LayerNorm.gamma", "LayerNorm.beta")) for n in names)
    if legacy:
        notes.append(f"{legacy} legacy LayerNorm.gamma/beta names (read as weight/bias)")
    return notes


def parameter_count(tensors: dict[str, np.ndarray]) -> int:
    """Elements of the floating-point tensors (integer buffers such as position_ids are not parameters)."""
    return sum(math.prod(a.shape) for a in tensors.values() if is_floating(a))


def format_report(r: Report) -> str:
    lines = [f"model:       {r.model_dir}",
             f"weights:     {r.weights_path.name}, {_size(r.weights_path.stat().st_size)}"]
    if r.config:
        c = r.config
        lines.append(f"config:      {', '.join(r.architectures) or 'no architectures listed'}; "
                     f"{c.num_hidden_layers} layers, hidden {c.hidden_size}, {c.num_attention_heads} heads "
                     f"(size {c.head_size}), intermediate {c.intermediate_size}, vocab {c.vocab_size}, "
                     f"positions {c.max_position_embeddings}, token types {c.type_vocab_size}"
                     + (f", labels {c.num_labels}" if r.head else ""))
        lines.append(f"body:        {c.model_type}; " + _body_line(c))
    else:
        lines.append(f"config:      unreadable: {r.config_problem}")
    lines.append(f"head:        {_head_line(r) if r.head else 'none (embedder)'} ({r.head_reason})")
    if r.pipeline is not None:
        lines.append(f"pipeline:    {r.pipeline.describe()}")
        prompts = {k: v for k, v in r.pipeline.prompts.items() if v}
        lines.append("prompts:     " + (", ".join(f"{k}={v!r}" for k, v in prompts.items()) or "none")
                     + (f"; default {r.pipeline.default_prompt_name!r}" if r.pipeline.default_prompt_name else ""))
    elif r.pipeline_problem:
        lines.append(f"pipeline:    unreadable: {r.pipeline_problem}")
    lines += [f"names:       {note}" for note in r.notes]
    lines.append(f"tensors:     {len(r.tensors)}, {parameter_count(r.tensors):,} parameters in floating tensors")
    width = max((len(n) for n in r.tensors), default=0)
    for name, a in r.tensors.items():
        lines.append(f"  {name:<{width}}  {str(list(a.shape)):<14} {dtype_name(a)}")
    lines += _check_lines(r)
    return "\n".join(lines)


def _body_line(c: BertConfig) -> str:
    positions = (f"positions from pad_token_id + 1 = {c.position_offset}, {c.max_tokens} tokens at most"
                 if c.body.positions_after_padding else f"positions from 0, {c.max_tokens} tokens at most")
    types = {"segments": "token types read", "first": "token type 0 for every token", "none": "no token types"}
    projection = f", embeddings {c.embedding_width} projected to {c.hidden_size}" \
        if c.embedding_width != c.hidden_size else ""
    return f"{positions}; {types[c.body.token_types]}; LayerNorm eps {c.layer_norm_eps:g}{projection}"


def _head_line(r: Report) -> str:
    """The head's layers as the table names them, and the labels."""
    if r.config is None:
        return "a classifier head expected"
    table, c = TABLES[r.config.model_type], r.config
    dense, out = table.head["dense_w"][0].removesuffix(".weight"), table.head["classifier_w"][0].removesuffix(".weight")
    text = "pooler + classifier" if c.model_type == "bert" else f"{dense} + {c.body.head_activation} + {out}"
    named = c.id2label and c.id2label != tuple(f"LABEL_{i}" for i in range(len(c.id2label)))
    return f"{text} expected" + (f"; labels {', '.join(c.id2label)}" if named else "")


def _check_lines(r: Report) -> list[str]:
    if r.check is None:
        return ["check:       skipped (no usable config.json)"]
    c = r.check
    lines = [f"missing:     {', '.join(c.missing) if c.missing else 'none'}"]
    lines += [f"misshaped:   {name} is {list(found)}, expected {list(want)}" for name, found, want in c.misshaped]
    lines += [f"not float:   {name} is {dtype}" for name, dtype in c.not_float]
    lines.append(f"unexpected:  {', '.join(c.unexpected) if c.unexpected else 'none'}"
                 + (" (ignored by the engine)" if c.unexpected else ""))
    lines.append("check:       ok, the engine can load this checkpoint" if c.ok
                 else "check:       FAILED, the engine would refuse this checkpoint")
    return lines


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
