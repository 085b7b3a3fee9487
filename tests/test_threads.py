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


# --------------------------------------------------------------------------------------------------
# How many workers: the cores this process may use, its cgroup's CPU quota included
# --------------------------------------------------------------------------------------------------

def cgroup_tree(tmp_path, membership: str, files: dict[str, str]):
    """A cgroup mount under tmp_path/"fs" holding ``files`` (path -> text), and a /proc/self/cgroup."""
    for name, text in files.items():
        (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / name).write_text(text)
    (tmp_path / "cgroup").write_text(membership)
    return {"root": tmp_path / "fs", "membership": tmp_path / "cgroup"}


@pytest.mark.parametrize("membership, files, quota", [
    ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),  # a v2 container (docker run --cpus 1.5)
    ("0::/\n", {"cpu.max": "max 100000\n"}, None),  # no limit
    ("0::/kubepods/pod1/c1\n", {"kubepods/cpu.max": "max 100000\n", "kubepods/pod1/cpu.max": "50000 100000\n",
                                "kubepods/pod1/c1/cpu.max": "200000 100000\n"}, 0.5),  # a parent's limit holds
    ("4:cpu,cpuacct:/docker/abc\n0::/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "200000\n",
                                           "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, 2.0),  # v1, host's path
    ("1:cpu:/mtest/child\n", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/mtest/cpu.cfs_quota_us": "100000\n",
                              "cpu/mtest/cpu.cfs_period_us": "100000\n", "cpu/mtest/child/cpu.cfs_quota_us": "-1\n"},
     1.0),  # v1, nested
    ("2:memory:/x\n", {"memory/x/memory.max": "1\n"}, None),  # no cpu controller
    ("0::/\n", {"cpu.max": "garbage\n"}, None),
    ("0::/\n", {"cpu.max": "100000 0\n"}, None),
    ("not a cgroup line\n", {}, None),
])
def test_the_cgroup_cpu_quota_is_read_from_v1_and_v2(tmp_path, membership, files, quota):
    from minilm_np.threads import cgroup_cpu_quota
    assert cgroup_cpu_quota(**cgroup_tree(tmp_path, membership, files)) == quota


def test_no_cgroups_mean_no_quota(tmp_path):
    from minilm_np.threads import cgroup_cpu_quota
    assert cgroup_cpu_quota(tmp_path / "none", tmp_path / "no-such-file") is None


@pytest.mark.parametrize("quota, expected", [(None, "cores"), (0.5, 1), (1.0, 1), (1.5, 2), (1000.0, "cores")])
def test_available_cpus_is_the_affinity_capped_by_the_quota_rounded_up(monkeypatch, quota, expected):
    import os

    from minilm_np import threads
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: quota)
    cores = len(os.sched_getaffinity(0))
    assert threads.available_cpus() == (cores if expected == "cores" else min(cores, expected))
    assert threads.worker_count(None) in (1, threads.available_cpus())  # 1 only where BLAS is not controllable


def test_a_process_in_a_cgroup_with_a_cpu_quota_gets_that_many_workers(tmp_path):
    """The kernel's own files: a child process placed in a new cgroup (v1 or v2) limited to half a CPU sees one
    core. Needs permission to make a cgroup (root, a writable cgroup mount); the cgroup is removed after."""
    import os
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    subtree = v2 / "cgroup.subtree_control"
    handed_down = subtree.read_text().split() if subtree.is_file() else []  # controllers v2's root gives children
    if (v1 / "cpu.cfs_quota_us").is_file():
        base, limit = v1, {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"}
    elif "cpu" in handed_down:
        base, limit = v2, {"cpu.max": "50000 100000"}
    else:
        pytest.skip("no cgroup cpu controller to make a group under")
    group = base / f"minilm-np-test-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
    except OSError as e:
        pytest.skip(f"cannot make a cgroup here ({e.strerror}): needs root and a writable cgroup mount")
    try:
        for name, value in limit.items():
            (group / name).write_text(value)
        script = "from minilm_np.threads import available_cpus; print(available_cpus())"
        placed = f'echo $$ > "{group}/cgroup.procs" && exec "{sys.executable}" -c "{script}"'
        result = subprocess.run(["sh", "-c", placed], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "1"
    finally:
        group.rmdir()  # empty again: its one process has exited


def test_a_model_called_from_many_threads_runs_at_most_its_workers_batches_at_once(monkeypatch):
    """Its calls share its slots (``threads`` of them), whichever threads make them; a pickled copy (a model
    sent to Ray or Dask) gets slots of its own and scores alike."""
    import pickle

    import minilm_np._encoder as encoder
    from minilm_np import CrossEncoder
    from helpers import MODELS, most_at_once

    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", threads=2)
    counted, most = most_at_once(encoder.encode_packed, pause=0.01)
    monkeypatch.setattr(encoder, "encode_packed", counted)
    pairs = [("a question", f"passage {i} " * (i % 5 + 1)) for i in range(64)]
    with ThreadPoolExecutor(8) as app:
        scores = list(app.map(lambda _: ce.predict(pairs), range(8)))
    assert most[0] == 2
    copy = pickle.loads(pickle.dumps(ce))
    assert copy._slots is not ce._slots and copy.predict(pairs).tobytes() == scores[0].tobytes()


@pytest.mark.parametrize("value, expected", [(None, "cores"), ("1", 1), ("2,1", 2), ("4096", "cores"),
                                             ("0", "cores"), ("many", "cores"), ("", "cores")])
def test_omp_num_threads_caps_the_default_as_torch_reads_it(monkeypatch, value, expected):
    """Dask's and Ray's worker processes set OMP_NUM_THREADS to keep each to its share of the machine."""
    from minilm_np import threads
    if value is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", value)
    cores = threads.available_cpus()
    assert threads.default_threads() == (cores if expected == "cores" else min(cores, expected))
    assert threads.worker_count(3) == (3 if threads.BLAS.controllable else 1)  # asked for: as asked


def _predict_in_child(model, pairs, answers) -> None:
    """In a forked child: the model's scores and BLAS's thread counts once the call is over."""
    scores = model.predict(pairs)
    answers.put((scores.tolist(), [lib.num_threads for lib in BLAS.libraries]))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # Python 3.12+: the case
def test_a_child_forked_while_a_call_runs_can_call_the_model(two_blas_threads):
    """Forked while a call of the parent holds every slot of the model and BLAS at one thread (as a
    multiprocessing pool started while a request runs would be): the child's calls get fresh slots instead of
    waiting for ever on the parent's, and its BLAS is given back the parent's counts afterwards."""
    import multiprocessing

    from minilm_np import CrossEncoder
    from helpers import MODELS

    ce = CrossEncoder.from_pretrained(MODELS / "tiny-ce-1", threads=2)
    pairs = [("a question", f"passage {i}") for i in range(8)]
    expected = ce.predict(pairs).tolist()
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    for _ in range(ce.workers):
        ce._slots.acquire()  # a call's batches in flight, in threads a child will not have
    try:
        with BLAS.single():
            child = context.Process(target=_predict_in_child, args=(ce, pairs, answers))
            child.start()
            child.join(60)
            stuck = child.is_alive()
            if stuck:
                child.kill()
                child.join()
    finally:
        for _ in range(ce.workers):
            ce._slots.release()
    assert not stuck and child.exitcode == 0
    scores, threads_after = answers.get(timeout=10)
    assert scores == expected and threads_after == two_blas_threads
