"""The only module that knows checkpoint tensor names: one table per architecture (``TABLES``), and
``arrange``, which turns a file's tensors into the model's arrays (``BertWeights``, ``ClassifierHead``)
as float32. The sentence-transformers Dense module's two names are here too (``DENSE``).

float32 tensors stay views of the memory-mapped file, never a second copy; float16/bfloat16/float64
ones are converted to float32 once, at load.

Checkpoints spell the names several ways, all accepted:
  * the bare base model / sentence-transformers:  ``encoder.layer.0.attention.self.query.weight``
  * a ``*ForSequenceClassification``:             the body under its prefix (``bert.``, ``roberta.``,
    ``electra.``, ``distilbert.``) plus the head's own names (``classifier.*``, ...)
  * legacy TF-era LayerNorm names:                 ``...LayerNorm.gamma`` / ``...LayerNorm.beta``
Linear weights keep the checkpoint's (out, in) layout; ``ops.linear`` multiplies by the transpose.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import WeightsError
from ..model.config import BertConfig
from ..model.heads import ClassifierHead
from ..model.weights import BertWeights, LayerWeights
from .dtypes import is_bf16, to_float32

# --------------------------------------------------------------------------------------------------
# The name tables: field -> (checkpoint name, shape as a function of the config).
# Letters: V vocab, P max positions, Y token types, E embedding width, D hidden, F intermediate, L labels.
# --------------------------------------------------------------------------------------------------


def _e(c):  # E: the embedding tables' width (D, except for ELECTRA)
    return c.embedding_width


_BERT_EMBEDDINGS = {
    "word": ("embeddings.word_embeddings.weight", lambda c: (c.vocab_size, _e(c))),  # [V, E]
    "position": ("embeddings.position_embeddings.weight", lambda c: (c.max_position_embeddings, _e(c))),  # [P, E]
    "token_type": ("embeddings.token_type_embeddings.weight", lambda c: (c.type_vocab_size, _e(c))),  # [Y, E]
    "ln_g": ("embeddings.LayerNorm.weight", lambda c: (_e(c),)),
    "ln_b": ("embeddings.LayerNorm.bias", lambda c: (_e(c),)),
}
_DISTILBERT_EMBEDDINGS = {f: v for f, v in _BERT_EMBEDDINGS.items() if f != "token_type"}
_ELECTRA_PROJECTION = {  # only when E != D
    "project_w": ("embeddings_project.weight", lambda c: (c.hidden_size, _e(c))),  # [D, E]
    "project_b": ("embeddings_project.bias", lambda c: (c.hidden_size,)),
}

_BERT_LAYER = {  # under "encoder.layer.{i}."; RoBERTa, XLM-R and ELECTRA use the same names
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
_DISTILBERT_NAMES = {  # BERT's layer name -> DistilBERT's, under "transformer.layer.{i}."
    "attention.self.query": "attention.q_lin", "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin", "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm", "intermediate.dense": "ffn.lin1", "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}
_DISTILBERT_LAYER = {f: (_DISTILBERT_NAMES[name.rsplit(".", 1)[0]] + "." + name.rsplit(".", 1)[1], shape)
                     for f, (name, shape) in _BERT_LAYER.items()}


def _head(dense: str, classifier: str) -> dict:
    return {
        "dense_w": (f"{dense}.weight", lambda c: (c.hidden_size, c.hidden_size)),  # [D, D]
        "dense_b": (f"{dense}.bias", lambda c: (c.hidden_size,)),
        "classifier_w": (f"{classifier}.weight", lambda c: (c.num_labels, c.hidden_size)),  # [L, D]
        "classifier_b": (f"{classifier}.bias", lambda c: (c.num_labels,)),
    }


@dataclass(frozen=True)
class Names:
    """One architecture's tensor names (canonical: without the prefix, LayerNorm weight/bias)."""
    prefix: str  # the body's prefix inside a *ForSequenceClassification checkpoint
    embeddings: dict
    layer_path: str  # where layer i's names start
    layer: dict
    head: dict  # only for sequence-classification checkpoints
    ignored: re.Pattern  # buffers and pre-training heads that checkpoints carry but inference never reads


_ROBERTA = Names("roberta.", _BERT_EMBEDDINGS, "encoder.layer.{i}.", _BERT_LAYER,
                 _head("classifier.dense", "classifier.out_proj"),
                 re.compile(r"^(embeddings\.(position_ids|token_type_ids)|pooler\..*|lm_head\..*)$"))
TABLES = {
    "bert": Names("bert.", _BERT_EMBEDDINGS, "encoder.layer.{i}.", _BERT_LAYER, _head("pooler.dense", "classifier"),
                  re.compile(r"^(embeddings\.(position_ids|token_type_ids)|cls\.predictions\..*"
                             r"|cls\.seq_relationship\..*)$")),
    "roberta": _ROBERTA,
    "xlm-roberta": _ROBERTA,
    "electra": Names("electra.", _BERT_EMBEDDINGS, "encoder.layer.{i}.", _BERT_LAYER,
                     _head("classifier.dense", "classifier.out_proj"),
                     re.compile(r"^(embeddings\.(position_ids|token_type_ids)|discriminator_predictions\..*"
                                r"|generator_predictions\..*|generator_lm_head\..*)$")),
    "distilbert": Names("distilbert.", _DISTILBERT_EMBEDDINGS, "transformer.layer.{i}.", _DISTILBERT_LAYER,
                        _head("pre_classifier", "classifier"),
                        re.compile(r"^(embeddings\.position_ids|vocab_transform\..*|vocab_layer_norm\..*"
                                   r"|vocab_projector\..*)$")),
}

# sentence-transformers' Dense module (``2_Dense/model.safetensors``): field -> name.
DENSE = {"weight": "linear.weight", "bias": "linear.bias"}

_LEGACY = (("LayerNorm.gamma", "LayerNorm.weight"), ("LayerNorm.beta", "LayerNorm.bias"))


def canonical_name(name: str, model_type: str = "bert") -> str:
    """A checkpoint's tensor name as the table spells it: no body prefix, LayerNorm weight/bias."""
    prefix = TABLES[model_type].prefix
    if name.startswith(prefix):
        name = name[len(prefix):]
    for old, new in _LEGACY:
        if name.endswith(old):
            name = name[: -len(old)] + new
    return name


def _embedding_names(config: BertConfig) -> dict:
    names = dict(TABLES[config.model_type].embeddings)
    if config.embedding_width != config.hidden_size:
        names.update(_ELECTRA_PROJECTION)
    return names


def expected_shapes(config: BertConfig, head: bool) -> dict[str, tuple[int, ...]]:
    """Every tensor the forward pass reads, canonical name -> shape."""
    table = TABLES[config.model_type]
    shapes = {name: shape(config) for name, shape in _embedding_names(config).values()}
    for i in range(config.num_hidden_layers):
        path = table.layer_path.format(i=i)
        shapes.update({path + name: shape(config) for name, shape in table.layer.values()})
    if head:
        shapes.update({name: shape(config) for name, shape in table.head.values()})
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
    table = TABLES[config.model_type]
    by_canonical = {canonical_name(k, config.model_type): v for k, v in tensors.items()}
    want = expected_shapes(config, head)
    head_names = {name for name, _ in table.head.values()}
    missing = [n for n in want if n not in by_canonical]
    unexpected = sorted(n for n in by_canonical if n not in want and not table.ignored.match(n)
                        and not (not head and n in head_names))
    misshaped = [(n, tuple(by_canonical[n].shape), want[n]) for n in want
                 if n in by_canonical and tuple(by_canonical[n].shape) != want[n]]
    not_float = [(n, str(by_canonical[n].dtype)) for n in want
                 if n in by_canonical and by_canonical[n].dtype.kind != "f" and not is_bf16(by_canonical[n])]
    return Check(missing, unexpected, misshaped, not_float)


def _lacks_only_the_head(check: Check, config: BertConfig) -> bool:
    """Whether what is wrong is the classification head alone, missing: its layer to the labels and perhaps the
    layer before (a BERT embedder's checkpoint keeps its pooler)."""
    table = TABLES[config.model_type].head
    labels = {table["classifier_w"][0], table["classifier_b"][0]}
    return labels <= set(check.missing) <= {name for name, _ in table.values()} and not check.misshaped


def arrange(tensors: dict[str, np.ndarray], config: BertConfig, head: bool,
            source: str) -> tuple[BertWeights, ClassifierHead | None]:
    """Check ``tensors`` against the table (everything wrong reported at once, naming ``source``) and
    arrange them as float32 model arrays. ``head``: also the sequence classifier's head."""
    check = check_tensors(tensors, config, head)
    if not check.ok:
        hint = (": the checkpoint has no classification head, which a cross-encoder needs (a sentence embedder's "
                "checkpoint loads with Embedder)") if head and _lacks_only_the_head(check, config) else ""
        raise WeightsError(f"{source}: {check.describe()}{hint}")
    if check.unexpected:  # as transformers warns of weights "not used when initializing" the model
        shown = ", ".join(check.unexpected[:4]) + (", ..." if len(check.unexpected) > 4 else "")
        warnings.warn(f"{source}: {len(check.unexpected)} tensor(s) that the config does not describe were left "
                      f"out ({shown}); if config.json disagrees with the weights (num_hidden_layers, say), the "
                      f"model that runs is not the one that was trained", stacklevel=2)
    table = TABLES[config.model_type]
    by_canonical = {canonical_name(k, config.model_type): v for k, v in tensors.items()}
    arrays = {name: _finite_float32(by_canonical[name], name, source) for name in expected_shapes(config, head)}
    layers = tuple(
        LayerWeights(**{f: arrays[table.layer_path.format(i=i) + name] for f, (name, _) in table.layer.items()})
        for i in range(config.num_hidden_layers)
    )
    embeddings = {f: arrays[name] for f, (name, _) in _embedding_names(config).items()}
    body = BertWeights(layers=layers, **{"token_type": None, **embeddings})
    classifier = None
    if head:
        classifier = ClassifierHead(**{f: arrays[name] for f, (name, _) in table.head.items()},
                                    activation=config.body.head_activation)
    return body, classifier


def arrange_dense(tensors: dict[str, np.ndarray], in_features: int, out_features: int, bias: bool,
                  source: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A sentence-transformers Dense module's (weight [O, D], bias [O] or None), checked like the body."""
    want = {DENSE["weight"]: (out_features, in_features), **({DENSE["bias"]: (out_features,)} if bias else {})}
    missing = [n for n in want if n not in tensors]
    misshaped = [(n, tuple(tensors[n].shape), s) for n, s in want.items()
                 if n in tensors and tuple(tensors[n].shape) != s]
    check = Check(missing, [], misshaped, [])
    if not check.ok:
        raise WeightsError(f"{source}: {check.describe()}")
    arrays = [_finite_float32(tensors[n], n, source) for n in want]
    return arrays[0], (arrays[1] if bias else None)


def _finite_float32(a: np.ndarray, name: str, source: str) -> np.ndarray:
    a = to_float32(a)
    if not np.isfinite(a).all():
        raise WeightsError(f"{source}: tensor {name} contains NaN or Inf")
    return a
