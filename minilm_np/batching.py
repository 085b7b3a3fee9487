"""Length-sorted batching: similar lengths share a batch so little is padded; results come back in the
caller's order. Sorting is stable, so equal lengths keep their input order and runs are repeatable.
With several workers, batches run concurrently (see threads.py)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .threads import BLAS
from .tokenize import Batch, pad


def run_sorted(encodings: list, batch_size: int, forward: Callable[[Batch], np.ndarray], pad_id: int,
               out_shape: tuple[int, ...], progress: Callable[[int], None] | None = None,
               workers: int = 1) -> np.ndarray:
    """forward(batch) -> [b, *out_shape] for each length-sorted batch; rows returned in input order."""
    out = np.empty((len(encodings), *out_shape), dtype=np.float32)
    order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))  # longest first
    if workers > 1:  # enough batches to keep every worker busy
        batch_size = max(1, min(batch_size, -(-len(order) // workers)))
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]

    def run(idx: list[int]) -> np.ndarray:
        return forward(pad([encodings[i] for i in idx], pad_id))

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
