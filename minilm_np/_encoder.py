"""What CrossEncoder and Embedder share: a loaded checkpoint and tokenizer, the name the model goes by,
its worker threads, and the packed forward run over length-sorted batches."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from .batching import run_sorted, token_budget_batches
from .checkpoint.hub import model_name, resolve
from .checkpoint.load import Checkpoint, load_checkpoint
from .model import kernels as kernel_sets
from .model.packed import PackedBatch, PackedModel, encode_packed
from .text.tokenize import Tokenizer
from .threads import worker_count
from .validate import check_device, check_positive_int

Progress = Callable[[int], None] | None
_Model = TypeVar("_Model", bound="Encoder")  # a CrossEncoder or an Embedder, as called


class Encoder:
    """A BERT-family body ready to run. Subclasses add what goes on top (a classifier head, pooling)."""

    def __init__(self, checkpoint: Checkpoint, tokenizer: Tokenizer, name: str, threads: int | None = None,
                 kernels: str = "numpy"):
        self.checkpoint = checkpoint
        self.config = checkpoint.config
        self.tokenizer = tokenizer
        self.name = name  # the Hub id it was asked by, or its directory's absolute path
        self.workers = worker_count(threads)  # batches run at once; see threads.py
        self._new_slots()
        self._model = PackedModel.build(checkpoint.weights, checkpoint.config, kernel_sets.by_name(kernels))

    @property
    def kernels(self) -> str:
        """The element-wise kernels the forward runs: "numpy" or "numba" (see ``minilm_np.model.kernels``)."""
        return self._model.kernels.name

    @property
    def device(self) -> str:
        """Where the model runs, for code that asks as sentence-transformers' users do: always "cpu"."""
        return "cpu"

    def to(self: _Model, device) -> _Model:
        """sentence-transformers' (torch's) ``model.to(device)``: this model, for "cpu"; another device is a
        ValueError that says so."""
        check_device(device)
        return self

    @property
    def max_length(self) -> int:
        """Tokens a text (or a pair) is truncated at; settable: texts are then truncated at the new length, at
        most the model's positions."""
        return self.tokenizer.max_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        set_max_length(self.tokenizer, value, self.config.max_tokens, "max_length")

    @property
    def max_seq_length(self) -> int:
        """sentence-transformers' name for ``max_length`` (its CrossEncoder takes both), settable as there."""
        return self.tokenizer.max_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        set_max_length(self.tokenizer, value, self.config.max_tokens, "max_seq_length")

    def _run(self, sequences: list, rows_of: Callable[[np.ndarray, PackedBatch], np.ndarray], *, width: int,
             batch_size: int, progress: Progress, first_only: bool = False) -> np.ndarray:
        """``rows_of(states, batch)`` -> [b, width] on every length-sorted batch of encoded ``sequences``;
        [n, width] float32 in input order. ``states`` is [N, D], or with ``first_only`` [b, D]: each
        sequence's first state (see ``encode_packed``)."""
        def forward(batch_sequences: list) -> np.ndarray:
            batch = PackedBatch.from_sequences(batch_sequences)
            return rows_of(encode_packed(self._model, batch, first_only=first_only), batch)

        return run_sorted(sequences, forward, batch_size=batch_size, out_shape=(width,), progress=progress,
                          workers=self.workers, slots=self._slots)

    def __getstate__(self) -> dict:  # a semaphore does not pickle: a copy gets its own (models go to Ray, Dask)
        return {k: v for k, v in self.__dict__.items() if k != "_slots"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._new_slots()

    def _new_slots(self) -> None:
        """``workers`` slots, one held by each batch running, of all calls together whichever threads make them."""
        self._slots = threading.BoundedSemaphore(self.workers)
        _MODELS.add(self)


# Every model of this process, so that a forked child can give each fresh slots: a slot held at the fork by one of
# the parent's threads, which the child does not have, would never be released there, and the child's calls would
# wait for it for ever.
_MODELS: weakref.WeakSet[Encoder] = weakref.WeakSet()


def _fresh_slots_after_fork() -> None:
    for model in list(_MODELS):
        model._new_slots()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_fresh_slots_after_fork)


# A call reads its inputs a part at a time: a part is tokenized, sorted and run before the next is tokenized, so the
# inputs' tokens cost memory in proportion to a part, not to the call. They are Python lists: about 40 bytes a token
# once read, 100 at the peak of reading (query, passage) pairs (50,000 long pairs read whole took 2.7 GB). A
# part ends before PART_CHARS characters of text (about a million tokens; a longer text is a part alone). Batches
# are sorted within a part, and a text's result does not depend on its batch, so parts change no result.
PART_CHARS = 1 << 22


def parts(sizes: list[int]) -> list[slice]:
    """Consecutive slices of a call's inputs, given each input's size in characters (see PART_CHARS); one
    empty slice for no inputs, so that an empty call still runs once."""
    cut = token_budget_batches(sizes, max(1, len(sizes)), PART_CHARS)
    return [slice(part[0], part[-1] + 1) for part in cut] or [slice(0, 0)]


def locate(name_or_path: str | os.PathLike, *, revision: str | None = None, cache_dir: str | None = None,
           local_files_only: bool | None = None, token: str | bool | None = None) -> tuple[Path, str]:
    """(local directory, the name the model goes by) for a directory, a family size or a Hub id."""
    path = resolve(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                   token=token)
    return path, model_name(name_or_path, path)


def set_max_length(tokenizer: Tokenizer, value: int, max_tokens: int, where: str) -> None:
    """Truncate at ``value`` tokens from now on: at most ``max_tokens`` (the model's positions), with room for
    a pair's special tokens and one of text."""
    value = check_positive_int(value, where)
    least = tokenizer.template.pair_specials + 1
    if not least <= value <= max_tokens:
        raise ValueError(f"{where}={value}: the model takes {least} to {max_tokens} tokens")
    tokenizer.max_length = value


def load(model_dir: Path, head: bool) -> tuple[Checkpoint, Tokenizer]:
    """The checkpoint and its tokenizer from one directory."""
    checkpoint = load_checkpoint(model_dir, head=head)
    return checkpoint, Tokenizer.from_dir(model_dir, checkpoint.config.max_tokens)
