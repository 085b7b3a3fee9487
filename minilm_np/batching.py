"""Length-sorted batching: similar lengths share a batch so little is padded; results come back in the
caller's order. Sorting is stable, so equal lengths keep their input order and runs are repeatable."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .tokenize import Batch, pad


def run_sorted(encodings: list, batch_size: int, forward: Callable[[Batch], np.ndarray], pad_id: int,
               out_shape: tuple[int, ...], progress: Callable[[int], None] | None = None) -> np.ndarray:
    """forward(batch) -> [b, *out_shape] for each length-sorted batch; rows returned in input order."""
    out = np.empty((len(encodings), *out_shape), dtype=np.float32)
    order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))  # longest first
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        out[idx] = forward(pad([encodings[i] for i in idx], pad_id))
        if progress is not None:
            progress(len(idx))
    return out
