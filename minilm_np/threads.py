"""Use every core: several batches run at once in worker threads, each with single-threaded BLAS.

NumPy releases the GIL inside matrix products and element-wise loops, so worker threads run the
forward passes of different batches truly in parallel. BLAS's own threads would then compete with
ours, so while workers run, BLAS is held to one thread (and restored after), whichever thread calls
the model (``_set_threads``). threadpoolctl finds and sets the thread count of whichever BLAS this
process has loaded (OpenBLAS, MKL, BLIS, on any OS); with none it can control (Apple's Accelerate, for
one), minilm-np runs batches one at a time and leaves BLAS's threads alone.

Why not let BLAS thread each product instead: everything between the products (attention, GELU,
LayerNorm, ~30% of the work) then runs on one core. Measured on 2 cores with benchmarks/bench.py, OpenBLAS
threading the products gave 191 short / 37.5 long pairs/s; worker threads, 239-249 / 48-51 (the GELU
bias fusion landed in between and accounts for a few percent of that).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager


def available_cpus() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process: NumPy's (loaded by the time
    a model runs, since every module above this one imports NumPy) and any other."""
    from threadpoolctl import ThreadpoolController  # imported on first use: it scans the loaded libraries

    return list(ThreadpoolController().select(user_api="blas").lib_controllers)


class _BlasThreads:
    """Holds BLAS at one thread while any caller is inside ``single()``; restores it after the last
    leaves. One per process, like the BLAS libraries it controls."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: list[int] = []
        self._libraries = None  # found on first use

    @property
    def libraries(self) -> list:
        with self._lock:
            if self._libraries is None:
                self._libraries = _blas_libraries()
            return self._libraries

    @property
    def controllable(self) -> bool:
        return bool(self.libraries)

    @contextmanager
    def single(self):
        libraries = self.libraries
        if not libraries:
            yield
            return
        with self._lock:
            if self._inside == 0:
                self._saved = [lib.num_threads for lib in libraries]
                _set_threads(libraries, [1] * len(libraries))
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    _set_threads(libraries, self._saved)


    def hold_worker(self) -> None:
        """For a worker thread started inside ``single()``: the libraries whose limit is per thread (an
        OpenBLAS built on OpenMP, as faiss-cpu ships one) held at one thread in this thread too. ``single()``
        sets them in its caller only, and a new thread starts from OpenMP's default of every core."""
        for lib in self.libraries:
            if getattr(lib, "threading_layer", None) == "openmp":
                lib.set_num_threads(1)  # per thread under OpenMP: nothing to restore when the worker ends


BLAS = _BlasThreads()


def _set_threads(libraries: list, counts: list[int]) -> None:
    """Each library's thread count, from whichever thread calls. threadpoolctl 3.8 lets one thread at a time
    set a pthreads OpenBLAS's threads (the first to try, while it lives) and silently ignores the others: a
    model called from a server's or an app's worker thread then ran its workers on a multi-threaded BLAS, at
    2.4x the CPU time and under half the speed. The library's own ``clear_controlling_thread`` hands that
    control to this thread and back; ``BLAS``'s lock keeps these calls one at a time."""
    for lib, n in zip(libraries, counts):
        release = getattr(type(lib), "clear_controlling_thread", None)  # threadpoolctl >= 3.8, OpenBLAS only
        if release is not None:
            release(force=True)
        lib.set_num_threads(n)
        if release is not None:
            release(force=True)


def worker_count(requested: int | None) -> int:
    """Worker threads to use: ``requested``, or every available core; 1 when BLAS cannot be held to
    one thread (then BLAS's own threads do the parallel work)."""
    n = available_cpus() if requested is None else requested
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int or None, got {requested!r}")
    return n if n == 1 or BLAS.controllable else 1
