"""Embed a corpus on a Ray cluster: a Ray Data pipeline over a pool of embedder actors, written by the same
atomic, memory-mapped writer as a local build, so the index is the one ``build.write_index`` makes.

ray (with Ray Data) is an optional extra, ``pip install "minilm-np[ray]"``, imported by this module alone
and only when a build runs.

    driver: corpus -> tasks of ``task_size`` passages (one Arrow block each, positions attached)
    Ray Data: map_batches(_EmbedTask) on ``actors`` actors of ``cpus_per_actor`` CPUs each
    driver: (positions, vectors) as they come back -> IndexWriter -> manifest -> swapped into place

Each actor loads its model once, ``embedder_factory(threads=cpus_per_actor)``, so its worker threads (each
with single-threaded BLAS) match the CPUs Ray reserved for it. The factory is pickled to the workers: use
something importable there, such as ``functools.partial(Embedder.from_pretrained, NAME_OR_DIR)``, with the
model reachable from every node (Hub cache, or a shared directory) and minilm-np installed on every node.
Every actor reports the name of the embedder it loaded with its vectors; a mix is refused.

With no address, a local Ray cluster is started on this machine's cores and shut down afterwards; with
one (``"auto"``, ``"ray://head:10001"``) the build joins it. A Ray session already open in this process
is used as it is. The driver holds the corpus and receives every vector (1.5 KB per passage): about
15 MB/s at 10,000 passages/s, far below what one machine writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..threads import available_cpus
from .ann import AnnConfig
from .build import Shard, WHOLE, commit_shard, opened, shard_bounds
from .corpus import as_passages
from .index import EmbeddingIndex
from .index_format import IndexWriter
from .scorers import CorpusLike, Progress, TextEmbedder

EmbedderFactory = Callable[..., TextEmbedder]  # factory(threads=N) -> an embedder using N cores
TASK_SIZE = 1024  # passages per Ray task: seconds of work each, so scheduling costs nothing


def _ray():
    try:
        import pyarrow
        import ray
        import ray.data
    except ImportError:
        raise ImportError('the Ray engine needs Ray Data: pip install "minilm-np[ray]"') from None
    return ray, pyarrow


class _EmbedTask:
    """A Ray Data actor: one embedder for its lifetime; a block of passages in, their vectors out."""

    def __init__(self, factory: EmbedderFactory, threads: int, batch_size: int):
        self.embedder = factory(threads=threads)
        self.batch_size = batch_size

    def __call__(self, block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode(list(block["text"]), batch_size=self.batch_size, normalize=True)  # [m, d]
        return {"position": block["position"], "embedding": np.ascontiguousarray(vectors, dtype=np.float32),
                "embedder": np.full(len(vectors), self.embedder.name, dtype=object)}


def write_index_on_ray(directory: str | Path, embedder_factory: EmbedderFactory, corpus: CorpusLike, *,
                       address: str | None = None, actors: int | None = None, cpus_per_actor: int = 2,
                       task_size: int = TASK_SIZE, batch_size: int = 32, shard: Shard | None = None,
                       ann: AnnConfig | None = None, progress: Progress = None) -> EmbeddingIndex:
    """``build.write_index`` with the embedding done by Ray actors; returns the index opened.

    ``actors``: the pool size (default: the cluster's CPUs // ``cpus_per_actor``, at least 1; never more
    than there are tasks).
    ``cpus_per_actor``: CPUs Ray reserves for each actor and threads its embedder uses (at most the
    cluster's CPUs). ``task_size``: passages per task.
    """
    ray, pyarrow = _ray()
    for name, value in (("cpus_per_actor", cpus_per_actor), ("task_size", task_size),
                        ("actors", 1 if actors is None else actors)):  # 0 is no pool size, not the default
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not callable(embedder_factory):  # each actor calls it; found out here, not in a remote traceback
        raise TypeError(f"embedder_factory must be a function returning an embedder, got "
                        f"{type(embedder_factory).__name__}")
    corpus = as_passages(corpus)
    shard = shard or WHOLE
    start, stop = shard_bounds(corpus, shard, ann)
    began = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else available_cpus(), include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING)
    data_log = logging.getLogger("ray.data")
    data_log_level = data_log.level
    data_log.setLevel(logging.ERROR)  # Ray Data's per-run INFO lines; our caller shows progress
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        cluster_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        cpus = min(cpus_per_actor, cluster_cpus)
        blocks = [pyarrow.table({"position": np.arange(a, min(a + task_size, stop), dtype=np.int64),
                                 "text": list(corpus.texts[a:min(a + task_size, stop)])})
                  for a in range(start, stop, task_size)]
        pool = min(actors or max(1, cluster_cpus // cpus), len(blocks))  # no actor without a task
        vectors = ray.data.from_arrow(blocks).map_batches(
            _EmbedTask, fn_constructor_kwargs={"factory": embedder_factory, "threads": cpus, "batch_size": batch_size},
            batch_size=None, compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=cpus)
        names: set[str] = set()
        with IndexWriter(directory, count=stop - start) as writer:
            for batch in vectors.iter_batches(batch_size=None, batch_format="numpy"):
                names.update(batch["embedder"].tolist())
                writer.put(batch["position"] - start, batch["embedding"])
                if progress is not None:
                    progress(len(batch["position"]))
            if len(names) != 1:
                raise ValueError(f"the actors loaded different embedders: {sorted(names)}")
            commit_shard(writer, corpus, shard, names.pop(), ann)
    finally:
        data_log.setLevel(data_log_level)
        if started_here:
            ray.shutdown()
    return opened(directory, time.perf_counter() - began)
