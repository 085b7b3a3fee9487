"""The ``model`` argument every adapter takes: a size ("L-6"), a Hub id, a directory, an already-loaded
model, or None for the library's default; and the rerankers' ``top_n``."""

from __future__ import annotations

from minilm_np import CrossEncoder, Embedder
from minilm_np.validate import check_positive_int


def load(cls: type[CrossEncoder] | type[Embedder], model, threads: int | None, kernels: str | None = None):
    """``model`` as a loaded ``cls``: loaded here from a name or directory, or returned as given.
    ``threads``, ``kernels``: passed on to ``from_pretrained``; None for its defaults."""
    options = {name: value for name, value in (("threads", threads), ("kernels", kernels)) if value is not None}
    if isinstance(model, cls):
        if options:
            name, value = next(iter(options.items()))
            raise ValueError(f"{name}={value!r} has no effect on {model.name}, which is already loaded; "
                             f"pass {name} to {cls.__name__}.from_pretrained instead")
        return model
    if isinstance(model, (CrossEncoder, Embedder)):
        raise TypeError(f"model must be a name, a directory or a loaded {cls.__name__}; got "
                        f"{type(model).__name__} {model.name}")
    if model is None:
        return cls.from_pretrained(**options)
    return cls.from_pretrained(model, **options)


def top_n(value) -> int | None:
    """A reranker's ``top_n`` (LangChain's and LlamaIndex's name for what ``rank`` calls ``top_k``), checked
    under its own name: None keeps every document."""
    return None if value is None else check_positive_int(value, "top_n")
