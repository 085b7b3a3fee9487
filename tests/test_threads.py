"""minilm_np.threads: BLAS held at one thread while batches run, whichever thread calls the model."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from minilm_np.threads import BLAS, _BlasThreads, available_cpus


def blas_threads_inside() -> list[int]:
    """Each BLAS library's thread count while inside ``BLAS.single()``."""
    with BLAS.single():
        return [lib.num_threads for lib in BLAS.libraries]


def test_blas_is_held_to_one_thread_whichever_thread_calls(two_blas_threads):
    """threadpoolctl 3.8 lets the first thread to set OpenBLAS's threads keep that right while it lives, and
    silently ignores every other thread. A model called from a server's model thread, after the thread that
    loaded it had warmed it up, then ran its workers on a two-thread BLAS: 2.4x the CPU time, 0.43x the speed."""
    one = [1] * len(two_blas_threads)
    with ThreadPoolExecutor(1) as first, ThreadPoolExecutor(1) as second:  # both threads stay alive
        assert first.submit(blas_threads_inside).result() == one
        assert second.submit(blas_threads_inside).result() == one
        assert blas_threads_inside() == one  # and the main thread
        assert first.submit(blas_threads_inside).result() == one
    assert [lib.num_threads for lib in BLAS.libraries] == two_blas_threads  # restored after each


def test_worker_threads_hold_a_per_thread_blas_too():
    """An OpenBLAS built on OpenMP (faiss-cpu ships one) takes its limit per thread: ``single()`` sets it in
    its caller, and a worker thread started after would run OpenMP's default of every core. run_sorted's
    workers start with ``BLAS.hold_worker``."""
    pytest.importorskip("faiss", reason="faiss-cpu (the ann extra) brings an OpenBLAS built on OpenMP")
    blas = _BlasThreads()  # found now, with faiss's library loaded
    per_thread = [lib for lib in blas.libraries if getattr(lib, "threading_layer", None) == "openmp"]
    if not per_thread:
        pytest.skip("no BLAS built on OpenMP is loaded in this process")

    def counts() -> list[int]:
        return [lib.num_threads for lib in per_thread]

    with blas.single():
        with ThreadPoolExecutor(1, initializer=blas.hold_worker) as worker:
            assert worker.submit(counts).result() == [1] * len(per_thread)
        if available_cpus() > 1:  # what a worker started without it runs: the test can fail
            with ThreadPoolExecutor(1) as worker:
                assert worker.submit(counts).result() != [1] * len(per_thread)
