"""sentence-transformers' keyword names, read in one place, so that code written for its ``encode``,
``predict`` and ``rank`` runs here unchanged: ``Embedder.encode`` (and ``encode_query``, ``encode_document``),
``CrossEncoder.predict`` and ``CrossEncoder.rank`` take them beside their own.

Names and meanings are those of sentence-transformers 6.2 (``SentenceTransformer.encode``,
``CrossEncoder.predict`` / ``rank``) and of its earlier spellings (``activation_fct``, before 4.0; ``apply_softmax``
and ``convert_to_numpy`` in ``rank``, 3.x). What each becomes here:

* ``normalize_embeddings`` -> ``normalize``. ``show_progress_bar=True`` -> a tqdm bar on stderr (the CLI's).
* ``apply_softmax=True`` -> ``activation="softmax"`` on a model with several labels; on one label
  sentence-transformers leaves the logits as they are, and so does this.
* ``activation_fn`` (a torch module there) -> ``activation`` by its class: Sigmoid, Softmax, Identity.
* ``return_documents=False`` (``rank``) -> the results without their "text".
* What only asks for what happens anyway is accepted: ``convert_to_numpy=True``, ``convert_to_tensor=False``,
  ``device`` None or "cpu", ``output_value="sentence_embedding"``, ``pool=None``, and ``prompt`` /
  ``prompt_name`` None for a cross-encoder. Any other value is a ValueError that says what to do instead; a
  name sentence-transformers does not have is a TypeError, as Python's own.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from .progress import progress_bar

# What a method takes, by sentence-transformers' name (its own names, batch_size, top_k, ..., are ours too).
ENCODE = ("normalize_embeddings", "show_progress_bar", "convert_to_numpy", "convert_to_tensor", "device",
          "output_value", "pool", "chunk_size")
PREDICT = ("show_progress_bar", "activation_fn", "activation_fct", "apply_softmax", "convert_to_numpy",
           "convert_to_tensor", "device", "prompt_name", "prompt", "pool", "chunk_size")
RANK = PREDICT + ("return_documents",)
NAMES = {"encode": ENCODE, "predict": PREDICT, "rank": RANK}  # method -> the names it takes

# activation_fn's torch module, by class name -> ``activation``
ACTIVATION_MODULES = {"Sigmoid": "sigmoid", "Softmax": "softmax", "Identity": None}


@dataclass(frozen=True)
class Options:
    """What sentence-transformers' keywords ask of a call, in this library's terms. ``activation`` and
    ``normalize`` are ``KEEP`` when none of the keywords speaks of them."""
    normalize: object
    activation: object
    show_progress_bar: bool
    return_documents: bool


KEEP = object()  # "not said": the method's own argument stands


def read(method: str, given: dict, *, num_labels: int = 1) -> Options:
    """``given``: the keywords a call of ``method`` (a key of NAMES) had beyond the method's own."""
    unknown = [name for name in given if name not in NAMES[method]]
    if unknown:
        raise TypeError(f"{method}() got an unexpected keyword argument {unknown[0]!r}")
    numpy, cores, prompts = ("minilm-np returns NumPy arrays (torch.from_numpy makes a tensor of one)",
                             "minilm-np spreads a call over the cores itself (the model's threads=)",
                             "cross-encoder prompts are not supported")
    for name, value, why in (("convert_to_numpy", True, numpy), ("convert_to_tensor", False, numpy),
                             ("output_value", "sentence_embedding", "minilm-np returns sentence embeddings only"),
                             ("pool", None, cores), ("chunk_size", None, cores), ("prompt_name", None, prompts),
                             ("prompt", None, prompts)):
        if name in given and given[name] != value:
            raise ValueError(f"{name}={given[name]!r}: {why}; only {name}={value!r} is accepted")
    device = given.get("device")
    if device is not None and str(device) != "cpu":
        raise ValueError(f"device={device!r}: minilm-np runs on the CPU (device None or 'cpu')")
    return Options(normalize=bool(given["normalize_embeddings"]) if "normalize_embeddings" in given else KEEP,
                   activation=_activation(given, num_labels),
                   show_progress_bar=bool(given.get("show_progress_bar")),
                   return_documents=bool(given.get("return_documents", True)))


def normalize(options: Options, ours: bool) -> bool:
    """``normalize_embeddings`` if given, else the method's ``normalize``."""
    return ours if options.normalize is KEEP else options.normalize


def activation(options: Options, ours: str | None) -> str | None:
    """The activation sentence-transformers' keywords ask for, else the method's own; both is a TypeError."""
    if options.activation is KEEP:
        return ours
    if ours is not None:
        raise TypeError("give activation= or sentence-transformers' activation_fn / apply_softmax, not both")
    return options.activation


@contextmanager
def progress(options: Options, ours, items, desc: str, unit: str, *, single: bool = False):
    """The ``progress`` callback for the call: a bar on stderr with ``show_progress_bar=True``, else the
    method's own; both is a TypeError. ``items``: what the call was given (``single``: one text or pair), for
    the bar's total."""
    if not options.show_progress_bar:
        yield ours
        return
    if ours is not None:
        raise TypeError("give progress= or show_progress_bar=True, not both")
    total = 1 if single else len(items) if hasattr(items, "__len__") else None
    with progress_bar(True, total, desc, unit) as update:
        yield update


def _activation(given: dict, num_labels: int):
    """``activation`` from activation_fn / activation_fct (a torch module) or apply_softmax; KEEP if neither."""
    activation = KEEP
    for name in ("activation_fn", "activation_fct"):
        fn = given.get(name)
        if fn is None:
            continue
        kind = type(fn).__name__
        if kind not in ACTIVATION_MODULES:
            raise ValueError(f"{name}={kind}: minilm-np applies activation='sigmoid', 'softmax' or None "
                             f"(torch's {', '.join(ACTIVATION_MODULES)}); pass activation= instead")
        activation = ACTIVATION_MODULES[kind]
    if given.get("apply_softmax") and num_labels > 1:  # one label: sentence-transformers leaves the logits be
        activation = "softmax"
    return activation
