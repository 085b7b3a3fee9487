"""Length-sorted batching: similar lengths share a batch; results come back in the caller's order.
Sorting is stable, so equal lengths keep their input order and runs are repeatable. With several
workers, batches run concurrently (see threads.py); when there are too few batches for the workers to
even out the longest first ones as they go (a 32-pair request makes two), the sorted texts are dealt into
batches of equal tokens instead, a whole number per worker (``dealt_batches``).

A batch holds at most ``batch_size`` sequences and at most ``max_tokens`` tokens (one sequence longer than
that still runs alone), so the memory a batch needs is bounded by the token budget whatever the texts'
lengths: the largest arrays of the packed forward are [N, F] and [N, 3D] float32, N <= max_tokens."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np

from .threads import BLAS


# TEI's default --max-batch-tokens; 32 sequences of 512 tokens, the most a default batch ever held.
MAX_BATCH_TOKENS = 16384


def run_sorted(sequences: Sequence, forward: Callable[[list], np.ndarray], *, batch_size: int,
               out_shape: tuple[int, ...], progress: Callable[[int], None] | None = None,
               workers: int = 1, max_tokens: int = MAX_BATCH_TOKENS,
               slots: threading.Semaphore | None = None) -> np.ndarray:
    """``forward(batch)`` -> [b, *out_shape] for each length-sorted batch of ``sequences`` (each with
    ``.ids``); returns [n, *out_shape] float32, rows in input order. ``progress(b)`` after each batch.
    ``slots``: each batch runs holding one, so that calls sharing them, from any number of threads, run no
    more batches at once than there are slots."""
    if progress is not None and not callable(progress):  # before any batch runs, not after the first
        raise TypeError(f"progress must be a function taking a count, or None; got {type(progress).__name__}")
    out = np.empty((len(sequences), *out_shape), dtype=np.float32)
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i].ids))  # longest first
    if workers > 1:  # enough batches to keep every worker busy
        batch_size = min(batch_size, batches_for_workers(len(order), workers))
    lengths = [len(sequences[i].ids) for i in order]
    batches = token_budget_batches(lengths, batch_size, max_tokens)
    if workers > 1 and 1 < len(batches) < DEALT_BELOW * workers:  # too few to even out as workers take them
        batches = dealt_batches(lengths, -(-len(batches) // workers) * workers, batch_size, max_tokens)
    batches = [[order[j] for j in batch] for batch in batches]

    def run(idx: list[int]) -> np.ndarray:
        with slots or nullcontext():
            return forward([sequences[i] for i in idx])

    # BLAS stays single-threaded even for one batch: a short query's products are too small to share,
    # and waking BLAS's threads cost more than they saved (0.3 s for a 10-token query on a busy machine).
    with BLAS.single():
        if workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(workers, initializer=BLAS.hold_worker) as pool:
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
# Batches cut from the length-sorted order differ in work: the first holds the longest texts. Workers taking
# them as they finish even that out when each gets several, but not with fewer than this many batches per
# worker, where the texts are dealt into batches of equal tokens instead. Side by side, 2 workers, 8 requests
# of n (query, Cranfield abstract) pairs each: 1.25-1.32x as fast for n = 16-32 (2 batches), 1.06-1.07x for
# 48-64 (3-4), level for 96 (6); the same for short pairs, 1.11-1.17x for 16-32.
DEALT_BELOW = 3


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


def dealt_batches(lengths: Sequence[int], count: int, batch_size: int, max_tokens: int) -> list[list[int]]:
    """Positions of ``lengths`` (longest first) dealt into ``count`` batches of about equal tokens: each to the
    batch with the fewest tokens so far that has room for it (``batch_size`` items, ``max_tokens`` tokens; a
    longer item alone), or to a new batch when none has. Returns the batches most tokens first, each longest
    first."""
    batches: list[list[int]] = [[] for _ in range(count)]
    tokens = [0] * count
    lightest = [(0, b) for b in range(count)]  # a heap of (tokens, batch) of the batches not yet full
    for i, n in enumerate(lengths):
        passed = []  # batches without room for n tokens, which the shorter items after it may still fill
        while lightest and batches[lightest[0][1]] and lightest[0][0] + n > max_tokens:
            passed.append(heapq.heappop(lightest))
        if lightest:
            _, b = heapq.heappop(lightest)
        else:
            b = len(batches)
            batches.append([])
            tokens.append(0)
        batches[b].append(i)
        tokens[b] += n
        if len(batches[b]) < batch_size:
            heapq.heappush(lightest, (tokens[b], b))
        for entry in passed:
            heapq.heappush(lightest, entry)
    return [batches[b] for b in sorted(range(len(batches)), key=lambda b: -tokens[b]) if batches[b]]
