"""Embedder: sentence embeddings as sentence-transformers' SentenceTransformer.encode computes them,
following the model directory's files (modules.json: Transformer -> Pooling -> Dense / Normalize;
config_sentence_transformers.json: prompts)."""

from __future__ import annotations

import os
import warnings

import numpy as np

from . import st_names
from ._encoder import Encoder, Progress, load, locate, parts
from .checkpoint.family import DEFAULT_EMBEDDER
from .checkpoint.load import Checkpoint, plain_model_note
from .checkpoint.pipeline import Pipeline, read_pipeline
from .errors import ConfigError
from .explain.trace import Trace, trace_encoding
from .model.heads import PRECISIONS, l2_normalize, pool, quantize_embeddings, similarity, similarity_pairwise
from .model.packed import PackedBatch
from .text.tokenize import Tokenizer
from .validate import check_positive_int, check_text, check_texts


class Embedder(Encoder):
    """Sentence embeddings: ``encode(texts)`` -> float32 [n, dim]."""

    def __init__(self, checkpoint: Checkpoint | str | os.PathLike = DEFAULT_EMBEDDER,
                 tokenizer: Tokenizer | None = None, pipeline: Pipeline | None = None, name: str | None = None,
                 threads: int | None = None, truncate_dim: int | None = None, kernels: str = "numpy", **loading):
        """Loaded parts, as ``from_pretrained`` gives them; or, as sentence-transformers'
        ``SentenceTransformer("name", ...)``, a name or path with ``from_pretrained``'s keywords and
        sentence-transformers' constructor keywords in ``loading`` (``st_names.read_init``)."""
        if not isinstance(checkpoint, Checkpoint):
            checkpoint, tokenizer, pipeline, name = _load(checkpoint, **st_names.read_init("Embedder", loading))
        elif loading or tokenizer is None or pipeline is None or name is None:
            raise TypeError("Embedder(checkpoint, tokenizer, pipeline, name) takes loaded parts; load a model by "
                            "its name or path with Embedder(name_or_path, ...) or Embedder.from_pretrained(...)")
        super().__init__(checkpoint, tokenizer, name, threads, kernels)
        width = self.config.hidden_size
        if pipeline.embedding_dimension not in (None, width):
            raise ConfigError(f"{name}: the Pooling config's embedding_dimension {pipeline.embedding_dimension} "
                              f"is not the model's hidden_size {width}")
        width *= len(pipeline.pooling)
        for d in pipeline.dense:
            if d.weight.shape[1] != width:
                raise ConfigError(f"{name}: a Dense module takes {d.weight.shape[1]} inputs, "
                                  f"the pipeline gives {width}")
            width = d.out_features
        self.pipeline = pipeline
        self.full_dim = width  # what the pipeline's last module gives
        self.truncate_dim = self._check_truncate_dim(truncate_dim)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_EMBEDDER, *, revision: str | None = None,
                        cache_dir: str | None = None, local_files_only: bool | None = None,
                        token: str | bool | None = None, threads: int | None = None, truncate_dim: int | None = None,
                        kernels: str = "numpy") -> "Embedder":
        """A sentence-transformers directory (or a bare model directory: mean pooling), or a Hub id.

        ``token``: huggingface_hub's, for a private or gated repository (default: HF_TOKEN or the stored login).
        ``threads``: cores to use (default: all this process may use; 1 runs batches one at a time).
        ``kernels``: "numpy" (the default) or "numba": GELU, LayerNorm and the softmax as compiled loops, faster
        and within the same tolerances of the reference (``pip install "minilm-np[jit]"``).
        ``truncate_dim``: keep the first dimensions of every embedding (Matryoshka models), as
        sentence-transformers' ``truncate_dim``.
        """
        loaded = _load(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                       token=token)
        return cls(*loaded, threads=threads, truncate_dim=truncate_dim, kernels=kernels)

    @property
    def dim(self) -> int:
        """Width of the vectors ``encode`` returns (after ``truncate_dim``)."""
        return self.truncate_dim or self.full_dim

    @property
    def prompts(self) -> dict[str, str]:
        """The model's prompts by name (sentence-transformers' ``prompts``; "query" and "document" are
        always there, empty unless the model sets them)."""
        return dict(self.pipeline.prompts)

    def encode(self, texts, batch_size: int = 32, normalize: bool = True, progress: Progress = None, *,
               prompt_name: str | None = None, prompt: str | None = None, truncate_dim: int | None = None,
               precision: str = "float32", **sentence_transformers) -> np.ndarray:
        """float32 [n, dim] embeddings; a single str gives [dim].

        ``normalize``: scale to unit length (sentence-transformers' ``normalize_embeddings``). A model
        whose modules.json has Normalize is normalised there either way, as sentence-transformers does.
        ``prompt_name``: one of ``prompts``, put before every text; ``prompt``: the text of one (wins over
        ``prompt_name``); neither: the model's ``default_prompt_name``, if it has one.
        ``truncate_dim``: keep the first dimensions (default: the one given at load), after the pipeline's
        modules and before ``normalize``. ``precision``: "float32", or "int8" / "uint8" (ranges calibrated
        on these embeddings) / "binary" / "ubinary" (signs packed 8 per byte), as sentence-transformers'
        ``quantize_embeddings``. sentence-transformers' own names (``normalize_embeddings``,
        ``show_progress_bar``, ...) are taken too: see ``minilm_np.st_names``.
        """
        if sentence_transformers:
            st = st_names.read("encode", sentence_transformers)
            with st_names.progress(st, progress, texts, "embedding", "text", single=isinstance(texts, str)) as bar:
                return self.encode(texts, batch_size, st_names.normalize(st, normalize), bar, prompt_name=prompt_name,
                                   prompt=prompt, truncate_dim=truncate_dim, precision=precision)
        if isinstance(texts, str):
            return self.encode([texts], batch_size, normalize, progress, prompt_name=prompt_name, prompt=prompt,
                               truncate_dim=truncate_dim, precision=precision)[0]
        texts = check_texts(texts)
        if isinstance(batch_size, str):  # encode(texts, "query"): sentence-transformers 3+ has prompt_name second
            raise TypeError(f"batch_size must be an int, got the str {batch_size!r}; for a prompt name, as "
                            f"sentence-transformers takes it second, give it by name: prompt_name={batch_size!r}")
        check_positive_int(batch_size, "batch_size")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        dim = self._check_truncate_dim(truncate_dim) or self.dim
        prompt = self._resolve_prompt(prompt, prompt_name)
        skip = 0
        if prompt:
            texts = [prompt + t for t in texts]
            skip = 0 if self.pipeline.include_prompt else self.tokenizer.prompt_length(prompt)
        out = np.empty((len(texts), self.full_dim), np.float32)  # [n, full_dim]
        for part in parts([len(t) for t in texts]):
            out[part] = self._run(self.tokenizer.encode_texts(texts[part]),
                                  lambda states, batch: self._embed(states, batch, skip),
                                  width=self.full_dim, batch_size=batch_size, progress=progress)
        if dim < self.full_dim:
            out = np.ascontiguousarray(out[:, :dim])  # [n, dim], without keeping the rest alive
        if normalize:
            l2_normalize(out, out=out)  # in place: a large call's vectors are its largest array
        if precision != "float32":
            out = quantize_embeddings(out, precision)
        return out

    def encode_query(self, texts, batch_size: int = 32, normalize: bool = True, progress: Progress = None, *,
                     prompt_name: str | None = None, prompt: str | None = None, **kwargs) -> np.ndarray:
        """``encode`` with the model's "query" prompt unless another is given (sentence-transformers 5+)."""
        if prompt_name is None and prompt is None:
            prompt_name = "query"
        return self.encode(texts, batch_size, normalize, progress, prompt_name=prompt_name, prompt=prompt, **kwargs)

    def encode_document(self, texts, batch_size: int = 32, normalize: bool = True, progress: Progress = None, *,
                        prompt_name: str | None = None, prompt: str | None = None, **kwargs) -> np.ndarray:
        """``encode`` with the model's first of "document", "passage", "corpus" prompts unless another is
        given (sentence-transformers 5+; "document" is always there, so it is the one used)."""
        if prompt_name is None and prompt is None:
            prompt_name = next(n for n in ("document", "passage", "corpus") if n in self.pipeline.prompts)
        return self.encode(texts, batch_size, normalize, progress, prompt_name=prompt_name, prompt=prompt, **kwargs)

    @property
    def similarity_fn_name(self) -> str:
        """What ``similarity`` computes: config_sentence_transformers.json's similarity_fn_name, else "cosine"."""
        return self.pipeline.similarity_fn_name

    def similarity(self, a, b) -> np.ndarray:
        """Every embedding of ``a`` against every one of ``b`` by the model's ``similarity_fn_name``, as
        sentence-transformers' ``similarity`` (euclidean and manhattan negated: larger is closer).
        [n, dim], [m, dim] (or one [dim] each) -> float32 [n, m]"""
        return similarity(a, b, self.similarity_fn_name)

    def similarity_pairwise(self, a, b) -> np.ndarray:
        """Row i of ``a`` against row i of ``b`` by the model's ``similarity_fn_name``, as sentence-transformers'
        ``similarity_pairwise``.  [n, dim], [n, dim] -> float32 [n]"""
        return similarity_pairwise(a, b, self.similarity_fn_name)

    def get_embedding_dimension(self) -> int:
        """sentence-transformers' name for ``dim`` (the width after ``truncate_dim``)."""
        return self.dim

    get_sentence_embedding_dimension = get_embedding_dimension  # its name before sentence-transformers 6

    def _resolve_prompt(self, prompt: str | None, prompt_name: str | None) -> str | None:
        """sentence-transformers' rule: ``prompt`` wins, then ``prompt_name``, then the default prompt."""
        if prompt is not None:
            return check_text(prompt, "prompt")
        prompts = self.pipeline.prompts
        if prompt_name is not None:
            if prompt_name not in prompts:
                raise ValueError(f"prompt name {prompt_name!r} is not one of {self.name}'s prompts "
                                 f"({', '.join(prompts)})")
            return prompts[prompt_name]
        return prompts.get(self.pipeline.default_prompt_name) if self.pipeline.default_prompt_name else None

    def _check_truncate_dim(self, truncate_dim: int | None) -> int | None:
        if truncate_dim is None:
            return None
        check_positive_int(truncate_dim, "truncate_dim")
        if truncate_dim > self.full_dim:
            raise ValueError(f"truncate_dim {truncate_dim} is larger than {self.name}'s {self.full_dim} dimensions")
        return truncate_dim

    def _embed(self, states: np.ndarray, batch: PackedBatch, skip: int) -> np.ndarray:
        """Pooled embeddings (the pipeline's modes concatenated), then its Dense and Normalize modules in
        order.  [N, D] -> [B, full_dim]"""
        pooled = [pool(states, batch.spans, mode, skip) for mode in self.pipeline.pooling]
        x = np.concatenate(pooled, axis=1) if len(pooled) > 1 else pooled[0]
        for step in self.pipeline.steps:
            x = l2_normalize(x) if step == "normalize" else step(x)
        return x

    def trace(self, text: str) -> Trace:
        """A look inside the pass over one text (cut as ``encode`` cuts it, the default prompt before it):
        every layer's attention probabilities [layers, H, T, T] and hidden states [layers + 1, T, D], as
        transformers' ``output_attentions`` / ``output_hidden_states``, and every intermediate by checkpoint
        name, computed on the plain reference path (model/reference.py); ``output`` is ``encode(text)``."""
        prompt = self._resolve_prompt(None, None) or ""
        encoding = self.tokenizer.encode_texts([prompt + check_text(text, "text")])[0]
        return trace_encoding(self.checkpoint, self.tokenizer, encoding, head=lambda states: self.encode(text))


    def __repr__(self) -> str:
        return (f"Embedder({self.name!r}, {self.config.model_type}, layers={self.config.num_hidden_layers}, "
                f"dim={self.dim}, pooling={self.pipeline.describe()}, max_length={self.max_length})")


def _load(name_or_path: str | os.PathLike, *, prompts: dict[str, str] | None = None,
          default_prompt_name: str | None = None, similarity_fn_name: str | None = None,
          **hub) -> tuple[Checkpoint, Tokenizer, Pipeline, str]:
    """An embedding model's parts from a directory or the Hub (``hub``: ``locate``'s keywords), with
    sentence-transformers' constructor settings over the files' (``Pipeline.overridden``)."""
    path, name = locate(name_or_path, **hub)
    pipeline = read_pipeline(path).overridden(prompts, default_prompt_name, similarity_fn_name)
    note = plain_model_note(path)
    if note:  # as sentence-transformers warns
        warnings.warn(f"{name} {note}", stacklevel=3)  # the caller of from_pretrained or of the constructor
    checkpoint, tokenizer = load(pipeline.transformer_dir, head=False)
    return checkpoint, tokenizer, pipeline, name
