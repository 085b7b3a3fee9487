"""sentence-transformers' keyword names, read in one place, so that code written for its ``encode``,
``predict`` and ``rank`` runs here unchanged: ``Embedder.encode`` (and ``encode_query``, ``encode_document``),
``CrossEncoder.predict`` and ``CrossEncoder.rank`` take them beside their own, and so do the constructors:
``CrossEncoder("name", ...)`` and ``Embedder("name", ...)`` load as sentence-transformers' ``CrossEncoder`` and
``SentenceTransformer`` do (``read_init``).

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
from .validate import check_device

# What a method takes, by sentence-transformers' name (its own names, batch_size, top_k, ..., are ours too).
ENCODE = ("normalize_embeddings", "show_progress_bar", "convert_to_numpy", "convert_to_tensor", "device",
          "output_value", "pool", "chunk_size")
PREDICT = ("show_progress_bar", "activation_fn", "activation_fct", "apply_softmax", "convert_to_numpy",
           "convert_to_tensor", "device", "prompt_name", "prompt", "pool", "chunk_size")
RANK = PREDICT + ("return_documents",)
NAMES = {"encode": ENCODE, "predict": PREDICT, "rank": RANK}  # method -> the names it takes

# The constructors' (sentence-transformers 6.2 and earlier spellings), beyond from_pretrained's own: LOADING.
LOADING = ("revision", "cache_dir", "local_files_only", "token")
RENAMED = {"cache_folder": "cache_dir", "use_auth_token": "token"}  # sentence-transformers' name -> ours
_INIT = ("cache_folder", "device", "trust_remote_code", "use_auth_token", "modules", "model_kwargs",
         "processor_kwargs", "tokenizer_kwargs", "config_kwargs", "model_card_data", "backend", "prompts",
         "default_prompt_name")
INIT = {"Embedder": LOADING + _INIT + ("similarity_fn_name",),
        "CrossEncoder": LOADING + _INIT + ("num_labels", "max_length", "activation_fn", "keep_in_fp32_modules")}

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
    check_device(given.get("device"))
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


def read_init(cls: str, given: dict) -> dict:
    """The keywords a constructor given a name or path (``cls``: a key of INIT) passes on to its loading, in this
    library's terms: ``revision``, ``cache_dir``, ``local_files_only``, ``token`` (sentence-transformers' own
    spellings too: RENAMED), and what is applied once the model is loaded: an Embedder's ``prompts``,
    ``default_prompt_name`` and ``similarity_fn_name``; a CrossEncoder's ``num_labels`` (checked) and
    ``max_length``."""
    unknown = [name for name in given if name not in INIT[cls]]
    if unknown:
        raise TypeError(f"{cls}() got an unexpected keyword argument {unknown[0]!r}")
    for theirs, ours in RENAMED.items():
        if ours in given and theirs in given:
            raise TypeError(f"give {ours}= or sentence-transformers' {theirs}=, not both")
    _refuse_init(cls, given)
    ours = {RENAMED.get(name, name): value for name, value in given.items() if name in LOADING or name in RENAMED}
    keep = ("num_labels", "max_length") if cls == "CrossEncoder" else ("prompts", "default_prompt_name",
                                                                      "similarity_fn_name")
    ours.update((name, given[name]) for name in keep if given.get(name) is not None)
    if "similarity_fn_name" in ours:  # sentence-transformers' SimilarityFunction is a str enum
        ours["similarity_fn_name"] = getattr(ours["similarity_fn_name"], "value", ours["similarity_fn_name"])
    return ours


def _refuse_init(cls: str, given: dict) -> None:
    """A ValueError for a constructor keyword whose value cannot be honoured here, saying what to do instead."""
    check_device(given.get("device"))
    for name, accepted, why in (
            ("trust_remote_code", (False,), "minilm-np runs no code from a model repository"),
            ("backend", ("torch",), "minilm-np is its own NumPy backend; leave backend= out"),
            ("modules", (None,), "minilm-np builds the modules its directory's modules.json names"),
            ("model_card_data", (None,), "minilm-np does not write model cards")):
        if name in given and not any(given[name] is a for a in accepted):
            raise ValueError(f"{name}={given[name]!r}: {why}")
    fn = given.get("activation_fn")
    if fn is not None and type(fn).__name__ != "Identity":  # predict's default here: the logits
        raise ValueError(f"activation_fn={type(fn).__name__}: predict and rank give logits unless asked; pass "
                         f"activation='sigmoid' or 'softmax' to them instead")
    for name in ("model_kwargs", "processor_kwargs", "tokenizer_kwargs", "config_kwargs"):
        if given.get(name):
            raise ValueError(f"{name}={given[name]!r}: minilm-np loads float32 weights as its files give them; "
                             f"none of transformers' loading options apply")
    if cls == "CrossEncoder" and (given.get("prompts") or given.get("default_prompt_name") is not None):
        raise ValueError("cross-encoder prompts are not supported")
