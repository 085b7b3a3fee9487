"""A sentence-transformers directory's pipeline, read from its files, never guessed:

  * ``modules.json``: the modules in order -- Transformer, Pooling, then any Dense and Normalize;
  * the Pooling folder's ``config.json``: the pooling modes and ``include_prompt``, in the classic format
    (``pooling_mode_mean_tokens: true``, ...) or the one sentence-transformers 6 writes
    (``"pooling_mode": "cls"`` or a list, ``embedding_dimension``);
  * a Dense folder's ``config.json`` and weights (``in_features``, ``out_features``, ``bias``,
    ``activation_function``);
  * ``config_sentence_transformers.json``: ``prompts``, ``default_prompt_name`` and ``similarity_fn_name``.
``max_seq_length`` is read with the tokenizer (``minilm_np.text.tokenize.max_length``). Module types are
accepted under both ``sentence_transformers.models.*`` (sentence-transformers < 6) and the packages
sentence-transformers 6 writes (``sentence_transformers.base.modules.*``,
``sentence_transformers.sentence_transformer.modules.*``); anything else is refused by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ConfigError
from ..model.config import optional_json_integer
from ..model.heads import SIMILARITIES, Dense
from .load import read_tensors, weights_file
from .names import arrange_dense

# Classic Pooling flags, in the order sentence-transformers concatenates the pooled vectors.
_POOLING_FLAGS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
# sentence-transformers 6's ``pooling_mode`` names -> ours.
_POOLING_NAMES = {"cls": "cls", "max": "max", "mean": "mean", "mean_sqrt_len_tokens": "mean_sqrt_len",
                  "weightedmean": "weightedmean", "lasttoken": "lasttoken"}
# Dense activations sentence-transformers writes as ``activation_function`` -> ours.
_DENSE_ACTIVATIONS = {"torch.nn.modules.activation.Tanh": "tanh", "torch.nn.modules.linear.Identity": "identity"}
_MODULES = ("Transformer", "Pooling", "Dense", "Normalize")
# sentence-transformers 5+ gives every model query and document prompts, empty unless the model sets them.
_DEFAULT_PROMPTS = {"query": "", "document": ""}


@dataclass(frozen=True)
class Pipeline:
    """What follows the transformer: pooling, then Dense layers and normalisation in file order."""
    transformer_dir: Path
    pooling: tuple[str, ...] = ("mean",)  # concatenated in this order
    include_prompt: bool = True  # False: the prompt's tokens are left out of the pooling
    steps: tuple[Dense | str, ...] = ()  # after pooling: Dense modules and "normalize", in order
    prompts: dict[str, str] = field(default_factory=lambda: dict(_DEFAULT_PROMPTS))
    default_prompt_name: str | None = None
    embedding_dimension: int | None = None  # the Pooling config's input width, when it states one
    similarity_fn_name: str = "cosine"  # what ``Embedder.similarity`` computes (sentence-transformers' default)

    @property
    def normalize(self) -> bool:
        """Whether a Normalize module is in the pipeline."""
        return "normalize" in self.steps

    @property
    def dense(self) -> tuple[Dense, ...]:
        return tuple(s for s in self.steps if isinstance(s, Dense))

    def overridden(self, prompts: dict[str, str] | None = None, default_prompt_name: str | None = None,
                   similarity_fn_name: str | None = None) -> "Pipeline":
        """The same pipeline with what sentence-transformers' constructor takes over its files' settings: ``prompts``
        added to the saved ones (a name in both takes the given text), the other two in place of the saved ones."""
        if prompts is not None and (not isinstance(prompts, dict)
                                    or not all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items())):
            raise ValueError(f"prompts must map names to strings, got {prompts!r}")
        merged = {**self.prompts, **(prompts or {})}
        default = self.default_prompt_name if default_prompt_name is None else default_prompt_name
        similarity = similarity_fn_name or self.similarity_fn_name
        problem = _settings_problem(merged, default, similarity)
        if problem:
            raise ValueError(problem)
        return replace(self, prompts=merged, default_prompt_name=default, similarity_fn_name=similarity)

    def describe(self) -> str:
        """One line: pooling, Dense layers, Normalize."""
        parts = ["+".join(self.pooling) + ("" if self.include_prompt else " (prompt excluded)")]
        parts += [f"Dense {s.weight.shape[1]}->{s.out_features} {s.activation}" if isinstance(s, Dense) else "Normalize"
                  for s in self.steps]
        return ", ".join(parts)


def read_pipeline(model_dir: Path) -> Pipeline:
    """modules.json -> Pipeline. No modules.json: a bare transformer, mean pooling (what
    sentence-transformers builds for a plain Hugging Face model)."""
    model_dir = Path(model_dir)
    prompts, default_prompt_name, similarity = _read_st_config(model_dir / "config_sentence_transformers.json")
    modules_file = model_dir / "modules.json"
    if not modules_file.is_file():
        return Pipeline(model_dir, prompts=prompts, default_prompt_name=default_prompt_name,
                        similarity_fn_name=similarity)
    modules = _read_json(modules_file)
    if not isinstance(modules, list):
        raise ConfigError(f"{modules_file}: expected a list of modules")
    transformer_dir, pooling, include_prompt, dimension, steps = None, ("mean",), True, None, []
    for m in modules:
        kind = _module_kind(m, modules_file)
        sub = model_dir / _module_path(m, modules_file)
        if kind == "Transformer":
            transformer_dir = sub
        elif kind == "Pooling":
            pooling, include_prompt, dimension = _read_pooling(sub / "config.json")
        elif kind == "Dense":
            steps.append(_read_dense(sub))
        else:
            steps.append("normalize")
    if transformer_dir is None:
        raise ConfigError(f"{modules_file}: no sentence_transformers.models.Transformer module")
    return Pipeline(transformer_dir, pooling, include_prompt, tuple(steps), prompts, default_prompt_name, dimension,
                    similarity)


def _module_kind(m, modules_file: Path) -> str:
    """A modules.json entry's class name, when it is one of the modules the engine implements."""
    type_name = str(m.get("type", "")) if isinstance(m, dict) else repr(m)
    kind = type_name.rsplit(".", 1)[-1]
    if not type_name.startswith("sentence_transformers.") or kind not in _MODULES:
        raise ConfigError(f"{modules_file}: module {type_name} is not supported "
                          f"(supported: {', '.join(_MODULES)})")
    return kind


def _module_path(m: dict, modules_file: Path) -> str:
    """A module's folder, relative to the model directory and inside it."""
    path = m.get("path", "")
    if not isinstance(path, str) or Path(path).is_absolute() or ".." in Path(path).parts:
        raise ConfigError(f"{modules_file}: module path {path!r} is not a folder inside the model directory")
    return path


def _read_pooling(path: Path) -> tuple[tuple[str, ...], bool, int | None]:
    """(modes, include_prompt, embedding_dimension) from a Pooling config.json, either format."""
    cfg = _read_json(path)
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    unknown = [k for k in cfg if k.startswith("pooling_mode_") and k not in _POOLING_FLAGS]
    if unknown:
        raise ConfigError(f"{path}: pooling mode {unknown[0]} is not supported "
                          f"(supported: {', '.join(_POOLING_FLAGS)})")
    mode = cfg.get("pooling_mode")
    if mode is not None:  # sentence-transformers 6: a name or a list of names
        names = [mode] if isinstance(mode, str) else list(mode) if isinstance(mode, list) else [repr(mode)]
        bad = [n for n in names if n not in _POOLING_NAMES]
        if bad or not names:
            raise ConfigError(f"{path}: pooling mode {bad[0] if bad else '[]'} is not supported "
                              f"(supported: {', '.join(_POOLING_NAMES)})")
        modes = tuple(_POOLING_NAMES[n] for n in names)
    else:  # classic flags; none set means mean, as sentence-transformers 6 reads them
        modes = tuple(mode for flag, mode in _POOLING_FLAGS.items() if cfg.get(flag)) or ("mean",)
    dimension = cfg.get("embedding_dimension", cfg.get("word_embedding_dimension"))
    return modes, bool(cfg.get("include_prompt", True)), optional_json_integer(dimension, "the embedding dimension",
                                                                               str(path))


def _read_dense(folder: Path) -> Dense:
    cfg = _read_json(folder / "config.json")
    if not isinstance(cfg, dict):
        raise ConfigError(f"{folder / 'config.json'}: expected a JSON object")
    activation_name = cfg.get("activation_function", "torch.nn.modules.activation.Tanh")
    if not isinstance(activation_name, str) or activation_name not in _DENSE_ACTIVATIONS:
        raise ConfigError(f"{folder / 'config.json'}: Dense activation_function {activation_name} is not supported "
                          f"(supported: {', '.join(_DENSE_ACTIVATIONS)})")
    try:
        in_features, out_features, bias = int(cfg["in_features"]), int(cfg["out_features"]), bool(cfg.get("bias", True))
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{folder / 'config.json'}: Dense needs in_features and out_features ({e})") from None
    path = weights_file(folder)
    weight, bias_array = arrange_dense(read_tensors(path), in_features, out_features, bias, str(path))
    return Dense(weight, bias_array, _DENSE_ACTIVATIONS[activation_name])


def _read_st_config(path: Path) -> tuple[dict[str, str], str | None, str]:
    """config_sentence_transformers.json's prompts (on top of the empty query/document ones),
    default_prompt_name and similarity_fn_name ("cosine" when absent or null, as in sentence-transformers);
    the defaults when the file is absent."""
    prompts = dict(_DEFAULT_PROMPTS)
    if not path.is_file():
        return prompts, None, "cosine"
    cfg = _read_json(path)
    saved = cfg.get("prompts") or {} if isinstance(cfg, dict) else {}
    if not isinstance(saved, dict) or not all(isinstance(v, str) or v is None for v in saved.values()):
        raise ConfigError(f"{path}: prompts must map names to strings")
    prompts.update({str(k): v or "" for k, v in saved.items()})
    default = cfg.get("default_prompt_name") if isinstance(cfg, dict) else None
    similarity = (cfg.get("similarity_fn_name") if isinstance(cfg, dict) else None) or "cosine"
    problem = _settings_problem(prompts, default, similarity)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    return prompts, default, similarity


def _settings_problem(prompts: dict[str, str], default, similarity) -> str | None:
    """What is wrong with a default_prompt_name and a similarity_fn_name beside these prompts, or None: the one
    check for the files' settings (``_read_st_config``) and the constructor's (``Pipeline.overridden``)."""
    if default is not None and (not isinstance(default, str) or default not in prompts):
        return f"default_prompt_name {default!r} is not one of the prompts ({', '.join(prompts)})"
    if similarity not in SIMILARITIES:
        return f"similarity_fn_name {similarity!r} is not one of {', '.join(SIMILARITIES)}"
    return None


def _read_json(path: Path):
    if not path.is_file():
        raise ConfigError(f"{path} not found (named by modules.json)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
