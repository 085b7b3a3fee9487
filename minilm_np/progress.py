"""A progress bar on stderr, handed to the library as its ``progress(n_done)`` callback (the CLI's bars, and
sentence-transformers' ``show_progress_bar=True``)."""

from __future__ import annotations

import sys
from contextlib import contextmanager

PROGRESS_DELAY = 2.0  # seconds: shorter work shows no bar


@contextmanager
def progress_bar(show: bool, total: int, desc: str, unit: str):
    """A tqdm bar on stderr as a ``progress(n_done)`` callback, or None when not ``show``. The bar appears only
    once the work has taken ``PROGRESS_DELAY`` seconds."""
    if not show:
        yield None
        return
    from tqdm import tqdm  # installed with huggingface_hub

    options = dict(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
    try:
        bar = tqdm(delay=PROGRESS_DELAY, **options)
    except (TypeError, KeyError):  # tqdm older than 4.61 refuses delay (TqdmKeyError): show the bar at once
        bar = tqdm(**options)
    with bar:
        yield bar.update
