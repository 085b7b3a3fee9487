"""minilm_np.threads: BLAS held at one thread while batches run, whichever thread calls the model."""

from concurrent.futures import ThreadPoolExecutor

from minilm_np.threads import BLAS


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
