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

How many workers (``default_threads``): the cores this process may use, which in a container is its CPU
quota rather than the host's cores (``available_cpus``), and at most OMP_NUM_THREADS where a scheduler set
it. A model's calls share its workers, however many threads make them (``_encoder.Encoder``).
"""

from __future__ import annotations

import math
import os
import threading
from contextlib import contextmanager
from pathlib import Path


def available_cpus() -> int:
    """Cores this process may use: those it may run on (its affinity), or fewer when its cgroup's CPU quota
    allows less (a container's ``docker run --cpus``, a Kubernetes CPU limit), rounded up.

    A quota below the visible cores is common in containers, and a worker per visible core then costs: on 2
    cores with a 1-CPU quota, 32 workers (what a 32-core host would give) ran 512 short pairs at 0.76-0.79x the
    rate of one worker, took 1.5-1.8x as long for 32 long ones and 3.3x the peak memory."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no cgroups either
        return os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_MEMBERSHIP = Path("/proc/self/cgroup")


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, membership: Path = CGROUP_MEMBERSHIP) -> float | None:
    """CPUs this process's cgroup may use (quota / period: 1.5 for ``--cpus 1.5``), the smallest set on its
    path up to the hierarchy's root; None when none is set or cgroups cannot be read.

    ``membership`` lines are "ID:CONTROLLERS:PATH": "0::PATH" for cgroup v2, whose limit is ``cpu.max``
    ("150000 100000", or "max 100000" for none); "N:cpu,cpuacct:PATH" for v1, whose limit is
    ``cpu.cfs_quota_us`` (-1 for none) over ``cpu.cfs_period_us``. A container sees its own cgroup at the
    hierarchy's mount point while PATH may still name it as the host does, so a PATH not found there reads
    the mount point itself."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[2].startswith("/"):
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: one hierarchy, mounted at the root
            mount, read = root, _quota_v2
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's own hierarchy
            names = (controllers, "cpu", "cpu,cpuacct")
            mount, read = next((root / n for n in names if (root / n).is_dir()), None), _quota_v1
        else:
            continue
        if mount is None:
            continue
        here = mount / path.lstrip("/")
        here = here if here.is_dir() else mount
        while True:  # up to the mount point: a parent's limit holds for its children too
            quotas.append(read(here))
            if here == mount or mount not in here.parents:
                break
            here = here.parent
    found = [q for q in quotas if q is not None]
    return min(found) if found else None


def _quota_v2(directory: Path) -> float | None:
    try:
        quota, period = (directory / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _quota_v1(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        return None if quota <= 0 else quota / int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError, ZeroDivisionError):
        return None


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

    def after_fork_in_child(self) -> None:
        """A forked child has none of its parent's threads: those inside ``single()`` at the fork never leave it
        there. The child starts outside, with the thread counts saved before them given back to its BLAS."""
        inside, self._inside, self._lock = self._inside, 0, threading.Lock()
        if inside and self._libraries:
            _set_threads(self._libraries, self._saved)


BLAS = _BlasThreads()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=BLAS.after_fork_in_child)


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


def default_threads() -> int:
    """Workers when none are asked for: every available core, at most OMP_NUM_THREADS when it is set (its
    first number), as torch reads it: Dask's and Ray's worker processes set it to keep each process to its
    share of the machine, and a process of workers per core each would fight the others for the cores."""
    cores = available_cpus()
    limit = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return min(cores, int(limit)) if limit.isdigit() and int(limit) > 0 else cores


def worker_count(requested: int | None) -> int:
    """Worker threads to use: ``requested``, or ``default_threads()``; 1 when BLAS cannot be held to
    one thread (then BLAS's own threads do the parallel work)."""
    n = default_threads() if requested is None else requested
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int or None, got {requested!r}")
    return n if n == 1 or BLAS.controllable else 1
