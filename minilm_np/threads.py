"""Use every core: several batches run at once in worker threads, each with single-threaded BLAS.

NumPy releases the GIL inside matrix products and element-wise loops, so worker threads run the
forward passes of different batches truly in parallel. BLAS's own threads would then compete with
ours, so while workers run, OpenBLAS is held to one thread (and restored after). That needs OpenBLAS's
``*_set_num_threads``, found through ctypes in the libraries this process has loaded (Linux); with any
other BLAS, or none found, minilm-np runs batches one at a time and leaves BLAS's threads alone.

Why not let OpenBLAS thread each product instead: everything between the products (attention, GELU,
LayerNorm, ~30% of the work) then runs on one core. Measured on 2 cores with benchmarks/bench.py, OpenBLAS
threading the products gave 191 short / 37.5 long pairs/s; worker threads, 239-249 / 48-51 (the GELU
bias fusion landed in between and accounts for a few percent of that).
"""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# (get, set) symbol pairs, by OpenBLAS build: NumPy's wheels (scipy-openblas, 64-bit ints), others.
_SYMBOLS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
            ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
            ("openblas_get_num_threads", "openblas_set_num_threads"))


def available_cpus() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _numpy_openblas():
    """(get, set) functions of the OpenBLAS that NumPy uses, or None."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    libs = sorted({line.split(None, 5)[-1] for line in maps.splitlines()
                   if "openblas" in line.rsplit("/", 1)[-1].lower() and "/" in line})
    numpy_dir = str(Path(np.__file__).resolve().parent.parent)
    ours = [p for p in libs if p.startswith(numpy_dir) and "numpy" in p] or (libs if len(libs) == 1 else [])
    for path in ours:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in _SYMBOLS:
            if hasattr(lib, get) and hasattr(lib, set_):
                getter, setter = getattr(lib, get), getattr(lib, set_)
                getter.restype, setter.restype, setter.argtypes = ctypes.c_int, None, [ctypes.c_int]
                return getter, setter
    return None


class _BlasThreads:
    """Holds OpenBLAS at one thread while any caller is inside ``single()``; restores it after the last
    leaves. One per process, like the BLAS library it controls."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._saved = None
        self._fns = None
        self._looked = False

    @property
    def controllable(self) -> bool:
        with self._lock:
            if not self._looked:
                self._fns, self._looked = _numpy_openblas(), True
            return self._fns is not None

    @contextmanager
    def single(self):
        if not self.controllable:
            yield
            return
        get, set_ = self._fns
        with self._lock:
            if self._inside == 0:
                self._saved = get()
                set_(1)
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    set_(self._saved)


BLAS = _BlasThreads()


def worker_count(requested: int | None) -> int:
    """Worker threads to use: ``requested``, or every available core; 1 when BLAS cannot be held to
    one thread (then BLAS's own threads do the parallel work)."""
    n = available_cpus() if requested is None else requested
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int or None, got {requested!r}")
    return n if n == 1 or BLAS.controllable else 1
