"""Length-sorted batching: similar lengths share a batch; results come back in the caller's order.
Sorting is stable, so equal lengths keep their input order and runs are repeatable. With several
workers, batches run concurrently (see threads.py).

A batch holds at most ``batch_size`` sequences and at most ``max_tokens`` tokens (one sequence longer than
that still runs alone), so the memory a batch needs is bounded by the token budget whatever the texts'
lengths: the largest arrays of the packed forward are [N, F] and [N, 3D] float32, N <= max_tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .threads import BLAS


# TEI's default --max-batch-tokens; 32 sequences of 512 tokens, the most a default batch ever held.
MAX_BATCH_TOKENS = 16384


def run_sorted(sequences: Sequence, forward: Callable[[list], np.ndarray], *, batch_size: int,
               out_shape: tuple[int, ...], progress: Callable[[int], None] | None = None,
               workers: int = 1, max_tokens: int = MAX_BATCH_TOKENS) -> np.ndarray:
    """``forward(batch)`` -> [b, *out_shape] for each length-sorted batch of ``sequences`` (each with
    ``.ids``); returns [n, *out_shape] float32, rows in input order. ``progress(b)`` after each batch."""
    if progress is not None and not callable(progress):  # before any batch runs, not after the first
        raise TypeError(f"progress must be a function taking a count, or None; got {type(progress).__name__}")
    out = np.empty((len(sequences), *out_shape), dtype=np.float32)
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i].ids))  # longest first
    if workers > 1:  # enough batches to keep every worker busy
        batch_size = min(batch_size, batches_for_workers(len(order), workers))
    batches = token_budget_batches([len(sequences[i].ids) for i in order], batch_size, max_tokens)
    batches = [[order[j] for j in batch] for batch in batches]

    def run(idx: list[int]) -> np.ndarray:
        return forward([sequences[i] for i in idx])

    # BLAS stays single-threaded even for one batch: a short query's products are too small to share,
    # and waking BLAS's threads cost more than they saved (0.3 s for a 10-token query on a busy machine).
    with BLAS.single():
        if workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(workers) as pool:
                for idx, rows in zip(batches, pool.map(run, batches)):
                    out[idx] = rows
                    if progress is not None:
                        progress(len(idx))
        else:
            for idx in batches:
                out[idx] = run(idx)
                if progress is not None:
                    progress(len(idx))
    return out


# With several workers, at least this many batches each, so that the last, shortest batches even out the
# load (with 2 workers and 4 batches of long pairs, one worker idled for about a tenth of the run)...
BATCHES_PER_WORKER = 4
# ...but batches no smaller than this, below which the products lose more than the balance gains.
MIN_SHARED_BATCH = 16


def batches_for_workers(n: int, workers: int) -> int:
    """The largest batch size that gives each of ``workers`` ``BATCHES_PER_WORKER`` batches of ``n`` items,
    but at least ``MIN_SHARED_BATCH`` (and at least one batch per worker when n is smaller)."""
    balanced = max(MIN_SHARED_BATCH, -(-n // (BATCHES_PER_WORKER * workers)))  # ceil: n in 4 batches a worker
    one_each = -(-n // workers)  # the most that still leaves no worker idle
    return max(1, min(balanced, one_each))


def token_budget_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Consecutive positions of ``lengths`` cut into batches of at most ``batch_size`` items and
    ``max_tokens`` tokens; an item longer than the budget makes a batch of its own."""
    batches: list[list[int]] = []
    tokens = 0
    for i, n in enumerate(lengths):
        if not batches or len(batches[-1]) == batch_size or tokens + n > max_tokens:
            batches.append([])
            tokens = 0
        batches[-1].append(i)
        tokens += n
    return batches
